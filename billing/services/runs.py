"""Payroll runs (SPEC §7): who is owed what for the judgments of a period, booked once.

A run executes in ONE transaction: the paid-judgment watermark, the statement lines, the
invoices and the ledger entries commit together or not at all, so a worker killed mid-run
leaves nothing booked and the run is completed by executing it again (re-posting its period
queues that). Judgments are selected, marked paid and counted in set-based SQL; Python sees one
row per worker and project (the tier rule and rounding of billing.pay), never one per judgment.
"""

import datetime
import logging
import time
from collections import defaultdict
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from billing import pay
from billing.models import (
    Invoice,
    PaidJudgment,
    PayrollRun,
    Reversal,
    StatementLine,
)
from billing.services import ledger
from config.db import other_transactions
from config.errors import ConflictError, InvalidInputError
from config.money import money_str
from marketplace.models import Assignment, Project
from marketplace.selectors import judgments_payable
from workforce.models import DeliveryCenter, User, Worker

logger = logging.getLogger(__name__)

# Any constant: the key of the PostgreSQL advisory lock that makes runs execute one at a time.
_RUNS_LOCK = 5_000_001
# How long a run waits for transactions that began before its period ended (a judgment being
# stored, a long job) before it fails, to be retried.
_SETTLE_SECONDS = 300

_LINE_COLUMNS = [
    "run_id",
    "worker_id",
    "project_id",
    "kind",
    "corrects_id",
    "currency",
    "judgments",
    "gold_seen",
    "gold_correct",
    "accuracy",
    "multiplier",
    "rate",
    "amount",
    "payee",
    "vendor_id",
    "center_id",
    "invoice_id",
]


def payroll_run_start(
    *,
    user: User,
    start: datetime.datetime,
    end: datetime.datetime,
    idempotency_key: str | None = None,
) -> tuple[PayrollRun, bool]:
    """The run for `[start, end)`, created and queued if new (True), else the existing one
    (False), queued again unless done: that completes a run a dead worker left `running`, or
    one that `failed`; an execution that finds the run done does nothing.

    Raises InvalidInputError for a period that is empty or ends in the future, ConflictError
    (409) for an idempotency key already used for another period.
    """
    if start >= end:
        raise InvalidInputError(fields={"end": ["Must be after start."]})
    if end > timezone.now():
        raise InvalidInputError(fields={"end": ["Must not be in the future."]})
    if idempotency_key is not None:
        keyed = PayrollRun.objects.filter(idempotency_key=idempotency_key).first()
        if keyed is not None and (keyed.start, keyed.end) != (start, end):
            raise _key_reused()
    try:
        with transaction.atomic():
            run = PayrollRun.objects.create(
                start=start, end=end, idempotency_key=idempotency_key, created_by=user
            )
        created = True
    except IntegrityError:
        # The period (or the key, concurrently) is taken: the unique constraints decide.
        run = PayrollRun.objects.filter(start=start, end=end).first()
        if run is None:
            raise _key_reused() from None
        created = False
    if run.status != PayrollRun.Status.DONE:
        from billing.tasks import payroll_run_execute_task  # the task module imports this one

        run_id = run.pk
        transaction.on_commit(lambda: payroll_run_execute_task.delay(run_id))
    return run, created


def _key_reused() -> ConflictError:
    return ConflictError(
        "This Idempotency-Key was used for another period.", code="idempotency_key_reused"
    )


def payroll_run_execute(*, run_id: int) -> None:
    """Executes a run exactly once however often it is delivered, concurrently or after a
    crash: the run's row is locked for the whole transaction and a done run is left alone.
    A failure rolls everything back and records `failed` with the error."""
    # Blocks while another execution holds the row lock, then finds the run done: a second
    # delivery waits for the first instead of racing it.
    if (
        not PayrollRun.objects.filter(pk=run_id)
        .exclude(status=PayrollRun.Status.DONE)
        .update(status=PayrollRun.Status.RUNNING, started_at=timezone.now(), error="")
    ):
        return
    try:
        with transaction.atomic(durable=True):
            run = PayrollRun.objects.select_for_update().get(pk=run_id)
            if run.status == PayrollRun.Status.DONE:
                return
            if connection.vendor == "postgresql":
                # Runs execute one at a time (SQLite serialises writers by itself): two runs
                # of overlapping periods would otherwise wait on each other's watermark rows.
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_RUNS_LOCK])
            run.totals = _execute(run)
            run.status = PayrollRun.Status.DONE
            run.finished_at = timezone.now()
            run.save(update_fields=["totals", "status", "finished_at"])
    except Exception as error:
        logger.exception("payroll run %s failed", run_id)
        PayrollRun.objects.filter(pk=run_id).exclude(status=PayrollRun.Status.DONE).update(
            status=PayrollRun.Status.FAILED, error=str(error), finished_at=timezone.now()
        )


