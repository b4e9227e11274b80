"""Imports (SPEC §5, §8): a JSONL or CSV file of source items, gzipped or not, split into a
project's tasks by a job that streams it in constant memory, lands the good rows in batches and
reports the bad ones by line.

A row is one source item. Its fields are the task data, except `gold_answer` (a gold question
when present and not empty). A JSONL line may also take the task upload's shape
`{data, gold_answer?, source?}`. The item's source id is its `id` field (`split_options.id_field`);
with none, the item's content identifies it. Each task stores a source key made of that identity
and, for chunks and segments, the span, unique per project: importing the same rows again
creates nothing.
"""

import contextlib
import csv
import gzip
import hashlib
import itertools
import json
import logging
import math
import queue
import re
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.errors import InvalidInputError
from marketplace import splitters
from marketplace.exceptions import ImportStateError, ProjectStateError
from marketplace.models import ImportJob, Project, Task
from marketplace.selectors import project_answer_format
from marketplace.services.projects import project_touch
from marketplace.services.tasks import (
    TaskRowError,
    task_data_clean,
    task_gold_clean,
    task_project_check,
    task_required,
    task_row_clean,
)
from qc import scoring
from workforce.models import User

logger = logging.getLogger(__name__)

MAX_ERRORS = 1_000
# Rows read, or tasks made, between two commits: each commit reports progress and is where a
# cancel is seen.
BATCH = 20_000
# ... or once the tasks waiting to be written hold this many characters of JSON: memory stays flat
# whatever the size of the rows (a few batches are in flight at once).
BATCH_CHARS = 16 * 1024 * 1024
# One row (a JSONL line, a CSV record) may hold a long document for text_chunks; memory stays
# bounded by it.
MAX_ROW_BYTES = 32 * 1024 * 1024
# Cells per CSV record (and columns in the header): csv builds a list of them before we see it.
MAX_COLUMNS = 10_000
# The tasks of one row, as JSON: text_chunks and time_segments copy the row's other fields into
# every task, so that a row with a large field and many chunks could fill memory on its own.
MAX_ROW_TASK_CHARS = 64 * 1024 * 1024
# A file is read to at most this many bytes once decompressed: a small gzip can expand to far
# more than anyone means to import.
MAX_READ_BYTES = 16 * 1024**3
# A running job whose progress has not moved for this long lost its worker: a redelivered or
# retried run may take it over. A batch commits in seconds; the margin is for lock waits.
STALE_AFTER = timedelta(minutes=10)
_MESSAGE_CHARS = 300
_GZIP_MAGIC = b"\x1f\x8b"
_ENDED = (ImportJob.Status.DONE, ImportJob.Status.FAILED, ImportJob.Status.CANCELLED)
_UNDECODED = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, kept by surrogateescape
# An escaped NUL or surrogate: JSON text with one is checked value by value (the database can
# store neither); text without one is not, which is most of what reading a row would cost.
_SUSPECT_ESCAPE = re.compile(r"\\u0000|\\u[dD][89a-fA-F]")


class _NotFinite(ValueError):
    pass


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotFinite
    return number


def _no_constant(name: str) -> float:
    raise _NotFinite


# Refuses NaN, infinities and numbers too large for a float as it parses: the database could
# store none of them.
_JSON = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constant)

OPTIONS = {
    ImportJob.Split.ROWS: {"id_field"},
    ImportJob.Split.BUNDLE: {"id_field", "k"},
    ImportJob.Split.TEXT_CHUNKS: {"id_field", "max_chars", "text_field"},
    ImportJob.Split.TIME_SEGMENTS: {"id_field", "seconds", "duration_field", "overlap_seconds"},
}
_DEFAULTS = {
    "id_field": "id",
    "text_field": "text",
    "duration_field": "duration",
    "overlap_seconds": 0,
}
MAX_BUNDLE = 1_000
MAX_TASKS_PER_ROW = 10_000
_ID_CHARS = 60  # the longest source id kept as it is in a source key (100 characters)


class _ImportAborted(Exception):
    """Ends a job as failed, with a message for its error list; `line` None: the line being
    read."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


class _Stopped(Exception):
    """The writing thread is gone (done, failed or cancelled): the reading one stops."""


class _RecordRefused(Exception):
    """A CSV record refused before csv parses it (too long, too many cells); already skipped."""


# --- options -----------------------------------------------------------------------------------


def split_options_clean(*, split: str, options: object) -> dict:
    """The split's options with defaults filled in; InvalidInputError naming `split_options`."""
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise _options_error("split_options must be a JSON object.")
    unknown = sorted(set(options) - OPTIONS[split])
    if unknown:
        raise _options_error(
            f"{', '.join(unknown)} do(es) not apply to split {split}; "
            f"it takes {', '.join(sorted(OPTIONS[split]))}."
        )
    clean = {name: options.get(name, _DEFAULTS.get(name)) for name in OPTIONS[split]}
    for name in ("id_field", "text_field", "duration_field"):
        if name in clean and not (isinstance(clean[name], str) and clean[name]):
            raise _options_error(f"{name} must be a non-empty string.")
    if split == ImportJob.Split.BUNDLE:
        clean["k"] = _whole(clean, "k", 1, MAX_BUNDLE)
    if split == ImportJob.Split.TEXT_CHUNKS:
        clean["max_chars"] = _whole(clean, "max_chars", 1, scoring.TEXT_MAX_CHARS)
    if split == ImportJob.Split.TIME_SEGMENTS:
        seconds, overlap = clean["seconds"], clean["overlap_seconds"]
        if not _is_number(seconds):
            raise _options_error("seconds is required: a number of at least 0.001.")
        if not _is_number(overlap):
            raise _options_error("overlap_seconds must be a number >= 0 and less than seconds.")
        try:  # the splitter's own check: it compares whole milliseconds
            splitters.segment_options_check(seconds, overlap)
        except ValueError as error:
            raise _options_error(f"{error}.") from None
    return clean


