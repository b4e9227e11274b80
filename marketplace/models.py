import random
import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from workforce.models import DeliveryCenter, LanguageLevel, Skill, Vendor, Worker


def random_key() -> float:
    return random.random()


def default_tiers() -> list[dict]:
    return [
        {"min_accuracy": "0.90", "multiplier": "1.10"},
        {"min_accuracy": "0.75", "multiplier": "1.00"},
        {"min_accuracy": "0.60", "multiplier": "0.50"},
    ]


class Project(models.Model):
    class TaskType(models.TextChoices):
        CLASSIFICATION = "classification"
        MULTI_LABEL = "multi_label"
        TEXT = "text"
        RATING = "rating"
        RANKING = "ranking"
        BBOX = "bbox"

    class Kind(models.TextChoices):
        WORK = "work"
        EXAM = "exam"  # the questions of a qualification exam (qc.Exam); never listed as work

    class Status(models.TextChoices):
        DRAFT = "draft"
        ACTIVE = "active"
        PAUSED = "paused"
        COMPLETED = "completed"
        ARCHIVED = "archived"

    name = models.CharField(max_length=200)
    client = models.CharField(max_length=200, blank=True)
    instructions = models.TextField(blank=True)
    guideline_version = models.PositiveIntegerField(default=1)
    task_type = models.CharField(max_length=16, choices=TaskType.choices)
    labels = models.JSONField(default=list, blank=True)
    scale_min = models.FloatField(null=True, blank=True)
    scale_max = models.FloatField(null=True, blank=True)
    required_skill = models.ForeignKey(
        Skill, null=True, blank=True, on_delete=models.PROTECT, related_name="projects"
    )
    min_skill_level = models.PositiveSmallIntegerField(default=0)
    min_language_level = models.PositiveSmallIntegerField(
        choices=LanguageLevel.choices, default=LanguageLevel.B2
    )
    overlap = models.PositiveIntegerField(default=1)
    # Adaptive overlap: a task whose consensus confidence is below the target gets one more
    # judgment at a time, up to `max_overlap` (null: the overlap). A target of 0 is off.
    target_confidence = models.FloatField(default=0.0)
    max_overlap = models.PositiveIntegerField(null=True, blank=True)
    gold_ratio = models.FloatField(default=0.1)
    min_gold_accuracy = models.FloatField(default=0.7)
    min_gold_before_block = models.PositiveIntegerField(default=5)
    prior_correct = models.FloatField(default=4)
    prior_seen = models.FloatField(default=5)
    gold_threshold = models.FloatField(null=True, blank=True)
    gold_tolerance = models.FloatField(default=0)
    min_seconds_per_task = models.PositiveIntegerField(default=0)
    lease_seconds = models.PositiveIntegerField(default=600)
    max_active_assignments = models.PositiveIntegerField(default=1)
    priority = models.IntegerField(default=0)
    allowed_vendors = models.ManyToManyField(Vendor, blank=True, related_name="projects")
    managers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="managed_projects")
    currency = models.CharField(max_length=3, default="USD")
    rate = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    tiers = models.JSONField(default=default_tiers, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.WORK)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "id"]
        indexes = [
            models.Index(fields=["kind", "status", "-priority", "id"], name="project_claim_order")
        ]
        constraints = [
            models.CheckConstraint(condition=Q(overlap__gte=1), name="project_overlap_min"),
            models.CheckConstraint(
                condition=Q(gold_ratio__gte=0, gold_ratio__lt=1), name="project_gold_ratio_range"
            ),
            models.CheckConstraint(
                condition=Q(lease_seconds__gte=1, lease_seconds__lte=86400),
                name="project_lease_range",
            ),
            models.CheckConstraint(
                condition=Q(max_active_assignments__gte=1), name="project_max_active_min"
            ),
        ]

    def __str__(self):
        return self.name