def _execute(run: PayrollRun) -> list[dict]:
    _wait_for_the_period_to_settle(run)
    _mark_paid(run)
    _mark_reversed(run)
    lines = _pay_lines(run) + _correction_lines(run)
    _write(run, lines)
    return _totals(lines)


def _wait_for_the_period_to_settle(run: PayrollRun) -> None:
    """Waits until every other transaction that began before the period's end has ended.

    A judgment's `submitted_at` is never earlier than the start of the transaction that stores
    it (marketplace.services.assignments); one still being stored when the watermark is read
    would otherwise be missed by this run, and by the next, which starts at this run's end.
    SQLite needs no wait: this run's transaction holds its only writer slot.
    """
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + _SETTLE_SECONDS
    while open_before_end := [row[:3] for row in other_transactions(started_before=run.end)]:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"Transactions that began before the period's end are still open after "
                f"{_SETTLE_SECONDS} s (pid, state, query: {open_before_end}); retry the run "
                "when they have ended."
            )
        time.sleep(0.05)


def _mark_paid(run: PayrollRun) -> None:
    """The watermark: every payable judgment of the period, as paid by this run, in one
    INSERT … SELECT; one an earlier run paid is skipped by its primary key (ON CONFLICT).

    Not with NOT EXISTS: the planner may check that by scanning the table the statement is
    filling, once per row, and the first run on an empty table then took minutes instead of
    seconds. The primary key's index answers the same question in one probe per row.
    """
    payable = judgments_payable(start=run.start, end=run.end).order_by()
    sql, params = payable.values_list(
        "pk", "worker_id", "project_id", "check_passed"
    ).query.sql_with_params()
    with connection.cursor() as cursor:
        # `WHERE true` lets SQLite tell the upsert clause from a join's ON.
        cursor.execute(
            f"INSERT INTO {PaidJudgment._meta.db_table} "
            "(run_id, assignment_id, worker_id, project_id, check_passed) "
            f"SELECT %s, q.* FROM ({sql}) q WHERE true ON CONFLICT (assignment_id) DO NOTHING",
            [run.pk, *params],
        )


def _mark_reversed(run: PayrollRun) -> None:
    """Judgments an earlier run paid that were rejected in review since, as reversed by this
    run; one reversed before is skipped by its primary key (as in _mark_paid). Untrusted work
    is not reversed: SPEC §6, what was paid is not clawed back.

    Driven from the rejected assignments (a few percent, read from the partial index
    assignment_rejected), each probing the watermark's primary key: the paid table grows by
    every judgment ever paid and is never scanned."""
    paid, assignment, reversal = (
        PaidJudgment._meta.db_table,
        Assignment._meta.db_table,
        Reversal._meta.db_table,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {reversal} (assignment_id, run_id) SELECT a.id, %s "
            f"FROM {assignment} a JOIN {paid} p ON p.assignment_id = a.id "
            "WHERE a.status = %s AND p.run_id <> %s ON CONFLICT (assignment_id) DO NOTHING",
            [run.pk, Assignment.Status.REJECTED, run.pk],
        )


