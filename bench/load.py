"""Benchmark of a crowd: 200 simulated workers for 60 s over HTTP under gunicorn, per BENCHMARKS.md.

    .venv/bin/python bench/load.py              # 200 workers, 60 s, about 2 minutes in all
    .venv/bin/python bench/load.py --quick      # 40 workers, 10 s
    .venv/bin/python bench/load.py --think 0    # no time between requests: the server saturated

Where claim_loop.py measures the claim→submit loop alone, this runs a crowd's mix against the
product served as in production (gunicorn, the product's sync workers, DEBUG=0) on a fresh
PostgreSQL database (`bench_load`):

- three published classification projects routed by priority: a small urgent one that runs out
  during the run (the crowd then moves on), one that needs German at B2 or better (a third of
  the workers have it), and a large main one; one in ten tasks is gold, leases last 30 s;
- workers who claim with no project named, read the task for a while (`--think` seconds on
  average, drawn uniformly from half to one and a half times that), then answer: honest workers
  right with their own accuracy (drawn from 0.85 to 0.99), one in ten a spammer answering at random
  (the product should block them); now and then a worker releases a task (2%) or walks away
  from it (1%: its lease runs out), and every 20 tasks reads its profile and its submitted work;
- a manager reading the stats and the workers view of each project, once a second;
- the lease sweeper run every 15 s, as Celery beat would run it (every minute).

It prints latency per request kind, throughput, errors (a status the request should not get,
or no answer: 5xx, connection errors, a 409 on submit or release for a worker never blocked), what
happened to the spammers, and the invariants of claim_loop.py checked in SQL, plus gold secrecy:
no worker-facing response may mention gold. Everything is dropped at the end, also on Ctrl-C.
"""

import argparse
import random
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import benchdb
from loadgen import Http, busy_cores, cpu_busy_ticks, load_processes, percentile

DB_NAME = "bench_load"
LEASE_SECONDS = 30
SPAMMER_EVERY = 10
GERMAN_EVERY = 3
RELEASE_SHARE = 0.02
ABANDON_SHARE = 0.01
READ_EVERY = 20  # tasks between a worker's reads of its profile and its work
SWEEP_SECONDS = 15
PROCESSES = 4
# (name, priority, regular tasks, gold tasks, languages) at full size.
PROJECTS = (
    ("urgent", 10, 1_500, 150, ("en",)),
    ("german", 5, 20_000, 2_000, ("de",)),
    ("main", 0, 100_000, 10_000, ("en",)),
)
# Statuses each request may get. A submit or release answered 409 is the worker's own doing
# (a lease that ran out) or the product's (the worker was blocked meanwhile): checked after.
EXPECTED = {
    "claim": {201, 204},
    "submit": {200, 409},
    "release": {200, 409},
    "me": {200},
    "my work": {200},
    "stats": {200},
    "workers view": {200},
}


@dataclass
class Figures:
    """What one thread of the load generator saw."""

    ms: dict = field(default_factory=dict)  # request kind → latencies
    statuses: Counter = field(default_factory=Counter)  # (kind, status) → count
    errors: int = 0
    error_samples: list = field(default_factory=list)
    submitted_ids: list = field(default_factory=list)
    conflicted_workers: Counter = field(default_factory=Counter)  # worker id → 409s
    gold_mentions: int = 0
    abandoned: int = 0
    cpu_seconds: float = 0.0

    def timed(self, kind: str, call, *args):
        began = time.perf_counter()
        try:
            status, body = call(*args)
        except (OSError, ValueError) as error:
            self.error(f"{kind}: {type(error).__name__}: {error}")
            return None, None
        self.ms.setdefault(kind, []).append((time.perf_counter() - began) * 1000)
        self.statuses[kind, status] += 1
        if status not in EXPECTED[kind]:
            self.error(f"{kind} {status} {body}")
        return status, body

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what)

    def merge(self, other: "Figures") -> None:
        for kind, values in other.ms.items():
            self.ms.setdefault(kind, []).extend(values)
        self.statuses += other.statuses
        self.errors += other.errors
        self.error_samples += other.error_samples[: 5 - len(self.error_samples)]
        self.submitted_ids += other.submitted_ids
        self.conflicted_workers += other.conflicted_workers
        self.gold_mentions += other.gold_mentions
        self.abandoned += other.abandoned
        self.cpu_seconds += other.cpu_seconds


@dataclass(frozen=True)
class SimWorker:
    worker_id: int
    token: str
    spammer: bool  # answers at random
    accuracy: float  # how often an honest worker is right


def _think(mean: float, rng: random.Random) -> None:
    if mean:
        time.sleep(rng.uniform(mean / 2, mean * 3 / 2))


