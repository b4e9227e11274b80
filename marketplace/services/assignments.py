"""The worker loop: claim under a lease, submit, release, expire (SPEC §4.1 to §4.5, §6).

Locking policy — one order everywhere, so that no two transactions wait on each other in a
circle: project → worker → worker quality → assignment → task (settings changes and task
uploads take the project row; see services/projects.py).
- A claim locks the worker row first (a worker's own claims run one at a time, which is what
  makes `max_active_assignments` hold), then takes one task row with SKIP LOCKED (never waits on
  another claimer) and inserts the assignment.
- A submit that is a gold check updates the worker's quality row first; then every path changes
  an assignment with a conditional UPDATE (which locks it) before touching its task. Where many
  tasks change at once they are locked in primary-key order first.
- Lease times come from the database clock (`Now()`), never from the web server's.
"""

import datetime
import random
from collections import Counter
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Now
from django.utils import timezone

from config.errors import InvalidInputError, NotFoundError
from marketplace import loop_queries, selectors
from marketplace.exceptions import AssignmentStateError, ClaimLimitError, LeaseEndedError
from marketplace.models import Assignment, Project, Task
from qc import scoring
from qc.models import Exam
from qc.services.exams import exam_attempt_current, exam_attempt_finish
from qc.services.quality import quality_record_check
from qc.services.results import task_consensus_record
from workforce.models import User

_DONE = (
    Assignment.Status.SUBMITTED,
    Assignment.Status.ACCEPTED,
    Assignment.Status.REJECTED,
    Assignment.Status.UNTRUSTED,
)
_CLAIM_ATTEMPTS = 3


@dataclass(frozen=True)
class Claim:
    assignment_id: int
    task_id: int
    data: dict
    project: Project
    lease_expires_at: datetime.datetime


def assignment_claim(
    *, user: loop_queries.Caller, project_id: int | None = None, exam_id: int | None = None
) -> Claim | None:
    """Gives the worker the next task they qualify for, or None (nothing fitting: 204).

    Projects by priority; within one, the regular task with the fewest missing judgments, or
    instead, with probability `gold_ratio`, an unseen gold question (so gold is only served
    while a regular task is available too). With `exam_id`, the next question of the worker's
    current attempt at that exam. Raises ClaimLimitError (409) when `project_id` names a
    project where the worker is at the limit, or the worker holds an unanswered exam question.
    `user` may be a TokenCaller, authenticated by the first statement (config.api).
    """
    if exam_id is None and connection.vendor == "postgresql":
        user, claimed = loop_queries.claim_at_once(
            caller=user, project_id=project_id, gold_draw=random.random(), pivot=random.random()
        )
        if claimed is not None:
            assignment_id, task_id, data, lease_expires_at, project = claimed
            return Claim(assignment_id, task_id, data, project, lease_expires_at)
    user = loop_queries.caller_user(user)
    # Step by step: on SQLite, for exams, and wherever the one-statement claim found nothing —
    # the cases that need a 409, lapsed leases freed, or a look at lower-priority projects.
    with transaction.atomic(durable=True):
        worker = loop_queries.worker_lock(user_id=user.pk)
        if worker is None:
            return None
        worker_id, vendor_id = worker
        if exam_id is not None:
            return _claim_exam(worker_id, exam_id)
        projects = loop_queries.projects_claimable(
            worker_id=worker_id, vendor_id=vendor_id, project_id=project_id
        )
        for project in projects:
            if project.active_count >= project.max_active_assignments:
                if project_id is not None:
                    raise ClaimLimitError()
                continue
            claim = _claim_in_project(worker_id, project)
            if claim is not None:
                return claim
    return None


def _claim_in_project(worker_id: int, project: Project) -> Claim | None:
    for _ in range(_CLAIM_ATTEMPTS):
        task = loop_queries.task_next_regular(worker_id=worker_id, project_id=project.pk)
        # Lapsed leases go back to the pool here as well as in the minute sweeper, so that a
        # worker is never told "nothing fitting" while an expired slot waits for the sweep.
        if task is None and assignments_expire(project_id=project.pk):
            task = loop_queries.task_next_regular(worker_id=worker_id, project_id=project.pk)
        if task is None:
            return None
        if project.gold_ratio > 0 and random.random() < project.gold_ratio:
            gold = loop_queries.task_next_gold(
                worker_id=worker_id, project_id=project.pk, pivot=random.random()
            )
            if gold is not None:
                return _assign(worker_id, project, gold, is_gold=True)
        # The row is locked on PostgreSQL; the condition keeps SQLite (no row locks) honest.
        if loop_queries.task_take_slot(task_id=task[0]):
            return _assign(worker_id, project, task, is_gold=False)
    return None