def _options_error(message: str) -> InvalidInputError:
    return InvalidInputError(fields={"split_options": [message]})


def _whole(options: dict, name: str, lowest: int, highest: int) -> int:
    value = options.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
        raise _options_error(f"{name} is required: an integer from {lowest} to {highest}.")
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class ImportProgress:
    """A running job's counts, as given to `on_progress` after each commit."""

    rows_read: int = 0
    tasks_created: int = 0
    tasks_skipped: int = 0
    error_count: int = 0
    bytes_read: int = 0
    file_size: int = 0
    done: bool = False

    @property
    def percent(self) -> float:
        return _percent(self.bytes_read, self.file_size, done=self.done)


def _percent(bytes_read: int, file_size: int, *, done: bool) -> float:
    """How far through its file a job is, by bytes read (of the gzipped file, if gzipped)."""
    if done:
        return 100.0
    if not file_size:
        return 0.0
    return round(min(100.0, 100 * bytes_read / file_size), 1)


# --- starting, reading, cancelling -------------------------------------------------------------


def import_format_guess(filename: str) -> str | None:
    """The format a file name says (`items.jsonl`, `items.csv.gz`), if any."""
    name = filename.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson")):
        return ImportJob.Format.JSONL
    if name.endswith(".csv"):
        return ImportJob.Format.CSV
    return None


def _job_new(
    *, project: Project, filename: str, format: str | None, split: str, split_options: object
) -> ImportJob:
    format = format or import_format_guess(filename)
    if format is None:
        raise InvalidInputError(
            fields={"format": ["Say jsonl or csv: the file name does not tell."]}
        )
    if split not in OPTIONS:
        raise InvalidInputError(fields={"split": [f"Use one of: {', '.join(OPTIONS)}."]})
    if split == ImportJob.Split.BUNDLE and project.task_type == Project.TaskType.RANKING:
        # A bundle's data is {items: [...]}; a ranking task needs its own responses to order.
        raise InvalidInputError(
            fields={"split": ["A ranking project takes no bundles: each task ranks one item."]}
        )
    options = split_options_clean(split=split, options=split_options)
    task_project_check(project)
    return ImportJob(project=project, format=format, split=split, split_options=options)


def import_start(
    *,
    project: Project,
    user: User,
    file,
    format: str | None,
    split: str,
    split_options: object,
) -> ImportJob:
    """Stores the upload and queues its job, which starts once this transaction commits.

    `format` may be left out when the file name tells it. Raises InvalidInputError for bad
    options, ProjectStateError (409) for a completed or archived project.
    """
    job = _job_new(
        project=project,
        filename=file.name or "",
        format=format,
        split=split,
        split_options=split_options,
    )
    job.file_size, job.created_by = file.size, user
    from marketplace.tasks import import_run_task  # the task module imports this one

    with transaction.atomic():
        job.file.save(file.name or "upload", file, save=False)
        job.save()
        transaction.on_commit(lambda: import_run_task.delay(job.pk))
    return job


def import_file(
    *,
    project: Project,
    path: Path,
    format: str | None = None,
    split: str = ImportJob.Split.ROWS,
    split_options: object = None,
    on_progress: Callable[[ImportProgress], None] | None = None,
) -> ImportJob:
    """Imports a local file here and now (the operator's command): the job an upload gets,
    recorded the same way, run in this process. Raises as `import_start` does."""
    job = _job_new(
        project=project,
        filename=path.name,
        format=format,
        split=split,
        split_options=split_options,
    )
    job.file_size = path.stat().st_size
    job.save()
    return import_run(job_id=job.pk, path=path, on_progress=on_progress)


def import_percent(job: ImportJob) -> float:
    """How far through its file a job is, by bytes read (of the gzipped file, if gzipped)."""
    return _percent(job.bytes_read, job.file_size, done=job.status == ImportJob.Status.DONE)


def import_cancel(*, job: ImportJob) -> ImportJob:
    """Stops a queued or running import; a running one stops at its next batch, keeping the
    tasks it already created. Idempotent; ImportStateError (409) for a finished import."""
    ImportJob.objects.filter(
        pk=job.pk, status__in=(ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)
    ).update(status=ImportJob.Status.CANCELLED, finished_at=timezone.now())
    job.refresh_from_db()
    if job.status != ImportJob.Status.CANCELLED:
        raise ImportStateError(
            f"This import is {job.status}; only a queued or running one can be cancelled."
        )
    # Deleted here whatever the job was doing: a queued one is never taken now, a running one
    # may have lost its worker. A run still reading keeps its open file (POSIX) and stops at its
    # next batch.
    _upload_delete(job)
    return job


