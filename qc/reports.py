"""Quality reports for managers (read-only): agreement between workers, and the data checks run
before a delivery.

Counting is set-based SQL. Where a statistic needs the answers themselves (Krippendorff's alpha,
matching a text or boxes against the consensus), only the columns it needs are streamed with a
server-side cursor, already grouped by the database where possible, and the arithmetic is done
with numpy on the flat columns. Each report runs a fixed number of queries whatever the size of
the project. Reports cover regular work only: trusted judgments (`submitted` or `accepted`) on
regular tasks, which is what a delivery is made of; gold questions are quality control, not data.
"""

import itertools

import krippendorff
import numpy as np
from django.db.models import Count, F, FloatField, Min, Q, QuerySet, Sum, TextField, Window
from django.db.models.functions import Abs, Cast, Coalesce, RowNumber
from django.db.models.lookups import LessThanOrEqual

from marketplace.models import Assignment, Project, Task
from marketplace.selectors import (
    judgment_list_trusted_regular,
    project_answer_format,
    task_list_regular,
)
from qc import scoring

# Krippendorff's levels of measurement per task type; other types have no alpha here.
LEVELS = {
    Project.TaskType.CLASSIFICATION: "nominal",
    Project.TaskType.MULTI_LABEL: "nominal",
    Project.TaskType.RATING: "interval",
}

# `krippendorff.alpha(value_counts=...)` builds its coincidence matrix through a few temporaries
# of units x values x values floats. Up to this many cells (~16 MB each) the package computes
# alpha; past it the same statistic comes from per-task sums, in memory linear in the rows read.
_PACKAGE_MAX_CELLS = 2_000_000
_READ_CHUNK = 50_000
EXAMPLES = 20  # duplicate payload groups shown, and task ids shown per group
TOP_TEXT_ANSWERS = 50
ANSWER_PREVIEW_CHARS = 200


# --- agreement ------------------------------------------------------------------------------------


def agreement_report(*, project: Project) -> dict:
    """Krippendorff's alpha over the project's trusted regular judgments, and per worker the
    share of their judgments that agree with the consensus.

    Alpha treats tasks as units and workers as coders; tasks with one judgment carry no pairs and
    drop out. Levels: classification is nominal over the labels; rating is interval over the
    numbers given; multi_label is the unweighted mean of one nominal alpha per label over the
    binary "chosen / not chosen" matrix, leaving out labels whose alpha is undefined (everyone or
    no one chose them). Text, ranking and bbox answers are not values on one scale (a pairwise
    similarity would be a different statistic), so alpha is None there and `note` says why;
    `note` also explains any other None. Alpha is None when undefined: no task with two
    judgments, or no variation at all (every judgment gives the same value).

    A judgment agrees with the consensus when it would pass as correct if the consensus were the
    gold answer (SPEC §5): equal for classification (and multi_label and ranking at a threshold
    of 1, the default), within `gold_tolerance` for rating, by the project's similarity threshold
    for text, bbox and lower thresholds. Only judgments on complete tasks with a result count
    (`judgments_with_consensus`); the worker's own judgment is part of the consensus, as in
    every majority-agreement score. `agreement_with_consensus` is None without such judgments.
    """
    alpha, note = _project_alpha(project)
    workers = _worker_agreement(project)
    return {
        "krippendorff_alpha": alpha,
        "level": LEVELS.get(project.task_type),
        "note": note,
        "judgments": sum(row["judgments"] for row in workers),
        "workers": workers,
    }


