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
import io
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
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from config.errors import InvalidInputError
from marketplace import splitters
from marketplace.exceptions import ImportStateError, ProjectStateError
from marketplace.models import ImportJob, Project, Task
from marketplace.selectors import project_answer_format
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
# One row, or one CSV cell, may hold a long document for text_chunks; memory stays bounded by it.
MAX_ROW_BYTES = 32 * 1024 * 1024
_MESSAGE_CHARS = 300
_GZIP_MAGIC = b"\x1f\x8b"
_CLOSED = (Project.Status.COMPLETED, Project.Status.ARCHIVED)
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
    """Ends a job as failed, with a message for its error list."""

    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


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
        if not (_is_number(seconds) and seconds >= 0.001):
            raise _options_error("seconds is required: a number of at least 0.001.")
        if not (_is_number(overlap) and 0 <= overlap < seconds):
            raise _options_error("overlap_seconds must be a number >= 0 and less than seconds.")
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

    @property
    def percent(self) -> float:
        return round(100 * self.bytes_read / self.file_size, 1) if self.file_size else 100.0


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
    options = split_options_clean(split=split, options=split_options)
    if project.status in _CLOSED:
        raise ProjectStateError(f"A {project.status} project takes no new tasks.")
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
    if job.status == ImportJob.Status.DONE:
        return 100.0
    if not job.file_size:
        return 0.0
    return round(min(100.0, 100 * job.bytes_read / job.file_size), 1)


def import_cancel(*, job: ImportJob) -> ImportJob:
    """Stops a queued or running import; a running one stops at its next batch, keeping the
    tasks it already created. Idempotent; ImportStateError (409) for a finished import."""
    now = timezone.now()
    cancelling = ImportJob.objects.filter(pk=job.pk)
    if cancelling.filter(status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.CANCELLED, finished_at=now
    ):
        # Its job will find it taken and never open the upload.
        _upload_delete(job)
    else:
        cancelling.filter(status=ImportJob.Status.RUNNING).update(
            status=ImportJob.Status.CANCELLED, finished_at=now
        )
    job.refresh_from_db()
    if job.status != ImportJob.Status.CANCELLED:
        raise ImportStateError(
            f"This import is {job.status}; only a queued or running one can be cancelled."
        )
    return job


# --- the job -----------------------------------------------------------------------------------


def import_run(
    *,
    job_id: int,
    path: str | Path | None = None,
    on_progress: Callable[[ImportProgress], None] | None = None,
) -> ImportJob:
    """Runs a queued import once (a repeated delivery finds it taken and returns): reads the
    file at `path` (default: the upload), commits every BATCH rows the tasks of the good ones,
    the progress and the first MAX_ERRORS errors, and stops at a cancel. A file that cannot be
    read on (bad gzip, bad CSV header) or a project closed meanwhile fails the job; the tasks
    already created stay. Deletes the upload when done.
    """
    taken = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING, started_at=timezone.now()
    )
    job = ImportJob.objects.select_related("project").get(pk=job_id)
    if not taken:
        return job
    run = _Run(job, on_progress)
    try:
        run.read(Path(path) if path is not None else Path(job.file.path))
    except _ImportAborted as abort:
        run.fail(abort.line, str(abort))
    except Exception as error:
        logger.exception("import job %s failed", job_id)
        run.fail(run.line, f"The import stopped: {error}")
    finally:
        _upload_delete(job)
    job.refresh_from_db()
    return job


@dataclass
class _Item:
    """One good source row; `data_json` is its text when that is exactly its data."""

    line: int
    data: dict
    gold: object
    source: dict
    identity: str
    data_json: str | None


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