# --- the job -----------------------------------------------------------------------------------


def import_run(
    *,
    job_id: int,
    path: str | Path | None = None,
    on_progress: Callable[[ImportProgress], None] | None = None,
) -> ImportJob:
    """Runs a queued import (a repeated delivery finds it taken and returns), or takes over a
    running one whose progress has not moved for STALE_AFTER (its worker died; source keys make
    the rerun safe): reads the file at `path` (default: the upload), commits every BATCH rows the
    tasks of the good ones, the progress and the first MAX_ERRORS errors, and stops at a cancel.
    A file that cannot be read on (bad gzip, bad CSV header) or a project closed meanwhile fails
    the job; the tasks already created stay. Deletes the upload once the job has ended.
    """
    now = timezone.now()
    jobs = ImportJob.objects.filter(pk=job_id)
    taken = jobs.filter(status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING, started_at=now, progressed_at=now
    )
    # The application's clock on both sides: skew between hosts is seconds, the margin minutes.
    # Jobs started before progressed_at existed have only started_at.
    taken = taken or jobs.alias(moved=Coalesce("progressed_at", "started_at")).filter(
        status=ImportJob.Status.RUNNING, moved__lt=now - STALE_AFTER
    ).update(progressed_at=now)
    job = ImportJob.objects.select_related("project").get(pk=job_id)
    if not taken:
        if job.status in _ENDED:
            _upload_delete(job)
        return job
    run = _Run(job, on_progress, progressed_at=now)
    try:
        if path is None and not job.file:
            raise _ImportAborted(
                "The file is gone: an operator's import is retried by running the command again.",
                0,
            )
        run.read(Path(path) if path is not None else Path(job.file.path))
    except _ImportAborted as abort:
        run.fail(run.line if abort.line is None else abort.line, str(abort))
    except Exception as error:
        logger.exception("import job %s failed", job_id)
        run.fail(run.line, f"The import stopped: {error}")
    finally:
        # Not while another run has taken the job over and may still be opening the file.
        job.refresh_from_db()
        if job.status in _ENDED:
            _upload_delete(job)
    project_touch(project_id=job.project_id)  # its tasks changed: its figures are due
    return job


@dataclass
class _Item:
    """One good source row; `data_json` is its text when that is exactly its data. `tasks` are
    its tasks, for every split but bundle (whose tasks are made of several items)."""

    line: int
    data: dict
    gold: object  # normalised; None for a regular task
    source: dict
    identity: str
    data_json: str | None
    tasks: list | None = None


@dataclass
class _NewTask:
    data: dict
    source: dict
    gold: object  # normalised; None for a regular task
    key: str
    data_json: str | None = None

    def copy_line(self) -> str:
        """The task as a line of COPY text: data, source, gold answer (JSON), source key."""
        gold = "\\N" if self.gold is None else _copy_text(json.dumps(self.gold))
        return (
            f"{_copy_text(self.data_json or json.dumps(self.data))}\t"
            f"{_copy_text(json.dumps(self.source))}\t{gold}\t{_copy_text(self.key)}\n"
        )


def _copy_text(text: str) -> str:
    """A value escaped for COPY's text format."""
    if "\\" not in text and "\t" not in text and "\n" not in text and "\r" not in text:
        return text
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


@dataclass
class _Batch:
    """From the reading thread to the writing one: tasks to insert (lines of COPY text on
    PostgreSQL), the errors found since the batch before, and where the reading stands."""

    tasks: list
    errors: list[dict]
    line: int
    rows_read: int
    error_count: int
    bytes_read: int
    final: bool = False


class _Cursor:
    """The line the records reader is on (1-based), for a failure while it reads."""

    line = 0