class ProjectLanguage(models.Model):
    """A language every worker on the project must have at `min_language_level` or better."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="language_rows")
    code = models.CharField(max_length=3)

    class Meta:
        ordering = ["project", "id"]
        constraints = [
            models.UniqueConstraint("project", "code", name="project_language_unique"),
        ]

    def __str__(self):
        return self.code


class Task(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        COMPLETE = "complete"

    # Indexed by task_project_status, which leads with it: no index of its own to keep up on
    # every insert and every claim.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="tasks", db_index=False
    )
    data = models.JSONField()
    source = models.JSONField(null=True, blank=True)
    is_gold = models.BooleanField(default=False)
    gold_answer = models.JSONField(null=True, blank=True)
    # A random key fixed at creation, the order tasks are served in (after the fewest missing
    # judgments): gold from a random pivot, so workers meet gold questions in different orders;
    # regular tasks too, so that the ids a worker is served do not tell gold (uploaded apart,
    # or last) from regular work.
    shuffle = models.FloatField(default=random_key)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    # Judgments this task needs (the project's overlap; 0 for gold) and the live ones it has
    # (active, submitted, accepted) and of those the submitted or accepted ones.
    required = models.PositiveIntegerField(default=1)
    live_count = models.PositiveIntegerField(default=0)
    done_count = models.PositiveIntegerField(default=0)
    # Imported tasks only: what the task was made from (source item and span), so that importing
    # the same rows again creates nothing (see marketplace.services.imports). Null, not "", for
    # other tasks: the unique constraint leaves nulls out.
    source_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The claim query: open regular tasks with a free slot, fewest missing judgments
            # first (finish what is started), then oldest.
            models.Index(
                F("project"),
                F("required") - F("live_count"),
                F("shuffle"),
                condition=Q(status="open", is_gold=False, live_count__lt=F("required")),
                name="task_claim_regular",
            ),
            # Untouched tasks: where a claim turns when the head of the order above is all
            # work the worker has done already.
            models.Index(
                F("project"),
                F("shuffle"),
                condition=Q(status="open", is_gold=False, live_count=0),
                name="task_claim_untouched",
            ),
            models.Index(
                F("project"),
                F("shuffle"),
                condition=Q(is_gold=True),
                name="task_claim_gold",
            ),
            models.Index(fields=["project", "status"], name="task_project_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(live_count__lte=F("required")) | Q(is_gold=True),
                name="task_live_within_required",
            ),
            models.CheckConstraint(
                condition=Q(done_count__lte=F("live_count")), name="task_done_within_live"
            ),
            models.UniqueConstraint(
                fields=["project", "source_key"],
                condition=Q(source_key__isnull=False),
                name="task_source_key_unique",
            ),
        ]

    def __str__(self):
        return f"task {self.pk}"


class Assignment(models.Model):
    """One worker's judgment of one task, from claim to review."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUBMITTED = "submitted"
        EXPIRED = "expired"
        RELEASED = "released"
        ACCEPTED = "accepted"
        REJECTED = "rejected"
        UNTRUSTED = "untrusted"

    # Judgments that count (SPEC §6, §7): in consensus, in a delivery, in pay. Rejected ones are
    # out after review, untrusted ones after their worker was blocked.
    TRUSTED = (Status.SUBMITTED, Status.ACCEPTED)

    # Each is indexed by a composite index that leads with it (assignment_once_per_worker,
    # assignment_project, assignment_worker_project): no index of its own to keep up on every
    # claim and submit.
    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    worker = models.ForeignKey(
        Worker, on_delete=models.PROTECT, related_name="assignments", db_index=False
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    is_gold = models.BooleanField(default=False)
    answer = models.JSONField(null=True, blank=True)
    # Whether this judgment counted as a gold check, and passed: null when it was no check
    # (a regular task answered in time). Internal: never shown to workers.
    check_passed = models.BooleanField(null=True, blank=True)
    claimed_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    # 0 for work; the attempt number on an exam, whose questions a worker meets once per attempt.
    attempt = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint("task", "worker", "attempt", name="assignment_once_per_worker"),
        ]
        indexes = [
            models.Index(fields=["worker", "project", "status"], name="assignment_worker_project"),
            models.Index(fields=["worker", "-id"], name="assignment_worker_recent"),
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(status="active"),
                name="assignment_active_lease",
            ),
            models.Index(fields=["project", "status", "submitted_at"], name="assignment_project"),
            # Payroll runs look for paid work rejected since (billing): a few percent of rows.
            models.Index(fields=["id"], condition=Q(status="rejected"), name="assignment_rejected"),
        ]

    def __str__(self):
        return f"assignment {self.pk}"


def import_upload_path(job: "ImportJob", filename: str) -> str:
    # Never the client's file name: it is neither unique nor safe as a path.
    return f"imports/{uuid.uuid4().hex}"


class ImportJob(models.Model):
    """A file of source items being split into a project's tasks, run as a Celery job."""

    class Format(models.TextChoices):
        JSONL = "jsonl"
        CSV = "csv"

    class Split(models.TextChoices):
        ROWS = "rows"
        BUNDLE = "bundle"
        TEXT_CHUNKS = "text_chunks"
        TIME_SEGMENTS = "time_segments"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="imports")
    format = models.CharField(max_length=8, choices=Format.choices)
    split = models.CharField(max_length=16, choices=Split.choices, default=Split.ROWS)
    split_options = models.JSONField(default=dict, blank=True)
    # The upload, deleted once the job ends; empty for an operator's import of a local file.
    file = models.FileField(upload_to=import_upload_path, blank=True)
    file_size = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    rows_read = models.PositiveBigIntegerField(default=0)
    tasks_created = models.PositiveBigIntegerField(default=0)
    # Tasks whose source key the project already had: a re-import, or a row repeated in the file.
    tasks_skipped = models.PositiveBigIntegerField(default=0)
    bytes_read = models.PositiveBigIntegerField(default=0)
    # The first errors as [{line, message}] (1-based lines), and how many there were in all.
    errors = models.JSONField(default=list, blank=True)
    error_count = models.PositiveBigIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Touched at every commit of a running job: one that has not moved for a while lost its
    # worker, and a redelivered run may take it over (source keys make the rerun safe).
    progressed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"import {self.pk} into project {self.project_id}"


# --- stats rollups (marketplace.services.stats) -------------------------------------------------


