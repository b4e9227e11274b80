"""Reads of the marketplace app, scoped to what the acting user may see (SPEC §4.7)."""

from collections.abc import Iterator

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Now

from config.db import sql_list
from config.errors import NotFoundError
from marketplace.models import Assignment, ImportJob, Project, Task
from qc.scoring import AnswerFormat
from workforce.models import Role, User


def _projects_visible(user: User) -> QuerySet[Project]:
    work = Project.objects.filter(kind=Project.Kind.WORK)
    if user.role == Role.STAFF:
        return work
    if user.role == Role.MANAGER:
        return work.filter(managers=user)
    return Project.objects.none()


def project_list_for_user(*, user: User) -> QuerySet[Project]:
    """Projects the user manages (staff: all), with everything their representation shows."""
    return (
        _projects_visible(user)
        .select_related("required_skill")
        .prefetch_related("language_rows", "allowed_vendors", "managers")
    )


def project_ids_for_user(*, user: User) -> QuerySet[Project]:
    """Ids of the projects the user manages (staff: all), to scope other rows by: a subquery,
    without what a project's representation loads."""
    return _projects_visible(user).values("pk")


def project_get_for_user(*, user: User, project_id: int, detailed: bool = False) -> Project:
    """A project the user manages, else NotFoundError (404); `detailed` loads what its
    representation shows."""
    projects = project_list_for_user(user=user) if detailed else _projects_visible(user)
    project = projects.filter(pk=project_id).first()
    if project is None:
        raise NotFoundError("No such project.")
    return project


def import_list_for_user(*, user: User) -> QuerySet[ImportJob]:
    return ImportJob.objects.filter(project__in=project_ids_for_user(user=user))


def import_get_for_user(*, user: User, job_id: int) -> ImportJob:
    """An import into a project the user manages, else NotFoundError (404)."""
    job = import_list_for_user(user=user).filter(pk=job_id).first()
    if job is None:
        raise NotFoundError("No such import.")
    return job


def project_answer_format(project: Project) -> AnswerFormat:
    return AnswerFormat(
        task_type=project.task_type,
        labels=project.labels,
        scale_min=project.scale_min,
        scale_max=project.scale_max,
        gold_threshold=project.gold_threshold,
        gold_tolerance=project.gold_tolerance,
    )


def assignment_list_for_worker(*, worker_user: User) -> QuerySet[Assignment]:
    return Assignment.objects.filter(worker__user=worker_user).select_related("task", "project")


def assignment_get_for_worker(*, worker_user: User, assignment_id: int) -> Assignment:
    assignment = (
        assignment_list_for_worker(worker_user=worker_user).filter(pk=assignment_id).first()
    )
    if assignment is None:
        raise NotFoundError("No such assignment.")
    return assignment


def assignment_get_for_manager(*, user: User, assignment_id: int) -> Assignment:
    """A judgment on a project the user manages (staff: any), else NotFoundError (404)."""
    assignment = (
        Assignment.objects.filter(project__in=_projects_visible(user), pk=assignment_id)
        .select_related("task")
        .first()
    )
    if assignment is None:
        raise NotFoundError("No such assignment.")
    return assignment


def project_list_worked_by(*, worker_id: int) -> QuerySet[Project]:
    """The work projects where the worker has claimed anything, gold or not."""
    claimed = Assignment.objects.filter(worker_id=worker_id).values("project_id")
    return Project.objects.filter(pk__in=claimed, kind=Project.Kind.WORK)


def judgment_list_trusted_regular(*, project: Project) -> QuerySet[Assignment]:
    """The project's trusted judgments on regular tasks: what a delivery is made of."""
    return Assignment.objects.filter(
        project=project, status__in=Assignment.TRUSTED, is_gold=False
    ).order_by()


def task_list_regular(*, project: Project) -> QuerySet[Task]:
    """The project's regular tasks (gold questions left out), unordered."""
    return Task.objects.filter(project=project, is_gold=False).order_by()


def exam_answer_counts(*, project: Project, worker_id: int, attempt: int) -> dict:
    """`answered` and `correct`: a worker's exam answers in one attempt, those no longer
    active (submitted, or with their lease ended unanswered) and those that passed."""
    done = Assignment.objects.filter(project=project, worker_id=worker_id, attempt=attempt).exclude(
        status=Assignment.Status.ACTIVE
    )
    return done.aggregate(answered=Count("pk"), correct=Count("pk", filter=Q(check_passed=True)))


def project_trusted_labels(*, project: Project) -> Iterator[tuple]:
    """(task_id, worker_id, answer, is_gold, gold_answer) of every trusted judgment on a
    classification project, gold included, in task order; answers as their label text.

    Streamed through a server-side cursor in chunks, and in plain SQL: an aggregation reads
    millions of rows, and the ORM's per-row JSON decoding would be most of its cost.
    """
    text = "{} #>> '{{}}'" if connection.vendor == "postgresql" else "json_extract({}, '$')"
    sql = (
        f"SELECT a.task_id, a.worker_id, {text.format('a.answer')}, a.is_gold, "
        f"{text.format('t.gold_answer')} FROM {Assignment._meta.db_table} a "
        f"JOIN {Task._meta.db_table} t ON t.id = a.task_id WHERE a.project_id = %s "
        f"AND a.status IN {sql_list(Assignment.TRUSTED)} "
        f"ORDER BY a.task_id, a.id"
    )
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [project.pk])
        while rows := cursor.fetchmany(20_000):
            yield from rows


def exam_question_next(*, worker_id: int, project: Project, attempt: int) -> dict | None:
    """The first question of an exam this worker has not met in this attempt."""
    met = Assignment.objects.filter(task=OuterRef("pk"), worker_id=worker_id, attempt=attempt)
    return (
        Task.objects.filter(project=project)
        .exclude(Exists(met))
        .order_by("id")
        .annotate(db_now=Now())
        .values("id", "data", "db_now")
        .first()
    )


def judgments_payable(*, start, end) -> QuerySet[Assignment]:
    """Judgments that earn pay for `[start, end)` (SPEC §7): submitted in the period, on work
    projects (exam answers are not work), not rejected in review and not untrusted after a
    block; gold included. Payroll runs take these and leave out what earlier runs paid."""
    return Assignment.objects.filter(
        submitted_at__gte=start,
        submitted_at__lt=end,
        status__in=Assignment.TRUSTED,
        project__kind=Project.Kind.WORK,
    )
