"""The gold record of a worker on a project, and blocking (SPEC §6)."""

import datetime

from django.db import connection
from django.utils import timezone

from config.db import fetch_prepared
from qc import scoring
from qc.models import WorkerQuality

# One statement per gold check (it runs on every gold answer): the row is created or its
# counters moved, which locks it, and the new counts come back. The first update of a UTC day
# first keeps the day's opening counts for what workers are shown (SET reads the old row).
_RECORD_CHECK = (
    f"INSERT INTO {WorkerQuality._meta.db_table} AS q (worker_id, project_id, gold_seen, "
    "gold_correct, day, day_start_seen, day_start_correct, blocked) "
    "VALUES ({}, {}, 1, {}, {}, 0, 0, {}) ON CONFLICT (worker_id, project_id) DO UPDATE SET "
    "day_start_seen = CASE WHEN q.day < excluded.day THEN q.gold_seen ELSE q.day_start_seen END, "
    "day_start_correct = CASE WHEN q.day < excluded.day THEN q.gold_correct "
    "ELSE q.day_start_correct END, day = excluded.day, gold_seen = q.gold_seen + 1, "
    "gold_correct = q.gold_correct + excluded.gold_correct "
    "RETURNING gold_seen, gold_correct, blocked"
)


def quality_record_check(*, worker_id: int, project, passed: bool, day: datetime.date) -> bool:
    """Counts one gold check (passed or failed) and blocks the worker once
    `gold_seen >= min_gold_before_block` and their estimate is below `min_gold_accuracy`.

    Returns True only for the call that blocked the worker.
    """
    gold_seen, gold_correct, blocked = fetch_prepared(
        "qc_record_check",
        "bigint, bigint, integer, date, boolean",
        _RECORD_CHECK,
        [worker_id, project.pk, int(passed), connection.ops.adapt_datefield_value(day), False],
    )
    if blocked or gold_seen < project.min_gold_before_block:
        return False
    estimate = scoring.accuracy_estimate(
        gold_correct=gold_correct,
        gold_seen=gold_seen,
        prior_correct=project.prior_correct,
        prior_seen=project.prior_seen,
    )
    if estimate >= project.min_gold_accuracy:
        return False
    return bool(
        WorkerQuality.objects.filter(
            worker_id=worker_id, project_id=project.pk, blocked=False
        ).update(blocked=True, blocked_at=timezone.now())
    )