def _claim_exam(worker_id: int, exam_id: int) -> Claim | None:
    exam = Exam.objects.select_related("project", "skill").filter(pk=exam_id).first()
    if exam is None:
        return None
    project = exam.project
    holding = Assignment.objects.filter(
        project=project,
        worker_id=worker_id,
        status=Assignment.Status.ACTIVE,
        lease_expires_at__gt=Now(),
    )
    if holding.exists():
        raise ClaimLimitError("Answer the exam question you hold first.")
    attempt = exam_attempt_current(exam=exam, worker_id=worker_id, now=timezone.now())
    if attempt is None:
        return None
    question = selectors.exam_question_next(
        worker_id=worker_id, project=project, attempt=attempt.number
    )
    if question is None:
        assignments_expire(project_id=project.pk)
        exam_attempt_finish(exam=exam, worker_id=worker_id, attempt=attempt.number)
        return None
    task = (question["id"], question["data"], question["db_now"])
    return _assign(worker_id, project, task, is_gold=True, attempt=attempt.number)


def _assign(
    worker_id: int, project: Project, task: tuple, *, is_gold: bool, attempt: int = 0
) -> Claim:
    task_id, data, claimed_at = task
    lease_expires_at = claimed_at + datetime.timedelta(seconds=project.lease_seconds)
    assignment_id = loop_queries.assignment_insert(
        task_id=task_id,
        project_id=project.pk,
        worker_id=worker_id,
        is_gold=is_gold,
        claimed_at=claimed_at,
        lease_expires_at=lease_expires_at,
        attempt=attempt,
    )
    return Claim(
        assignment_id=assignment_id,
        task_id=task_id,
        data=data,
        project=project,
        lease_expires_at=lease_expires_at,
    )


