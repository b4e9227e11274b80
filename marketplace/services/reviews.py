"""Managers' review of submitted judgments (SPEC §6: rejected work is excluded from pay and
consensus, and its task needs another judgment)."""

import math

from django.db import transaction
from django.db.models.functions import Now

from marketplace.exceptions import AssignmentStateError
from marketplace.models import Assignment, Project, ProjectStats
from marketplace.services.assignments import slots_free

# decision → the statuses it may be taken from
_REVIEW_FROM = {
    Assignment.Status.ACCEPTED: (Assignment.Status.SUBMITTED,),
    Assignment.Status.REJECTED: (Assignment.Status.SUBMITTED, Assignment.Status.ACCEPTED),
}


def assignment_review(*, assignment: Assignment, decision: str) -> Assignment:
    """Accepts or rejects one judgment with a conditional UPDATE; idempotent.

    Rejecting regular work frees its slot and reopens its task; the project's stats are marked
    due for the next refresh. Raises AssignmentStateError
    (409) for work that is not submitted (or accepted, for a rejection).
    """
    if assignment.status == decision:
        return assignment
    with transaction.atomic(durable=True):
        # Marks the project's figures as due for the next stats refresh (docs/stats.md): the
        # rollup row, not the project's, so the locking order (assignments.py) is not involved;
        # taken first, so that a wait for a running refresh holds no judgment or task lock.
        ProjectStats.objects.filter(project_id=assignment.project_id).update(stats_dirty_at=Now())
        changed = Assignment.objects.filter(
            pk=assignment.pk, status__in=_REVIEW_FROM[decision]
        ).update(status=decision)
        if changed and decision == Assignment.Status.REJECTED and not assignment.is_gold:
            slots_free([assignment.task_id], done=True)
    if not changed:
        assignment.refresh_from_db(fields=["status"])
        if assignment.status != decision:
            raise AssignmentStateError(f"A {assignment.status} judgment cannot be {decision}.")
    assignment.status = decision
    return assignment


def review_sample(*, project: Project, worker_id: int, percent: float) -> list[int]:
    """A random `percent` share (rounded up) of the worker's submitted, not yet reviewed
    regular judgments on the project."""
    pending = Assignment.objects.filter(
        project=project,
        worker_id=worker_id,
        is_gold=False,
        status=Assignment.Status.SUBMITTED,
    )
    size = math.ceil(pending.count() * percent / 100)
    return sorted(pending.order_by("?").values_list("pk", flat=True)[:size])