class _Reader:
    """Reads, checks and splits the rows, handing batches over as they fill; touches no
    database, so that it can run in a thread of its own while the batch before is written."""

    def __init__(self, job: ImportJob, fmt: scoring.AnswerFormat, *, copy_lines: bool):
        self.job_id = job.pk
        self.format = job.format
        self.split_name = job.split
        self.options = job.split_options
        self.fmt = fmt
        self.copy_lines = copy_lines
        self.pending: list = []
        self.pending_chars = 0
        self.errors: list[dict] = []
        self.error_count = 0
        self.errors_kept = 0
        self.good_rows = 0
        self.rows_read = 0
        self.rows_handed = 0
        self.line = 0  # the last row read whole
        self.cursor = _Cursor()
        self.position: Callable[[], int] = lambda: 0
        self.emit: Callable[[_Batch], None] = lambda batch: None

    def read(self, path: Path, emit: Callable[[_Batch], None]) -> None:
        """Hands the batches to `emit`, the last one final. Whatever stops the reading — a file
        that cannot be read on, an unexpected error — the good rows read before it are handed
        over first, then _ImportAborted with the line being read is raised."""
        self.emit = emit
        with path.open("rb") as raw:
            self.position = raw.tell
            gzipped = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            stream = _Bounded(gzip.GzipFile(fileobj=raw) if gzipped else raw)
            if self.format == ImportJob.Format.JSONL:
                records = _jsonl_records(stream, self.cursor)
            else:
                records = _csv_records(stream, self.cursor)
            try:
                self.split_all(self.items(records))
            except _Stopped:
                raise
            except _ImportAborted as abort:
                self.hand()
                if abort.line is None:
                    abort.line = self.cursor.line
                raise
            except (OSError, EOFError, zlib.error) as error:
                self.hand()
                raise _ImportAborted(
                    f"The file cannot be read on: {error}", self.cursor.line
                ) from None
            except Exception as error:
                logger.exception("import job %s: reading stopped", self.job_id)
                self.hand()
                raise _ImportAborted(f"The import stopped: {error}", self.cursor.line) from error
            self.hand(final=True)

    def split_all(self, items: Iterator[_Item]) -> None:
        if self.split_name == ImportJob.Split.BUNDLE:
            for group in splitters.bundle(items, self.options["k"]):
                self.queue([self.bundle_task(group)])
        else:
            for (item,) in splitters.rows(items):
                self.queue(item.tasks)

    def items(self, records) -> Iterator[_Item]:
        """The good rows; bad ones are recorded on the way. A batch is handed over once full,
        here: the split above has queued the tasks of every item yielded before."""
        for line, row, problem, text in records:
            self.rows_read += 1
            self.line = line
            item = None
            if problem is None:
                item, problem = self.plan(line, row, text)
            if problem is not None:
                self.error(line, problem)
            else:
                yield item
            if (
                len(self.pending) >= BATCH
                or self.rows_read - self.rows_handed >= BATCH
                or self.pending_chars >= BATCH_CHARS
            ):
                self.hand()

    def hand(self, *, final: bool = False) -> None:
        batch = _Batch(
            self.pending,
            self.errors,
            self.line,
            self.rows_read,
            self.error_count,
            self.position(),
            final,
        )
        self.pending, self.pending_chars, self.errors = [], 0, []
        self.rows_handed = self.rows_read
        self.emit(batch)

    def queue(self, tasks: list[_NewTask]) -> None:
        if self.copy_lines:
            # Encoded here, in the reading thread: the writing one only sends the text.
            lines = [task.copy_line() for task in tasks]
            self.pending.extend(lines)
            self.pending_chars += sum(map(len, lines))
        else:
            self.pending.extend(tasks)

    def error(self, line: int, message: str) -> None:
        self.error_count += 1
        if self.errors_kept < MAX_ERRORS:
            self.errors.append({"line": line, "message": message[:_MESSAGE_CHARS]})
            self.errors_kept += 1
        elif not self.good_rows:
            raise _ImportAborted(
                f"The first {MAX_ERRORS} rows are all bad: is the file {self.format}?", line
            )

    # from a row to its tasks

    def plan(self, line: int, row: object, text: str | None) -> tuple[_Item | None, str | None]:
        """The row as an item with its tasks, or what is wrong with it. Any failure on one row
        (a value the checks refuse, a split that cannot cut it, nesting deeper than Python
        recurses) makes it a bad row, not a failed job."""
        try:
            item = self.item(line, row, text)
            if self.split_name != ImportJob.Split.BUNDLE:
                item.tasks = self.split(item)
        except RecursionError:
            return None, "The row is nested too deeply."
        except ValueError as error:  # scoring.AnswerError, TaskRowError and the like
            return None, str(error) or type(error).__name__
        self.good_rows += 1
        return item, None

    def item(self, line: int, row: object, text: str | None) -> _Item:
        """`text` is the row's JSON text when the reader found that it cannot hold a value the
        database refuses (checking every value of every row is what would cost most)."""
        if not isinstance(row, dict):
            raise scoring.AnswerError("A row must be a JSON object.")
        source = {}
        data_json = None
        if _is_upload_shape(row):
            if self.split_name == ImportJob.Split.BUNDLE and row.get("gold_answer") is not None:
                raise _bundle_gold_error()
            clean = task_row_clean(self.fmt, row, check_data=text is None)
            data, gold, source = clean.data, clean.gold, clean.source or {}
        else:
            if "gold_answer" in row:
                gold = row["gold_answer"]
                data = {name: value for name, value in row.items() if name != "gold_answer"}
            else:
                data, gold, data_json = row, None, text
            if text is None or self.fmt.task_type == Project.TaskType.RANKING:
                task_data_clean(self.fmt, data)
            if gold == "" and self.format == ImportJob.Format.CSV:
                gold = None  # an empty cell: no gold answer
            if gold is not None and self.split_name == ImportJob.Split.BUNDLE:
                raise _bundle_gold_error()
            gold = self.gold(gold, data)
        source_id = data.get(self.options["id_field"])
        if source_id is None or source_id == "":
            identity = _digest(json.dumps(data, sort_keys=True, ensure_ascii=False))
            source_id = None
        elif isinstance(source_id, str | int) and not isinstance(source_id, bool):
            identity = _id_identity(str(source_id))
        else:
            raise scoring.AnswerError(
                f"{self.options['id_field']} must be a string or an integer (the source id)."
            )
        source = {**source, "import": self.job_id, "line": line}
        if source_id is not None:
            source["item"] = source_id
        return _Item(line, data, gold, source, identity, data_json)

    def gold(self, gold: object, data: dict) -> object:
        """The gold answer in its stored form (None for a regular task), as the task upload
        checks it. Gold belongs to the whole item: the chunk or segment it lands in keeps the
        fields the answer format reads (ranking's responses)."""
        try:
            return task_gold_clean(self.fmt, gold, data)
        except TaskRowError:
            # A CSV cell is text: `3` or `["a", "b"]` there may mean a number or a list.
            if self.format == ImportJob.Format.CSV and isinstance(gold, str):
                with contextlib.suppress(ValueError, RecursionError):
                    return task_gold_clean(self.fmt, _JSON.decode(gold), data)
            raise

    def split(self, item: _Item) -> list[_NewTask]:
        if self.split_name == ImportJob.Split.ROWS:
            return [_NewTask(item.data, item.source, item.gold, item.identity, item.data_json)]
        if self.split_name == ImportJob.Split.TEXT_CHUNKS:
            return self.chunk_tasks(item)
        return self.segment_tasks(item)

    def bundle_task(self, items: list[_Item]) -> _NewTask:
        # Each member was checked as task data; the bundle holds nothing else, and ranking
        # projects take no bundles (`_job_new`), so the upload's data check holds for it too.
        source = {"import": self.job_id, "lines": [item.line for item in items]}
        ids = [item.source["item"] for item in items if "item" in item.source]
        if ids:
            source["items"] = ids
        return _NewTask(
            {"items": [item.data for item in items]},
            source,
            None,
            _digest("bundle:" + ",".join(item.identity for item in items)),
        )

    def chunk_tasks(self, item: _Item) -> list[_NewTask]:
        field, max_chars = self.options["text_field"], self.options["max_chars"]
        text = item.data.get(field)
        if not isinstance(text, str):
            raise scoring.AnswerError(
                f"Field {field!r} is missing." if text is None else f"{field} must be a string."
            )
        chunks = _pieces(splitters.text_chunks(text, max_chars))
        # Whitespace between paragraphs can fill a chunk of its own: nothing to work on.
        chunks = [chunk for chunk in chunks if not chunk.text.isspace()]
        if not chunks:
            raise scoring.AnswerError(f"{field} is empty.")
        if item.gold is not None and len(chunks) > 1:
            raise scoring.AnswerError(
                f"gold_answer: a gold item must fit in one chunk; its {field} has {len(text)} "
                f"characters (max_chars {max_chars})."
            )
        if len(chunks) > 1:
            others = {name: value for name, value in item.data.items() if name != field}
            _tasks_size_check(len(chunks), len(json.dumps(others)) + len(item.source) * 20)
        tasks = []
        for chunk in chunks:
            data = {**item.data, field: chunk.text}
            source = {
                **item.source,
                "chunk": chunk.index,
                "start": chunk.start,
                "end": chunk.end,
            }
            key = f"{item.identity}#{chunk.start}-{chunk.end}"
            tasks.append(_NewTask(data, source, item.gold, key))
        return tasks

    def segment_tasks(self, item: _Item) -> list[_NewTask]:
        field = self.options["duration_field"]
        duration = item.data.get(field)
        if isinstance(duration, str):  # CSV cells are text; float() would take "1_0" as 10
            with contextlib.suppress(ValueError):
                duration = float(duration) if "_" not in duration else duration
        if duration is None:
            raise scoring.AnswerError(f"Field {field!r} is missing.")
        if not (_is_number(duration) and duration > 0):
            raise scoring.AnswerError(f"{field} must be a positive number of seconds.")
        if splitters.milliseconds(duration) <= 0:
            raise scoring.AnswerError(
                f"{field} is {duration} s: segments are cut in whole milliseconds, so it must be "
                "more than 0.0005."
            )
        segments = _pieces(
            splitters.time_segments(
                duration, self.options["seconds"], self.options["overlap_seconds"]
            )
        )
        if item.gold is not None and len(segments) > 1:
            raise scoring.AnswerError(
                f"gold_answer: a gold item must fit in one segment; it lasts {duration} s "
                f"(seconds {self.options['seconds']})."
            )
        if len(segments) > 1:
            _tasks_size_check(len(segments), len(item.data_json or json.dumps(item.data)))
        tasks = []
        for segment in segments:
            span = {"start": segment.start, "end": segment.end}
            data = {**item.data, "segment": span}
            source = {**item.source, "segment": segment.index, **span}
            key = f"{item.identity}#{_seconds_text(segment.start)}-{_seconds_text(segment.end)}"
            tasks.append(_NewTask(data, source, item.gold, key))
        return tasks


