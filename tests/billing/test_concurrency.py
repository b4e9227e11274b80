"""Billing under real concurrency on PostgreSQL: threads racing payouts and runs, and a Celery
worker killed with SIGKILL in the middle of a run."""

import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import psycopg
import pytest
from django.db import connection, connections
from django.utils import timezone

from billing.models import LedgerEntry, PaidJudgment, Payout, PayrollRun, StatementLine
from marketplace.models import Assignment
from tests import factories
from tests.billing.utils import (
    PAYOUTS,
    RUNS,
    balances,
    counted_minus_paid,
    days_ago,
    judge,
)
from tests.utils import api_client, requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def run_in_threads(count: int, work):
    """Runs work(index) in `count` threads started together; each closes its connection."""
    barrier = threading.Barrier(count)

    def wrapped(index):
        try:
            barrier.wait()
            return work(index)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(wrapped, range(count)))


def post_period(user, start, end):
    return api_client(user).post(
        RUNS, {"start": start.isoformat(), "end": end.isoformat()}, format="json"
    )


def test_50_concurrent_payouts_totalling_twice_the_balance_pay_at_most_the_balance(
    manager_pat, freelancer_fay
):
    # Line A paid 1.00 for 10 judgments, all rejected since (correction -1.00), and line B
    # 1.00 for 10 more: the lines total 2.00, the worker is owed 1.00.
    project = factories.project_create(manager_pat, rate=Decimal("0.10"))
    first = judge(freelancer_fay, project, 10, at=days_ago(3))
    post_period(manager_pat, days_ago(4), days_ago(2))
    Assignment.objects.filter(pk__in=[a.pk for a in first]).update(status="rejected")
    judge(freelancer_fay, project, 10, at=days_ago(1.5))
    post_period(manager_pat, days_ago(2), days_ago(1))
    line_a, line_b = StatementLine.objects.filter(kind="pay").order_by("run_id")
    assert line_a.amount + line_b.amount == 2 * Decimal("1.00")
    clients = [api_client(manager_pat) for _ in range(50)]

    responses = run_in_threads(
        50,
        lambda i: clients[i].post(
            PAYOUTS,
            {"line": (line_a, line_b)[i % 2].pk, "reference": f"WIRE-{i}"},
            format="json",
        ),
    )

    assert Counter(r.status_code for r in responses) == {201: 2, 409: 48}
    assert sum(payout.amount for payout in Payout.objects.all()) == Decimal("1.00")
    assert balances()[f"worker_payable:{freelancer_fay.pk}"] == 0


def test_50_concurrent_payouts_of_one_invoice_pay_it_once(manager_pat, worker_alice):
    project = factories.project_create(manager_pat, rate=Decimal("0.10"))
    judge(worker_alice, project, 10)
    post_period(manager_pat, days_ago(2), days_ago(0.5))
    invoice = StatementLine.objects.get().invoice
    clients = [api_client(manager_pat) for _ in range(50)]

    responses = run_in_threads(
        50,
        lambda i: clients[i].post(
            PAYOUTS, {"invoice": invoice.pk, "reference": f"WIRE-{i % 5}"}, format="json"
        ),
    )

    (payout,) = Payout.objects.all()
    assert payout.amount == invoice.amount
    # the payout's own reference again is a replay (200); any other is a conflict (409)
    replays = sum(1 for i in range(50) if f"WIRE-{i % 5}" == payout.reference) - 1
    assert Counter(r.status_code for r in responses) == {201: 1, 200: replays, 409: 49 - replays}


def test_concurrent_posts_of_one_period_make_one_run_that_pays_once(
    manager_pat, freelancer_fay, worker_alice
):
    project = factories.project_create(manager_pat, rate=Decimal("0.10"))
    judge(freelancer_fay, project, 20)
    judge(worker_alice, project, 20)
    start, end = days_ago(2), days_ago(0.5)

    responses = run_in_threads(20, lambda i: post_period(manager_pat, start, end))

    assert Counter(r.status_code for r in responses) == {202: 1, 200: 19}
    assert len({r.json()["id"] for r in responses}) == 1
    assert PayrollRun.objects.get().status == "done"
    assert PaidJudgment.objects.count() == 40
    assert counted_minus_paid() == 0


