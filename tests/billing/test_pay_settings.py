"""Pay settings are capped (rate, tier multipliers) so that no project can make a payroll run
overflow the amount columns."""

from decimal import Decimal

import pytest

from billing.models import AMOUNT_DIGITS, PayrollRun, StatementLine
from config.money import MAX_MULTIPLIER, MAX_RATE, RATE_PLACES
from marketplace.models import Project
from tests import factories
from tests.billing.utils import days_ago, judge, post_run
from tests.utils import api_client

PROJECTS = "/api/v1/projects/"


def project_body(**pay) -> dict:
    return {
        "name": "Sentiment",
        "task_type": "classification",
        "labels": ["positive", "negative"],
        "languages": ["en"],
        **pay,
    }


@pytest.mark.parametrize(
    ("pay", "field"),
    [
        ({"rate": "1000000.0001"}, "rate"),
        ({"rate": "99999999"}, "rate"),
        ({"tiers": [{"min_accuracy": "0.5", "multiplier": "100.0001"}]}, "tiers"),
        ({"tiers": [{"min_accuracy": "0", "multiplier": "1000000"}]}, "tiers"),
    ],
)
def test_a_rate_or_multiplier_above_its_cap_is_400_naming_the_field(manager_pat, pay, field):
    response = api_client(manager_pat).post(PROJECTS, project_body(**pay), format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Project.objects.exists()


def test_the_rate_cap_applies_to_an_edit_too(manager_pat):
    project = factories.project_create(manager_pat, status="draft")

    response = api_client(manager_pat).patch(
        f"{PROJECTS}{project.pk}/", {"rate": "1000001"}, format="json"
    )

    assert response.status_code == 400
    assert "rate" in response.json()


def test_pay_settings_at_the_caps_are_accepted(manager_pat):
    body = project_body(
        rate="1000000", tiers=[{"min_accuracy": "0.5", "multiplier": "100"}], currency="BHD"
    )

    response = api_client(manager_pat).post(PROJECTS, body, format="json")

    assert response.status_code == 201, response.content
    assert Decimal(response.json()["rate"]) == MAX_RATE
    assert response.json()["tiers"] == [{"min_accuracy": "0.5", "multiplier": "100"}]


def test_the_caps_leave_room_for_ten_million_judgments_on_one_line():
    largest = MAX_RATE * MAX_MULTIPLIER * 10_000_000

    assert largest < Decimal(10) ** (AMOUNT_DIGITS - RATE_PLACES)


def test_a_run_at_the_caps_completes(
    manager_pat, freelancer_fay, worker_alice, django_capture_on_commit_callbacks
):
    project = factories.project_create(
        manager_pat,
        currency="BHD",  # three places: the most of any currency in use
        rate=MAX_RATE,
        tiers=[{"min_accuracy": "0", "multiplier": str(MAX_MULTIPLIER)}],
    )
    judge(freelancer_fay, project, 20)
    judge(worker_alice, project, 3)

    post_run(manager_pat, days_ago(2), days_ago(0.5), django_capture_on_commit_callbacks)

    run = PayrollRun.objects.get()
    assert run.status == "done", run.error
    assert sorted(StatementLine.objects.values_list("amount", flat=True)) == [
        Decimal("300000000"),
        Decimal("2000000000"),
    ]
    assert run.totals == [{"currency": "BHD", "amount": "2300000000.000"}]
