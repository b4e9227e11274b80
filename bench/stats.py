"""Benchmark of the manager analytics (docs/stats.md), per ../shared/BENCHMARKS.md.

    .venv/bin/python bench/stats.py            # 1,000,000 tasks, 3,000,000 judgments
    .venv/bin/python bench/stats.py --quick    # 100,000 tasks, a smoke run

Builds a fresh PostgreSQL database (`bench_stats`) with one project of 1,000,000 tasks (1% gold)
and 3,000,000 judgments (and 200 leases) from 2,000 workers in 12 delivery centers of 4 vendors and freelancers,
spread over the last 7 days, with their gold records and a payroll run's lines, all with
INSERT ... SELECT generate_series. Then:

1. the refresh job (`marketplace.services.stats.stats_refresh`, in this process): the first
   one, which reads the whole history, and then a refresh in steady state (the project is busy,
   so its figures are recomputed each time), twice;
2. invariants: the stats endpoint's figures against direct SQL counts over the tables (must be
   0 violations);
3. p50/p99 of `GET /api/v1/projects/{id}/stats/` and `GET /api/v1/projects/{id}/workers/`
   over HTTP against gunicorn (2 sync workers, DEBUG=0), sequential requests from this
   process, token auth included; twice, the median printed.

Everything is dropped and gunicorn stopped at the end.
"""

import argparse
import http.client
import json
import statistics
import sys
import time

import benchdb

DB_NAME = "bench_stats"
WORKERS = 2_000
FREELANCERS = 200
VENDORS, CENTERS_PER_VENDOR = 4, 3
GOLD_SHARE = 0.01
GOLD_ANSWERS = 30  # judgments per gold task
ACTIVE_LEASES = 200
WEEK = 7 * 86_400
ROUNDS = 2


