"""Double-entry booking: every booking is a set of entries that sums to zero per currency.

Accounts (billing.models.Account) whose balance is read or changed are locked FOR UPDATE in
primary-key order first, so that a payout reading a payee's balance and a run changing it take
turns; the ledger comes last in the lock order (STYLE: project → ... → ledger). The platform
clearing account is never locked: nobody reads its balance to decide anything, and locking it
would make every payout wait for every other.
"""

from collections import defaultdict
from decimal import Decimal

from billing.models import Account, LedgerEntry

PLATFORM_CLEARING = "platform_clearing"
# Rows per statement: PostgreSQL takes at most 65,535 parameters in one.
BATCH = 5_000


def project_cost(project_id: int) -> str:
    return f"project_cost:{project_id}"


def worker_payable(worker_id: int) -> str:
    return f"worker_payable:{worker_id}"


def vendor_payable(vendor_id: int) -> str:
    return f"vendor_payable:{vendor_id}"


def accounts_get(
    keys: set[tuple[str, str]], *, lock: bool = False
) -> dict[tuple[str, str], Account]:
    """The accounts named by (name, currency), created if missing; with `lock`, locked FOR
    UPDATE in id order within each batch of names (callers lock the accounts whose balance
    they read or change; runs execute one at a time and a payout locks a single account, so
    batches cannot make two transactions wait on each other in a circle)."""
    Account.objects.bulk_create(
        [Account(name=name, currency=currency) for name, currency in sorted(keys)],
        ignore_conflicts=True,
        batch_size=BATCH,
    )
    names = sorted({name for name, _ in keys})
    found = {}
    # In batches: a run may touch an account per freelancer, beyond the number of parameters
    # one statement may carry.
    for start in range(0, len(names), BATCH):
        accounts = Account.objects.filter(name__in=names[start : start + BATCH]).order_by("pk")
        if lock:
            accounts = accounts.select_for_update()
        for account in accounts:
            if (account.name, account.currency) in keys:
                found[account.name, account.currency] = account
    return found


def entries_book(
    amounts: dict[tuple[str, str], Decimal], *, run_id: int | None = None, payout_id=None
) -> None:
    """Books signed amounts (debit positive) per (account, currency); raises ValueError unless
    they balance per currency. Zero amounts are left out. Locks nothing itself."""
    per_currency: dict[str, Decimal] = defaultdict(Decimal)
    for (_, currency), amount in amounts.items():
        per_currency[currency] += amount
    unbalanced = {currency: total for currency, total in per_currency.items() if total != 0}
    if unbalanced:
        raise ValueError(f"unbalanced booking: {unbalanced}")
    booked = {key: amount for key, amount in amounts.items() if amount != 0}
    accounts = accounts_get(set(booked))
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(account=accounts[key], amount=amount, run_id=run_id, payout_id=payout_id)
            for key, amount in sorted(booked.items())
        ],
        batch_size=BATCH,
    )