def _bundle_gold_error() -> scoring.AnswerError:
    return scoring.AnswerError(
        "gold_answer: a gold answer is for one item, not a bundle; upload gold "
        "bundles as tasks (POST /api/v1/projects/{id}/tasks/)."
    )


def _tasks_size_check(count: int, copied_chars: int) -> None:
    """Refuses a row whose chunks or segments, each a copy of its other fields, would hold more
    than MAX_ROW_TASK_CHARS of JSON between them: one row must not fill memory."""
    if count * copied_chars > MAX_ROW_TASK_CHARS:
        raise scoring.AnswerError(
            f"The row's {count} tasks would each copy {copied_chars:,} characters of its other "
            f"fields, more than {MAX_ROW_TASK_CHARS // 2**20} MB in all: move large fields out of "
            "the row or cut larger pieces."
        )


class _Run:
    """Writes what a `_Reader` thread reads: one transaction per batch, which also reports the
    progress and is where a cancel or a takeover by another run is seen."""

    def __init__(self, job: ImportJob, on_progress, *, progressed_at):
        self.job = job
        self.on_progress = on_progress
        self.fmt = project_answer_format(job.project)
        # This run's mark on the job: another run that takes the job over replaces it.
        self.progressed_at = progressed_at
        self.progress = ImportProgress(file_size=job.file_size)
        # A run that takes over a dead one reads the file again: the tasks the dead run created
        # come back as skipped, and are counted as created (once) instead.
        self.created_before = job.tasks_created
        self.created = self.skipped = 0
        self.errors: list[dict] = []
        self.line = 0

    def read(self, path: Path) -> None:
        if not self.progress.file_size:
            self.progress.file_size = path.stat().st_size
        reader = _Reader(self.job, self.fmt, copy_lines=connection.vendor == "postgresql")
        batches: queue.Queue = queue.Queue(maxsize=2)
        stop = threading.Event()
        thread = threading.Thread(target=_read_ahead, args=(reader, path, batches, stop))
        thread.start()
        try:
            while True:
                batch = batches.get()
                if isinstance(batch, Exception):
                    raise batch
                if not self.commit(batch) or batch.final:
                    return
        finally:
            stop.set()
            thread.join()

    def commit(self, batch: _Batch) -> bool:
        """Inserts a batch's tasks and reports progress in one transaction; False when the job
        was cancelled or taken over (nothing is written then)."""
        self.line = batch.line
        now = timezone.now()
        with transaction.atomic(durable=True):
            # The project is locked against settings changes (which lock it FOR UPDATE) so that
            # its status, overlap and answer format are the ones in force as the rows land. FOR
            # NO KEY UPDATE: claims insert assignments, which take FOR KEY SHARE on the project,
            # and must not wait for an import.
            project = Project.objects.select_for_update(no_key=True).get(pk=self.job.project_id)
            status, progressed_at = (
                ImportJob.objects.select_for_update()
                .values_list("status", "progressed_at")
                .get(pk=self.job.pk)
            )
            if status != ImportJob.Status.RUNNING or progressed_at != self.progressed_at:
                return False
            try:
                task_project_check(project)
            except ProjectStateError:
                raise _ImportAborted(
                    f"The project was {project.status} during the import.", batch.line
                ) from None
            self.check_format(project, batch.line)
            created = _insert(project, batch.tasks) if batch.tasks else 0
            self.created += created
            self.skipped += len(batch.tasks) - created
            progress = self.progress
            progress.tasks_created = self.created_before + self.created
            progress.tasks_skipped = max(0, self.skipped - self.created_before)
            progress.rows_read, progress.error_count = batch.rows_read, batch.error_count
            progress.bytes_read = progress.file_size if batch.final else batch.bytes_read
            progress.done = batch.final
            changes = {
                "rows_read": progress.rows_read,
                "tasks_created": progress.tasks_created,
                "tasks_skipped": progress.tasks_skipped,
                "bytes_read": progress.bytes_read,
                "error_count": progress.error_count,
                "progressed_at": now,
            }
            if batch.errors:
                self.errors.extend(batch.errors)
                changes["errors"] = self.errors
            if batch.final:
                changes.update(status=ImportJob.Status.DONE, finished_at=now)
            ImportJob.objects.filter(pk=self.job.pk).update(**changes)
        self.progressed_at = now
        if self.on_progress is not None:
            self.on_progress(progress)
        return True

    def check_format(self, project: Project, line: int) -> None:
        """Rows were checked against the format read at the start; it may only have gained
        labels since (the format is locked once tasks exist, but not before the first land)."""
        now = project_answer_format(project)
        same = (now.task_type, now.scale_min, now.scale_max) == (
            self.fmt.task_type,
            self.fmt.scale_min,
            self.fmt.scale_max,
        ) and now.labels[: len(self.fmt.labels)] == self.fmt.labels
        if not same:
            raise _ImportAborted(
                "The project's answer format changed during the import; import the file again "
                "(rows already imported are skipped).",
                line,
            )

    def fail(self, line: int, message: str) -> None:
        errors = [*self.errors[: MAX_ERRORS - 1], {"line": line, "message": message}]
        ImportJob.objects.filter(
            pk=self.job.pk, status=ImportJob.Status.RUNNING, progressed_at=self.progressed_at
        ).update(
            status=ImportJob.Status.FAILED,
            errors=errors,
            error_count=F("error_count") + 1,
            finished_at=timezone.now(),
        )


