"""`manage.py import_tasks PROJECT FILE`: an operator's import of a local file, run here and now.

The same job as an upload to `POST /api/v1/projects/{id}/imports/` (recorded as an import of the
project, bad rows reported by line), without copying the file or waiting for a Celery worker.
"""

import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError, InvalidInputError
from marketplace.models import ImportJob, Project
from marketplace.services.imports import ImportProgress, import_file

_ERRORS_SHOWN = 20


class Command(BaseCommand):
    help = "Imports a JSONL or CSV file (gzipped or not) into a project's tasks."

    def add_arguments(self, parser):
        parser.add_argument("project", type=int, help="project id")
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=ImportJob.Format.values)
        parser.add_argument("--split", choices=ImportJob.Split.values, default="rows")
        parser.add_argument(
            "--split-options",
            default="{}",
            help='JSON, e.g. \'{"k": 5}\', \'{"max_chars": 2000, "text_field": "body"}\'',
        )

    def handle(self, *args, **options):
        # Exam projects hold an exam's questions (qc.Exam): never an import target.
        project = Project.objects.filter(pk=options["project"], kind=Project.Kind.WORK).first()
        if project is None:
            raise CommandError(f"No work project {options['project']}.")
        if not options["file"].is_file():
            raise CommandError(f"No file {options['file']}.")
        try:
            split_options = json.loads(options["split_options"])
        except ValueError as error:
            raise CommandError(f"--split-options is not JSON: {error}") from None
        started = time.perf_counter()
        progress = self._progress_line if self.stderr.isatty() else None
        try:
            job = import_file(
                project=project,
                path=options["file"],
                format=options["format"],
                split=options["split"],
                split_options=split_options,
                on_progress=progress,
            )
        except InvalidInputError as error:
            raise CommandError(error.fields or error.detail) from None
        except DomainError as error:
            raise CommandError(error.detail) from None
        if progress is not None:
            self.stderr.write("")
        self._summary(job, time.perf_counter() - started)
        if job.status != ImportJob.Status.DONE:
            raise CommandError(f"Import {job.pk} {job.status}.")

    def _progress_line(self, progress: ImportProgress) -> None:
        self.stderr.write(
            f"\r{progress.percent:5.1f}%  {progress.rows_read:,} rows read  "
            f"{progress.tasks_created:,} tasks created  {progress.error_count:,} errors",
            ending="",
        )
        self.stderr.flush()

    def _summary(self, job: ImportJob, seconds: float) -> None:
        self.stdout.write(
            f"import {job.pk} {job.status}: {job.rows_read:,} rows read, "
            f"{job.tasks_created:,} tasks created, {job.tasks_skipped:,} already imported, "
            f"{job.error_count:,} bad ({seconds:.1f} s)"
        )
        for error in job.errors[:_ERRORS_SHOWN]:
            self.stdout.write(f"  line {error['line']}: {error['message']}")
        if job.error_count > _ERRORS_SHOWN:
            self.stdout.write(
                f"  ... {job.error_count - _ERRORS_SHOWN} more "
                f"(GET /api/v1/imports/{job.pk}/ lists the first 1,000)"
            )
