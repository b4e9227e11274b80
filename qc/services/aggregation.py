"""Project-wide re-aggregation (SPEC §6): Wawa, one-coin or full Dawid-Skene, or weighted
majority with the workers' current estimates, over every trusted judgment of a classification
project, run as a Celery job."""

import itertools
import logging

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from config.errors import InvalidInputError
from marketplace.models import Project
from marketplace.selectors import project_trusted_labels
from qc import aggregation, scoring
from qc.models import AggregationJob, TaskResult, WorkerQuality

logger = logging.getLogger(__name__)

_READ_CHUNK = 100_000
_WRITE_BATCH = 50_000


def aggregation_start(*, project: Project, method: str, user) -> AggregationJob:
    """Queues a re-aggregation job; the job starts once this transaction commits.

    Raises InvalidInputError for a project that is not classification: the EM models are
    categorical, other task types get their per-type consensus as each task completes.
    """
    if project.task_type != Project.TaskType.CLASSIFICATION:
        raise InvalidInputError(
            fields={
                "method": [
                    f"Re-aggregation applies to classification projects, not {project.task_type}."
                ]
            }
        )
    from qc.tasks import aggregation_run_task  # the task module imports this one

    with transaction.atomic():
        job = AggregationJob.objects.create(project=project, method=method, created_by=user)
        transaction.on_commit(lambda: aggregation_run_task.delay(job.pk))
    return job


def aggregation_run(*, job_id: int) -> None:
    """Runs a queued job once: a retried or duplicated delivery finds it taken and returns.

    Reads the judgments in chunks into integer-coded arrays, runs the method, stores one
    result per regular task that has judgments. A failure is recorded on the job.
    """
    taken = AggregationJob.objects.filter(pk=job_id, status=AggregationJob.Status.QUEUED).update(
        status=AggregationJob.Status.RUNNING, started_at=timezone.now()
    )
    if not taken:
        return
    job = AggregationJob.objects.select_related("project").get(pk=job_id)
    try:
        tasks_updated, iterations = _aggregate(job.project, job.method)
    except Exception as error:
        logger.exception("aggregation job %s failed", job_id)
        AggregationJob.objects.filter(pk=job_id).update(
            status=AggregationJob.Status.FAILED, error=str(error), finished_at=timezone.now()
        )
        return
    AggregationJob.objects.filter(pk=job_id).update(
        status=AggregationJob.Status.DONE,
        tasks_updated=tasks_updated,
        iterations=iterations,
        finished_at=timezone.now(),
    )


def _read(project: Project) -> tuple[aggregation.Judgments, np.ndarray, np.ndarray, np.ndarray]:
    """Judgments as coded arrays, plus the task ids, worker ids and gold labels (-1) per code."""
    label_code = {label: code for code, label in enumerate(project.labels)}
    # Chunks are concatenated at the end rather than written into arrays sized by a count
    # taken first: on a live project judgments arrive between the two statements.
    task_chunks, worker_chunks, label_chunks = [], [], []
    gold_of_task: dict[int, int] = {}
    rows = project_trusted_labels(project=project)
    while chunk := list(itertools.islice(rows, _READ_CHUNK)):
        task_chunks.append(np.fromiter((row[0] for row in chunk), np.int64, len(chunk)))
        worker_chunks.append(np.fromiter((row[1] for row in chunk), np.int64, len(chunk)))
        label_chunks.append(
            np.fromiter((label_code[row[2]] for row in chunk), np.int64, len(chunk))
        )
        gold_of_task.update((row[0], label_code[row[4]]) for row in chunk if row[3])
    empty = np.empty(0, dtype=np.int64)
    task_ids = np.concatenate(task_chunks) if task_chunks else empty
    worker_ids = np.concatenate(worker_chunks) if worker_chunks else empty
    labels = np.concatenate(label_chunks) if label_chunks else empty
    tasks, task_codes = np.unique(task_ids, return_inverse=True)
    workers, worker_codes = np.unique(worker_ids, return_inverse=True)
    gold = np.full(len(tasks), -1, dtype=np.int64)
    if gold_of_task:
        gold_tasks = np.fromiter(gold_of_task, dtype=np.int64, count=len(gold_of_task))
        gold[np.searchsorted(tasks, gold_tasks)] = list(gold_of_task.values())
    judgments = aggregation.Judgments(
        task=task_codes,
        worker=worker_codes,
        label=labels,
        n_tasks=len(tasks),
        n_workers=len(workers),
        n_labels=len(project.labels),
    )
    return judgments, tasks, workers, gold


