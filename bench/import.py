"""Import of a generated 1,000,000-row JSONL file into tasks, on a fresh PostgreSQL database.

Writes the file (1% gold rows), then per run: a fresh database, a manager and a project, and the
product's import job (marketplace.services.imports, the function the Celery task calls) run in a
child process that samples its own RSS at every commit. Prints rows/s, the child's peak RSS and
its RSS at 25/50/75/100% of the file, then imports the same file again (idempotence); twice,
reporting the median (../shared/BENCHMARKS.md). Invariants: one task per row, no duplicate
source key, nothing created by the second import.

    .venv/bin/python bench/import.py [--rows 1000000] [--runs 2]
"""

import argparse
import json
import random
import statistics
import sys
import tempfile
from pathlib import Path

import benchdb

DATABASE = "bench_import"
LABELS = ["positive", "negative", "neutral"]
WORDS = ["the", "battery", "lasts", "all", "day", "but", "the", "screen", "scratches", "easily"]
WORDS += ["and", "support", "never", "answered"]

CHILD = """
import json, resource, sys, time
from pathlib import Path
import django
django.setup()
from django.db import connection
from marketplace.services import imports
from marketplace.services.projects import project_create, project_transition
from workforce.models import Role, User

path, labels = Path(sys.argv[1]), json.loads(sys.argv[2])
manager = User.objects.create_user("bench_manager", role=Role.MANAGER)
project = project_create(
    user=manager,
    settings={"name": "bench", "task_type": "classification", "labels": labels, "overlap": 3},
    languages=["en"],
    allowed_vendors=[],
)
project_transition(project=project, action="publish")

def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

samples, marks = {}, [25, 50, 75, 100]
def sample(progress):
    while marks and progress.percent >= marks[0]:
        samples[marks.pop(0)] = rss_mb()

before = rss_mb()
started = time.perf_counter()
job = imports.import_file(project=project, path=path, on_progress=sample)
seconds = time.perf_counter() - started
assert job.status == "done", (job.status, job.errors[:3])
again_started = time.perf_counter()
again = imports.import_file(project=project, path=path)
again_seconds = time.perf_counter() - again_started
with connection.cursor() as cursor:
    cursor.execute(
        "SELECT count(*), count(DISTINCT source_key), count(*) FILTER (WHERE is_gold), "
        "count(*) FILTER (WHERE NOT is_gold AND required = 3 AND status = 'open') "
        "FROM marketplace_task WHERE project_id = %s",
        [project.pk],
    )
    tasks, keys, gold, regular = cursor.fetchone()
print(json.dumps({
    "seconds": seconds, "rows": job.rows_read, "created": job.tasks_created,
    "errors": job.error_count, "again_created": again.tasks_created,
    "again_skipped": again.tasks_skipped, "again_seconds": again_seconds,
    "tasks": tasks, "keys": keys, "gold": gold, "regular": regular,
    "rss_before": before, "rss": samples,
    "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def write_file(path: Path, rows: int) -> None:
    """Review-like rows of about 160 bytes with a source id; every hundredth is gold."""
    rng = random.Random(6)
    with path.open("w") as out:
        for n in range(rows):
            row = {
                "id": f"r{n}",
                "text": " ".join(rng.choices(WORDS, k=12)),
                "stars": rng.randint(1, 5),
                "lang": "en",
            }
            if n % 100 == 0:
                row["gold_answer"] = rng.choice(LABELS)
            out.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "items.jsonl"
        write_file(path, options.rows)
        print(f"file: {options.rows:,} rows, {path.stat().st_size / 1e6:.0f} MB")
        runs = []
        for _ in range(options.runs):
            benchdb.create_database(DATABASE)
            try:
                runs.append(
                    json.loads(
                        benchdb.run_django(DATABASE, "-c", CHILD, str(path), json.dumps(LABELS))
                    )
                )
            finally:
                benchdb.drop_database(DATABASE)
    violations = sum(
        (run["tasks"] != options.rows)
        + (run["keys"] != options.rows)
        + (run["created"] != options.rows)
        + (run["errors"] != 0)
        + (run["gold"] != (options.rows + 99) // 100)
        + (run["regular"] != options.rows - run["gold"])
        + (run["again_created"] != 0)
        + (run["again_skipped"] != options.rows)
        for run in runs
    )
    print(f"invariant violations: {violations}")
    if violations:
        sys.exit(json.dumps(runs))
    rates = [options.rows / run["seconds"] for run in runs]
    print(f"import rows/s (median of {options.runs}): {statistics.median(rates):,.0f}")
    print(f"import seconds (median): {statistics.median(r['seconds'] for r in runs):.1f}")
    print(f"worker peak RSS MB (median): {statistics.median(r['peak'] for r in runs):.0f}")
    middle = runs[len(runs) // 2]
    print(
        "worker RSS MB before / at 25/50/75/100%: "
        f"{middle['rss_before']:.0f} / "
        + " / ".join(f"{middle['rss'][str(mark)]:.0f}" for mark in (25, 50, 75, 100))
    )
    print(
        "re-import of the same file: 0 created, rows/s (median): "
        f"{statistics.median(options.rows / r['again_seconds'] for r in runs):,.0f}"
    )


if __name__ == "__main__":
    main()
