"""Projects: create, change settings, move through draft → active ↔ paused → completed | archived."""

from collections.abc import Sequence

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Greatest, Now

from config.errors import InvalidInputError
from marketplace.exceptions import ProjectSettingLockedError, ProjectStateError
from marketplace.models import Project, ProjectLanguage, Task
from marketplace.selectors import project_answer_format
from qc import scoring
from workforce.models import User

# Settings that only mean something for some task types (SPEC §3: left out elsewhere).
APPLIES_TO: dict[str, frozenset[str]] = {
    "labels": scoring.LABEL_TYPES,
    "scale_min": frozenset({"rating"}),
    "scale_max": frozenset({"rating"}),
    "gold_tolerance": frozenset({"rating"}),
    "gold_threshold": frozenset(scoring.DEFAULT_GOLD_THRESHOLD),
}
_NOT_APPLICABLE_VALUE = {
    "labels": [],
    "scale_min": None,
    "scale_max": None,
    "gold_tolerance": 0.0,
    "gold_threshold": None,
}
API_NAME = {"scale_min": "scale", "scale_max": "scale"}

_TRANSITIONS: dict[str, tuple[set[str], str]] = {
    # action: (statuses it may start from, status it leads to)
    "publish": ({Project.Status.DRAFT, Project.Status.PAUSED}, Project.Status.ACTIVE),
    "pause": ({Project.Status.ACTIVE}, Project.Status.PAUSED),
    "complete": ({Project.Status.ACTIVE, Project.Status.PAUSED}, Project.Status.COMPLETED),
    "archive": (set(Project.Status) - {Project.Status.ARCHIVED}, Project.Status.ARCHIVED),
}


def _check_applicable(task_type: str, given: Sequence[str]) -> None:
    errors = {
        API_NAME.get(name, name): [f"Does not apply to {task_type} projects."]
        for name in given
        if name in APPLIES_TO and task_type not in APPLIES_TO[name]
    }
    if errors:
        raise InvalidInputError(fields=errors)


def _clear_inapplicable(project: Project) -> None:
    for name, types in APPLIES_TO.items():
        if project.task_type not in types:
            setattr(project, name, _NOT_APPLICABLE_VALUE[name])


def _check_overlap(project: Project) -> None:
    if project.max_overlap is not None and project.max_overlap < project.overlap:
        raise InvalidInputError(fields={"max_overlap": ["Must be at least the overlap."]})


def _check_format(project: Project) -> None:
    try:
        scoring.answer_format_check(project_answer_format(project))
    except scoring.AnswerError as error:
        raise InvalidInputError(fields={error.field or "non_field_errors": [str(error)]}) from None


def _set_relations(
    project: Project,
    *,
    languages: Sequence[str] | None,
    allowed_vendors: Sequence[int] | None,
    managers: Sequence[int] | None,
) -> None:
    if languages is not None:
        project.language_rows.all().delete()
        ProjectLanguage.objects.bulk_create(
            ProjectLanguage(project=project, code=code) for code in languages
        )
    if allowed_vendors is not None:
        project.allowed_vendors.set(allowed_vendors)
    if managers is not None:
        project.managers.set({project.created_by_id, *managers})


def project_touch(*, project_id: int) -> None:
    """Marks the project changed now (`updated_at`), as when its tasks change: the stats refresh
    takes a project changed since its last run as due (docs/stats.md)."""
    Project.objects.filter(pk=project_id).update(updated_at=Now())


def project_create(
    *,
    user: User,
    settings: dict,
    languages: Sequence[str] = (),
    allowed_vendors: Sequence[int] = (),
    managers: Sequence[int] = (),
) -> Project:
    """A draft project; its creator is one of its managers. Raises InvalidInputError."""
    project = Project(created_by=user, **settings)
    _check_applicable(project.task_type, settings)
    _clear_inapplicable(project)
    _check_format(project)
    _check_overlap(project)
    with transaction.atomic():
        project.save()
        _set_relations(
            project, languages=languages, allowed_vendors=allowed_vendors, managers=managers
        )
    return project


def project_update(
    *,
    project: Project,
    changes: dict,
    languages: Sequence[str] | None = None,
    allowed_vendors: Sequence[int] | None = None,
    managers: Sequence[int] | None = None,
) -> Project:
    """Changes settings. New instructions bump `guideline_version`; a new overlap applies to
    every regular task at once. The answer format is locked once tasks exist, except that labels
    may be added at the end and overlap may only grow (ProjectSettingLockedError, 409)."""
    with transaction.atomic():
        # Locked and read afresh: a pause, a task upload or another edit that landed since the
        # caller read the project must be neither overwritten nor missed.
        project = Project.objects.select_for_update().get(pk=project.pk)
        if project.status == Project.Status.ARCHIVED:
            raise ProjectStateError("An archived project cannot change.")
        _check_applicable(changes.get("task_type", project.task_type), changes)
        has_tasks = project.tasks.exists()
        if has_tasks:
            _check_format_unchanged(project, changes)
        grows = changes.get("overlap", project.overlap) != project.overlap
        if "instructions" in changes and changes["instructions"] != project.instructions:
            project.guideline_version += 1
        for name, value in changes.items():
            setattr(project, name, value)
        _clear_inapplicable(project)
        _check_format(project)
        _check_overlap(project)
        project.save()
        _set_relations(
            project, languages=languages, allowed_vendors=allowed_vendors, managers=managers
        )
        if grows and has_tasks:
            _tasks_require(project)
    return project


def _check_format_unchanged(project: Project, changes: dict) -> None:
    """Once tasks exist, their data and gold answers were validated against the format."""
    locked = {"task_type", "scale_min", "scale_max"}
    changed = sorted(
        name for name in locked & set(changes) if changes[name] != getattr(project, name)
    )
    if changed:
        raise ProjectSettingLockedError(
            f"{', '.join(API_NAME.get(n, n) for n in changed)} cannot change once the project has tasks."
        )
    if changes.get("overlap", project.overlap) < project.overlap:
        raise ProjectSettingLockedError(
            "Once the project has tasks, overlap can grow but not shrink: live judgments would exceed it."
        )
    labels = changes.get("labels")
    if labels is not None and list(labels[: len(project.labels)]) != list(project.labels):
        raise ProjectSettingLockedError(
            "Once the project has tasks, labels can only be added at the end."
        )


def _tasks_require(project: Project) -> None:
    """Applies a grown overlap to every regular task, reopening the complete ones."""
    # Greatest: a task adaptive overlap already asked more of keeps its higher requirement.
    required = Greatest(F("required"), Value(project.overlap))
    Task.objects.filter(project=project, is_gold=False).update(
        required=required,
        status=Case(
            When(done_count__gte=required, then=Value(Task.Status.COMPLETE)),
            default=Value(Task.Status.OPEN),
        ),
    )


def project_transition(*, project: Project, action: str) -> Project:
    """publish / pause / complete / archive with one conditional UPDATE.

    Idempotent: asking for the status the project already has changes nothing. Raises
    ProjectStateError (409) for a move SPEC §8 does not allow.
    """
    sources, target = _TRANSITIONS[action]
    changed = Project.objects.filter(pk=project.pk, status__in=sources).update(status=target)
    project.refresh_from_db(fields=["status", "updated_at"])
    if not changed and project.status != target:
        raise ProjectStateError(f"A {project.status} project cannot {action}.")
    return project
