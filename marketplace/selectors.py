"""Reads of the marketplace app, scoped to what the acting user may see (SPEC §4.7)."""

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Now

from config.errors import NotFoundError
from marketplace.models import Assignment, Project, ProjectLanguage, Task
from qc.models import WorkerQuality
from qc.scoring import AnswerFormat
from workforce.models import Role, User, Worker, WorkerLanguage, WorkerSkill


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


def project_get_for_user(*, user: User, project_id: int, detailed: bool = False) -> Project:
    """A project the user manages, else NotFoundError (404); `detailed` loads what its
    representation shows."""
    projects = project_list_for_user(user=user) if detailed else _projects_visible(user)
    project = projects.filter(pk=project_id).first()
    if project is None:
        raise NotFoundError("No such project.")
    return project


def project_answer_format(project: Project) -> AnswerFormat:
    return AnswerFormat(
        task_type=project.task_type,
        labels=project.labels,
        scale_min=project.scale_min,
        scale_max=project.scale_max,
        gold_threshold=project.gold_threshold,
        gold_tolerance=project.gold_tolerance,
    )


def project_list_claimable(*, worker: Worker, project_id: int | None) -> list[Project]:
    """Active projects this worker qualifies for (SPEC §4.2), highest priority first, in one query.

    Each carries `active_count`: the worker's assignments there whose lease still runs, so the
    caller can tell "at the limit" (409 or skip) from "nothing fitting" (204).
    """
    qualified_language = WorkerLanguage.objects.filter(
        worker=worker, code=OuterRef("code"), level__gte=OuterRef(OuterRef("min_language_level"))
    )
    missing_language = ProjectLanguage.objects.filter(project=OuterRef("pk")).exclude(
        Exists(qualified_language)
    )
    skilled = WorkerSkill.objects.filter(
        worker=worker,
        skill=OuterRef("required_skill"),
        level__gte=OuterRef("min_skill_level"),
    )
    vendor_rows = Project.allowed_vendors.through.objects.filter(project=OuterRef("pk"))
    vendor_id = worker.center.vendor_id if worker.center_id else None
    blocked = WorkerQuality.objects.filter(worker=worker, project=OuterRef("pk"), blocked=True)
    active = (
        Assignment.objects.filter(
            worker=worker,
            project=OuterRef("pk"),
            status=Assignment.Status.ACTIVE,
            lease_expires_at__gt=Now(),
        )
        .order_by()
        .values("project")
        .annotate(n=Count("*"))
        .values("n")
    )
    projects = (
        Project.objects.filter(kind=Project.Kind.WORK, status=Project.Status.ACTIVE)
        .filter(Q(required_skill__isnull=True) | Exists(skilled))
        .exclude(Exists(missing_language))
        .filter(~Exists(vendor_rows) | Exists(vendor_rows.filter(vendor_id=vendor_id)))
        .exclude(Exists(blocked))
        .annotate(active_count=Coalesce(Subquery(active, output_field=IntegerField()), 0))
        .order_by("-priority", "id")
    )
    if project_id is not None:
        projects = projects.filter(pk=project_id)
    return list(projects)


def _unseen(tasks: QuerySet[Task], worker: Worker) -> QuerySet[Task]:
    return tasks.exclude(Exists(Assignment.objects.filter(task=OuterRef("pk"), worker=worker)))


def _regular_open(*, worker: Worker, project: Project) -> QuerySet[Task]:
    """Regular tasks with a free slot that this worker never had (served by `task_claim_regular`)."""
    open_tasks = Task.objects.filter(
        project=project, status=Task.Status.OPEN, is_gold=False, live_count__lt=F("required")
    )
    return _unseen(open_tasks, worker)


def task_next_regular(*, worker: Worker, project: Project) -> dict | None:
    """The open regular task this worker should do next, locked; with the database's clock.

    Fewest missing judgments first, then oldest; never a task the worker already had. On
    PostgreSQL the row is locked with SKIP LOCKED, so concurrent claimers each get another one.
    """
    return (
        _regular_open(worker=worker, project=project)
        .order_by(F("required") - F("live_count"), "id")
        .select_for_update(skip_locked=True, of=("self",))
        .annotate(db_now=Now())
        .values("id", "data", "db_now")
        .first()
    )


def task_next_gold(*, worker: Worker, project: Project, pivot: float) -> dict | None:
    """An unseen gold question in random order, only while a regular task is also available.

    `pivot` in [0, 1) picks where to start in the tasks' random `gold_order`; the search wraps
    around once. Gold is not locked: every worker may answer the same gold question.
    """
    regular_available = _regular_open(worker=worker, project=project).values("id")[:1]
    unseen = (
        _unseen(Task.objects.filter(project=project, is_gold=True), worker)
        .filter(Exists(regular_available))
        .annotate(db_now=Now())
        .values("id", "data", "db_now")
    )
    return (
        unseen.filter(gold_order__gte=pivot).order_by("gold_order").first()
        or unseen.filter(gold_order__lt=pivot).order_by("gold_order").first()
    )


def assignment_list_for_worker(*, worker_user: User) -> QuerySet[Assignment]:
    return Assignment.objects.filter(worker__user=worker_user).select_related("task", "project")


def assignment_get_for_worker(*, worker_user: User, assignment_id: int) -> Assignment:
    assignment = (
        assignment_list_for_worker(worker_user=worker_user)
        .annotate(db_now=Now())
        .filter(pk=assignment_id)
        .first()
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


def task_trusted_judgments(*, task_id: int) -> list[tuple[object, int, int]]:
    """(answer, gold_seen, gold_correct of its worker) for each trusted judgment of a task."""
    quality = WorkerQuality.objects.filter(worker=OuterRef("worker"), project=OuterRef("project"))
    return list(
        Assignment.objects.filter(
            task_id=task_id,
            status__in=[Assignment.Status.SUBMITTED, Assignment.Status.ACCEPTED],
        )
        .annotate(
            seen=Coalesce(Subquery(quality.values("gold_seen")), 0),
            correct=Coalesce(Subquery(quality.values("gold_correct")), 0),
        )
        .order_by("pk")
        .values_list("answer", "seen", "correct")
    )


def project_trusted_judgments(*, project: Project):
    """(task_id, worker_id, answer, is_gold, gold_answer) of every trusted judgment on the
    project, gold included, streamed in task order with a server-side cursor."""
    return (
        Assignment.objects.filter(
            project=project,
            status__in=[Assignment.Status.SUBMITTED, Assignment.Status.ACCEPTED],
        )
        .order_by("task_id", "pk")
        .values_list("task_id", "worker_id", "answer", "is_gold", "task__gold_answer")
        .iterator(chunk_size=20_000)
    )


def project_trusted_judgment_count(*, project: Project) -> int:
    return Assignment.objects.filter(
        project=project, status__in=[Assignment.Status.SUBMITTED, Assignment.Status.ACCEPTED]
    ).count()


def exam_question_next(*, worker: Worker, project: Project, attempt: int) -> dict | None:
    """The first question of an exam this worker has not met in this attempt."""
    met = Assignment.objects.filter(task=OuterRef("pk"), worker=worker, attempt=attempt)
    return (
        Task.objects.filter(project=project)
        .exclude(Exists(met))
        .order_by("id")
        .annotate(db_now=Now())
        .values("id", "data", "db_now")
        .first()
    )