def load(tasks: int) -> tuple[int, str]:
    """The project, its workers, tasks, judgments, gold records and pay; (project id, token)."""
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from billing.models import PayrollRun, StatementLine
    from marketplace.models import Assignment, Project, Task
    from marketplace.services import projects
    from qc.models import WorkerQuality
    from workforce.models import DeliveryCenter, Role, User, Vendor, Worker

    manager = User.objects.create(username="bench_manager", role=Role.MANAGER)
    token = Token.objects.create(user=manager).key
    vendors = Vendor.objects.bulk_create(
        [Vendor(name=f"Vendor {v}", country="PH", status="approved") for v in range(VENDORS)]
    )
    centers = DeliveryCenter.objects.bulk_create(
        [
            DeliveryCenter(
                vendor=vendor,
                name=f"Center {vendor.pk}-{c}",
                country="PH",
                city="Manila",
                timezone="Asia/Manila",
                seats=200,
            )
            for vendor in vendors
            for c in range(CENTERS_PER_VENDOR)
        ]
    )
    first_center = centers[0].pk
    benchdb.insert_select(
        User,
        {
            "password": "'!'",
            "username": "'w' || g",
            "role": "'worker'",
            "first_name": "''",
            "last_name": "''",
            "email": "''",
            "date_joined": "now()",
            "is_active": "true",
        },
        "FROM generate_series(1, %(n)s) g",
        {"n": WORKERS},
    )
    # Freelancers are the last FREELANCERS users; the others spread over the centers.
    benchdb.insert_select(
        Worker,
        {
            "user_id": "u.id",
            "kind": f"CASE WHEN u.n > {WORKERS - FREELANCERS} THEN 'freelancer' ELSE 'vendor' END",
            "center_id": f"CASE WHEN u.n > {WORKERS - FREELANCERS} THEN NULL "
            f"ELSE {first_center} + u.n %% {len(centers)} END",
        },
        "FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM workforce_user "
        "WHERE role = 'worker') u ORDER BY u.n",
    )
    project = projects.project_create(
        user=manager,
        settings={
            "name": "Bench",
            "task_type": "classification",
            "labels": ["cat", "dog", "bird"],
            "overlap": 3,
            "rate": "0.05",
        },
        languages=["en"],
        allowed_vendors=[],
    )
    Project.objects.filter(pk=project.pk).update(status=Project.Status.ACTIVE)
    gold = int(tasks * GOLD_SHARE)
    regular = tasks - gold
    # Three judgments a task in all: GOLD_ANSWERS per gold question, 3 per complete task.
    complete = (3 * tasks - gold * GOLD_ANSWERS) // 3
    p = {"project": project.pk}
    benchdb.insert_select(
        Task,
        {
            "project_id": "%(project)s",
            "data": """jsonb_build_object('text', 'item ' || g)""",
            "is_gold": "false",
            "shuffle": "random()",
            "status": f"CASE WHEN g <= {complete} THEN 'complete' ELSE 'open' END",
            "required": "3",
            "live_count": f"CASE WHEN g <= {complete} THEN 3 ELSE 0 END",
            "done_count": f"CASE WHEN g <= {complete} THEN 3 ELSE 0 END",
        },
        "FROM generate_series(1, %(n)s) g",
        {**p, "n": regular},
    )
    benchdb.insert_select(
        Task,
        {
            "project_id": "%(project)s",
            "data": """jsonb_build_object('text', 'gold ' || g)""",
            "is_gold": "true",
            "gold_answer": """'"cat"'::jsonb""",
            "shuffle": "random()",
            "required": "0",
        },
        "FROM generate_series(1, %(n)s) g",
        {**p, "n": gold},
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM marketplace_task")
        assert cursor.fetchone() == (1, tasks), "the bench needs a fresh database"
        cursor.execute("SELECT min(id), max(id) FROM workforce_worker")
        assert cursor.fetchone() == (1, WORKERS)
    # Regular judgments: 3 per complete task by 3 distinct workers, submitted over the last week
    # (the lowest task ids most recently); 1% rejected, 1% untrusted, 10% accepted.
    spread = WEEK / complete
    benchdb.insert_select(
        Assignment,
        {
            "task_id": "t",
            "project_id": "%(project)s",
            "worker_id": f"1 + (t * 7 + j * 331) %% {WORKERS}",
            "status": "CASE (t * 3 + j) %% 100 WHEN 0 THEN 'rejected' WHEN 1 THEN 'untrusted' "
            "ELSE CASE WHEN (t * 3 + j) %% 100 < 12 THEN 'accepted' ELSE 'submitted' END END",
            "is_gold": "false",
            "answer": """'"cat"'::jsonb""",
            "claimed_at": f"now() - make_interval(secs => t * {spread} + 10 + (t + j) %% 50)",
            "lease_expires_at": f"now() - make_interval(secs => t * {spread}) + interval '9 min'",
            "submitted_at": f"now() - make_interval(secs => t * {spread})",
            "attempt": "0",
        },
        "FROM generate_series(1, %(complete)s) t CROSS JOIN generate_series(0, 2) j",
        {**p, "complete": complete},
    )
    # Gold: GOLD_ANSWERS answers per gold question, 85% right.
    gold_spread = WEEK / (gold * GOLD_ANSWERS)
    benchdb.insert_select(
        Assignment,
        {
            "task_id": f"{regular} + g",
            "project_id": "%(project)s",
            "worker_id": f"1 + (g * 13 + k * 61) %% {WORKERS}",
            "status": "'submitted'",
            "is_gold": "true",
            "answer": """'"cat"'::jsonb""",
            "check_passed": "random() < 0.85",
            "claimed_at": f"now() - make_interval(secs => (g * {GOLD_ANSWERS} + k) * "
            f"{gold_spread} + 20)",
            "lease_expires_at": "now()",
            "submitted_at": f"now() - make_interval(secs => (g * {GOLD_ANSWERS} + k) * "
            f"{gold_spread})",
            "attempt": "0",
        },
        "FROM generate_series(1, %(gold)s) g CROSS JOIN generate_series(0, %(k)s) k",
        {**p, "gold": gold, "k": GOLD_ANSWERS - 1},
    )
    # Leases being worked on now.
    benchdb.insert_select(
        Assignment,
        {
            "task_id": f"{complete} + t",
            "project_id": "%(project)s",
            "worker_id": f"1 + t %% {WORKERS}",
            "status": "'active'",
            "is_gold": "false",
            "claimed_at": "now()",
            "lease_expires_at": "now() + interval '10 min'",
            "attempt": "0",
        },
        "FROM generate_series(1, %(n)s) t",
        {**p, "n": ACTIVE_LEASES},
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE marketplace_task SET live_count = 1 WHERE id > %s AND id <= %s",
            [complete, complete + ACTIVE_LEASES],
        )
    benchdb.insert_select(
        WorkerQuality,
        {
            "worker_id": "worker_id",
            "project_id": "project_id",
            "gold_seen": "count(*)",
            "gold_correct": "count(*) FILTER (WHERE check_passed)",
            "blocked": "avg(check_passed::int) < 0.7",
        },
        "FROM marketplace_assignment WHERE is_gold GROUP BY worker_id, project_id",
    )
    run = PayrollRun.objects.create(
        start="2020-01-01T00:00:00Z",
        end="2020-01-02T00:00:00Z",
        status=PayrollRun.Status.DONE,
        created_by=manager,
    )
    benchdb.insert_select(
        StatementLine,
        {
            "run_id": str(run.pk),
            "worker_id": "worker_id",
            "project_id": "project_id",
            "kind": "'pay'",
            "currency": "'USD'",
            "judgments": "count(*)",
            "gold_seen": "0",
            "gold_correct": "0",
            "accuracy": "0.9",
            "multiplier": "1",
            "rate": "0.05",
            "amount": "count(*) * 0.05",
            "payee": "'worker'",
        },
        "FROM marketplace_assignment WHERE status IN ('submitted', 'accepted') "
        "AND submitted_at < now() - interval '1 day' GROUP BY worker_id, project_id",
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return project.pk, token


def _timed_refresh() -> float:
    from django.db import connections

    from marketplace.services.stats import stats_refresh

    started = time.perf_counter()
    done = stats_refresh()
    seconds = time.perf_counter() - started
    assert not done["skipped"] and done["projects"] == 1, done
    connections.close_all()
    return seconds


# --- invariants -------------------------------------------------------------------------------


def _sql_one(sql: str, params: list) -> tuple:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def check(project: int, body: dict, workers: dict) -> list[str]:
    """The endpoint's figures against direct counts; returns the violations."""
    import datetime

    from django.utils.dateparse import parse_datetime

    as_of = parse_datetime(body["as_of"])
    start = parse_datetime(body["throughput"]["per_hour"][0]["hour"])
    tasks = _sql_one(
        "SELECT count(*), count(*) FILTER (WHERE status = 'open'), "
        "count(*) FILTER (WHERE status = 'complete') FROM marketplace_task "
        "WHERE project_id = %s AND NOT is_gold",
        [project],
    )
    judgments = _sql_one(
        "SELECT count(*) FILTER (WHERE NOT is_gold AND status <> 'active'), "
        "count(*) FILTER (WHERE NOT is_gold AND status = 'accepted'), "
        "count(*) FILTER (WHERE NOT is_gold AND status = 'rejected'), "
        "count(*) FILTER (WHERE NOT is_gold AND status = 'untrusted'), "
        "count(*) FILTER (WHERE is_gold), count(*) FILTER (WHERE is_gold AND check_passed), "
        "count(*) FILTER (WHERE NOT is_gold AND submitted_at >= %s), "
        "count(*) FILTER (WHERE NOT is_gold AND submitted_at >= %s), "
        "count(DISTINCT worker_id) FROM marketplace_assignment WHERE project_id = %s",
        [as_of - datetime.timedelta(hours=24), start, project],
    )
    blocked = _sql_one(
        "SELECT count(*) FROM qc_workerquality WHERE project_id = %s AND blocked", [project]
    )
    cost = _sql_one(
        "SELECT sum(amount) FROM billing_statementline WHERE project_id = %s", [project]
    )
    expected = {
        "tasks": list(tasks),
        "judgments": list(judgments[:4]),
        "gold": list(judgments[4:6]),
        "last_24h": judgments[6],
        "per_hour sum": judgments[7],
        "workers rows": judgments[8],
        "blocked": blocked[0],
        "cost": f"{cost[0]:.2f}",
    }
    got = {
        "tasks": [body["tasks"][name] for name in ("total", "open", "complete")],
        "judgments": [
            body["judgments"][name] for name in ("submitted", "accepted", "rejected", "untrusted")
        ],
        "gold": [body["gold"]["answered"], body["gold"]["correct"]],
        "last_24h": body["throughput"]["last_24h"],
        "per_hour sum": sum(row["judgments"] for row in body["throughput"]["per_hour"]),
        "workers rows": workers["count"],
        "blocked": body["workers"]["blocked"],
        "cost": body["cost"]["to_date"],
    }
    return [
        f"{name}: {got[name]} != {value}" for name, value in expected.items() if got[name] != value
    ]


# --- HTTP -------------------------------------------------------------------------------------


class Server:
    def __init__(self):
        self.process, self.port = benchdb.start_gunicorn("--workers", "2")

    def get(self, path: str, token: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("GET", path, headers={"Authorization": f"Token {token}"})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        benchdb.stop_gunicorn(self.process)


def latencies(server: Server, path: str, token: str, requests: int) -> tuple[float, float]:
    for _ in range(20):  # warm-up: connections, prepared plans
        server.get(path, token)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        status, _ = server.get(path, token)
        times.append((time.perf_counter() - started) * 1000)
        assert status == 200, status
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--requests", type=int, default=1000)
    options = parser.parse_args()
    tasks = 100_000 if options.quick else 1_000_000
    server = None
    try:
        benchdb.create_database(DB_NAME)
        benchdb.setup_django(DB_NAME)
        from django.db import connections

        started = time.perf_counter()
        project, token = load(tasks)
        judgments = _sql_one("SELECT count(*) FROM marketplace_assignment", [])[0]
        print(
            f"load: {tasks:,} tasks, {judgments:,} judgments in "
            f"{time.perf_counter() - started:.0f} s"
        )
        print(f"refresh, first (whole history): {_timed_refresh():.2f} s")
        steady = [_timed_refresh() for _ in range(ROUNDS)]
        print(f"refresh, steady state (median of {ROUNDS}): {statistics.median(steady):.2f} s")
        connections.close_all()
        server = Server()
        stats_path = f"/api/v1/projects/{project}/stats/"
        workers_path = f"/api/v1/projects/{project}/workers/?ordering=-judgments"
        status, raw = server.get(stats_path, token)
        assert status == 200, raw
        body = json.loads(raw)
        workers = json.loads(server.get(workers_path, token)[1])
        violations = check(project, body, workers)
        print(f"invariants: {len(violations)} violations")
        for violation in violations:
            print(f"  {violation}")
        if violations:
            sys.exit(1)
        connections.close_all()
        for name, path in [("stats", stats_path), ("workers", workers_path)]:
            runs = [latencies(server, path, token, options.requests) for _ in range(ROUNDS)]
            p50 = statistics.median(run[0] for run in runs)
            p99 = statistics.median(run[1] for run in runs)
            print(
                f"GET {name} over HTTP (gunicorn, 2 sync workers, {options.requests} sequential "
                f"requests, median of {ROUNDS}): p50 {p50:.1f} ms, p99 {p99:.1f} ms"
            )
    finally:
        if server is not None:
            server.stop()
        benchdb.drop_database(DB_NAME)


if __name__ == "__main__":
    main()