def _crowd_worker(port, worker: SimWorker, think, start_at, stop_at, figures: Figures):
    rng = random.Random(worker.worker_id)
    api = Http(port, worker.token)

    def worker_facing(status, body):
        if body is not None and b"gold" in api.raw:
            figures.gold_mentions += 1
        return status, body

    tasks = 0
    time.sleep(max(0.0, start_at - time.time()))
    _think(think, rng)  # a crowd does not start in step
    while time.time() < stop_at:
        status, body = worker_facing(
            *figures.timed("claim", api.post, "/api/v1/assignments/claim/", {})
        )
        if status != 201:
            time.sleep(1)  # nothing for them (204), or an error already counted
            continue
        tasks += 1
        _think(think, rng)
        path = f"/api/v1/assignments/{body['id']}/"
        draw = rng.random()
        if draw < RELEASE_SHARE:
            status, _ = worker_facing(*figures.timed("release", api.post, path + "release/", {}))
            if status == 409:
                figures.conflicted_workers[worker.worker_id] += 1
        elif draw < RELEASE_SHARE + ABANDON_SHARE:
            figures.abandoned += 1
        else:
            truth = body["task"]["data"]["label"]
            if worker.spammer:
                answer = rng.choice(benchdb.LABELS)
            elif rng.random() < worker.accuracy:
                answer = truth
            else:
                answer = rng.choice([label for label in benchdb.LABELS if label != truth])
            status, _ = worker_facing(
                *figures.timed("submit", api.post, path + "submit/", {"answer": answer})
            )
            if status == 200:
                figures.submitted_ids.append(body["id"])
            elif status == 409:
                figures.conflicted_workers[worker.worker_id] += 1
        if tasks % READ_EVERY == 0:
            worker_facing(*figures.timed("me", api.get, "/api/v1/me/"))
            worker_facing(
                *figures.timed("my work", api.get, "/api/v1/assignments/?status=submitted")
            )


def _manager(port, token, project_ids, start_at, stop_at, figures: Figures):
    api = Http(port, token)
    time.sleep(max(0.0, start_at - time.time()))
    while time.time() < stop_at:
        for project_id in project_ids:
            figures.timed("stats", api.get, f"/api/v1/projects/{project_id}/stats/")
            figures.timed("workers view", api.get, f"/api/v1/projects/{project_id}/workers/")
        time.sleep(1)


def build(workers: int, scale: float) -> tuple[list[int], list[SimWorker], str]:
    """The projects (ids, by priority), the crowd and the manager's token."""
    from rest_framework.authtoken.models import Token

    from workforce.models import LanguageLevel

    project_ids = [
        benchdb.labelled_project(
            {
                "name": name,
                "priority": priority,
                "lease_seconds": LEASE_SECONDS,
                **({"min_language_level": LanguageLevel.B2} if "de" in languages else {}),
            },
            int(regular * scale),
            int(gold * scale),
            languages=languages,
        )
        for name, priority, regular, gold, languages in PROJECTS
    ]
    german = workers // GERMAN_EVERY
    accounts = benchdb.worker_accounts(
        0, german, languages={"en": LanguageLevel.NATIVE, "de": LanguageLevel.C1}
    ) + benchdb.worker_accounts(german, workers - german)
    rng = random.Random(1)
    rng.shuffle(accounts)
    crowd = [
        SimWorker(worker_id, token, n % SPAMMER_EVERY == 0, rng.uniform(0.85, 0.99))
        for n, (worker_id, token) in enumerate(accounts)
    ]
    manager_token = Token.objects.get_or_create(user=benchdb.manager())[0].key
    return project_ids, crowd, manager_token


def run_crowd(port, project_ids, crowd, manager_token, seconds, think) -> tuple[Figures, float]:
    """The crowd and the manager against the server for `seconds`, the sweeper run from here;
    returns what the load generator saw and the machine's busy cores meanwhile."""
    from django.db import connections

    from marketplace.services.assignments import assignments_expire

    jobs = [(_crowd_worker, (port, worker, think)) for worker in crowd]
    jobs.append((_manager, (port, manager_token, project_ids)))
    groups = [jobs[i::PROCESSES] for i in range(PROCESSES)]
    connections.close_all()  # no inherited database sockets in the forked load generators
    start_at = time.time() + 1
    stop_at = start_at + seconds
    job_groups = [[(job, (*args, start_at, stop_at)) for job, args in group] for group in groups]
    with load_processes(job_groups, Figures) as collect:
        time.sleep(max(0.0, start_at - time.time()))
        busy_before = cpu_busy_ticks()
        expired = 0
        while time.time() < stop_at:
            time.sleep(min(SWEEP_SECONDS, max(0.0, stop_at - time.time())))
            expired += assignments_expire()
        busy = busy_cores(busy_before, cpu_busy_ticks())
        total = collect(120)
    print(f"    the sweeper expired {expired} lapsed leases during the run")
    return total, busy


