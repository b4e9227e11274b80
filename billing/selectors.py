"""Reads of the billing app, scoped to what the acting user may see (SPEC §4.7).

Who sees what: staff everything. Managers every run (period and status), but its totals and
lines only for the projects they manage; they may pay a line of a project they manage and an
invoice whose lines are all on projects they manage. A worker sees their own lines; a vendor
admin their vendor's invoices.
"""

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from billing.models import Account, Invoice, LedgerEntry, PayrollRun, StatementLine
from config.aggregates import ExactSum
from config.errors import NotFoundError
from config.money import money_str
from marketplace.selectors import project_ids_for_user
from workforce.models import Role, User, Vendor


def payroll_run_list() -> QuerySet[PayrollRun]:
    return PayrollRun.objects.order_by("-id")


def payroll_run_get(*, run_id: int) -> PayrollRun:
    run = PayrollRun.objects.filter(pk=run_id).first()
    if run is None:
        raise NotFoundError("No such payroll run.")
    return run


def run_totals_for_user(*, user: User, runs: Iterable[PayrollRun]) -> dict[int, list[dict]]:
    """`{run id: [{currency, amount}]}`: staff see each run's own totals (every line); a
    manager the sums of the lines they may see, those of the projects they manage, so that no
    other manager's project costs show through (one query for all the runs)."""
    runs = list(runs)
    if user.role == Role.STAFF:
        return {run.pk: run.totals for run in runs}
    sums = (
        _lines_visible(user)
        .filter(run__in=[run.pk for run in runs])
        .values("run_id", "currency")
        .annotate(amount=ExactSum("amount"))
        .order_by("run_id", "currency")
    )
    totals: dict[int, list[dict]] = defaultdict(list)
    for row in sums:
        currency = row["currency"]
        totals[row["run_id"]].append(
            {"currency": currency, "amount": money_str(row["amount"], currency)}
        )
    return {run.pk: totals[run.pk] for run in runs}


def _lines_visible(user: User) -> QuerySet[StatementLine]:
    lines = StatementLine.objects.all()
    if user.role == Role.STAFF:
        return lines
    if user.role == Role.MANAGER:
        return lines.filter(project__in=project_ids_for_user(user=user))
    return lines.none()


def line_list_for_run(*, user: User, run: PayrollRun) -> QuerySet[StatementLine]:
    """The run's lines the user may see, itemised by center, worker and project, with their
    payout."""
    return _lines_visible(user).filter(run=run).select_related("payout")


def line_list_for_worker(*, worker_user: User) -> QuerySet[StatementLine]:
    """A worker's own lines with their payout, newest run first (staff have no worker
    profile: none)."""
    return (
        StatementLine.objects.filter(worker__user=worker_user)
        .select_related("payout")
        .order_by("-run_id", "project_id", "id")
    )


def line_get_for_payout(*, user: User, line_id: int) -> StatementLine:
    """The line, locked (FOR UPDATE) for a payout, if the user may pay it; else NotFoundError."""
    line = _lines_visible(user).select_for_update(of=("self",)).filter(pk=line_id).first()
    if line is None:
        raise NotFoundError("No such statement line.")
    return line


def invoice_list_for_vendor(*, vendor: Vendor) -> QuerySet[Invoice]:
    """A vendor's invoices with their payout and their lines (by center, worker, project) in
    two queries."""
    return (
        Invoice.objects.filter(vendor=vendor)
        .select_related("payout")
        .order_by("-run_id", "currency")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=StatementLine.objects.select_related("payout").order_by(
                    "center_id", "worker_id", "project_id", "id"
                ),
            )
        )
    )


def invoice_lines_for_vendor(
    *, vendor: Vendor, invoices: QuerySet[Invoice] | None = None
) -> QuerySet[StatementLine]:
    """Every line on a vendor's invoices (of `invoices` only, when given: a filtered list of
    theirs) with its payout, for exports: one row per line."""
    lines = StatementLine.objects.filter(invoice__vendor=vendor)
    if invoices is not None:
        lines = lines.filter(invoice__in=invoices.values("pk"))
    return lines.select_related("payout").order_by(
        "-run_id", "currency", "center_id", "worker_id", "project_id", "id"
    )


def invoice_get_for_payout(*, user: User, invoice_id: int) -> Invoice:
    """The invoice, locked (FOR UPDATE) for a payout, if the user may pay it: staff any, a
    manager one whose lines are all on projects they manage; else NotFoundError."""
    invoices = Invoice.objects.select_for_update(of=("self",)).filter(pk=invoice_id)
    if user.role == Role.MANAGER:
        foreign = StatementLine.objects.filter(invoice=OuterRef("pk")).exclude(
            project__in=project_ids_for_user(user=user)
        )
        invoices = invoices.exclude(Exists(foreign))
    elif user.role != Role.STAFF:
        invoices = invoices.none()
    invoice = invoices.first()
    if invoice is None:
        raise NotFoundError("No such invoice.")
    return invoice


def account_balance(*, account: Account) -> Decimal:
    """Debits minus credits of one account: negative when the payee is owed. Summed here, in
    decimals: SQLite's SUM over decimal columns is a float (an account has an entry per run
    and per payout, not per judgment)."""
    return sum(account.entries.values_list("amount", flat=True), Decimal(0))


def ledger_balances() -> QuerySet:
    """One row per account and currency, `{account, currency, balance}`; debits positive;
    summed exactly on SQLite too (ExactSum)."""
    return (
        LedgerEntry.objects.values("account__name", "account__currency")
        .annotate(balance=ExactSum("amount"))
        .order_by("account__currency", "account__name")
    )