def test_concurrent_runs_of_overlapping_periods_pay_each_judgment_once(
    manager_pat, freelancer_fay, worker_alice
):
    project = factories.project_create(manager_pat, rate=Decimal("0.10"))
    for day in (4, 3, 2, 1):
        judge(freelancer_fay, project, 5, at=days_ago(day))
        judge(worker_alice, project, 5, at=days_ago(day))
    periods = [
        (days_ago(start), days_ago(end))
        for start, end in [(5, 0.5), (4.5, 1.5), (3.5, 0.5), (5, 2.5), (2.5, 0.6), (3.2, 1.2)]
    ]

    run_in_threads(6, lambda i: post_period(manager_pat, *periods[i]))

    assert set(PayrollRun.objects.values_list("status", flat=True)) == {"done"}
    assert PaidJudgment.objects.count() == 40
    assert counted_minus_paid() == 0


def wait_for(condition, what: str, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def backend_waiting_on_a_lock() -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        row = cursor.fetchone()
    return row[0] if row else None


def backend_gone(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] == 0


def test_a_worker_killed_mid_run_books_nothing_and_the_retry_completes_the_run_once(
    celery_workers, manager_pat, freelancer_fay, worker_alice
):
    project = factories.project_create(manager_pat, rate=Decimal("0.10"))
    judge(freelancer_fay, project, 10, at=days_ago(3))
    judge(freelancer_fay, project, 7, gold_correct=3, at=days_ago(1))
    judge(worker_alice, project, 12, at=days_ago(1))
    worker = celery_workers()
    first = post_period(manager_pat, days_ago(4), days_ago(2)).json()["id"]
    wait_for(lambda: PayrollRun.objects.get(pk=first).status == "done", "the first run")
    booked_before = LedgerEntry.objects.count()
    # Hold the freelancer's payable account, which the second run must lock before booking:
    # the run is then stopped mid-transaction, its watermark and lines written, not committed.
    db = connection.settings_dict
    holder = psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"])
    holder.execute(
        "SELECT id FROM billing_account WHERE name = %s FOR UPDATE",
        [f"worker_payable:{freelancer_fay.pk}"],
    )
    start, end = days_ago(2), days_ago(0.5)
    run_id = post_period(manager_pat, start, end).json()["id"]
    backend = wait_for(backend_waiting_on_a_lock, "the run to block mid-transaction")

    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    holder.rollback()
    holder.close()
    wait_for(lambda: backend_gone(backend), "the dead worker's transaction to end")

    assert PayrollRun.objects.get(pk=run_id).status == "running"
    assert not PaidJudgment.objects.filter(run_id=run_id).exists()
    assert not StatementLine.objects.filter(run_id=run_id).exists()
    assert LedgerEntry.objects.count() == booked_before

    celery_workers()
    retry = post_period(manager_pat, start, end)
    wait_for(lambda: PayrollRun.objects.get(pk=run_id).status == "done", "the retried run")
    post_period(manager_pat, start, end)  # once more: nothing changes

    assert (retry.status_code, retry.json()["id"]) == (200, run_id)
    assert sorted(
        StatementLine.objects.filter(run_id=run_id).values_list("worker_id", "judgments")
    ) == sorted([(freelancer_fay.pk, 10), (worker_alice.pk, 12)])
    assert PaidJudgment.objects.count() == 32
    assert counted_minus_paid() == 0
    assert LedgerEntry.objects.filter(run_id=run_id).count() == 3


def test_a_run_waits_for_a_judgment_still_being_stored_when_its_period_ends(
    manager_pat, freelancer_fay
):
    project = factories.project_create(manager_pat, rate=Decimal("0.10"), gold_ratio=0.0)
    factories.tasks_create(project, 1)
    claimed = api_client(freelancer_fay.user).post(
        "/api/v1/assignments/claim/", {"project": project.id}, format="json"
    )
    # A submit whose transaction began (and stamped `submitted_at`) before the period's end
    # and commits only after the run has started.
    db = connection.settings_dict
    storing = psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"])
    storing.execute(
        "UPDATE marketplace_assignment SET status = 'submitted', answer = '\"positive\"', "
        "submitted_at = now() WHERE id = %s",
        [claimed.json()["id"]],
    )
    time.sleep(0.05)
    end = timezone.now()
    threading.Timer(0.5, storing.commit).start()
    try:
        response = post_period(manager_pat, days_ago(1), end)
    finally:
        time.sleep(0.6)
        storing.close()

    run = PayrollRun.objects.get(pk=response.json()["id"])
    assert run.status == "done"
    assert list(StatementLine.objects.filter(run=run).values_list("worker_id", "judgments")) == [
        (freelancer_fay.pk, 1)
    ]
