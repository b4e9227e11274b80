"""Reads of the qc app."""

import datetime

from django.db.models import Count, Exists, F, OuterRef, QuerySet
from django.utils import timezone

from config.errors import NotFoundError
from marketplace.models import Task
from marketplace.selectors import project_list_for_user, project_list_worked_by
from qc import scoring
from qc.models import AggregationJob, Exam, ExamAttempt, TaskResult, WorkerQuality
from workforce.models import Role
from workforce.selectors import worker_skill_list


def worker_quality_public(*, worker_id: int) -> list[dict]:
    """A worker's own quality on each work project they have claimed on, as they may see it
    (SPEC §4.3): the accuracy estimate as of the previous UTC midnight (the project's prior
    before any gold), never live gold counts; `blocked` is live.

    A project is listed from the worker's first claim there, gold or not: listed from their
    first gold check instead, its appearing right after a submit would tell them that task was
    gold."""
    today = timezone.now().date()
    as_of = datetime.datetime.combine(today, datetime.time(), tzinfo=datetime.UTC)
    records = {row.project_id: row for row in WorkerQuality.objects.filter(worker_id=worker_id)}
    result = []
    for project in project_list_worked_by(worker_id=worker_id).order_by("pk"):
        seen, correct, blocked = 0, 0, False
        if (row := records.get(project.pk)) is not None:
            # Counts changed today were saved at the day's first change; else all are older.
            changed_today = row.day >= today
            seen = row.day_start_seen if changed_today else row.gold_seen
            correct = row.day_start_correct if changed_today else row.gold_correct
            blocked = row.blocked
        result.append(
            {
                "project": project.pk,
                "accuracy_estimate": scoring.accuracy_estimate(
                    gold_correct=correct,
                    gold_seen=seen,
                    prior_correct=project.prior_correct,
                    prior_seen=project.prior_seen,
                ),
                "as_of": as_of,
                "blocked": blocked,
            }
        )
    return result


RESULT_COLUMNS = ["task", "data", "consensus", "confidence", "judgments", "method"]


def result_list(*, project) -> QuerySet[TaskResult]:
    """Results of the project's complete regular tasks (SPEC §6), by task id."""
    return TaskResult.objects.filter(
        project=project, task__status=Task.Status.COMPLETE, task__is_gold=False
    ).order_by("task_id")


def result_rows(results: QuerySet[TaskResult]) -> QuerySet:
    """The rows the results endpoint shows; `result_row` names them as SPEC §8 does."""
    return results.values(
        "task_id",
        "consensus",
        "confidence",
        "method",
        data=F("task__data"),
        judgments=F("task__done_count"),
    )


def result_row(values: dict) -> dict:
    return {
        "task": values["task_id"],
        "data": values["data"],
        "consensus": values["consensus"],
        "confidence": values["confidence"],
        "judgments": values["judgments"],
        "method": values["method"],
    }


def aggregation_get_for_user(*, user, job_id: int) -> AggregationJob:
    job = AggregationJob.objects.filter(
        pk=job_id, project__in=project_list_for_user(user=user).values("pk")
    ).first()
    if job is None:
        raise NotFoundError("No such aggregation job.")
    return job


def exam_list_for_manager(*, user) -> QuerySet[Exam]:
    exams = Exam.objects.select_related("skill", "project").annotate(
        questions=Count("project__tasks")
    )
    return exams if user.role == Role.STAFF else exams.filter(created_by=user)


def exam_list_open_to_worker(*, worker_id: int, now: datetime.datetime) -> QuerySet[Exam]:
    """Exams a worker may take now: not passed, not waiting out a failed attempt's delay, and
    for a level above the one they have in the skill."""
    attempts = ExamAttempt.objects.filter(exam=OuterRef("pk"), worker_id=worker_id)
    waiting = attempts.filter(passed=False, retry_at__gt=now)
    has_level = worker_skill_list(worker_id=worker_id).filter(
        skill_id=OuterRef("skill_id"), level__gte=OuterRef("level")
    )
    return (
        Exam.objects.select_related("skill")
        .exclude(Exists(attempts.filter(passed=True)))
        .exclude(Exists(waiting))
        .exclude(Exists(has_level))
        .annotate(questions=Count("project__tasks"))
        .order_by("id")
    )