class StatsState(models.Model):
    """The one row of the stats refresh: judgments submitted before `settled_until` are in the
    hourly rollups for good; the refresh locks this row so that two never overlap."""

    settled_until = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    # How long the last refresh took: whether a read may wait for one (stats_ensure_fresh).
    refresh_seconds = models.FloatField(null=True, blank=True)

    def __str__(self):
        return f"stats settled until {self.settled_until}"


class StatsHour(models.Model):
    """Judgments submitted in one hour on one project by the workers of one delivery center.

    `vendor_id` and `center_id` are 0 for freelancers (not null: the row key is then unique on
    both databases). `provisional` rows cover the last minutes, whose late commits may still
    land, and are replaced whole by each refresh; settled rows only ever grow."""

    # Indexed by stats_hour_key, which leads with it.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    hour = models.DateTimeField()
    vendor_id = models.BigIntegerField(default=0)
    center_id = models.BigIntegerField(default=0)
    provisional = models.BooleanField(default=False)
    judgments = models.PositiveIntegerField(default=0)  # regular tasks
    gold_answered = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0)  # claim to submit, regular judgments

    class Meta:
        ordering = ["project", "hour", "vendor_id", "center_id"]
        constraints = [
            models.UniqueConstraint(
                "project", "hour", "vendor_id", "center_id", "provisional", name="stats_hour_key"
            ),
        ]
        indexes = [models.Index(fields=["hour"], name="stats_hour_time")]

    def __str__(self):
        return f"project {self.project_id} at {self.hour:%Y-%m-%d %H:00}"


class ProjectStats(models.Model):
    """A project's figures as of the refresh that computed them (`as_of`): what the stats
    endpoint and the dashboard read, so that they cost the same on any project size."""

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, primary_key=True, related_name="stats"
    )
    as_of = models.DateTimeField()
    tasks_total = models.PositiveIntegerField(default=0)
    tasks_open = models.PositiveIntegerField(default=0)
    tasks_complete = models.PositiveIntegerField(default=0)
    # Regular judgments the open tasks still need.
    judgments_remaining = models.PositiveBigIntegerField(default=0)
    judgments_submitted = models.PositiveBigIntegerField(default=0)
    judgments_accepted = models.PositiveBigIntegerField(default=0)
    judgments_rejected = models.PositiveBigIntegerField(default=0)
    judgments_untrusted = models.PositiveBigIntegerField(default=0)
    gold_answered = models.PositiveBigIntegerField(default=0)
    gold_correct = models.PositiveBigIntegerField(default=0)
    workers = models.PositiveIntegerField(default=0)
    workers_active = models.PositiveIntegerField(default=0)
    workers_blocked = models.PositiveIntegerField(default=0)
    last_hour = models.PositiveBigIntegerField(default=0)
    last_24h = models.PositiveBigIntegerField(default=0)
    first_submitted_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(default=0)
    # Payroll lines of the project in its currency: their sum and the judgments they paid.
    cost_amount = models.DecimalField(max_digits=20, decimal_places=4, default=Decimal(0))
    paid_judgments = models.BigIntegerField(default=0)
    # Trusted judgments (regular and gold) that pay will cover: submitted or accepted.
    payable_judgments = models.PositiveBigIntegerField(default=0)
    # Of those, the ones no payroll run has paid yet (not in billing's PaidJudgment).
    unpaid_judgments = models.PositiveBigIntegerField(default=0)
    # Set by a review (marketplace.services.reviews), which changes judgments' states without
    # leaving a time behind: the next refresh recomputes the project, then clears it.
    stats_dirty_at = models.DateTimeField(null=True, blank=True)
    agreement = models.FloatField(null=True, blank=True)  # Krippendorff's alpha
    agreement_at = models.DateTimeField(null=True, blank=True)
    # Workers per accuracy-estimate bin (ten bins of 0.1), of workers with gold answered.
    accuracy_bins = models.JSONField(default=list)
    # Per delivery center (and one row for freelancers): see services.stats._group_rows.
    groups = models.JSONField(default=list)

    def __str__(self):
        return f"stats of project {self.project_id}"


class ProjectWorkerStats(models.Model):
    """One worker's figures on one project as of the refresh that computed them."""

    # Indexed by project_worker_stats_unique, which leads with it.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    worker = models.ForeignKey(Worker, on_delete=models.CASCADE, related_name="+")
    # As they were at the refresh; null for freelancers.
    vendor = models.ForeignKey(
        Vendor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    center = models.ForeignKey(
        DeliveryCenter,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    judgments = models.PositiveIntegerField(default=0)  # regular, whatever the review state
    seconds_per_task = models.FloatField(null=True, blank=True)
    gold_seen = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    accuracy_estimate = models.FloatField()
    blocked = models.BooleanField(default=False)
    earned = models.DecimalField(max_digits=20, decimal_places=4, default=Decimal(0))
    last_submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "worker"]
        constraints = [
            models.UniqueConstraint("project", "worker", name="project_worker_stats_unique"),
        ]

    def __str__(self):
        return f"stats of worker {self.worker_id} on project {self.project_id}"
