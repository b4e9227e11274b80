import datetime

from django.db import models


class WorkerQuality(models.Model):
    """A worker's gold record on one project (SPEC §6), and whether they are blocked there.

    Workers see their estimate as of the end of the previous UTC day: the first gold update of a
    day copies the counts into `day_start_*` before changing them (see qc.services).
    """

    worker = models.ForeignKey("workforce.Worker", on_delete=models.CASCADE, related_name="quality")
    project = models.ForeignKey(
        "marketplace.Project", on_delete=models.CASCADE, related_name="worker_quality"
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