def _latency(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 0.5):.1f} ms p95 {percentile(values, 0.95):.1f} ms "
        f"p99 {percentile(values, 0.99):.1f} ms"
    )


def report(figures: Figures, crowd: list[SimWorker], seconds: float, busy: float) -> int:
    """Prints the figures; returns the violations found (errors are reported, not counted)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT worker_id FROM qc_workerquality WHERE blocked")
        blocked = {worker_id for (worker_id,) in cursor.fetchall()}
    never_blocked_conflicts = sum(
        n for worker_id, n in figures.conflicted_workers.items() if worker_id not in blocked
    )
    errors = figures.errors + never_blocked_conflicts
    requests = sum(figures.statuses.values()) + figures.errors
    print()
    for kind in EXPECTED:
        values = figures.ms.get(kind, [])
        statuses = ", ".join(
            f"{status}: {n:,}" for (k, status), n in sorted(figures.statuses.items()) if k == kind
        )
        print(f"    {kind:>12}: {len(values):7,} requests | {_latency(values)} | {statuses}")
    for sample in figures.error_samples:
        print(f"      error: {sample}")
    spammers = [w for w in crowd if w.spammer]
    honest = [w for w in crowd if not w.spammer]
    claims = figures.ms.get("claim", [])
    submits = figures.ms.get("submit", [])
    others = [
        v for kind, values in figures.ms.items() if kind not in ("claim", "submit") for v in values
    ]
    print(
        f"FIGURE load {len(crowd)} workers, {seconds:g} s: {len(figures.submitted_ids) / seconds:.1f} "
        f"judgments/s, {requests / seconds:.1f} requests/s | errors {errors} "
        f"({errors / max(1, requests):.3%} of requests; {never_blocked_conflicts} of them 409s "
        f"on submit or release for workers never blocked) | claim {_latency(claims)} | submit "
        f"{_latency(submits)} | other requests p95 {percentile(others, 0.95):.1f} ms | CPU "
        f"cores: machine {busy:.2f}, load generator {figures.cpu_seconds / seconds:.2f}"
    )
    print(
        f"FIGURE crowd: spammers blocked {sum(w.worker_id in blocked for w in spammers)}/"
        f"{len(spammers)}, honest workers blocked {sum(w.worker_id in blocked for w in honest)}/"
        f"{len(honest)}; tasks released {figures.statuses['release', 200]:,}, walked away from "
        f"{figures.abandoned:,}"
    )
    print("\n[2] invariants, and gold secrecy")
    violations = benchdb.invariants(figures.submitted_ids)
    print(f"    worker-facing responses that mention gold: {figures.gold_mentions}")
    violations += figures.gold_mentions
    print(f"FIGURE invariant violations: {violations}")
    return violations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 workers for 10 s, fewer tasks")
    parser.add_argument("--workers", type=int, help="simulated workers (default 200; quick 40)")
    parser.add_argument("--seconds", type=float, help="length of the run (default 60; quick 10)")
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="mean seconds a worker spends on a task before answering (default 1.0; 0: none)",
    )
    args = parser.parse_args()
    workers = args.workers or (40 if args.quick else 200)
    seconds = args.seconds or (10 if args.quick else 60)
    scale = 0.1 if args.quick else 1.0
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    server = None
    try:
        started = time.time()
        benchdb.create_database(DB_NAME)
        benchdb.setup_django(DB_NAME)
        project_ids, crowd, manager_token = build(workers, scale)
        print(
            f"Database {DB_NAME} with {len(project_ids)} projects and {len(crowd)} workers "
            f"ready in {time.time() - started:.1f} s"
        )
        from django.db import connections

        connections.close_all()
        log = Path(f"/tmp/{DB_NAME}_gunicorn.log")
        server, port = benchdb.start_gunicorn(
            "--workers", "4", "--worker-class", "config.server.SyncWorker", "--preload", log=log
        )
        print(
            f"\n[1] {len(crowd)} workers for {seconds:g} s, think time {args.think:g} s on "
            f"average, gunicorn -w 4 config.server.SyncWorker (log {log})"
        )
        figures, busy = run_crowd(port, project_ids, crowd, manager_token, seconds, args.think)
        return 1 if report(figures, crowd, seconds, busy) else 0
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        if server is not None:
            benchdb.stop_gunicorn(server)
        from django.db import connections

        connections.close_all()
        benchdb.drop_database(DB_NAME)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    sys.exit(main())
