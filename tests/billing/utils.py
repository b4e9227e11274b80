"""Test data for billing: judgments made directly (the claim loop has its own tests), payroll
runs posted over HTTP."""

import datetime
from collections import defaultdict
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from billing.models import LedgerEntry, PaidJudgment, StatementLine
from marketplace.models import Assignment, Task
from tests.utils import api_client

RUNS = "/api/v1/payroll/runs/"
PAYOUTS = "/api/v1/payouts/"
BALANCES = "/api/v1/ledger/balances/"


def days_ago(days: float) -> datetime.datetime:
    """A time `days` before now, on a whole second (API round trips keep microseconds too)."""
    return (timezone.now() - datetime.timedelta(days=days)).replace(microsecond=0)


def judge(
    worker,
    project,
    count: int = 0,
    *,
    gold_correct: int = 0,
    gold_wrong: int = 0,
    at: datetime.datetime | None = None,
    status: str = Assignment.Status.SUBMITTED,
) -> list[Assignment]:
    """`count` regular judgments and some answered gold questions, submitted at `at`."""
    at = at or days_ago(1)
    made = []
    for check in [None] * count + [True] * gold_correct + [False] * gold_wrong:
        gold = check is not None
        task = Task.objects.create(
            project=project,
            data={"text": "item"},
            is_gold=gold,
            gold_answer="positive" if gold else None,
            required=0 if gold else project.overlap,
        )
        made.append(
            Assignment.objects.create(
                task=task,
                project=project,
                worker=worker,
                status=status,
                is_gold=gold,
                answer="positive",
                check_passed=check,
                claimed_at=at - datetime.timedelta(minutes=1),
                lease_expires_at=at + datetime.timedelta(minutes=9),
                submitted_at=at,
            )
        )
    return made


def post_run(user, start, end, capture, **headers):
    """POSTs a payroll run; its job runs eagerly as the request's transaction commits."""
    with capture(execute=True):
        return api_client(user).post(
            RUNS, {"start": start.isoformat(), "end": end.isoformat()}, format="json", **headers
        )


def lines_of(worker) -> list[StatementLine]:
    return list(StatementLine.objects.filter(worker=worker).order_by("run_id", "id"))


def ledger_totals() -> dict[str, Decimal]:
    """Sum of all entries per currency (in decimals, not SQL: SQLite sums floats)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for currency, amount in LedgerEntry.objects.values_list("account__currency", "amount"):
        totals[currency] += amount
    return dict(totals)


def balances() -> dict[str, Decimal]:
    """Balance per account name, in decimals."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for name, amount in LedgerEntry.objects.values_list("account__name", "amount"):
        totals[name] += amount
    return dict(totals)


def counted_minus_paid() -> int:
    """Judgments counted in pay lines minus judgments marked paid: 0 when each is paid once."""
    counted = StatementLine.objects.filter(kind="pay").aggregate(n=Sum("judgments"))["n"] or 0
    return counted - PaidJudgment.objects.count()
