"""Payouts (SPEC §8) and the append-only ledger (SPEC §4.6)."""

from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from billing.models import Invoice, LedgerEntry, Payout, StatementLine
from marketplace.models import Assignment
from tests import factories
from tests.billing.utils import BALANCES, PAYOUTS, balances, days_ago, judge, post_run
from tests.utils import api_client


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.fixture
def project(manager_pat):
    return factories.project_create(manager_pat, rate=Decimal("0.10"))


@pytest.fixture
def fay_line(manager_pat, project, freelancer_fay, capture):
    judge(freelancer_fay, project, 10, at=days_ago(3))
    post_run(manager_pat, days_ago(4), days_ago(2), capture)
    return StatementLine.objects.get(worker=freelancer_fay)


def pay(user, **body):
    return api_client(user).post(PAYOUTS, body, format="json")


def test_paying_a_freelancers_line_moves_it_from_payable_to_clearing(
    manager_pat, fay_line, freelancer_fay
):
    response = pay(manager_pat, line=fay_line.pk, reference="WIRE-1")

    assert response.status_code == 201
    assert {key: response.json()[key] for key in ("line", "invoice", "amount", "currency")} == {
        "line": fay_line.pk,
        "invoice": None,
        "amount": "1.00",
        "currency": "USD",
    }
    assert balances()[f"worker_payable:{freelancer_fay.pk}"] == 0
    assert balances()["platform_clearing"] == Decimal("-1.00")
    assert (
        api_client(freelancer_fay.user).get("/api/v1/me/earnings/").json()["results"][0]["payout"]
        == (response.json()["id"])
    )


def test_a_payout_is_idempotent_per_target_and_reference(manager_pat, staff_sam, fay_line):
    first = pay(manager_pat, line=fay_line.pk, reference="WIRE-1")

    again = pay(staff_sam, line=fay_line.pk, reference="WIRE-1")
    other = pay(manager_pat, line=fay_line.pk, reference="WIRE-2")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert (other.status_code, other.json()["code"]) == (409, "already_paid")
    assert Payout.objects.count() == 1
    assert LedgerEntry.objects.filter(payout__isnull=False).count() == 2


def test_a_vendor_is_paid_by_invoice_not_by_line(
    manager_pat, project, worker_alice, center_manila, capture
):
    judge(worker_alice, project, 4)
    post_run(manager_pat, days_ago(2), days_ago(0.5), capture)
    line = StatementLine.objects.get()

    by_line = pay(manager_pat, line=line.pk, reference="X")
    by_invoice = pay(manager_pat, invoice=line.invoice_id, reference="ACME-2026-01")

    assert (by_line.status_code, by_line.json()["code"]) == (409, "paid_on_invoice")
    assert by_invoice.status_code == 201
    assert by_invoice.json()["amount"] == "0.40"
    assert balances()[f"vendor_payable:{center_manila.vendor_id}"] == 0


def test_nothing_is_paid_on_a_line_that_earned_nothing(
    manager_pat, project, freelancer_fay, capture
):
    judge(freelancer_fay, project, 2, gold_wrong=10)
    post_run(manager_pat, days_ago(2), days_ago(0.5), capture)

    response = pay(manager_pat, line=StatementLine.objects.get().pk, reference="X")

    assert (response.status_code, response.json()["code"]) == (409, "nothing_owed")
    assert not Payout.objects.exists()


def test_a_payout_never_exceeds_what_the_payee_is_owed(
    manager_pat, project, freelancer_fay, fay_line, capture
):
    # 10 judgments paid (1.00), 6 of them rejected since (-0.60); 4 more earned (0.40):
    # lines total 1.40 but the worker is owed 0.80.
    Assignment.objects.filter(
        pk__in=Assignment.objects.filter(worker=freelancer_fay).values("pk")[:6]
    ).update(status="rejected")
    judge(freelancer_fay, project, 4, at=days_ago(1.5))
    post_run(manager_pat, days_ago(2), days_ago(1), capture)
    later = StatementLine.objects.get(worker=freelancer_fay, kind="pay", run__gt=fay_line.run)

    first = pay(manager_pat, line=fay_line.pk, reference="A")
    second = pay(manager_pat, line=later.pk, reference="B")

    assert (first.json()["amount"], second.json()["amount"]) == ("0.80", "0.00")
    assert balances()[f"worker_payable:{freelancer_fay.pk}"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"reference": "X"},
        {"line": 1, "invoice": 1, "reference": "X"},
        {"line": 1},
        {"line": 1, "reference": ""},
        {"line": "one", "reference": "X"},
    ],
)
def test_a_payout_names_one_target_and_a_reference(manager_pat, body):
    response = pay(manager_pat, **body)

    assert response.status_code == 400
    assert set(response.json()) & {"line", "reference"}


def test_a_manager_pays_only_what_is_on_projects_they_manage(
    manager_pat, fay_line, worker_alice, project, capture
):
    judge(worker_alice, project, 3)
    post_run(manager_pat, days_ago(2), days_ago(0.5), capture)
    other = factories.ManagerFactory()

    assert pay(other, line=fay_line.pk, reference="X").status_code == 404
    assert pay(other, invoice=Invoice.objects.get().pk, reference="X").status_code == 404
    assert pay(manager_pat, line=999999, reference="X").status_code == 404
    assert not Payout.objects.exists()


def test_ledger_balances_sum_to_zero_per_currency(staff_sam, fay_line, manager_pat):
    pay(manager_pat, line=fay_line.pk, reference="WIRE-1")

    rows = api_client(staff_sam).get(BALANCES).json()["results"]

    assert {(row["account"], row["currency"]) for row in rows} == {
        (f"project_cost:{fay_line.project_id}", "USD"),
        (f"worker_payable:{fay_line.worker_id}", "USD"),
        ("platform_clearing", "USD"),
    }
    assert sum(Decimal(row["balance"]) for row in rows) == 0
    assert {row["account"]: row["balance"] for row in rows}["platform_clearing"] == "-1.00"


@pytest.mark.parametrize(
    "change",
    [
        lambda: LedgerEntry.objects.update(amount=0),
        lambda: LedgerEntry.objects.all().delete(),
        lambda: LedgerEntry.objects.first().save(),
        lambda: connection.cursor().execute("UPDATE billing_ledgerentry SET amount = amount * 2"),
        lambda: connection.cursor().execute("DELETE FROM billing_ledgerentry"),
    ],
)
def test_the_database_refuses_to_change_or_delete_ledger_entries(fay_line, change):
    before = list(LedgerEntry.objects.values_list("pk", "amount"))
    assert before

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        change()

    assert list(LedgerEntry.objects.values_list("pk", "amount")) == before