def _read_ahead(reader: _Reader, path: Path, batches: queue.Queue, stop: threading.Event) -> None:
    """The reading thread: hands batches over until the last, a failure (raised by the writing
    thread), or a stop."""

    def hand(item) -> None:
        while not stop.is_set():
            try:
                batches.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    try:
        reader.read(path, hand)
    except _Stopped:
        return
    except Exception as error:
        with contextlib.suppress(_Stopped):
            hand(error)


def _upload_delete(job: ImportJob) -> None:
    if job.file:
        job.file.delete(save=False)
        ImportJob.objects.filter(pk=job.pk).update(file="")


def _pieces(pieces: Iterator) -> list:
    """The chunks or segments of one item, refused beyond MAX_TASKS_PER_ROW."""
    kept = list(itertools.islice(pieces, MAX_TASKS_PER_ROW + 1))
    if len(kept) > MAX_TASKS_PER_ROW:
        raise scoring.AnswerError(f"The row would make more than {MAX_TASKS_PER_ROW} tasks.")
    return kept


def _seconds_text(seconds: float) -> str:
    return str(int(seconds)) if seconds.is_integer() else str(seconds)


def _is_upload_shape(row: dict) -> bool:
    return isinstance(row.get("data"), dict) and row.keys() <= {"data", "gold_answer", "source"}


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _id_identity(source_id: str) -> str:
    """`id:<id>` as it is when short, so that ids in file order land at the end of the source key
    index instead of all over it; else a digest. Content digests have no prefix and span suffixes
    start with `#`, so no two rules give the same key."""
    if len(source_id) <= _ID_CHARS and "#" not in source_id:
        return f"id:{source_id}"
    return f"id#{_digest(source_id)}"