class _Reader:
    """Reads, checks and splits the rows, in batches; touches no database, so that it can run in
    a thread of its own while the batch before is written."""

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
        self.bundled: list[_Item] = []

    def batches(self, path: Path) -> Iterator[_Batch]:
        line = rows_read = 0
        with path.open("rb") as raw:
            gzipped = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw) if gzipped else raw
            records = _jsonl_records(stream) if self.format == "jsonl" else _csv_records(stream)
            try:
                try:
                    for line, row, problem, text in records:
                        rows_read += 1
                        if problem is None:
                            problem = self.plan(line, row, text)
                        if problem is not None:
                            self.error(line, problem)
                        if (
                            len(self.pending) >= BATCH
                            or rows_read % BATCH == 0
                            or self.pending_chars >= BATCH_CHARS
                        ):
                            yield self.batch(line, rows_read, raw.tell())
                except (OSError, EOFError, zlib.error) as error:
                    raise _ImportAborted(f"The file cannot be read on: {error}", line) from None
            except _ImportAborted:
                # What was read before the failure still lands, bad rows reported.
                yield self.batch(line, rows_read, raw.tell())
                raise
            if self.bundled:
                self.queue([self.bundle_task(self.bundled)])
            yield self.batch(line, rows_read, raw.tell(), final=True)

    def batch(self, line: int, rows_read: int, position: int, *, final: bool = False) -> _Batch:
        batch = _Batch(
            self.pending, self.errors, line, rows_read, self.error_count, position, final
        )
        self.pending, self.pending_chars, self.errors = [], 0, []
        return batch

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

    def plan(self, line: int, row: object, text: str | None) -> str | None:
        """Queues the tasks of one row; returns what is wrong with it instead, if anything."""
        try:
            item = self.item(line, row, text)
            tasks = self.split(item)
        except scoring.AnswerError as error:
            return str(error)
        self.good_rows += 1
        self.queue(tasks)
        return None

    def item(self, line: int, row: object, text: str | None) -> _Item:
        """`text` is the row's JSON text when the reader found that it cannot hold a value the
        database refuses (checking every value of every row is what would cost most)."""
        if not isinstance(row, dict):
            raise scoring.AnswerError("A row must be a JSON object.")
        source = {}
        data_json = None
        if _is_upload_shape(row):
            data, gold, source = row["data"], row.get("gold_answer"), row.get("source") or {}
            if not isinstance(source, dict):
                raise scoring.AnswerError("source must be a JSON object.")
        elif "gold_answer" in row:
            gold = row["gold_answer"]
            data = {name: value for name, value in row.items() if name != "gold_answer"}
        else:
            data, gold, data_json = row, None, text
        if text is None or self.fmt.task_type == "ranking":
            scoring.task_data_check(self.fmt, data)
            scoring.storable_check(source, what="source")
        if gold == "":
            gold = None
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

    def split(self, item: _Item) -> list[_NewTask]:
        split = self.split_name
        if split == ImportJob.Split.ROWS:
            gold = self.gold(item, item.data)
            return [_NewTask(item.data, item.source, gold, item.identity, item.data_json)]
        if split == ImportJob.Split.BUNDLE:
            if item.gold is not None:
                raise scoring.AnswerError(
                    "gold_answer: a gold answer is for one item, not a bundle; upload gold "
                    "bundles as tasks (POST /api/v1/projects/{id}/tasks/)."
                )
            self.bundled.append(item)
            if len(self.bundled) < self.options["k"]:
                return []
            task, self.bundled = self.bundle_task(self.bundled), []
            return [task]
        if split == ImportJob.Split.TEXT_CHUNKS:
            return self.chunk_tasks(item)
        return self.segment_tasks(item)

    def gold(self, item: _Item, data: dict) -> object:
        """The item's gold answer in its stored form, or None for a regular task."""
        if item.gold is None:
            return None
        try:
            return scoring.answer_normalise(self.fmt, item.gold, data)
        except scoring.AnswerError as error:
            # A CSV cell is text: `3` or `["a", "b"]` there may mean a number or a list.
            if self.format == ImportJob.Format.CSV and isinstance(item.gold, str):
                try:
                    return scoring.answer_normalise(self.fmt, json.loads(item.gold), data)
                except (ValueError, scoring.AnswerError):
                    pass
            raise scoring.AnswerError(f"gold_answer: {error}") from None

    def bundle_task(self, items: list[_Item]) -> _NewTask:
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
            tasks.append(_NewTask(data, source, self.gold(item, data), key))
        return tasks

    def segment_tasks(self, item: _Item) -> list[_NewTask]:
        field = self.options["duration_field"]
        duration = item.data.get(field)
        if isinstance(duration, str):  # CSV cells are text
            with contextlib.suppress(ValueError):
                duration = float(duration)
        if duration is None:
            raise scoring.AnswerError(f"Field {field!r} is missing.")
        if not (_is_number(duration) and duration > 0):
            raise scoring.AnswerError(f"{field} must be a positive number of seconds.")
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
        tasks = []
        for segment in segments:
            span = {"start": segment.start, "end": segment.end}
            data = {**item.data, "segment": span}
            source = {**item.source, "segment": segment.index, **span}
            key = f"{item.identity}#{_seconds_text(segment.start)}-{_seconds_text(segment.end)}"
            tasks.append(_NewTask(data, source, self.gold(item, data), key))
        return tasks


