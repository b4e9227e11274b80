"""Qualification exams (SPEC §6): gold questions for a skill; passing at the pass mark grants
the skill level; failing waits `retry_after_hours` before the next attempt."""

import datetime
from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from config.errors import InvalidInputError
from marketplace.models import Project
from marketplace.selectors import exam_answer_counts
from marketplace.services.projects import project_create
from marketplace.services.tasks import task_bulk_create
from qc.models import Exam, ExamAttempt
from workforce.models import Skill, User
from workforce.services import worker_skill_grant


def exam_create(
    *,
    user: User,
    skill: Skill,
    level: int,
    pass_mark: float,
    retry_after_hours: float,
    task_type: str,
    tasks: Sequence[dict],
    answer_format: dict | None = None,
) -> Exam:
    """An exam with its questions, all-or-nothing; every question needs a valid gold answer.
    `answer_format` holds the project settings of the task type's answer format that were
    given (`labels`, or `scale_min` and `scale_max`), checked as a project's are."""
    missing = [
        {}
        if isinstance(row, dict) and row.get("gold_answer") is not None
        else {"gold_answer": ["Every exam question needs a gold answer."]}
        for row in tasks
    ]
    if not tasks or any(missing):
        raise InvalidInputError(fields={"tasks": missing or ["Give at least one question."]})
    settings = {
        "name": f"Exam: {skill.name} level {level}",
        "task_type": task_type,
        **(answer_format or {}),
        "kind": Project.Kind.EXAM,
        "status": Project.Status.ACTIVE,
        "gold_ratio": 0.0,
        "lease_seconds": 3600,
    }
    with transaction.atomic():
        project = project_create(user=user, settings=settings)
        try:
            task_bulk_create(project=project, rows=tasks)
        except InvalidInputError as error:
            raise InvalidInputError(fields={"tasks": error.fields}) from None
        return Exam.objects.create(
            skill=skill,
            level=level,
            pass_mark=pass_mark,
            retry_after_hours=retry_after_hours,
            project=project,
            created_by=user,
        )


def exam_attempt_current(*, exam: Exam, worker_id: int, now: datetime.datetime):
    """The attempt the worker is on, opening a new one when allowed; None when the worker
    passed already or waits for the retry delay. Call with the worker row locked."""
    latest = ExamAttempt.objects.filter(exam=exam, worker_id=worker_id).order_by("-number").first()
    if latest is not None:
        if latest.finished_at is None:
            return latest
        if latest.passed or now < latest.retry_at:
            return None
    return ExamAttempt.objects.create(
        exam=exam,
        worker_id=worker_id,
        number=(latest.number if latest else 0) + 1,
        started_at=now,
        questions=exam.project.tasks.count(),
    )


def exam_attempt_finish(*, exam: Exam, worker_id: int, attempt: int) -> bool:
    """Scores an attempt once every question is answered (or its lease ended unanswered, which
    counts as wrong) and grants the skill on a pass. Idempotent; True when it finished now."""
    counts = exam_answer_counts(project=exam.project, worker_id=worker_id, attempt=attempt)
    row = ExamAttempt.objects.filter(exam=exam, worker_id=worker_id, number=attempt)
    questions = row.values_list("questions", flat=True).first()
    if questions is None or counts["answered"] < questions:
        return False
    passed = counts["correct"] >= exam.pass_mark * questions
    now = timezone.now()
    with transaction.atomic():
        finished = row.filter(finished_at__isnull=True).update(
            finished_at=now,
            retry_at=None if passed else now + datetime.timedelta(hours=exam.retry_after_hours),
            correct=counts["correct"],
            passed=passed,
        )
        if finished and passed:
            worker_skill_grant(worker_id=worker_id, skill=exam.skill, level=exam.level)
    return bool(finished)