def slots_free(task_ids: list[int], *, done: bool = False) -> None:
    """Gives back one live slot per occurrence of a task id (and a done one with `done`)."""
    by_count = Counter(task_ids)
    if not by_count:
        return
    # Locked in primary-key order so that two transactions freeing overlapping tasks queue
    # up instead of deadlocking.
    list(
        Task.objects.select_for_update()
        .filter(pk__in=list(by_count))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for count in set(by_count.values()):
        changes = {"live_count": F("live_count") - count}
        if done:
            changes["done_count"] = F("done_count") - count
            changes["status"] = Value(Task.Status.OPEN)
        Task.objects.filter(pk__in=[t for t, c in by_count.items() if c == count]).update(**changes)


def assignments_expire(*, project_id: int | None = None) -> int:
    """Ends every lease that ran out (by the database clock) and frees its slot; idempotent.

    Rows another transaction holds are skipped: they are being submitted or expired already.
    Returns how many assignments expired.
    """
    with transaction.atomic():
        lapsed = Assignment.objects.filter(
            status=Assignment.Status.ACTIVE, lease_expires_at__lte=Now()
        )
        if project_id is not None:
            lapsed = lapsed.filter(project_id=project_id)
        rows = list(
            lapsed.select_for_update(skip_locked=True, of=("self",)).values_list(
                "pk", "task_id", "is_gold"
            )
        )
        if not rows:
            return 0
        Assignment.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(
            status=Assignment.Status.EXPIRED
        )
        slots_free([task_id for _, task_id, is_gold in rows if not is_gold])
    return len(rows)


def _expire_one(assignment: Assignment) -> None:
    with transaction.atomic():
        expired = Assignment.objects.filter(
            pk=assignment.pk, status=Assignment.Status.ACTIVE, lease_expires_at__lte=Now()
        ).update(status=Assignment.Status.EXPIRED)
        if expired and not assignment.is_gold:
            slots_free([assignment.task_id])


def assignment_release(*, user: User, assignment_id: int) -> Assignment:
    """Gives an active assignment back; idempotent. Raises AssignmentStateError (409) for
    work already submitted or a lease that already ended."""
    assignment = selectors.assignment_get_for_worker(worker_user=user, assignment_id=assignment_id)
    if assignment.status == Assignment.Status.RELEASED:
        return assignment
    with transaction.atomic(durable=True):
        released = Assignment.objects.filter(
            pk=assignment.pk, status=Assignment.Status.ACTIVE, lease_expires_at__gt=Now()
        ).update(status=Assignment.Status.RELEASED)
        if released and not assignment.is_gold:
            slots_free([assignment.task_id])
    if not released:
        _expire_one(assignment)
        assignment.refresh_from_db(fields=["status"])
        if assignment.status == Assignment.Status.EXPIRED:
            raise LeaseEndedError()
        raise AssignmentStateError(
            f"A {worker_visible_status(assignment)} assignment cannot be released."
        )
    assignment.status = Assignment.Status.RELEASED
    return assignment


def worker_visible_status(assignment: Assignment) -> str:
    """What a worker is told: untrusted work still reads `submitted` (SPEC §4.3)."""
    if assignment.status == Assignment.Status.UNTRUSTED:
        return Assignment.Status.SUBMITTED
    return assignment.status


def _normalise(project: Project, answer, data) -> object:
    try:
        return scoring.answer_normalise(selectors.project_answer_format(project), answer, data)
    except scoring.AnswerError as error:
        raise InvalidInputError(fields={"answer": [str(error)]}) from None


def _resubmit(assignment: Assignment, answer) -> Assignment:
    """An identical resubmit is answered like the first submit; another answer is a 409."""
    try:
        same = _normalise(assignment.project, answer, assignment.task.data) == assignment.answer
    except InvalidInputError:
        same = False
    if not same:
        raise AssignmentStateError("This assignment was already submitted with another answer.")
    return assignment


def assignment_submit(*, user: loop_queries.Caller, assignment_id: int, answer) -> Assignment:
    """Stores a valid answer within the lease, scores gold, blocks a worker who falls below
    the bar. Idempotent for an identical answer. Raises InvalidInputError (400), LeaseEndedError
    and AssignmentStateError (409); a lapsed lease is expired and its slot freed first. `user`
    may be a TokenCaller, authenticated by the first statement (config.api)."""
    user, assignment = loop_queries.assignment_for_submit(caller=user, assignment_id=assignment_id)
    if assignment is None:
        raise NotFoundError("No such assignment.")
    if assignment.status in _DONE:
        return _resubmit(assignment, answer)
    if assignment.status != Assignment.Status.ACTIVE:
        raise LeaseEndedError()
    project = assignment.project
    normalised = _normalise(project, answer, assignment.task.data)
    now = assignment.db_now
    if assignment.lease_expires_at <= now:
        _expire_one(assignment)
        raise LeaseEndedError()
    check = _gold_check(assignment, normalised, now)
    on_exam = project.kind == Project.Kind.EXAM
    if (
        check is None
        and not on_exam
        and connection.vendor == "postgresql"
        and assignment.task.done_count + 1 < assignment.task.required
    ):
        # A regular judgment that leaves its task open: one statement, no transaction block.
        stored = loop_queries.assignment_store(
            assignment_id=assignment.pk, answer=normalised, check_passed=None, may_complete=False
        )
        if stored is not None:
            return _submitted(assignment, normalised, stored[0])
    try:
        with transaction.atomic(durable=True):
            blocked_now = (
                check is not None
                and not on_exam
                and quality_record_check(
                    worker_id=assignment.worker_id, project=project, passed=check, day=now.date()
                )
            )
            stored = _store(assignment, normalised, check)
            if stored is None:
                raise _ChangedMeanwhile()
            submitted_at, completed, judgments = stored
            if completed:
                _task_completed(assignment.task, project, judgments)
            if blocked_now:
                _worker_untrust(worker_id=assignment.worker_id, project_id=project.pk)
    except _ChangedMeanwhile:
        # Released, expired or submitted by another request between our read and our write:
        # the quality update is rolled back, and the answer is judged again from the new row.
        return assignment_submit(user=user, assignment_id=assignment_id, answer=answer)
    if on_exam:
        exam_attempt_finish(
            exam=project.exam, worker_id=assignment.worker_id, attempt=assignment.attempt
        )
    return _submitted(assignment, normalised, submitted_at)


def _store(
    assignment: Assignment, answer, check: bool | None
) -> tuple[datetime.datetime, bool, list | None] | None:
    """Stores a judgment still active within its lease, counted on its task (regular work):
    (`submitted_at`, whether that completed the task, and on PostgreSQL for a judgment
    expected to complete it, the task's trusted judgments read in the same round trip), or
    None if it changed meanwhile.

    Stamped with the storing transaction's own clock (its start on PostgreSQL), not the read's:
    a judgment's `submitted_at` is then never earlier than the transaction that stores it,
    which is what lets a payroll run wait for every judgment of its period (billing.services.runs).
    """
    if connection.vendor == "postgresql":
        task = assignment.task
        completing = not assignment.is_gold and task.done_count + 1 >= task.required
        return loop_queries.assignment_store(
            assignment_id=assignment.pk,
            answer=answer,
            check_passed=check,
            may_complete=True,
            judgments_of=task.pk if completing else None,
        )
    now = loop_queries.db_now()
    stored = Assignment.objects.filter(
        pk=assignment.pk, status=Assignment.Status.ACTIVE, lease_expires_at__gt=now
    ).update(
        status=Assignment.Status.SUBMITTED, answer=answer, submitted_at=now, check_passed=check
    )
    if not stored:
        return None
    return now, not assignment.is_gold and _task_judgment_done(assignment.task_id), None


def _submitted(assignment: Assignment, answer, at: datetime.datetime) -> Assignment:
    assignment.status = Assignment.Status.SUBMITTED
    assignment.answer = answer
    assignment.submitted_at = at
    return assignment


class _ChangedMeanwhile(Exception):
    pass


def _gold_check(assignment: Assignment, answer, now: datetime.datetime) -> bool | None:
    """Whether this judgment counts as a gold check, and passed it (SPEC §6).

    An answer faster than `min_seconds_per_task` is a failed check whether or not the task was
    gold; a regular task answered in time is no check at all (None).
    """
    project = assignment.project
    too_fast = (now - assignment.claimed_at).total_seconds() < project.min_seconds_per_task
    if too_fast and project.kind == Project.Kind.WORK:
        return False
    if not assignment.is_gold:
        return None
    return scoring.gold_matches(
        selectors.project_answer_format(project),
        answer,
        assignment.task.gold_answer,
        assignment.task.data,
    )


def _task_judgment_done(task_id: int) -> bool:
    """Counts one more judgment on the task; True when that completes it."""
    # One statement for count, completion and the answer to "did this complete it?": the ORM's
    # update() cannot return the new row (PostgreSQL and SQLite >= 3.35 both take RETURNING).
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Task._meta.db_table} SET done_count = done_count + 1, "
            "status = CASE WHEN done_count + 1 >= required THEN %s ELSE status END "
            "WHERE id = %s RETURNING status",
            [Task.Status.COMPLETE, task_id],
        )
        (status,) = cursor.fetchone()
    return status == Task.Status.COMPLETE


