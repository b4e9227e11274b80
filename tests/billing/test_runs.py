"""Payroll runs end to end (SPEC §7): lines, routing, invoices, the watermark, corrections."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import (
    Invoice,
    LedgerEntry,
    PaidJudgment,
    PayrollRun,
    Reversal,
    StatementLine,
)
from billing.services import ledger, runs
from billing.services.runs import payroll_run_execute
from marketplace.models import Assignment, Project
from tests import factories
from tests.billing.utils import (
    RUNS,
    balances,
    counted_minus_paid,
    days_ago,
    judge,
    ledger_totals,
    lines_of,
    post_run,
)
from tests.utils import api_client, requires_postgres


@pytest.fixture
def project(manager_pat):
    return factories.project_create(manager_pat, rate=Decimal("0.05"))


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def test_a_run_pays_each_worker_per_project_and_routes_vendor_pay_to_the_vendor(
    manager_pat, project, freelancer_fay, worker_alice, worker_bob, center_manila, capture
):
    judge(freelancer_fay, project, 10, gold_correct=5)  # (5+4)/(5+5) = 0.9 → 1.10
    judge(worker_alice, project, 20, gold_correct=2, gold_wrong=1)  # 6/8 = 0.75 → 1.00
    judge(worker_bob, project, 4)  # 0.8 → 1.00

    response = post_run(manager_pat, days_ago(2), days_ago(0.5), capture)

    assert response.status_code == 202
    run = PayrollRun.objects.get()
    assert run.status == "done"
    fay, alice, bob = (
        lines_of(freelancer_fay)[0],
        lines_of(worker_alice)[0],
        lines_of(worker_bob)[0],
    )
    assert (fay.judgments, fay.gold_seen, fay.gold_correct) == (15, 5, 5)
    assert (fay.accuracy, fay.multiplier, fay.amount) == (
        Decimal("0.9"),
        Decimal("1.1"),
        Decimal("0.82"),  # 15 x 0.05 x 1.10 = 0.825 → 0.82, half to even
    )
    assert (fay.payee, fay.vendor_id, fay.center_id, fay.invoice_id) == ("worker", None, None, None)
    assert (alice.judgments, alice.accuracy, alice.multiplier, alice.amount) == (
        23,
        Decimal("0.75"),
        Decimal("1"),
        Decimal("1.15"),
    )
    assert (alice.payee, alice.vendor_id, alice.center_id) == (
        "vendor",
        center_manila.vendor_id,
        center_manila.pk,
    )
    assert bob.invoice.vendor_id == worker_bob.center.vendor_id != alice.invoice.vendor_id
    assert alice.invoice.amount == Decimal("1.15") and bob.invoice.amount == Decimal("0.20")
    assert run.totals == [{"currency": "USD", "amount": "2.17"}]
    assert balances() == {
        f"project_cost:{project.pk}": Decimal("2.17"),
        f"worker_payable:{freelancer_fay.pk}": Decimal("-0.82"),
        f"vendor_payable:{center_manila.vendor_id}": Decimal("-1.15"),
        f"vendor_payable:{worker_bob.center.vendor_id}": Decimal("-0.20"),
    }


def test_one_invoice_per_vendor_run_and_currency_itemised_by_center_and_worker(
    manager_pat, project, worker_alice, center_manila, capture
):
    euro = factories.project_create(manager_pat, name="Euro", currency="EUR", rate=Decimal("1"))
    second_center = factories.CenterFactory(vendor=center_manila.vendor, name="Cebu")
    colleague = factories.WorkerFactory(center=second_center)
    for worker in (worker_alice, colleague):
        judge(worker, project, 10)
        judge(worker, euro, 3)

    post_run(manager_pat, days_ago(2), days_ago(0.5), capture)

    invoices = Invoice.objects.filter(vendor=center_manila.vendor).order_by("currency")
    assert [(i.currency, i.amount) for i in invoices] == [
        ("EUR", Decimal("6")),
        ("USD", Decimal("1")),
    ]
    assert sorted(invoices[1].lines.values_list("center_id", "worker_id")) == sorted(
        [(center_manila.pk, worker_alice.pk), (second_center.pk, colleague.pk)]
    )
    assert ledger_totals() == {"EUR": 0, "USD": 0}


def test_a_line_is_written_even_when_it_pays_nothing(manager_pat, project, freelancer_fay, capture):
    judge(freelancer_fay, project, 5, gold_wrong=10)  # 4/15 below the lowest tier

    post_run(manager_pat, days_ago(2), days_ago(0.5), capture)

    (line,) = lines_of(freelancer_fay)
    assert (line.judgments, line.multiplier, line.amount) == (15, 0, 0)
    assert line.accuracy == Decimal("0.2666")
    assert not LedgerEntry.objects.exists()
    assert PayrollRun.objects.get().totals == [{"currency": "USD", "amount": "0.00"}]


def test_only_payable_judgments_of_the_period_count(manager_pat, project, freelancer_fay, capture):
    judge(freelancer_fay, project, 3)
    judge(freelancer_fay, project, 2, status="accepted")
    for status in ("rejected", "untrusted", "active", "expired", "released"):
        judge(freelancer_fay, project, 1, status=status)
    judge(freelancer_fay, project, 4, at=days_ago(5))  # before the period
    exam = factories.project_create(manager_pat, name="exam")
    Project.objects.filter(pk=exam.pk).update(kind="exam")
    judge(freelancer_fay, exam, 6)

    post_run(manager_pat, days_ago(2), days_ago(0.5), capture)

    assert [(line.project_id, line.judgments) for line in lines_of(freelancer_fay)] == [
        (project.pk, 5)
    ]


def test_the_same_period_again_is_200_with_the_same_run_and_pays_nothing_more(
    manager_pat, project, freelancer_fay, capture
):
    judge(freelancer_fay, project, 10)
    start, end = days_ago(2), days_ago(0.5)
    first = post_run(manager_pat, start, end, capture)
    judge(freelancer_fay, project, 10, at=days_ago(1))  # late arrivals stay for the next run

    again = post_run(manager_pat, start, end, capture)

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["status"] == "done"
    assert [line.judgments for line in lines_of(freelancer_fay)] == [10]
    assert PayrollRun.objects.count() == 1


def test_an_overlapping_period_pays_only_what_no_run_paid(
    manager_pat, project, freelancer_fay, worker_alice, capture
):
    judge(freelancer_fay, project, 4, at=days_ago(3))
    judge(freelancer_fay, project, 6, at=days_ago(2))
    judge(worker_alice, project, 5, at=days_ago(1))
    post_run(manager_pat, days_ago(4), days_ago(1.5), capture)

    post_run(manager_pat, days_ago(3.5), days_ago(0.5), capture)
    post_run(manager_pat, days_ago(10), days_ago(0.1), capture)

    assert [line.judgments for line in lines_of(freelancer_fay)] == [10]
    assert [line.judgments for line in lines_of(worker_alice)] == [5]
    assert PaidJudgment.objects.count() == 15
    assert counted_minus_paid() == 0
    assert [len(r.totals) for r in PayrollRun.objects.order_by("pk")] == [1, 1, 0]


def test_accuracy_counts_every_gold_check_of_the_period_paid_or_not(
    manager_pat, project, freelancer_fay, capture
):
    # Blocked: five answers too fast on regular tasks (failed checks, now untrusted, unpaid),
    # and a wrong gold answer rejected in review; five right gold answers still payable.
    too_fast = judge(freelancer_fay, project, 5, status="untrusted")
    Assignment.objects.filter(pk__in=[a.pk for a in too_fast]).update(check_passed=False)
    judge(freelancer_fay, project, gold_wrong=1, status="rejected")
    judge(freelancer_fay, project, gold_correct=3)
    judge(freelancer_fay, project, gold_correct=2, status="accepted")
    judge(freelancer_fay, project, gold_wrong=4, at=days_ago(5))  # before the period

    post_run(manager_pat, days_ago(2), days_ago(0.5), capture)

    (line,) = lines_of(freelancer_fay)
    # n: the five gold answers paid; accuracy (5 + 4) / (11 + 5) = 0.5625 → below 0.60: 0
    assert (line.judgments, line.gold_seen, line.gold_correct) == (5, 11, 5)
    assert (line.accuracy, line.multiplier, line.amount) == (Decimal("0.5625"), 0, 0)


def test_the_review_repro_a_blocked_worker_is_paid_at_the_accuracy_of_all_their_checks(
    manager_pat, project, freelancer_fay, capture
):
    too_fast = judge(freelancer_fay, project, 5, status="untrusted")
    Assignment.objects.filter(pk__in=[a.pk for a in too_fast]).update(check_passed=False)
    judge(freelancer_fay, project, gold_correct=5)

    post_run(manager_pat, days_ago(2), days_ago(0.5), capture)

    (line,) = lines_of(freelancer_fay)
    # (5 + 4) / (10 + 5) = 0.6 → 0.50, not (5 + 4) / (5 + 5) = 0.9 → 1.10
    assert (line.judgments, line.gold_seen, line.gold_correct) == (5, 10, 5)
    assert (line.accuracy, line.multiplier, line.amount) == (
        Decimal("0.6"),
        Decimal("0.5"),
        Decimal("0.12"),  # 5 x 0.05 x 0.50 = 0.125 → 0.12, half to even
    )


def test_an_overlapping_period_counts_the_gold_an_earlier_run_paid(
    manager_pat, project, freelancer_fay, capture
):
    judge(freelancer_fay, project, 5, gold_wrong=5, at=days_ago(3))
    post_run(manager_pat, days_ago(4), days_ago(2.5), capture)
    judge(freelancer_fay, project, 5, gold_correct=5, at=days_ago(2))

    post_run(manager_pat, days_ago(3.5), days_ago(1), capture)

    first, second = lines_of(freelancer_fay)
    assert (first.judgments, first.gold_seen, first.gold_correct, first.multiplier) == (
        10,
        5,
        0,
        0,
    )
    # Pays only the ten new judgments, at the accuracy of all the period's gold:
    # (5 + 4) / (10 + 5) = 0.6 → 0.50 (its own gold alone would be 0.9 → 1.10)
    assert (second.judgments, second.gold_seen, second.gold_correct) == (10, 10, 5)
    assert second.multiplier == Decimal("0.5")


def test_gold_of_exam_projects_and_other_workers_does_not_count(
    manager_pat, project, freelancer_fay, worker_alice, capture
):
    exam = factories.project_create(manager_pat, name="exam")
    Project.objects.filter(pk=exam.pk).update(kind="exam")
    judge(freelancer_fay, exam, gold_wrong=5)
    judge(worker_alice, project, gold_wrong=5)
    other = factories.project_create(manager_pat, name="Other")
    judge(freelancer_fay, other, gold_wrong=5)
    judge(freelancer_fay, project, 3, gold_correct=1)

    post_run(manager_pat, days_ago(2), days_ago(0.5), capture)

    line = StatementLine.objects.get(worker=freelancer_fay, project=project)
    assert (line.judgments, line.gold_seen, line.gold_correct) == (4, 1, 1)


def test_work_rejected_after_it_was_paid_is_taken_back_by_the_next_run(
    manager_pat, project, freelancer_fay, worker_alice, capture
):
    fay_work = judge(freelancer_fay, project, 3, at=days_ago(3))
    alice_work = judge(worker_alice, project, 4, at=days_ago(3))
    post_run(manager_pat, days_ago(4), days_ago(2), capture)
    Assignment.objects.filter(pk__in=[fay_work[0].pk, alice_work[0].pk, alice_work[1].pk]).update(
        status="rejected"
    )
    Assignment.objects.filter(pk=fay_work[1].pk).update(status="untrusted")  # not clawed back

    post_run(manager_pat, days_ago(2), days_ago(1), capture)

    pay_line, correction = lines_of(freelancer_fay)
    assert (pay_line.judgments, pay_line.amount) == (3, Decimal("0.15"))
    assert (correction.kind, correction.corrects_id, correction.judgments) == (
        "correction",
        pay_line.pk,
        -1,
    )
    assert correction.amount == Decimal("-0.05")
    alice_correction = lines_of(worker_alice)[1]
    assert (alice_correction.judgments, alice_correction.amount) == (-2, Decimal("-0.10"))
    assert alice_correction.invoice.amount == Decimal("-0.10")
    assert alice_correction.payee == "vendor"
    assert balances()[f"worker_payable:{freelancer_fay.pk}"] == Decimal("-0.10")
    assert Reversal.objects.count() == 3

    post_run(manager_pat, days_ago(1), days_ago(0.5), capture)  # nothing is reversed twice

    assert StatementLine.objects.filter(kind="correction").count() == 2


@requires_postgres
def test_finding_rejected_paid_work_reads_the_rejected_assignments_not_every_paid_one(
    manager_pat, project, freelancer_fay, capture
):
    work = judge(freelancer_fay, project, 30, at=days_ago(3))
    post_run(manager_pat, days_ago(4), days_ago(2), capture)
    Assignment.objects.filter(pk=work[0].pk).update(status="rejected")
    run = PayrollRun.objects.create(start=days_ago(2), end=days_ago(1), created_by=manager_pat)

    with CaptureQueriesContext(connection) as queries:
        runs._mark_reversed(run)
    (statement,) = [
        q["sql"] for q in queries if q["sql"].startswith("INSERT INTO billing_reversal")
    ]
    with connection.cursor() as cursor:
        # Forbid scans of whole tables: the plan must exist without reading every paid row.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {statement}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = on")

    assert "assignment_rejected" in plan
    assert "Seq Scan" not in plan
    assert list(Reversal.objects.values_list("assignment_id", flat=True)) == [work[0].pk]


def test_corrections_of_one_line_over_several_runs_never_take_back_more_than_it_paid(
    manager_pat, freelancer_fay, capture
):
    project = factories.project_create(manager_pat, rate=Decimal("0.0050"), tiers=[])
    work = judge(freelancer_fay, project, 3, at=days_ago(5))  # 0.015 → 0.02
    post_run(manager_pat, days_ago(6), days_ago(4), capture)
    for index, day in enumerate((4, 3, 2)):
        Assignment.objects.filter(pk=work[index].pk).update(status="rejected")
        post_run(manager_pat, days_ago(day), days_ago(day - 1), capture)

    amounts = [line.amount for line in lines_of(freelancer_fay)]
    # standing work 2 → 0.01, 1 → 0.005 → 0.00 (half to even), 0 → 0
    assert amounts == [Decimal("0.02"), Decimal("-0.01"), Decimal("-0.01"), Decimal("0")]
    assert sum(amounts) == 0


def test_corrections_load_only_the_lines_they_correct(
    manager_pat, project, freelancer_fay, worker_alice, capture, monkeypatch
):
    other = factories.project_create(manager_pat, name="Other", rate=Decimal("0.05"))
    work = {}
    for day in (4, 3):
        for worker in (freelancer_fay, worker_alice):
            for on in (project, other):
                work[day, worker.pk, on.pk] = judge(worker, on, 2, at=days_ago(day))
        post_run(manager_pat, days_ago(day + 0.5), days_ago(day - 0.5), capture)
    first, second = PayrollRun.objects.order_by("pk")
    rejected = [work[4, freelancer_fay.pk, project.pk][0], work[3, worker_alice.pk, other.pk][0]]
    Assignment.objects.filter(pk__in=[a.pk for a in rejected]).update(status="rejected")
    loaded = []
    from_db = StatementLine.from_db.__func__

    def counted(cls, db, field_names, values):
        line = from_db(cls, db, field_names, values)
        loaded.append(line.pk)
        return line

    monkeypatch.setattr(StatementLine, "from_db", classmethod(counted))

    post_run(manager_pat, days_ago(2), days_ago(1), capture)

    monkeypatch.undo()
    originals = [
        StatementLine.objects.get(run=first, worker=freelancer_fay, project=project).pk,
        StatementLine.objects.get(run=second, worker=worker_alice, project=other).pk,
    ]
    corrected = StatementLine.objects.filter(kind="correction").values_list("corrects", flat=True)
    assert sorted(corrected) == originals
    # Eight pay lines share those runs, workers and projects; only the two that paid what was
    # rejected are read.
    assert loaded == originals


def test_a_crash_mid_run_books_nothing_and_the_retry_completes_it_once(
    manager_pat, project, freelancer_fay, worker_alice, capture, monkeypatch
):
    judge(freelancer_fay, project, 10)
    judge(worker_alice, project, 10)
    start, end = days_ago(2), days_ago(0.5)

    def crash(run, lines):
        raise RuntimeError("worker lost")

    with monkeypatch.context() as patch:
        patch.setattr(runs, "_write", crash)
        failed = post_run(manager_pat, start, end, capture)

    run = PayrollRun.objects.get(pk=failed.json()["id"])
    assert (run.status, run.error) == ("failed", "worker lost")
    assert not PaidJudgment.objects.exists()
    assert not StatementLine.objects.exists() and not LedgerEntry.objects.exists()

    retried = post_run(manager_pat, start, end, capture)
    payroll_run_execute(run_id=run.pk)  # a late duplicate delivery changes nothing

    assert (retried.status_code, retried.json()["id"]) == (200, run.pk)
    assert api_client(manager_pat).get(f"{RUNS}{run.pk}/").json()["status"] == "done"
    assert StatementLine.objects.count() == 2
    assert PaidJudgment.objects.count() == 20
    assert LedgerEntry.objects.filter(run=run).count() == 3


def test_a_run_left_running_by_a_dead_worker_is_completed_by_posting_its_period(
    manager_pat, project, freelancer_fay, capture
):
    judge(freelancer_fay, project, 10)
    run = PayrollRun.objects.create(
        start=days_ago(2), end=days_ago(0.5), status="running", created_by=manager_pat
    )

    response = post_run(manager_pat, run.start, run.end, capture)

    assert response.status_code == 200
    run.refresh_from_db()
    assert run.status == "done"
    assert [line.judgments for line in lines_of(freelancer_fay)] == [10]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start": "2020-01-02T00:00:00Z", "end": "2020-01-01T00:00:00Z"}, "end"),
        ({"start": "2020-01-01T00:00:00Z", "end": "2020-01-01T00:00:00Z"}, "end"),
        ({"start": "2020-01-01T00:00:00Z", "end": "2999-01-01T00:00:00Z"}, "end"),
        ({"start": "2020-01-01T00:00:00Z"}, "end"),
        ({"start": "yesterday", "end": "2020-01-01T00:00:00Z"}, "start"),
    ],
)
def test_a_bad_period_is_400_naming_the_problem(manager_pat, body, field):
    response = api_client(manager_pat).post(RUNS, body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not PayrollRun.objects.exists()


def test_the_idempotency_key_returns_the_first_run_and_refuses_another_period(
    manager_pat, project, freelancer_fay, capture
):
    judge(freelancer_fay, project, 2)
    start, end = days_ago(2), days_ago(0.5)
    first = post_run(manager_pat, start, end, capture, HTTP_IDEMPOTENCY_KEY="payroll-week-1")

    replay = post_run(manager_pat, start, end, capture, HTTP_IDEMPOTENCY_KEY="payroll-week-1")
    other = post_run(
        manager_pat, start, days_ago(1), capture, HTTP_IDEMPOTENCY_KEY="payroll-week-1"
    )

    assert (first.status_code, replay.status_code) == (202, 200)
    assert replay.json() == api_client(manager_pat).get(f"{RUNS}{first.json()['id']}/").json()
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
    assert PayrollRun.objects.count() == 1
    assert PayrollRun.objects.get().idempotency_key == "payroll-week-1"


def test_the_run_reads_back_with_status_totals_and_lines(
    manager_pat, project, freelancer_fay, capture
):
    judge(freelancer_fay, project, 7)
    run_id = post_run(manager_pat, days_ago(2), days_ago(0.5), capture).json()["id"]
    client = api_client(manager_pat)

    run = client.get(f"{RUNS}{run_id}/").json()
    listed = client.get(RUNS).json()
    lines = client.get(f"{RUNS}{run_id}/lines/").json()

    assert run["status"] == "done"
    assert run["totals"] == [{"currency": "USD", "amount": "0.35"}]
    assert listed["count"] == 1 and listed["results"][0] == run
    (line,) = lines["results"]
    assert {key: line[key] for key in ("run", "worker", "project", "currency")} == {
        "run": run_id,
        "worker": freelancer_fay.pk,
        "project": project.pk,
        "currency": "USD",
    }
    assert (line["judgments"], line["gold_seen"], line["gold_correct"]) == (7, 0, 0)
    assert (line["accuracy"], line["multiplier"], line["rate"], line["amount"]) == (
        "0.8000",
        "1.0000",
        "0.0500",
        "0.35",
    )
    assert (line["payee"], line["vendor"], line["center"]) == ("worker", None, None)


def test_accounts_and_entries_are_written_in_batches(manager_pat, project, capture, monkeypatch):
    monkeypatch.setattr(ledger, "BATCH", 2)  # PostgreSQL's parameter limit, in miniature
    freelancers = factories.WorkerFactory.create_batch(5, freelancer=True)
    for worker in freelancers:
        judge(worker, project, 2)

    post_run(manager_pat, days_ago(2), days_ago(0.5), capture)

    assert balances() == {
        f"project_cost:{project.pk}": Decimal("0.50"),
        **{f"worker_payable:{worker.pk}": Decimal("-0.10") for worker in freelancers},
    }