def _pay_lines(run: PayrollRun) -> list[dict]:
    """One line per worker and project among the judgments this run marked paid: `n` counts
    those; gold seen and correct count every gold check of that worker on that project
    submitted in the period (SPEC §7: the §6 estimate over the gold answered in the period),
    whatever became of it and whichever run paid it. Two GROUP BYs joined on worker and
    project; the figures come from billing.pay."""
    paid, worker, center = (
        PaidJudgment._meta.db_table,
        Worker._meta.db_table,
        DeliveryCenter._meta.db_table,
    )
    gold_sql, gold_params = _gold_checks(run).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT g.worker_id, g.project_id, g.n, COALESCE(q.seen, 0), "
            "COALESCE(q.correct, 0), w.center_id, c.vendor_id "
            "FROM (SELECT worker_id, project_id, COUNT(*) AS n "
            f"FROM {paid} WHERE run_id = %s GROUP BY worker_id, project_id) g "
            f"LEFT JOIN ({gold_sql}) q ON q.worker_id = g.worker_id AND q.project_id = g.project_id "
            f"JOIN {worker} w ON w.id = g.worker_id LEFT JOIN {center} c ON c.id = w.center_id",
            [run.pk, *gold_params],
        )
        groups = cursor.fetchall()
    projects = {
        project.pk: project
        for project in Project.objects.filter(pk__in={row[1] for row in groups}).only(
            "currency", "rate", "tiers", "prior_correct", "prior_seen"
        )
    }
    # Lines of one project repeat the same (judgments, gold seen, gold correct) a lot: the
    # exact arithmetic runs once per distinct combination.
    figures_of: dict[tuple, pay.LinePay] = {}
    lines = []
    for worker_id, project_id, judgments, seen, correct, center_id, vendor_id in groups:
        project = projects[project_id]
        key = (project_id, judgments, seen, correct)
        if (figures := figures_of.get(key)) is None:
            figures = figures_of[key] = pay.line_pay(
                judgments=judgments,
                gold_seen=seen,
                gold_correct=correct,
                prior_correct=project.prior_correct,
                prior_seen=project.prior_seen,
                tiers=project.tiers,
                rate=project.rate,
                currency=project.currency,
            )
        lines.append(
            {
                "run_id": run.pk,
                "worker_id": worker_id,
                "project_id": project_id,
                "kind": StatementLine.Kind.PAY,
                "corrects_id": None,
                "currency": project.currency,
                "judgments": judgments,
                "gold_seen": seen,
                "gold_correct": correct,
                "accuracy": figures.accuracy,
                "multiplier": figures.multiplier,
                "rate": project.rate,
                "amount": figures.amount,
                **_routing(center_id, vendor_id),
            }
        )
    return lines


def _gold_checks(run: PayrollRun):
    """(worker_id, project_id, seen, correct) over every gold check (`check_passed` set: a gold
    answer, or one faster than min_seconds_per_task) submitted in the run's period on a work
    project. Not only the paid ones: a blocked worker's failed checks on regular tasks are
    untrusted and never paid, yet they are the evidence against them; and gold an earlier run
    of an overlapping period paid still counts for this period."""
    return (
        Assignment.objects.filter(
            submitted_at__gte=run.start,
            submitted_at__lt=run.end,
            check_passed__isnull=False,
            project__kind=Project.Kind.WORK,
        )
        .values("worker_id", "project_id")
        .annotate(seen=Count("pk"), correct=Count("pk", filter=Q(check_passed=True)))
        .order_by()
    )


def _routing(center_id: int | None, vendor_id: int | None) -> dict:
    """Freelancers are paid directly, a vendor's workers to their vendor (SPEC §7)."""
    if vendor_id is None:
        return {"payee": StatementLine.Payee.WORKER, "vendor_id": None, "center_id": None}
    return {"payee": StatementLine.Payee.VENDOR, "vendor_id": vendor_id, "center_id": center_id}


