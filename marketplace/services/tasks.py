"""Micro-tasks: validated, all-or-nothing bulk creation, and the rules every way of creating
tasks shares (the upload here, imports in `marketplace.services.imports`)."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from config.errors import InvalidInputError
from marketplace.exceptions import ProjectStateError
from marketplace.models import Project, Task
from marketplace.selectors import project_answer_format
from marketplace.services.projects import project_touch
from qc import scoring

MAX_TASKS_PER_REQUEST = 10_000
TASK_ROW_KEYS = frozenset({"data", "gold_answer", "source"})
_INSERT_BATCH = 2_000
_CLOSED = (Project.Status.COMPLETED, Project.Status.ARCHIVED)


# --- rules shared with imports -----------------------------------------------------------------


def task_project_check(project: Project) -> None:
    """ProjectStateError (409) unless the project still takes new tasks."""
    if project.status in _CLOSED:
        raise ProjectStateError(f"A {project.status} project takes no new tasks.")


def task_required(project: Project, *, is_gold: bool) -> int:
    """Judgments a new task needs: gold is not subject to overlap (SPEC §4.3)."""
    return 0 if is_gold else project.overlap


@dataclass
class TaskRow:
    """A row of the task upload, checked: `gold` is normalised (None for a regular task)."""

    data: dict
    gold: object
    source: dict | None


class TaskRowError(ValueError):
    """What is wrong with one row, per field (`non_field_errors` for the row itself)."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(
            "; ".join(
                message
                if field in ("non_field_errors", "data") or message.startswith(field)
                else f"{field}: {message}"
                for field, messages in errors.items()
                for message in messages
            )
        )
        self.errors = errors


def task_data_clean(fmt: scoring.AnswerFormat, data: object) -> dict:
    """Task data the workers can answer in this format; TaskRowError naming `data` otherwise."""
    try:
        scoring.task_data_check(fmt, data)
    except scoring.AnswerError as error:
        raise TaskRowError({"data": [str(error)]}) from None
    return data


def task_gold_clean(fmt: scoring.AnswerFormat, gold: object, data: dict) -> object:
    """A gold answer in its stored form, validated as a worker's answer to `data` would be; None
    (absent) makes a regular task. TaskRowError naming `gold_answer` otherwise."""
    if gold is None:
        return None
    try:
        return scoring.answer_normalise(fmt, gold, data)
    except scoring.AnswerError as error:
        raise TaskRowError({"gold_answer": [str(error)]}) from None


def task_row_clean(fmt: scoring.AnswerFormat, row: object, *, check_data: bool = True) -> TaskRow:
    """One row of the upload shape `{data, gold_answer?, source?}`, checked; TaskRowError with
    every problem by field otherwise. `check_data=False` skips the walk through data and source
    for a caller that has already ruled out what the database refuses (an import reading JSON
    text without a NUL or surrogate escape); ranking data is checked whatever."""
    if not isinstance(row, dict):
        raise TaskRowError(
            {"non_field_errors": ["Each task must be a JSON object {data, gold_answer?}."]}
        )
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(row) - TASK_ROW_KEYS)
    if unknown:
        errors["non_field_errors"] = [f"Unknown field(s): {', '.join(unknown)}."]
    if "data" not in row:
        raise TaskRowError({**errors, "data": ["This field is required."]})
    data = row["data"]
    try:
        if check_data or fmt.task_type == "ranking" or not isinstance(data, dict):
            task_data_clean(fmt, data)
    except TaskRowError as error:
        raise TaskRowError({**errors, **error.errors}) from None
    source = row.get("source")
    try:
        if source is not None and not isinstance(source, dict):
            raise scoring.AnswerError("source must be a JSON object")
        if check_data:
            scoring.storable_check(source, what="source")
    except scoring.AnswerError as error:
        errors["source"] = [str(error)]
    gold = None
    try:
        gold = task_gold_clean(fmt, row.get("gold_answer"), data)
    except TaskRowError as error:
        errors.update(error.errors)
    if errors:
        raise TaskRowError(errors)
    return TaskRow(data=data, gold=gold, source=source)


# --- the upload --------------------------------------------------------------------------------


def _row_errors(fmt: scoring.AnswerFormat, row: object) -> tuple[dict, Task | None]:
    try:
        clean = task_row_clean(fmt, row)
    except TaskRowError as error:
        return error.errors, None
    return {}, Task(
        data=clean.data, source=clean.source, is_gold=clean.gold is not None, gold_answer=clean.gold
    )


def task_bulk_create(*, project: Project, rows: Sequence) -> int:
    """Validates every row against the project's format, then inserts all of them or none.

    A row with a `gold_answer` is a gold question (the answer must itself be valid). Raises
    InvalidInputError with errors aligned to the rows, ProjectStateError for a closed project.
    """
    if not rows:
        raise InvalidInputError("Send at least one task.")
    if len(rows) > MAX_TASKS_PER_REQUEST:
        raise InvalidInputError(
            f"At most {MAX_TASKS_PER_REQUEST} tasks per request; use an import for more."
        )
    with transaction.atomic():
        # Locked so that the status, overlap and answer format checked here are the ones in
        # force when the rows land (settings changes take the same lock).
        project = Project.objects.select_for_update().get(pk=project.pk)
        task_project_check(project)
        fmt = project_answer_format(project)
        checked = [_row_errors(fmt, row) for row in rows]
        if any(errors for errors, _ in checked):
            raise InvalidInputError(fields=[errors for errors, _ in checked])
        tasks = [task for _, task in checked]
        for task in tasks:
            task.project = project
            task.required = task_required(project, is_gold=task.is_gold)
        Task.objects.bulk_create(tasks, batch_size=_INSERT_BATCH)
        project_touch(project_id=project.pk)
    return len(tasks)
