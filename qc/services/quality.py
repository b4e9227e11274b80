"""The gold record of a worker on a project, and blocking (SPEC §6)."""

import datetime

from django.db import IntegrityError, transaction
from django.db.models import Case, F, When
from django.utils import timezone

from qc import scoring
from qc.models import WorkerQuality


def quality_record_check(*, worker_id: int, project, passed: bool, day: datetime.date) -> bool:
    """Counts one gold check (passed or failed) and blocks the worker once
    `gold_seen >= min_gold_before_block` and their estimate is below `min_gold_accuracy`.

    Counters move with F() in one UPDATE (which locks the row); the first update of a UTC day
    first keeps the day's opening counts for what workers are shown. Returns True only for the
    call that blocked the worker.
    """
    changes = {
        "day_start_seen": Case(When(day__lt=day, then=F("gold_seen")), default=F("day_start_seen")),
        "day_start_correct": Case(
            When(day__lt=day, then=F("gold_correct")), default=F("day_start_correct")
        ),
        "day": day,
        "gold_seen": F("gold_seen") + 1,
        "gold_correct": F("gold_correct") + int(passed),
    }
    rows = WorkerQuality.objects.filter(worker_id=worker_id, project_id=project.pk)
    if not rows.update(**changes):
        try:
            with transaction.atomic():
                WorkerQuality.objects.create(
                    worker_id=worker_id,
                    project_id=project.pk,
                    gold_seen=1,
                    gold_correct=int(passed),
                    day=day,
                )
        except IntegrityError:
            # Another submit of this worker created the row first.
            rows.update(**changes)
    quality = rows.values("gold_seen", "gold_correct", "blocked").get()
    if quality["blocked"] or quality["gold_seen"] < project.min_gold_before_block:
        return False
    estimate = scoring.accuracy_estimate(
        gold_correct=quality["gold_correct"],
        gold_seen=quality["gold_seen"],
        prior_correct=project.prior_correct,
        prior_seen=project.prior_seen,
    )
    if estimate >= project.min_gold_accuracy:
        return False
    return bool(rows.filter(blocked=False).update(blocked=True, blocked_at=timezone.now()))
