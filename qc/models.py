import datetime

from django.db import models


class WorkerQuality(models.Model):
    """A worker's gold record on one project (SPEC §6), and whether they are blocked there.

    Workers see their estimate as of the end of the previous UTC day: the first gold update of a
    day copies the counts into `day_start_*` before changing them (see qc.services).
    """

    # Indexed by worker_quality_unique and worker_quality_project, which lead with them.
    worker = models.ForeignKey(
        "workforce.Worker", on_delete=models.CASCADE, related_name="quality", db_index=False
    )
    project = models.ForeignKey(
        "marketplace.Project",
        on_delete=models.CASCADE,
        related_name="worker_quality",
        db_index=False,
    )
    gold_seen = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    day = models.DateField(default=datetime.date(1970, 1, 1))
    day_start_seen = models.PositiveIntegerField(default=0)
    day_start_correct = models.PositiveIntegerField(default=0)
    blocked = models.BooleanField(default=False)
    blocked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "worker"]
        constraints = [
            models.UniqueConstraint("worker", "project", name="worker_quality_unique"),
            models.CheckConstraint(
                condition=models.Q(gold_correct__lte=models.F("gold_seen")),
                name="worker_quality_correct_within_seen",
            ),
        ]
        indexes = [models.Index(fields=["project", "blocked"], name="worker_quality_project")]

    def __str__(self):
        return f"{self.worker_id}@{self.project_id}"


class TaskResult(models.Model):
    """The aggregated answer of a task: online weighted majority when it completes, or the
    project's last re-aggregation. Shown for complete regular tasks only (SPEC §6)."""

    class Method(models.TextChoices):
        WEIGHTED_MAJORITY = "weighted_majority"
        WAWA = "wawa"
        ONE_COIN_DS = "one_coin_ds"
        DAWID_SKENE = "dawid_skene"

    task = models.OneToOneField(
        "marketplace.Task", on_delete=models.CASCADE, primary_key=True, related_name="result"
    )
    # Indexed by task_result_project, which leads with it.
    project = models.ForeignKey(
        "marketplace.Project", on_delete=models.CASCADE, related_name="results", db_index=False
    )
    consensus = models.JSONField()
    confidence = models.FloatField()
    method = models.CharField(max_length=32, choices=Method.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["task"]
        indexes = [models.Index(fields=["project", "task"], name="task_result_project")]

    def __str__(self):
        return f"result of task {self.task_id}"


class AggregationJob(models.Model):
    """A project-wide re-aggregation with one method, run as a Celery job."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    project = models.ForeignKey(
        "marketplace.Project", on_delete=models.CASCADE, related_name="aggregations"
    )
    method = models.CharField(max_length=32, choices=TaskResult.Method.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    tasks_updated = models.PositiveIntegerField(default=0)
    iterations = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey("workforce.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.method} on project {self.project_id}"


class Exam(models.Model):
    """A qualification exam: gold questions for a skill; passing grants the skill level."""

    skill = models.ForeignKey("workforce.Skill", on_delete=models.PROTECT, related_name="exams")
    level = models.PositiveSmallIntegerField()
    pass_mark = models.FloatField()
    retry_after_hours = models.FloatField(default=24)
    project = models.OneToOneField(
        "marketplace.Project", on_delete=models.PROTECT, related_name="exam"
    )
    created_by = models.ForeignKey("workforce.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.skill_id} exam for level {self.level}"


class ExamAttempt(models.Model):
    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="attempts")
    worker = models.ForeignKey(
        "workforce.Worker", on_delete=models.CASCADE, related_name="exam_attempts"
    )
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # after a failed attempt: when the next may start
    retry_at = models.DateTimeField(null=True, blank=True)
    questions = models.PositiveIntegerField(default=0)
    correct = models.PositiveIntegerField(default=0)
    passed = models.BooleanField(null=True, blank=True)

    class Meta:
        ordering = ["exam", "worker", "number"]
        constraints = [
            models.UniqueConstraint("exam", "worker", "number", name="exam_attempt_unique"),
        ]

    def __str__(self):
        return f"attempt {self.number} of {self.worker_id} at exam {self.exam_id}"