def _task_completed(task: Task, project: Project, judgments: list | None) -> None:
    """Aggregates a task that just got its judgments (its trusted `judgments` if already
    read); with adaptive overlap, a task whose consensus is less confident than the project's
    target asks for one more judgment."""
    result = task_consensus_record(task=task, project=project, judgments=judgments)
    if result.confidence < project.target_confidence:
        Task.objects.filter(pk=task.pk, required__lt=project.max_overlap or project.overlap).update(
            required=F("required") + 1, status=Task.Status.OPEN
        )


def _worker_untrust(*, worker_id: int, project_id: int) -> None:
    """A blocked worker's regular judgments on the project stop counting (SPEC §6): submitted
    ones become untrusted and their tasks need a judgment again; active ones are released.
    Judgments a manager already accepted stand."""
    # Locked first, in key order, so that an expiry, release or review racing this sees the
    # change or waits; each update then applies only to rows still in the state read.
    rows = list(
        Assignment.objects.filter(
            worker_id=worker_id,
            project_id=project_id,
            is_gold=False,
            status__in=[Assignment.Status.SUBMITTED, Assignment.Status.ACTIVE],
        )
        .select_for_update(of=("self",))
        .order_by("pk")
        .values_list("pk", "task_id", "status")
    )
    for status, becomes, done in (
        (Assignment.Status.SUBMITTED, Assignment.Status.UNTRUSTED, True),
        (Assignment.Status.ACTIVE, Assignment.Status.RELEASED, False),
    ):
        chosen = [(pk, task_id) for pk, task_id, was in rows if was == status]
        Assignment.objects.filter(pk__in=[pk for pk, _ in chosen], status=status).update(
            status=becomes
        )
        slots_free([task_id for _, task_id in chosen], done=done)