def _worker_weights(project: Project, workers: np.ndarray) -> np.ndarray:
    """Each worker's current accuracy estimate on the project (the prior where no record)."""
    records = {
        worker: (seen, correct)
        for worker, seen, correct in WorkerQuality.objects.filter(
            project=project, worker_id__in=workers.tolist()
        ).values_list("worker_id", "gold_seen", "gold_correct")
    }
    return np.array(
        [
            scoring.accuracy_estimate(
                gold_correct=records.get(worker, (0, 0))[1],
                gold_seen=records.get(worker, (0, 0))[0],
                prior_correct=project.prior_correct,
                prior_seen=project.prior_seen,
            )
            for worker in workers.tolist()
        ]
    )


def _aggregate(project: Project, method: str) -> tuple[int, int]:
    judgments, tasks, workers, gold = _read(project)
    if method == TaskResult.Method.WEIGHTED_MAJORITY:
        result = aggregation.weighted_majority(judgments, _worker_weights(project, workers))
    elif method == TaskResult.Method.WAWA:
        result = aggregation.wawa(judgments, gold)
    elif method == TaskResult.Method.ONE_COIN_DS:
        result = aggregation.one_coin_dawid_skene(judgments, gold)
    else:
        result = aggregation.dawid_skene(judgments, gold)
    regular = (gold < 0) & (result.label >= 0)
    _store(project, method, tasks[regular], result.label[regular], result.confidence[regular])
    return int(regular.sum()), result.iterations


def _store(project, method, task_ids, label_codes, confidences) -> None:
    labels = np.array(project.labels, dtype=object)[label_codes]
    for start in range(0, len(task_ids), _WRITE_BATCH):
        stop = start + _WRITE_BATCH
        batch = (task_ids[start:stop].tolist(), labels[start:stop].tolist())
        if connection.vendor == "postgresql":
            _store_batch_postgres(project, method, *batch, confidences[start:stop].tolist())
        else:
            TaskResult.objects.bulk_create(
                [
                    TaskResult(
                        task_id=task_id,
                        project=project,
                        consensus=label,
                        confidence=confidence,
                        method=method,
                    )
                    for task_id, label, confidence in zip(
                        *batch, confidences[start:stop].tolist(), strict=True
                    )
                ],
                update_conflicts=True,
                unique_fields=["task"],
                update_fields=["consensus", "confidence", "method", "updated_at"],
            )


def _store_batch_postgres(project, method, task_ids, labels, confidences) -> None:
    # One statement per batch from three arrays: the ORM's bulk upsert builds a parameter per
    # cell and took most of a million-task job's time.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TaskResult._meta.db_table} "
            "(task_id, project_id, consensus, confidence, method, updated_at) "
            "SELECT v.task, %s, to_jsonb(v.label), v.confidence, %s, now() "
            "FROM unnest(%s::bigint[], %s::text[], %s::float8[]) AS v(task, label, confidence) "
            "ON CONFLICT (task_id) DO UPDATE SET consensus = EXCLUDED.consensus, "
            "confidence = EXCLUDED.confidence, method = EXCLUDED.method, "
            "updated_at = EXCLUDED.updated_at",
            [project.pk, method, task_ids, labels, confidences],
        )