class _Run:
    """Writes what a `_Reader` thread reads: one transaction per batch, which also reports the
    progress and is where a cancel is seen."""

    def __init__(self, job: ImportJob, on_progress):
        self.job = job
        self.on_progress = on_progress
        self.fmt = project_answer_format(job.project)
        self.progress = ImportProgress(file_size=job.file_size)
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
        was cancelled (nothing is written then)."""
        self.line = batch.line
        with transaction.atomic():
            # The project is locked against settings changes (which lock it FOR UPDATE) so that
            # its status, overlap and answer format are the ones in force as the rows land. FOR
            # NO KEY UPDATE: claims insert assignments, which take FOR KEY SHARE on the project,
            # and must not wait for an import.
            project = Project.objects.select_for_update(no_key=True).get(pk=self.job.project_id)
            status = (
                ImportJob.objects.select_for_update()
                .values_list("status", flat=True)
                .get(pk=self.job.pk)
            )
            if status != ImportJob.Status.RUNNING:
                return False
            if project.status in _CLOSED:
                raise _ImportAborted(
                    f"The project was {project.status} during the import.", batch.line
                )
            self.check_format(project, batch.line)
            created = _insert(project, batch.tasks) if batch.tasks else 0
            progress = self.progress
            progress.tasks_created += created
            progress.tasks_skipped += len(batch.tasks) - created
            progress.rows_read, progress.error_count = batch.rows_read, batch.error_count
            progress.bytes_read = progress.file_size if batch.final else batch.bytes_read
            changes = {
                "rows_read": progress.rows_read,
                "tasks_created": progress.tasks_created,
                "tasks_skipped": progress.tasks_skipped,
                "bytes_read": progress.bytes_read,
                "error_count": progress.error_count,
            }
            if batch.errors:
                self.errors.extend(batch.errors)
                changes["errors"] = self.errors
            if batch.final:
                changes.update(status=ImportJob.Status.DONE, finished_at=timezone.now())
            ImportJob.objects.filter(pk=self.job.pk).update(**changes)
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
        ImportJob.objects.filter(pk=self.job.pk, status=ImportJob.Status.RUNNING).update(
            status=ImportJob.Status.FAILED,
            errors=errors,
            error_count=self.progress.error_count + 1,
            finished_at=timezone.now(),
        )


def _read_ahead(reader: _Reader, path: Path, batches: queue.Queue, stop: threading.Event) -> None:
    """The reading thread: hands batches over until the last, a failure (raised by the writing
    thread), or a stop."""

    def hand(item) -> bool:
        while not stop.is_set():
            try:
                batches.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for batch in reader.batches(path):
            if not hand(batch):
                return
    except Exception as error:
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
                required=0 if task.gold is not None else project.overlap,
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
            "CASE WHEN gold_answer IS NULL THEN %s ELSE 0 END, 0, 0, now(), source_key "
            f"FROM {_BATCH_TABLE} ON CONFLICT DO NOTHING",
            [project.pk, Task.Status.OPEN, project.overlap],
        )
        return cursor.rowcount


# --- readers: (line, row, problem, text) per row, `line` 1-based -------------------------------


def _jsonl_records(stream) -> Iterator[tuple[int, object, str | None, str | None]]:
    """(line, row, problem, text) per row; `text` only when no value in it can be one the
    database refuses."""
    line = 0
    while raw := stream.readline(MAX_ROW_BYTES + 1):
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
        try:
            row = _JSON.decode(text)
        except _NotFinite:
            yield line, None, "NaN, an infinity or a number too large: it cannot be stored.", None
            continue
        except ValueError as error:
            yield line, None, f"Bad JSON: {error.msg} (column {error.colno}).", None
            continue
        yield line, row, None, None if "\\u" in text and _SUSPECT_ESCAPE.search(text) else text


def _csv_records(stream) -> Iterator[tuple[int, object, str | None, None]]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        yield from _csv_rows(csv.reader(text))
    finally:
        text.detach()  # the caller's file stays open: it still reports the position read


def _csv_rows(reader) -> Iterator[tuple[int, object, str | None, None]]:
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as error:
        raise _ImportAborted(f"Bad CSV header: {error}", 1) from None
    problem = _header_problem(header)
    if problem:
        raise _ImportAborted(problem, 1)
    line = reader.line_num
    while True:
        start = line + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            line = reader.line_num
            yield start, None, f"Bad CSV: {error}.", None
            continue
        line = reader.line_num
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
