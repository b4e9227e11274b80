"""Results of tasks: per-task consensus when a task completes."""

import json

from django.db import connection
from django.utils import timezone

from config.db import execute_prepared
from marketplace.loop_queries import task_trusted_judgments
from marketplace.selectors import project_answer_format
from qc import scoring
from qc.consensus import Consensus, consensus
from qc.models import TaskResult

_MIN_WEIGHT = 1e-9
# Written on every task completion: one constant statement (see config.db).
_RECORD = (
    f"INSERT INTO {TaskResult._meta.db_table} (task_id, project_id, consensus, confidence, "
    "method, updated_at) VALUES ({}, {}, {}, {}, {}, {}) ON CONFLICT (task_id) DO UPDATE SET "
    "consensus = excluded.consensus, confidence = excluded.confidence, "
    "method = excluded.method, updated_at = excluded.updated_at"
)


def task_consensus_record(*, task, project, judgments: list | None = None) -> Consensus:
    """Weighted majority (per task type, qc.consensus) over a complete task's trusted
    judgments, weighted by each worker's current accuracy estimate; stored as its result.
    `judgments`: those rows (`task_trusted_judgments`) when the caller has read them already."""
    rows = task_trusted_judgments(task_id=task.pk) if judgments is None else judgments
    weights = [
        # A worker estimated at 0 (possible with zero priors) still needs a positive weight:
        # negligible next to anyone else, equal to others like them.
        max(
            scoring.accuracy_estimate(
                gold_correct=correct,
                gold_seen=seen,
                prior_correct=project.prior_correct,
                prior_seen=project.prior_seen,
            ),
            _MIN_WEIGHT,
        )
        for _, seen, correct in rows
    ]
    result = consensus(
        project_answer_format(project), [answer for answer, _, _ in rows], weights, task.data
    )
    execute_prepared(
        "qc_consensus_record",
        "bigint, bigint, jsonb, float8, text, timestamptz",
        _RECORD,
        [
            task.pk,
            project.pk,
            json.dumps(result.answer),
            result.confidence,
            TaskResult.Method.WEIGHTED_MAJORITY,
            connection.ops.adapt_datetimefield_value(timezone.now()),
        ],
    )
    return result