def _project_alpha(project: Project) -> tuple[float | None, str | None]:
    level = LEVELS.get(project.task_type)
    if level is None:
        return None, (
            f"Krippendorff's alpha is not reported for {project.task_type} answers: they are not "
            "values on one scale; see each worker's agreement with the consensus."
        )
    # One row per distinct answer of a task, with the number of judgments giving it: the
    # database does the counting, Python only decodes each distinct answer once.
    rows = (
        judgment_list_trusted_regular(project=project)
        .values_list("task_id", "answer")
        .annotate(n=Count("pk"))
        .iterator(chunk_size=_READ_CHUNK)
    )
    if project.task_type == Project.TaskType.MULTI_LABEL:
        return _multi_label_alpha(rows, project.labels)
    if project.task_type == Project.TaskType.RATING:
        tasks, numbers, counts = _read_columns(rows, float, np.float64)
        domain, values = np.unique(numbers, return_inverse=True)
    else:
        codes = {label: code for code, label in enumerate(project.labels)}
        # A label no longer listed still is a value judgments gave; nominal alpha ignores order.
        tasks, values, counts = _read_columns(
            rows, lambda label: codes.setdefault(label, len(codes)), np.int64
        )
        domain = np.arange(max(len(codes), 1))
    alpha = _alpha(tasks, values, counts, domain=domain, level=level)
    return alpha, None if alpha is not None else _UNDEFINED


_UNDEFINED = (
    "Krippendorff's alpha is undefined: it needs a task with two trusted judgments and some "
    "variation between the values given."
)


