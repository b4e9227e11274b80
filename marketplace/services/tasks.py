"""Micro-tasks: validated, all-or-nothing bulk creation."""

from collections.abc import Sequence

from django.db import transaction

from config.errors import InvalidInputError
from marketplace.exceptions import ProjectStateError
from marketplace.models import Project, Task
from marketplace.selectors import project_answer_format
from qc import scoring

MAX_TASKS_PER_REQUEST = 10_000
_ROW_KEYS = frozenset({"data", "gold_answer", "source"})
_INSERT_BATCH = 2_000


def _row_errors(fmt: scoring.AnswerFormat, row) -> tuple[dict, Task | None]:
    if not isinstance(row, dict):
        return {"non_field_errors": ["Each task must be an object {data, gold_answer?}."]}, None
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(row) - _ROW_KEYS)
    if unknown:
        errors["non_field_errors"] = [f"Unknown field(s): {', '.join(unknown)}."]
    if "data" not in row:
        errors["data"] = ["This field is required."]
        return errors, None
    try:
        scoring.task_data_check(fmt, row["data"])
    except scoring.AnswerError as error:
        errors["data"] = [str(error)]
        return errors, None
    source = row.get("source")
    try:
        if source is not None and not isinstance(source, dict):
            raise scoring.AnswerError("source must be a JSON object")
        scoring.storable_check(source, what="source")
    except scoring.AnswerError as error:
        errors["source"] = [str(error)]
    gold = row.get("gold_answer")
    if gold is not None:
        try:
            gold = scoring.answer_normalise(fmt, gold, row["data"])
        except scoring.AnswerError as error:
            errors["gold_answer"] = [str(error)]
    if errors:
        return errors, None
    return {}, Task(
        data=row["data"], source=row.get("source"), is_gold=gold is not None, gold_answer=gold
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
        if project.status in (Project.Status.COMPLETED, Project.Status.ARCHIVED):
            raise ProjectStateError(f"A {project.status} project takes no new tasks.")
        fmt = project_answer_format(project)
        checked = [_row_errors(fmt, row) for row in rows]
        if any(errors for errors, _ in checked):
            raise InvalidInputError(fields=[errors for errors, _ in checked])
        tasks = [task for _, task in checked]
        for task in tasks:
            task.project = project
            task.required = 0 if task.is_gold else project.overlap
        Task.objects.bulk_create(tasks, batch_size=_INSERT_BATCH)
    return len(tasks)
