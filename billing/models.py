"""Payroll runs, statement lines, vendor invoices, the ledger and payouts (SPEC §7).

What makes "no judgment is ever paid twice" hold is the database, not the code around it:
`PaidJudgment` is keyed by the assignment, so a second payment of one judgment cannot be
inserted, whatever crashes, reruns or overlapping periods do; `Reversal` likewise for
corrections. Ledger entries are append-only: triggers (migration 0002) refuse UPDATE and DELETE.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from config.money import MAX_DIGITS, RATE_PLACES

# Amounts are stored with the most places any currency's minor unit has; each is rounded to its
# own currency's minor unit before it is stored (billing.pay).
AMOUNT_DIGITS = 20


class PayrollRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True, unique=True)
    # [{currency, amount}] with amounts as decimal strings, set when the run is done.
    totals = models.JSONField(default=list)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint("start", "end", name="payroll_run_period_unique"),
            models.CheckConstraint(
                condition=Q(start__lt=models.F("end")), name="payroll_run_period"
            ),
        ]

    def __str__(self):
        return f"payroll [{self.start:%Y-%m-%d %H:%M}, {self.end:%Y-%m-%d %H:%M})"


class Invoice(models.Model):
    """What a vendor is owed for its workers' lines of one run in one currency."""

    run = models.ForeignKey(PayrollRun, on_delete=models.PROTECT, related_name="invoices")
    vendor = models.ForeignKey(
        "workforce.Vendor", on_delete=models.PROTECT, related_name="invoices"
    )
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=RATE_PLACES)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-run_id", "vendor_id", "currency"]
        constraints = [
            models.UniqueConstraint("run", "vendor", "currency", name="invoice_once_per_run"),
        ]

    def __str__(self):
        return f"invoice {self.pk}"


class StatementLine(models.Model):
    """One worker's pay on one project in one run (`kind` pay), or a correction taking back pay
    of an earlier line whose judgments were rejected since (`kind` correction, `corrects` that
    line, negative `judgments` and `amount`). Vendor, center and payee as they were at the run."""

    class Payee(models.TextChoices):
        WORKER = "worker"
        VENDOR = "vendor"

    class Kind(models.TextChoices):
        PAY = "pay"
        CORRECTION = "correction"

    run = models.ForeignKey(PayrollRun, on_delete=models.PROTECT, related_name="lines")
    # Worker and project are indexed by line_worker and line_project below; vendor and center
    # are never looked up: no index of their own (a run writes up to 100,000 lines).
    worker = models.ForeignKey(
        "workforce.Worker", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    project = models.ForeignKey(
        "marketplace.Project", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PAY)
    corrects = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrections"
    )
    currency = models.CharField(max_length=3)
    judgments = models.IntegerField()
    gold_seen = models.IntegerField()
    gold_correct = models.IntegerField()
    accuracy = models.DecimalField(max_digits=MAX_DIGITS, decimal_places=RATE_PLACES)
    multiplier = models.DecimalField(max_digits=MAX_DIGITS, decimal_places=RATE_PLACES)
    rate = models.DecimalField(max_digits=MAX_DIGITS, decimal_places=RATE_PLACES)
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=RATE_PLACES)
    payee = models.CharField(max_length=8, choices=Payee.choices)
    vendor = models.ForeignKey(
        "workforce.Vendor",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    center = models.ForeignKey(
        "workforce.DeliveryCenter",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="lines"
    )

    class Meta:
        ordering = ["run_id", "center_id", "worker_id", "project_id", "id"]
        constraints = [
            models.UniqueConstraint(
                "run", "worker", "project", condition=Q(kind="pay"), name="line_pay_once_per_run"
            ),
            models.UniqueConstraint(
                "run", "corrects", condition=Q(kind="correction"), name="line_correction_once"
            ),
            models.CheckConstraint(
                condition=Q(payee="worker", vendor__isnull=True, invoice__isnull=True)
                | Q(payee="vendor", vendor__isnull=False, invoice__isnull=False),
                name="line_payee_routing",
            ),
            models.CheckConstraint(
                condition=Q(kind="pay", corrects__isnull=True, judgments__gte=0)
                | Q(kind="correction", corrects__isnull=False, judgments__lt=0),
                name="line_kind_shape",
            ),
        ]
        indexes = [
            models.Index(fields=["worker", "-run"], name="line_worker"),
            models.Index(fields=["project", "run"], name="line_project"),
        ]

    def __str__(self):
        return f"line {self.pk}"


class PaidJudgment(models.Model):
    """The watermark: a judgment paid, and by which run. Keyed by the assignment, so the
    database refuses to pay one twice. Worker, project and gold check are copied as they were
    when paid, as plain columns."""

    assignment = models.OneToOneField(
        "marketplace.Assignment",
        primary_key=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
    )
    # No database foreign key (nor on the assignment): PostgreSQL checks those once per row at
    # commit, and for a million rows that was a third of a run's time.
    run = models.ForeignKey(
        PayrollRun, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    worker_id = models.BigIntegerField()
    project_id = models.BigIntegerField()
    check_passed = models.BooleanField(null=True)

    def __str__(self):
        return f"paid {self.assignment_id} in run {self.run_id}"


class Reversal(models.Model):
    """A paid judgment rejected in review since, and the run that booked the correction; keyed
    by the assignment, so no correction is booked twice."""

    assignment = models.OneToOneField(
        PaidJudgment, primary_key=True, on_delete=models.PROTECT, related_name="+"
    )
    run = models.ForeignKey(PayrollRun, on_delete=models.PROTECT, related_name="+")

    def __str__(self):
        return f"reversal of {self.assignment_id} in run {self.run_id}"


class Account(models.Model):
    """A ledger account in one currency. Its row is what payouts and runs lock (SELECT ... FOR
    UPDATE) to read and change its balance one at a time; the balance is the sum of entries.

    Names: `project_cost:<project>` (debit: what a project's work cost), `worker_payable:<worker>`
    (freelancers), `vendor_payable:<vendor>` (credit: owed to the payee), `platform_clearing`
    (credit: money sent out by payouts)."""

    name = models.CharField(max_length=64)
    currency = models.CharField(max_length=3)

    class Meta:
        ordering = ["name", "currency"]
        constraints = [
            models.UniqueConstraint("name", "currency", name="account_unique"),
        ]

    def __str__(self):
        return f"{self.name} {self.currency}"


class Payout(models.Model):
    """Money sent for a freelancer's line or a vendor's invoice; one per target (database
    constraint), `amount` what was moved (at most what the payee was owed)."""

    line = models.OneToOneField(
        StatementLine, null=True, blank=True, on_delete=models.PROTECT, related_name="payout"
    )
    invoice = models.OneToOneField(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="payout"
    )
    reference = models.CharField(max_length=255)
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=RATE_PLACES)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(line__isnull=False, invoice__isnull=True)
                | Q(line__isnull=True, invoice__isnull=False),
                name="payout_one_target",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="payout_not_negative"),
        ]

    def __str__(self):
        return f"payout {self.pk}"


class LedgerEntry(models.Model):
    """One side of a booking: `amount` positive for a debit, negative for a credit. The entries
    of a run or a payout sum to zero per currency. Never updated or deleted (database triggers)."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=RATE_PLACES)
    run = models.ForeignKey(
        PayrollRun, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payout = models.ForeignKey(
        Payout, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(run__isnull=False, payout__isnull=True)
                | Q(run__isnull=True, payout__isnull=False),
                name="ledger_entry_one_source",
            ),
        ]

    def __str__(self):
        return f"{self.account_id} {self.amount}"