def _read_columns(rows, decode, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(task, decoded answer, count) rows as three arrays, read a chunk at a time."""
    parts = []
    while chunk := list(itertools.islice(rows, _READ_CHUNK)):
        parts.append(
            (
                np.fromiter((row[0] for row in chunk), np.int64, len(chunk)),
                np.fromiter((decode(row[1]) for row in chunk), dtype, len(chunk)),
                np.fromiter((row[2] for row in chunk), np.int64, len(chunk)),
            )
        )
    if not parts:
        return np.empty(0, np.int64), np.empty(0, dtype), np.empty(0, np.int64)
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))


def _multi_label_alpha(rows, labels: list[str]) -> tuple[float | None, str | None]:
    codes = {label: code for code, label in enumerate(labels)}
    tasks, counts, member_row, member_label = [], [], [], []
    offset = 0
    while chunk := list(itertools.islice(rows, _READ_CHUNK)):
        tasks.append(np.fromiter((row[0] for row in chunk), np.int64, len(chunk)))
        counts.append(np.fromiter((row[2] for row in chunk), np.int64, len(chunk)))
        # One (row, label) pair per label chosen in the row's answer.
        pairs = [
            (offset + index, codes.setdefault(label, len(codes)))
            for index, row in enumerate(chunk)
            for label in row[1]
        ]
        member_row.append(np.array([row for row, _ in pairs], np.int64))
        member_label.append(np.array([label for _, label in pairs], np.int64))
        offset += len(chunk)
    if not tasks:
        return None, _UNDEFINED
    tasks, counts = np.concatenate(tasks), np.concatenate(counts)
    member_row, member_label = np.concatenate(member_row), np.concatenate(member_label)
    alphas = []
    for code in range(len(codes)):
        chosen = np.zeros(len(tasks), np.int64)
        chosen[member_row[member_label == code]] = 1
        alpha = _alpha(tasks, chosen, counts, domain=np.arange(2), level="nominal")
        if alpha is not None:
            alphas.append(alpha)
    if not alphas:
        return None, _UNDEFINED
    return float(np.mean(alphas)), (
        f"Mean of the nominal alphas of {len(alphas)} of {len(codes)} labels, each over "
        "chosen / not chosen; a label everyone or no one chose has no alpha."
    )


def _alpha(
    tasks: np.ndarray, values: np.ndarray, counts: np.ndarray, *, domain: np.ndarray, level: str
) -> float | None:
    """Krippendorff's alpha from (task, value index into `domain`, count) triples; a (task,
    value) pair may repeat. None when undefined."""
    units, unit = np.unique(tasks, return_inverse=True)
    per_unit = np.bincount(unit, weights=counts, minlength=len(units))
    pairable = per_unit[unit] >= 2  # a task judged once has no pair to agree or disagree on
    units, unit = np.unique(unit[pairable], return_inverse=True)
    values, counts = values[pairable], counts[pairable]
    if len(units) == 0 or len(domain) < 2:
        return None
    if len(units) * len(domain) ** 2 <= _PACKAGE_MAX_CELLS:
        value_counts = np.zeros((len(units), len(domain)))
        np.add.at(value_counts, (unit, values), counts)
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = krippendorff.alpha(
                value_counts=value_counts, value_domain=domain, level_of_measurement=level
            )
    else:
        alpha = _alpha_from_sums(unit, values, counts, len(units), domain=domain, level=level)
    return float(alpha) if alpha is not None and np.isfinite(alpha) else None


def _alpha_from_sums(
    unit: np.ndarray,
    values: np.ndarray,
    counts: np.ndarray,
    n_units: int,
    *,
    domain: np.ndarray,
    level: str,
) -> float | None:
    """The package's `1 - sum(o * d) / sum(e * d)` without its units x values x values arrays.

    With m_u judgments on unit u, c_uv of them giving value v, and n = sum(m_u), the coincidence
    matrix is o = sum_u (c_u c_u' - diag c_u) / (m_u - 1), and its column sums n_v = sum_u c_uv.
    Nominal (d = 1 off the diagonal): sum(o d) = sum_u (m_u^2 - sum_v c_uv^2) / (m_u - 1) and
    sum(e d) = (n^2 - sum_v n_v^2) / (n - 1). Interval (d = (x_a - x_b)^2), with S1_u and S2_u the
    sums of the values and of their squares on u: sum(o d) = sum_u 2 (m_u S2_u - S1_u^2) /
    (m_u - 1) and sum(e d) = 2 (n S2 - S1^2) / (n - 1) over all of them.
    """
    counts = counts.astype(np.float64)
    m = np.bincount(unit, weights=counts, minlength=n_units)
    n = m.sum()
    if level == "nominal":
        cells, cell = np.unique(unit * len(domain) + values, return_inverse=True)
        c = np.bincount(cell, weights=counts)
        squares = np.bincount(cells // len(domain), weights=c**2, minlength=n_units)
        n_v = np.bincount(cells % len(domain), weights=c, minlength=len(domain))
        observed = np.sum((m**2 - squares) / (m - 1))
        expected = (n**2 - np.sum(n_v**2)) / (n - 1)
    else:
        # Centred first: the differences below then lose no precision to a large offset.
        x = domain[values].astype(np.float64)
        x -= np.sum(counts * x) / n
        s1 = np.bincount(unit, weights=counts * x, minlength=n_units)
        s2 = np.bincount(unit, weights=counts * x**2, minlength=n_units)
        observed = np.sum(2 * (m * s2 - s1**2) / (m - 1))
        expected = 2 * (n * s2.sum() - s1.sum() ** 2) / (n - 1)
    if expected <= 0:
        return None
    return 1 - observed / expected


def _matches_in_sql(project: Project, fmt: scoring.AnswerFormat) -> Q | None:
    """The §5 match of a judgment against its task's consensus as SQL, where it is plain
    equality or a tolerance; None where it needs Python (similarities, IoU, Jaccard < 1)."""
    consensus = F("task__result__consensus")
    if project.task_type == Project.TaskType.RATING:
        # As numbers: 3 and 3.0 are the same rating (and the same jsonb, but not the same text).
        gap = Abs(Cast("answer", FloatField()) - Cast(consensus, FloatField()))
        return Q(LessThanOrEqual(gap, fmt.gold_tolerance))
    if project.task_type == Project.TaskType.CLASSIFICATION or (
        project.task_type in (Project.TaskType.MULTI_LABEL, Project.TaskType.RANKING)
        and fmt.threshold >= 1
    ):
        # Jaccard 1 is set equality and tau 1 the same order; stored answers are normalised
        # (labels in the project's order), so equal answers are equal JSON.
        return Q(answer=consensus)
    return None


def _worker_agreement(project: Project) -> list[dict]:
    fmt = project_answer_format(project)
    with_consensus = Q(task__status=Task.Status.COMPLETE, task__result__isnull=False)
    matches = _matches_in_sql(project, fmt)
    judgments = judgment_list_trusted_regular(project=project)
    counts = {
        "judgments": Count("pk"),
        "with_consensus": Count("pk", filter=with_consensus),
    }
    if matches is not None:
        counts["agreed"] = Count("pk", filter=with_consensus & matches)
    rows = list(
        judgments.values("worker_id")
        .annotate(username=F("worker__user__username"), **counts)
        .order_by("worker_id")
    )
    if matches is None:
        agreed = _agreed_in_python(fmt, judgments.filter(with_consensus), rows)
        for row, n in zip(rows, agreed, strict=True):
            row["agreed"] = int(n)
    return [
        {
            "worker": row["worker_id"],
            "username": row["username"],
            "judgments": row["judgments"],
            "judgments_with_consensus": row["with_consensus"],
            "agreement_with_consensus": (
                row["agreed"] / row["with_consensus"] if row["with_consensus"] else None
            ),
        }
        for row in rows
    ]


def _agreed_in_python(
    fmt: scoring.AnswerFormat, judgments: QuerySet[Assignment], rows: list[dict]
) -> np.ndarray:
    """Per worker of `rows` (by worker id), how many of `judgments` match their consensus."""
    worker_ids = np.array([row["worker_id"] for row in rows], np.int64)
    agreed = np.zeros(len(rows), np.int64)
    stream = judgments.values_list("worker_id", "answer", "task__result__consensus").iterator(
        chunk_size=_READ_CHUNK
    )
    while chunk := list(itertools.islice(stream, _READ_CHUNK)):
        workers = np.fromiter((row[0] for row in chunk), np.int64, len(chunk))
        matched = np.fromiter(
            (scoring.gold_matches(fmt, answer, consensus, {}) for _, answer, consensus in chunk),
            bool,
            len(chunk),
        )
        agreed += np.bincount(
            np.searchsorted(worker_ids, workers[matched]), minlength=len(worker_ids)
        )
    return agreed


# --- data checks ----------------------------------------------------------------------------------


def data_checks(*, project: Project) -> dict:
    """The checks run before a delivery, over regular tasks and trusted judgments.

    - completeness: `tasks_missing_judgments` counts complete regular tasks with fewer trusted
      judgments than they require (0 unless the data was changed behind the product's back);
      `empty_answers` counts trusted answers that are null, a blank string, `[]` or `{}`. For
      multi_label and bbox `[]` is a valid answer ("none apply", "nothing to box"): the number
      is a signal to look at, not an error.
    - duplicate_payloads: regular tasks whose `data` is identical; `examples` shows the first
      `EXAMPLES` groups (by lowest task id) with up to `EXAMPLES` task ids each. Identical means
      equal jsonb on PostgreSQL (key order and 1 vs 1.0 do not matter) and equal stored JSON text
      on SQLite (they do).
    - duplicate_text_answers (text projects; else []): the same answer by one worker on at least
      two different tasks, the `TOP_TEXT_ANSWERS` most repeated, answers cut to
      `ANSWER_PREVIEW_CHARS` characters.
    - inconsistent_workers: per worker, `repeated_items` counts the payloads they answered on two
      or more tasks and `contradictions` those of them they did not always answer the same way
      (stored answers compared exactly); workers with a contradiction, most first.
    """
    duplicates = _duplicate_payloads(project)
    return {
        "completeness": _completeness(project),
        "duplicate_payloads": duplicates,
        "duplicate_text_answers": _duplicate_text_answers(project),
        # Without duplicate payloads no worker can meet an item twice: no query needed.
        "inconsistent_workers": _inconsistent_workers(project) if duplicates["groups"] else [],
    }


def _completeness(project: Project) -> dict:
    missing = (
        task_list_regular(project=project)
        .filter(status=Task.Status.COMPLETE)
        .alias(trusted=Count("assignments", filter=Q(assignments__status__in=Assignment.TRUSTED)))
        .filter(trusted__lt=F("required"))
        .count()
    )
    empty = (
        judgment_list_trusted_regular(project=project)
        .alias(answer_text=Cast("answer", TextField()))
        .filter(
            Q(answer__isnull=True)
            | Q(answer=None)
            | Q(answer=[])
            | Q(answer={})
            # A JSON string of nothing but whitespace, raw or escaped (\t, \n ...).
            | Q(answer_text__regex=r'^"(\s|\\[tnrfb])*"$')
        )
        .count()
    )
    return {"tasks_missing_judgments": missing, "empty_answers": empty}


def _duplicate_payloads(project: Project) -> dict:
    regular = task_list_regular(project=project)
    groups = regular.values("data").annotate(n=Count("pk"), first=Min("pk")).filter(n__gte=2)
    totals = groups.aggregate(groups=Count("*"), tasks=Coalesce(Sum("n"), 0))
    examples = []
    if totals["groups"]:
        firsts = list(groups.order_by("first").values_list("first", flat=True)[:EXAMPLES])
        group = {"partition_by": [F("data")]}
        rows = (
            regular.annotate(
                first=Window(Min("pk"), **group),
                rank=Window(RowNumber(), order_by=F("pk").asc(), **group),
            )
            .filter(first__in=firsts, rank__lte=EXAMPLES)
            .order_by("first", "pk")
            .values_list("first", "pk")
        )
        examples = [[pk for _, pk in ids] for _, ids in itertools.groupby(rows, lambda r: r[0])]
    return {"groups": totals["groups"], "tasks": totals["tasks"], "examples": examples}


def _duplicate_text_answers(project: Project) -> list[dict]:
    if project.task_type != Project.TaskType.TEXT:
        return []
    rows = (
        judgment_list_trusted_regular(project=project)
        .values("worker_id", "answer")
        .annotate(username=F("worker__user__username"), tasks=Count("task_id", distinct=True))
        .filter(tasks__gte=2)
        .order_by("-tasks", "worker_id", "answer")[:TOP_TEXT_ANSWERS]
    )
    return [
        {
            "worker": row["worker_id"],
            "username": row["username"],
            "answer": row["answer"][:ANSWER_PREVIEW_CHARS],
            "tasks": row["tasks"],
        }
        for row in rows
    ]


def _inconsistent_workers(project: Project) -> list[dict]:
    # One row per (worker, payload) met on two or more tasks, with how many different answers
    # the worker gave it; the per-worker sums are done in numpy.
    rows = (
        judgment_list_trusted_regular(project=project)
        .values("worker_id", "worker__user__username", "task__data")
        .annotate(tasks=Count("task_id", distinct=True), answers=Count("answer", distinct=True))
        .filter(tasks__gte=2)
        .values_list("worker_id", "worker__user__username", "answers")
        .iterator(chunk_size=_READ_CHUNK)
    )
    workers, contradicted, usernames = [], [], {}
    while chunk := list(itertools.islice(rows, _READ_CHUNK)):
        workers.append(np.fromiter((row[0] for row in chunk), np.int64, len(chunk)))
        contradicted.append(np.fromiter((row[2] >= 2 for row in chunk), np.int64, len(chunk)))
        usernames.update((row[0], row[1]) for row in chunk)
    if not workers:
        return []
    ids, worker = np.unique(np.concatenate(workers), return_inverse=True)
    repeated = np.bincount(worker)
    contradictions = np.bincount(worker, weights=np.concatenate(contradicted)).astype(np.int64)
    flagged = sorted(np.flatnonzero(contradictions), key=lambda i: (-contradictions[i], ids[i]))
    return [
        {
            "worker": int(ids[i]),
            "username": usernames[int(ids[i])],
            "repeated_items": int(repeated[i]),
            "contradictions": int(contradictions[i]),
        }
        for i in flagged
    ]
