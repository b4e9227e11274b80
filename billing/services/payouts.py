"""Payouts: money sent for a freelancer's statement line or a vendor's invoice (SPEC §8)."""

from django.db import transaction

from billing import selectors
from billing.models import Invoice, Payout, StatementLine
from billing.services import ledger
from config.errors import ConflictError
from workforce.models import User


def payout_create(
    *, user: User, reference: str, line_id: int | None = None, invoice_id: int | None = None
) -> tuple[Payout, bool]:
    """Pays a line or an invoice once; returns (payout, created).

    Idempotent: the same target and reference return the first payout (False); another
    reference for a paid target is a ConflictError (409). Locks the target, then the payee's
    payable account, and moves at most what that account owes the payee: a correction booked
    since the target's run is netted, never overpaid. Raises NotFoundError for a target the
    user may not pay, ConflictError for a vendor worker's line (paid on the invoice) or a
    target with nothing to pay.
    """
    with transaction.atomic(durable=True):
        if line_id is not None:
            target = selectors.line_get_for_payout(user=user, line_id=line_id)
            existing = Payout.objects.filter(line=target).first()
        else:
            target = selectors.invoice_get_for_payout(user=user, invoice_id=invoice_id)
            existing = Payout.objects.filter(invoice=target).first()
        if existing is not None:
            if existing.reference != reference:
                raise ConflictError(
                    f"Already paid with reference '{existing.reference}'.", code="already_paid"
                )
            return existing, False
        payable = _payable(target)
        if target.amount <= 0:
            raise ConflictError("There is nothing to pay on it.", code="nothing_owed")
        account = ledger.accounts_get({(payable, target.currency)}, lock=True)[
            payable, target.currency
        ]
        # Debits minus credits: a payable owed to its payee is negative.
        owed = -selectors.account_balance(account=account)
        amount = max(min(target.amount, owed), 0)
        payout = Payout.objects.create(
            line=target if isinstance(target, StatementLine) else None,
            invoice=target if isinstance(target, Invoice) else None,
            reference=reference,
            currency=target.currency,
            amount=amount,
            created_by=user,
        )
        ledger.entries_book(
            {
                (payable, target.currency): amount,
                (ledger.PLATFORM_CLEARING, target.currency): -amount,
            },
            payout_id=payout.pk,
        )
    return payout, True


def _payable(target: StatementLine | Invoice) -> str:
    if isinstance(target, Invoice):
        return ledger.vendor_payable(target.vendor_id)
    if target.payee == StatementLine.Payee.VENDOR:
        raise ConflictError(
            f"A vendor worker's line is paid on invoice {target.invoice_id}.",
            code="paid_on_invoice",
        )
    return ledger.worker_payable(target.worker_id)