def _insert(project: Project, tasks: list) -> int:
    """Inserts the tasks whose source key the project does not have yet; returns how many.
    On PostgreSQL the tasks come as lines of COPY text (`_NewTask.copy_line`)."""
    if connection.vendor == "postgresql":
        return _insert_postgres(project, tasks)
    keys = {task.key for task in tasks}
    existing = set()
    for start in range(0, len(tasks), 500):  # SQLite's bound on parameters per statement
        chunk = [task.key for task in tasks[start : start + 500]]
        existing.update(
            Task.objects.filter(project=project, source_key__in=chunk).values_list(
                "source_key", flat=True
            )
        )
    Task.objects.bulk_create(
        [
            Task(
                project=project,
                data=task.data,
                source=task.source,
                is_gold=task.gold is not None,
                gold_answer=task.gold,
                required=task_required(project, is_gold=task.gold is not None),
                source_key=task.key,
            )
            for task in tasks
        ],
        ignore_conflicts=True,
    )
    return len(keys - existing)


_BATCH_TABLE = "marketplace_import_batch"


def _insert_postgres(project: Project, lines: list[str]) -> int:
    # COPY is the fastest way in, but has no ON CONFLICT: rows go to a temporary table first,
    # then into tasks in one statement that skips source keys the project already has.
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_BATCH_TABLE} (data jsonb, source jsonb, "
            "gold_answer jsonb, source_key varchar(100)) ON COMMIT DELETE ROWS"
        )
        with cursor.copy(
            f"COPY {_BATCH_TABLE} (data, source, gold_answer, source_key) FROM STDIN"
        ) as copy:
            copy.write("".join(lines))
        cursor.execute(
            f"INSERT INTO {Task._meta.db_table} (project_id, data, source, is_gold, gold_answer, "
            "shuffle, status, required, live_count, done_count, created_at, source_key) "
            "SELECT %s, data, source, gold_answer IS NOT NULL, gold_answer, random(), %s, "
            "CASE WHEN gold_answer IS NULL THEN %s ELSE %s END, 0, 0, now(), source_key "
            f"FROM {_BATCH_TABLE} ON CONFLICT DO NOTHING",
            [
                project.pk,
                Task.Status.OPEN,
                task_required(project, is_gold=False),
                task_required(project, is_gold=True),
            ],
        )
        return cursor.rowcount


# --- readers: (line, row, problem, text) per row, `line` 1-based -------------------------------


class _Bounded:
    """The file's lines, refused past MAX_READ_BYTES read (decompressed): a gzip bomb stops
    there instead of running for hours."""

    def __init__(self, stream):
        self.stream = stream
        self.read = 0

    def readline(self, limit: int) -> bytes:
        line = self.stream.readline(limit)
        self.read += len(line)
        if self.read > MAX_READ_BYTES:
            raise _ImportAborted(
                f"The file holds more than {MAX_READ_BYTES // 1024**3} GiB (once decompressed): "
                "split it into several imports."
            )
        return line


def _jsonl_records(stream, cursor: _Cursor) -> Iterator[tuple[int, object, str | None, str | None]]:
    """(line, row, problem, text) per row; `text` only when no value in it can be one the
    database refuses."""
    line = 0
    while True:
        cursor.line = line + 1
        raw = stream.readline(MAX_ROW_BYTES + 1)
        if not raw:
            return
        line += 1
        if len(raw) > MAX_ROW_BYTES and not raw.endswith(b"\n"):
            while (rest := stream.readline(MAX_ROW_BYTES)) and not rest.endswith(b"\n"):
                pass
            yield line, None, f"The line is longer than {MAX_ROW_BYTES} bytes.", None
            continue
        if raw.isspace():
            continue
        if b"\x00" in raw:
            yield line, None, "The line contains NUL bytes.", None
            continue
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as error:
            byte = raw[error.start]
            yield line, None, f"Not UTF-8: byte {byte:#04x} at {error.start + 1}.", None
            continue
        if line == 1:
            text = text.removeprefix("\ufeff")
        row, problem = _json_row(text)
        if problem is not None:
            yield line, None, problem, None
            continue
        yield line, row, None, None if "\\u" in text and _SUSPECT_ESCAPE.search(text) else text