def _correction_lines(run: PayrollRun) -> list[dict]:
    """One correction per earlier line with judgments this run reversed, at that line's rate
    and multiplier, charged to the same payee (billing.pay.correction_amount)."""
    statement, paid, reversal = (
        StatementLine._meta.db_table,
        PaidJudgment._meta.db_table,
        Reversal._meta.db_table,
    )
    # The lines that paid the reversed judgments, joined on the exact (run, worker, project) of
    # each group (the partial unique index line_pay_once_per_run answers each probe).
    originals = list(
        StatementLine.objects.raw(
            f"SELECT l.*, g.n AS reversed_now FROM {statement} l JOIN (SELECT p.run_id, "
            f"p.worker_id, p.project_id, COUNT(*) AS n FROM {reversal} r JOIN {paid} p "
            "ON p.assignment_id = r.assignment_id WHERE r.run_id = %s "
            "GROUP BY p.run_id, p.worker_id, p.project_id) g ON l.run_id = g.run_id "
            "AND l.worker_id = g.worker_id AND l.project_id = g.project_id "
            "WHERE l.kind = %s ORDER BY l.id",
            [run.pk, StatementLine.Kind.PAY],
        )
    )
    if not originals:
        return []
    # What earlier corrections of these lines took back, summed here in decimals (SQLite's
    # SUM of a decimal column is a float).
    earlier: dict[int, tuple[int, Decimal]] = defaultdict(lambda: (0, Decimal(0)))
    for line_id, judgments, amount in StatementLine.objects.filter(
        corrects__in=[line.pk for line in originals]
    ).values_list("corrects_id", "judgments", "amount"):
        counted, taken = earlier[line_id]
        earlier[line_id] = (counted - judgments, taken + amount)
    lines = []
    for line in originals:
        n = line.reversed_now
        reversed_before, taken_before = earlier[line.pk]
        correction = pay.correction_amount(
            judgments=line.judgments,
            reversed_judgments=reversed_before + n,
            rate=line.rate,
            multiplier=line.multiplier,
            currency=line.currency,
            booked=line.amount + taken_before,
        )
        lines.append(
            {
                "run_id": run.pk,
                "worker_id": line.worker_id,
                "project_id": line.project_id,
                "kind": StatementLine.Kind.CORRECTION,
                "corrects_id": line.pk,
                "currency": line.currency,
                "judgments": -n,
                "gold_seen": 0,
                "gold_correct": 0,
                "accuracy": line.accuracy,
                "multiplier": line.multiplier,
                "rate": line.rate,
                "amount": correction,
                "payee": line.payee,
                "vendor_id": line.vendor_id,
                "center_id": line.center_id,
            }
        )
    return lines


def _write(run: PayrollRun, lines: list[dict]) -> None:
    """Invoices (one per vendor and currency), the lines, and the ledger: project cost debited,
    payee payable credited, netted per account."""
    invoice_totals: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    booking: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for line in lines:
        currency, amount = line["currency"], line["amount"]
        if line["payee"] == StatementLine.Payee.VENDOR:
            invoice_totals[line["vendor_id"], currency] += amount
            payable = ledger.vendor_payable(line["vendor_id"])
        else:
            payable = ledger.worker_payable(line["worker_id"])
        booking[ledger.project_cost(line["project_id"]), currency] += amount
        booking[payable, currency] -= amount
    invoices = Invoice.objects.bulk_create(
        [
            Invoice(run=run, vendor_id=vendor_id, currency=currency, amount=amount)
            for (vendor_id, currency), amount in sorted(invoice_totals.items())
        ],
        batch_size=ledger.BATCH,
    )
    invoice_of = {(invoice.vendor_id, invoice.currency): invoice.pk for invoice in invoices}
    for line in lines:
        line["invoice_id"] = invoice_of.get((line["vendor_id"], line["currency"]))
    _insert_lines(lines)
    # Payable accounts are locked before their balance changes: a payout reading one waits.
    ledger.accounts_get(set(booking), lock=True)
    ledger.entries_book(booking, run_id=run.pk)


def _insert_lines(lines: list[dict]) -> None:
    if connection.vendor == "postgresql":
        # COPY: a run writes up to one line per worker and project, 100,000 in the benchmark,
        # where the ORM's bulk insert spent seconds building parameters.
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                f"COPY {StatementLine._meta.db_table} ({', '.join(_LINE_COLUMNS)}) FROM STDIN"
            ) as copy,
        ):
            for line in lines:
                copy.write_row([line[column] for column in _LINE_COLUMNS])
        return
    StatementLine.objects.bulk_create([StatementLine(**line) for line in lines], batch_size=500)


def _totals(lines: list[dict]) -> list[dict]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        totals[line["currency"]] += line["amount"]
    return [
        {"currency": currency, "amount": money_str(amount, currency)}
        for currency, amount in sorted(totals.items())
    ]
