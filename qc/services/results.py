"""Results of tasks: per-task consensus when a task completes."""

from marketplace.loop_queries import task_trusted_judgments
from marketplace.selectors import project_answer_format
from qc import scoring
from qc.consensus import Consensus, consensus
from qc.models import TaskResult

_MIN_WEIGHT = 1e-9


def task_consensus_record(*, task, project) -> Consensus:
    """Weighted majority (per task type, qc.consensus) over a complete task's trusted
    judgments, weighted by each worker's current accuracy estimate; stored as its result."""
    rows = task_trusted_judgments(task_id=task.pk)
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
    TaskResult.objects.bulk_create(
        [
            TaskResult(
                task=task,
                project=project,
                consensus=result.answer,
                confidence=result.confidence,
                method=TaskResult.Method.WEIGHTED_MAJORITY,
            )
        ],
        update_conflicts=True,
        unique_fields=["task"],
        update_fields=["consensus", "confidence", "method", "updated_at"],
    )
    return result