def _json_row(text: str) -> tuple[object, str | None]:
    try:
        return _JSON.decode(text), None
    except _NotFinite:
        return None, "NaN, an infinity or a number too large: it cannot be stored."
    except json.JSONDecodeError as error:
        return None, f"Bad JSON: {error.msg} (column {error.colno})."
    except ValueError as error:  # e.g. an integer past Python's digit limit
        return None, f"Bad JSON: {error}."
    except RecursionError:
        return None, "Bad JSON: nested too deeply."


class _CsvLines:
    """Physical lines for csv.reader, as str, read at most MAX_ROW_BYTES at a time: a file with
    no line break is not read whole into one line. A record longer than MAX_ROW_BYTES, or with
    more than MAX_COLUMNS cells, is refused before csv builds it: the rest of it is skipped and
    _RecordRefused raised instead of a line."""

    def __init__(self, stream):
        self.stream = stream
        self.line = 0  # physical lines read, skipped ones too
        self.record_line = 1  # where the record being read starts
        self.quoted = False  # inside a quoted cell at the end of the line before
        self.record_bytes = 0
        self.cells = 1

    def __iter__(self):
        return self

    def record_end(self) -> None:
        """csv finished a record: the next line starts one."""
        self.record_line, self.quoted = self.line + 1, False
        self.record_bytes, self.cells = 0, 1

    def __next__(self) -> str:
        raw = self.stream.readline(MAX_ROW_BYTES + 1)
        if not raw:
            raise StopIteration
        self.line += 1
        self.record_bytes += len(raw)
        quoted = self.quoted
        if b'"' in raw:
            self.quoted ^= raw.count(b'"') % 2 == 1
        if len(raw) > MAX_ROW_BYTES and not raw.endswith(b"\n"):
            self.refuse(f"The line is longer than {MAX_ROW_BYTES} bytes.", raw)
        text = raw.decode("utf-8", "surrogateescape")
        if self.line == 1:
            text = text.removeprefix("\ufeff")
        if "," in text:
            self.cells += _unquoted_commas(text, quoted, MAX_COLUMNS)
        if self.record_bytes > MAX_ROW_BYTES:
            self.refuse(f"The record is longer than {MAX_ROW_BYTES} bytes.", raw)
        if self.cells > MAX_COLUMNS:
            self.refuse(f"The record has more than {MAX_COLUMNS} cells.", raw)
        return text

    def refuse(self, message: str, raw: bytes) -> None:
        """Skips the rest of the record (to the end of its line, then while a quoted cell is
        open, by the parity of quotes) and raises _RecordRefused."""
        quoted = self.quoted
        while not raw.endswith(b"\n") or quoted:
            continues = not raw.endswith(b"\n")  # the same physical line, or the next one
            raw = self.stream.readline(MAX_ROW_BYTES + 1)
            if not raw:
                break
            if not continues:
                self.line += 1
            quoted ^= raw.count(b'"') % 2 == 1
        line = self.record_line
        self.record_end()
        raise _RecordRefused(line, message)


_QUOTED_OR_COMMA = re.compile(r'"[^"]*"?|,')


def _unquoted_commas(text: str, quoted: bool, most: int) -> int:
    """Commas outside quoted cells in a line (an upper bound on its cells), up to `most`."""
    if '"' not in text:
        return 0 if quoted else text.count(",")
    start = 0
    if quoted:  # the line opens inside a quoted cell: it runs to the next quote
        start = text.find('"') + 1
    count = 0
    for match in _QUOTED_OR_COMMA.finditer(text, start):
        if match.group() == ",":
            count += 1
            if count >= most:
                break
    return count


def _csv_records(stream, cursor: _Cursor) -> Iterator[tuple[int, object, str | None, None]]:
    lines = _CsvLines(stream)
    reader = csv.reader(lines)
    try:
        cursor.line = 1
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as error:
        raise _ImportAborted(f"Bad CSV header: {error}", 1) from None
    except _RecordRefused as refused:
        raise _ImportAborted(f"Bad CSV header: {refused.args[1]}", 1) from None
    problem = _header_problem(header)
    if problem:
        raise _ImportAborted(problem, 1)
    lines.record_end()
    while True:
        start = cursor.line = lines.record_line
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            lines.record_end()
            yield start, None, f"Bad CSV: {error}.", None
            continue
        except _RecordRefused as refused:
            line, message = refused.args
            yield line, None, message, None
            continue
        lines.record_end()
        if not cells:
            continue
        yield start, *_csv_row(header, cells), None


def _header_problem(header: list[str]) -> str | None:
    if _UNDECODED.search("".join(header)):
        return "The header is not UTF-8."
    if any(not name.strip() for name in header):
        return "Every column needs a name in the header."
    if len(set(header)) != len(header):
        return "A column name appears twice in the header."
    return None


def _csv_row(header: list[str], cells: list[str]) -> tuple[dict | None, str | None]:
    if len(cells) != len(header):
        return None, f"Expected {len(header)} columns, found {len(cells)}."
    joined = "".join(cells)
    if "\x00" in joined:
        return None, "The row contains NUL bytes."
    if _UNDECODED.search(joined):
        return None, "Not UTF-8."
    return dict(zip(header, cells, strict=True)), None


csv.field_size_limit(MAX_ROW_BYTES)
