"""Dawid-Skene re-aggregation job over 1,000,000 tasks x 3 judgments, database in and out.

Builds a fresh PostgreSQL database with synthetic workers of known accuracy (Beta(8, 2)) and 10%
spammers, runs the product's aggregation job (qc.services.aggregation.aggregation_run) in a child
process, and prints its wall time, the child's peak RSS and the accuracy against the known
truth; twice, reporting the median (../shared/BENCHMARKS.md).

    .venv/bin/python bench/aggregate.py [--tasks 1000000] [--workers 2000] [--method dawid_skene]
"""

import argparse
import statistics
import time

import benchdb
import psycopg

DATABASE = "bench_aggregate"
DSN = benchdb.url(DATABASE)
LABELS = ["cat", "dog", "bird"]


def load(tasks: int, workers: int) -> int:
    """Synthetic project in set-based SQL; returns the project id."""
    labels_json = "[" + ",".join(f'"{label}"' for label in LABELS) + "]"
    with psycopg.connect(DSN, autocommit=True) as db:
        benchdb.insert_users(db, workers)
        db.execute(
            "INSERT INTO workforce_worker (user_id, kind, status, created_at) "
            "SELECT id, 'freelancer', 'active', now() FROM workforce_user WHERE role = 'worker'"
        )
        project = db.execute(
            "INSERT INTO marketplace_project (name, client, instructions, guideline_version, "
            "task_type, labels, min_skill_level, min_language_level, overlap, gold_ratio, "
            "min_gold_accuracy, min_gold_before_block, prior_correct, prior_seen, "
            "gold_tolerance, min_seconds_per_task, lease_seconds, max_active_assignments, "
            "priority, currency, rate, tiers, status, kind, target_confidence, created_by_id, "
            "created_at, updated_at) SELECT 'bench', '', '', 1, 'classification', %s::jsonb, "
            "0, 4, 3, 0, 0.7, 5, 4, 5, 0, 0, 600, 1, 0, 'USD', 0, '[]'::jsonb, 'active', "
            "'work', 0, id, now(), now() FROM workforce_user WHERE username = 'bench_manager' "
            "RETURNING id",
            [labels_json],
        ).fetchone()[0]
        # Each worker's accuracy: Beta(8, 2) approximated by a mean of uniforms; 10% spammers
        # answer at random.
        db.execute(
            "CREATE TABLE bench_worker AS SELECT w.id, row_number() OVER (ORDER BY w.id) - 1 "
            "AS n, CASE WHEN random() < 0.1 THEN NULL ELSE "
            "0.55 + 0.45 * (random() + random() + random()) / 3 END AS accuracy "
            "FROM workforce_worker w"
        )
        db.execute(
            "INSERT INTO marketplace_task (project_id, data, is_gold, shuffle, status, required, "
            "live_count, done_count, created_at) SELECT %s, jsonb_build_object('truth', "
            "floor(random() * 3)::int), false, random(), 'complete', 3, 3, 3, now() "
            "FROM generate_series(1, %s)",
            [project, tasks],
        )
        db.execute(
            "CREATE TABLE bench_truth AS SELECT id, (data->>'truth')::int AS truth, "
            "row_number() OVER (ORDER BY id) AS n FROM marketplace_task"
        )
        db.execute(
            "INSERT INTO marketplace_assignment (task_id, project_id, worker_id, status, "
            "is_gold, answer, claimed_at, lease_expires_at, submitted_at, attempt) "
            "SELECT t.id, %s, w.id, 'submitted', false, to_jsonb((ARRAY['cat','dog','bird'])["
            "CASE WHEN w.accuracy IS NOT NULL AND random() < w.accuracy THEN t.truth "
            "ELSE (t.truth + 1 + floor(random() * 2)::int) %% 3 END + 1]), now(), now(), "
            "now(), 0 FROM bench_truth t CROSS JOIN generate_series(0, 2) j "
            "JOIN bench_worker w ON w.n = (t.n * 7 + j * 331) %% %s",
            [project, workers],
        )
        db.execute("ANALYZE")
    return project


def queue_job(project: int, method: str) -> int:
    with psycopg.connect(DSN, autocommit=True) as db:
        return db.execute(
            "INSERT INTO qc_aggregationjob (project_id, method, status, tasks_updated, "
            "iterations, error, created_by_id, created_at) SELECT %s, %s, 'queued', 0, 0, '', "
            "created_by_id, now() FROM marketplace_project WHERE id = %s RETURNING id",
            [project, method, project],
        ).fetchone()[0]


def iterations(job: int) -> int:
    with psycopg.connect(DSN) as db:
        return db.execute(
            "SELECT iterations FROM qc_aggregationjob WHERE id = %s", [job]
        ).fetchone()[0]


def accuracy() -> float:
    with psycopg.connect(DSN) as db:
        return db.execute(
            "SELECT avg(((ARRAY['cat','dog','bird'])[t.truth + 1] = r.consensus #>> '{}')::int)"
            " FROM qc_taskresult r JOIN bench_truth t ON t.id = r.task_id"
        ).fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2_000)
    parser.add_argument("--method", default="dawid_skene")
    parser.add_argument("--runs", type=int, default=2)
    options = parser.parse_args()
    benchdb.create_database(DATABASE)
    try:
        started = time.perf_counter()
        project = load(options.tasks, options.workers)
        print(
            f"load: {options.tasks:,} tasks x 3 judgments in {time.perf_counter() - started:.1f} s"
        )
        runs = []
        for _ in range(options.runs):
            job = queue_job(project, options.method)
            seconds, rss = benchdb.run_job(
                DATABASE,
                "qc.services.aggregation.aggregation_run",
                "qc.AggregationJob",
                job_id=job,
            )
            runs.append((seconds, rss, iterations(job)))
        print(
            f"{options.method} job seconds (median of {options.runs}): "
            f"{statistics.median(r[0] for r in runs):.1f}"
        )
        print(
            f"{options.method} job peak RSS MB (median): {statistics.median(r[1] for r in runs):.0f}"
        )
        print(f"{options.method} EM iterations: {runs[-1][2]}")
        print(f"{options.method} accuracy vs truth: {accuracy():.4f}")
    finally:
        benchdb.drop_database(DATABASE)


if __name__ == "__main__":
    main()
