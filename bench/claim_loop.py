"""Benchmark of the worker loop (claim → submit) over HTTP under gunicorn, per BENCHMARKS.md.

    .venv/bin/python bench/claim_loop.py            # full run, about 5 minutes
    .venv/bin/python bench/claim_loop.py --quick    # small sizes, a smoke test
    .venv/bin/python bench/claim_loop.py --explain  # also EXPLAIN ANALYZE the claim query
    .venv/bin/python bench/claim_loop.py --quick --loop-only  # just the loop figures [1], [2]

Builds a fresh PostgreSQL database (`bench_claim`), migrates it, loads a classification project of
100,000 tasks (overlap 3, one in ten gold) with INSERT ... SELECT generate_series, creates worker
accounts with tokens, and starts gunicorn (the product's sync workers, `config.server.SyncWorker`,
DEBUG=0) on 127.0.0.1. Then:

0. BENCHMARKS.md's two anchors, measured now, so that the loop's figures can be read against what
   this shared host gives at the moment: the raw claim + submit transaction without the product
   (pgbench, 32 clients, 1,000,000 tasks) and the web ceiling (bench/ceiling_app.py under
   gunicorn with 2 sync workers, 32 clients of the loop's load generator);
1. claim→submit loops for 8, 32 and 64 concurrent simulated workers (processes x threads, one
   HTTP connection each), a fixed time each: loops/s, claim and submit p50/p99, errors;
2. the correctness invariants, checked in SQL (must be 0 violations);
3. claim p50 on a project of 1,000 vs 1,000,000 open tasks;
4. claim p50 of a worker with 10,000 earlier assignments (on complete tasks / on open tasks of the
   same project) vs a fresh worker;
5. SQL queries per claim and per submit (one in-process request each, token auth included).

Each figure runs twice and the median is printed (the machine has 2 shared cores). Simulated
workers always answer correctly (the label is in the task data), so nobody gets blocked: this
measures the loop, not quality control. Everything is dropped and gunicorn stopped at the end,
also on Ctrl-C.
"""

import argparse
import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import benchdb
import psycopg
from loadgen import (
    Http,
    busy_cores,
    cpu_busy_ticks,
    load_processes,
    percentile,
    wait_until_quiet,
)

DB_NAME = "bench_claim"
OVERLAP = 3
GOLD_EVERY = 10  # one task in ten is gold
CONCURRENCY = (8, 32, 64)
SYNC = "config.server.SyncWorker"
ROUNDS = 2
# BENCHMARKS.md's anchors for this machine class, per second: the raw claim + submit transaction
# (pgbench) and the web ceiling (a DRF endpoint that answers {"ok": true}, 2 sync workers).
RAW_ANCHOR = 2_800
CEILING_ANCHOR = 3_750
REFERENCE_CLIENTS = 32
# That transaction, as pgbench runs it: the claim's `UPDATE ... WHERE id = (SELECT ... ORDER BY
# priority DESC, id LIMIT 1 FOR UPDATE SKIP LOCKED)` on a partial index of open tasks, then the
# submit's update of the same row.
RAW_LOOP = """BEGIN;
UPDATE bench_raw_task SET status = 'claimed' WHERE id = (SELECT id FROM bench_raw_task
  WHERE status = 'open' ORDER BY priority DESC, id LIMIT 1 FOR UPDATE SKIP LOCKED)
  RETURNING id AS task \\gset
UPDATE bench_raw_task SET status = 'done', done_count = done_count + 1 WHERE id = :task;
COMMIT;
"""


@dataclass(frozen=True)
class Sizes:
    tasks: int  # main project, gold included
    small_open: int
    large_open: int
    history: int  # earlier assignments of the "experienced" worker
    scale_loops: int  # loops per worker when measuring the open-task figure (8 workers)
    history_loops: int  # sequential loops of one worker for the history figure
    seconds: float
    raw_tasks: int  # tasks of the raw claim + submit reference [0]


FULL = Sizes(100_000, 1_000, 1_000_000, 10_000, 40, 200, 20, 1_000_000)
QUICK = Sizes(10_000, 1_000, 20_000, 500, 10, 30, 3, 50_000)


# --- HTTP load generator (runs in forked processes; no database access there) ------------------


@dataclass
class LoopStats:
    claim_ms: list = field(default_factory=list)
    submit_ms: list = field(default_factory=list)
    submitted_ids: list = field(default_factory=list)
    no_task: int = 0  # 204
    conflicts: int = 0  # 409
    errors: int = 0
    error_samples: list = field(default_factory=list)
    last_end: float = 0.0
    cpu_seconds: float = 0.0

    def merge(self, other: "LoopStats") -> None:
        self.claim_ms += other.claim_ms
        self.submit_ms += other.submit_ms
        self.submitted_ids += other.submitted_ids
        self.no_task += other.no_task
        self.conflicts += other.conflicts
        self.errors += other.errors
        self.error_samples += other.error_samples[: 5 - len(self.error_samples)]
        self.last_end = max(self.last_end, other.last_end)
        self.cpu_seconds += other.cpu_seconds

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what)


def _worker_loop(port, project_id, token, start_at, stop_at, max_loops, stats: LoopStats):
    api = Http(port, token)
    claim_body = {"project": project_id}
    loops = 0
    time.sleep(max(0.0, start_at - time.time()))
    while time.time() < stop_at and (not max_loops or loops < max_loops):
        try:
            began = time.perf_counter()
            status, body = api.post("/api/v1/assignments/claim/", claim_body)
            claimed = time.perf_counter()
            if status == 204:
                stats.no_task += 1
                time.sleep(0.05)
                continue
            if status != 201:
                stats.conflicts += status == 409
                stats.error(f"claim {status} {body}")
                continue
            stats.claim_ms.append((claimed - began) * 1000)
            answer = body["task"]["data"]["label"]
            status, reply = api.post(
                f"/api/v1/assignments/{body['id']}/submit/", {"answer": answer}
            )
            done = time.perf_counter()
            if status != 200:
                stats.conflicts += status == 409
                stats.error(f"submit {status} {reply}")
                continue
            stats.submit_ms.append((done - claimed) * 1000)
            stats.submitted_ids.append(body["id"])
            loops += 1
        except (OSError, ValueError, KeyError) as error:
            stats.error(f"{type(error).__name__}: {error}")
            time.sleep(0.05)
    stats.last_end = time.time()


def _ok_loop(port, project_id, token, start_at, stop_at, max_loops, stats: LoopStats):
    """A client of the web ceiling [0] (bench/ceiling_app.py): POST /ok/ for as long as told, each
    answer counted as a loop (as a submit)."""
    api = Http(port, token)
    time.sleep(max(0.0, start_at - time.time()))
    while time.time() < stop_at:
        try:
            began = time.perf_counter()
            status, body = api.post("/ok/", {})
            if status == 200 and body == {"ok": True}:
                stats.submit_ms.append((time.perf_counter() - began) * 1000)
            else:
                stats.error(f"ok {status} {body}")
        except (OSError, ValueError) as error:
            stats.error(f"{type(error).__name__}: {error}")
    stats.last_end = time.time()


def _proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _server_cpu_ticks(server_pid: int) -> dict[int, tuple[str, int]]:
    """(side, CPU jiffies) per process of the gunicorn master and workers (side "app") and of the
    PostgreSQL backends connected to the bench database ("db"); the machine is shared: the rest
    is someone else's load."""
    backend_title = f" {DB_NAME} ".encode()
    ticks = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        fields = _proc_stat(pid)
        if fields is None:
            continue
        side = "app" if pid == server_pid or int(fields[1]) == server_pid else None
        if side is None:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    title = cmdline.read(300)
            except OSError:
                continue
            if title.startswith(b"postgres: ") and backend_title in title:
                side = "db"
        if side is not None:
            ticks[pid] = (side, int(fields[11]) + int(fields[12]))
    return ticks


def _server_cpu_seconds(before: dict, after: dict, side: str | None = None) -> float:
    """CPU used between two samples by the processes alive at the second one, of one side or
    both (a database connection closed in between is missed: a slight undercount)."""
    used = sum(
        ticks - before.get(pid, (kind, 0))[1]
        for pid, (kind, ticks) in after.items()
        if side in (None, kind)
    )
    return used / os.sysconf("SC_CLK_TCK")


@dataclass
class RunResult:
    loops_per_s: float
    claim_p50: float
    claim_p99: float
    submit_p50: float
    submit_p99: float
    loops: int
    no_task: int
    errors: int
    loadgen_cores: float
    server_cores: float
    db_cores: float
    box_busy_cores: float
    error_samples: list
    submitted_ids: list

    @property
    def server_ms_per_loop(self) -> float:
        """Server CPU (gunicorn + its PostgreSQL backends) per claim→submit loop: unlike loops/s,
        it barely moves when other jobs share the machine."""
        return 1000 * self.server_cores / self.loops_per_s if self.loops_per_s else float("nan")

    @property
    def db_ms_per_loop(self) -> float:
        return 1000 * self.db_cores / self.loops_per_s if self.loops_per_s else float("nan")


def run_load(
    port, server_pid, project_id, tokens, *, seconds=None, loops_per_worker=0, loop=_worker_loop
) -> RunResult:
    """Runs len(tokens) simulated workers (≤ 4 processes x threads) and merges their figures;
    each runs `loop`, the worker loop unless told."""
    processes_n = min(4, len(tokens))
    groups = [tokens[i::processes_n] for i in range(processes_n)]
    start_at = time.time() + 0.5 + 0.05 * processes_n
    stop_at = start_at + seconds if seconds else start_at + 3600
    job_groups = [
        [(loop, (port, project_id, token, start_at, stop_at, loops_per_worker)) for token in group]
        for group in groups
    ]
    with load_processes(job_groups, LoopStats) as collect:
        time.sleep(max(0.0, start_at - time.time()))
        busy_before, server_before = cpu_busy_ticks(), _server_cpu_ticks(server_pid)
        total = collect((seconds or 600) + 120)
        busy_after, server_after = cpu_busy_ticks(), _server_cpu_ticks(server_pid)
    elapsed = max(total.last_end - start_at, 1e-9)
    return RunResult(
        loops_per_s=len(total.submit_ms) / elapsed,
        claim_p50=percentile(total.claim_ms, 0.50),
        claim_p99=percentile(total.claim_ms, 0.99),
        submit_p50=percentile(total.submit_ms, 0.50),
        submit_p99=percentile(total.submit_ms, 0.99),
        loops=len(total.submit_ms),
        no_task=total.no_task,
        errors=total.errors,
        loadgen_cores=total.cpu_seconds / elapsed,
        server_cores=_server_cpu_seconds(server_before, server_after) / elapsed,
        db_cores=_server_cpu_seconds(server_before, server_after, "db") / elapsed,
        box_busy_cores=busy_cores(busy_before, busy_after),
        error_samples=total.error_samples,
        submitted_ids=total.submitted_ids,
    )


def _describe(run: RunResult) -> str:
    return (
        f"{run.loops_per_s:7.1f} loops/s | claim p50 {run.claim_p50:6.1f} ms p99 "
        f"{run.claim_p99:6.1f} ms | submit p50 {run.submit_p50:6.1f} ms p99 "
        f"{run.submit_p99:6.1f} ms | errors {run.errors} | 204s {run.no_task} | CPU cores: "
        f"server {run.server_cores:.2f} ({run.server_ms_per_loop:.1f} ms/loop, of which "
        f"PostgreSQL {run.db_ms_per_loop:.1f}), loadgen "
        f"{run.loadgen_cores:.2f}, others "
        f"{max(0.0, run.box_busy_cores - run.server_cores - run.loadgen_cores):.2f}"
    )


def _median(runs: list[RunResult], name: str) -> float:
    return statistics.median(getattr(run, name) for run in runs)


# --- database, data and server ----------------------------------------------------------------


class Bench:
    def __init__(
        self,
        sizes: Sizes,
        gunicorn_workers: int,
        gunicorn_threads: int,
        worker_class: str,
        explain: bool,
        quiet_wait: float,
        loop_only: bool = False,
    ):
        self.sizes = sizes
        self.loop_only = loop_only
        self.quiet_wait = quiet_wait
        self.gunicorn_workers = gunicorn_workers
        self.gunicorn_threads = gunicorn_threads
        self.worker_class = worker_class
        self.explain = explain
        self.server: subprocess.Popen | None = None
        self.port = 0
        self.logdir = Path(tempfile.mkdtemp(prefix="bench_claim_"))
        self.submitted_ids: list[int] = []
        self.worker_seq = 0

    # -- data --

    def project(self, name: str, regular: int, gold: int) -> int:
        settings = {"name": name, "overlap": OVERLAP, "gold_ratio": 1 / GOLD_EVERY}
        return benchdb.labelled_project(settings, regular, gold)

    def workers(self, count: int) -> list[tuple[int, str]]:
        """`count` fresh English-native freelancers with API tokens: (worker id, token)."""
        self.worker_seq += count
        return benchdb.worker_accounts(self.worker_seq - count, count)

    def history(
        self, project_id: int, worker_ids: list[int], *, tasks: int, complete: bool
    ) -> None:
        """Past submitted assignments of `worker_ids` on `tasks` untouched regular tasks of the
        project, with the tasks' counters kept true: complete (all overlap slots used) or open."""
        from django.db import connection, transaction

        from marketplace.models import Assignment

        if complete != (len(worker_ids) == OVERLAP):
            raise ValueError("a complete task has exactly OVERLAP live judgments")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                CREATE TEMP TABLE bench_history ON COMMIT DROP AS
                SELECT id FROM marketplace_task
                WHERE project_id = %s AND NOT is_gold AND status = 'open' AND live_count = 0
                ORDER BY id DESC LIMIT %s
                """,
                [project_id, tasks],
            )
            params = {"workers": worker_ids}
            values = {
                "status": "'submitted'",
                "is_gold": "false",
                "answer": "t.data -> 'label'",
                "claimed_at": "now() - interval '2 days'",
                "lease_expires_at": "now() - interval '2 days' + interval '10 minutes'",
                "submitted_at": "now() - interval '2 days' + interval '1 minute'",
                "worker_id": "w.id",
                "project_id": "t.project_id",
                "task_id": "t.id",
            }
            source = (
                "FROM marketplace_task t JOIN bench_history h ON h.id = t.id "
                "CROSS JOIN unnest(%(workers)s::bigint[]) AS w(id)"
            )
            benchdb.insert_select(Assignment, values, source, params)
            cursor.execute(
                """
                UPDATE marketplace_task SET live_count = %s, done_count = %s,
                    status = CASE WHEN %s >= required THEN 'complete' ELSE 'open' END
                WHERE id IN (SELECT id FROM bench_history)
                """,
                [len(worker_ids), len(worker_ids), len(worker_ids)],
            )
            cursor.execute("ANALYZE marketplace_task")
            cursor.execute("ANALYZE marketplace_assignment")

    # -- server --

    def start_server(self) -> None:
        from django.db import connections

        connections.close_all()
        self.server, self.port = benchdb.start_gunicorn(
            "--workers",
            str(self.gunicorn_workers),
            "--worker-class",
            self.worker_class,
            "--threads",
            str(self.gunicorn_threads),
            "--preload",
            "--timeout",
            "120",
            log=self.logdir / "gunicorn.log",
        )

    def stop_server(self) -> None:
        if self.server is not None:
            benchdb.stop_gunicorn(self.server)

    # -- figures --

    def load(self, project_id, tokens, *, server=None, **kwargs) -> RunResult:
        """`run_load` against `server` (gunicorn's process and port; the product's unless told)
        once the machine is quiet."""
        from django.db import connections

        process, port = server or (self.server, self.port)
        connections.close_all()  # no inherited database sockets in the forked load generators
        self.wait_for_quiet()
        run = run_load(port, process.pid, project_id, tokens, **kwargs)
        self.submitted_ids += run.submitted_ids
        return run

    def wait_for_quiet(self) -> None:
        if self.quiet_wait:
            idle = wait_until_quiet(self.quiet_wait)
            if idle < 0.8:
                print(f"    (machine only {idle:.0%} idle before this run: other jobs running)")

    def references(self) -> tuple[float | None, float]:
        """[0]: the raw claim + submit limit in transactions/s (None without pgbench) and the web
        ceiling in requests/s, each the median of ROUNDS runs."""
        print(f"\n[0] BENCHMARKS.md's anchors, measured now ({self.sizes.seconds:g} s per run)")
        raw = self._raw_limit()
        ceiling = self._web_ceiling()
        if raw:
            print(
                f"FIGURE raw claim+submit limit: {raw:,.0f} transactions/s, {raw / RAW_ANCHOR:.0%} "
                f"of BENCHMARKS.md's {RAW_ANCHOR:,}/s for this machine class"
            )
        print(
            f"FIGURE web ceiling: {ceiling:,.0f} requests/s, {ceiling / CEILING_ANCHOR:.0%} of "
            f"BENCHMARKS.md's {CEILING_ANCHOR:,}/s for this machine class"
        )
        return raw, ceiling

    def _raw_limit(self) -> float | None:
        """BENCHMARKS.md's raw claim + submit transaction, run by pgbench on a table of its own."""
        from django.db import connection

        pgbench = shutil.which("pgbench")
        if pgbench is None:
            print("    raw limit: pgbench not found (Debian package postgresql-client): skipped")
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE bench_raw_task (id bigserial PRIMARY KEY, priority int NOT NULL, "
                "status text NOT NULL, done_count int NOT NULL DEFAULT 0)"
            )
            cursor.execute(
                "INSERT INTO bench_raw_task (priority, status) SELECT (random() * 10)::int, "
                "'open' FROM generate_series(1, %s)",
                [self.sizes.raw_tasks],
            )
            cursor.execute(
                "CREATE INDEX bench_raw_task_open ON bench_raw_task (priority DESC, id) "
                "WHERE status = 'open'"
            )
            cursor.execute("ANALYZE bench_raw_task")
        connection.close()
        script = self.logdir / "raw_loop.sql"
        script.write_text(RAW_LOOP)
        runs = []
        for round_no in range(1, ROUNDS + 1):
            self.wait_for_quiet()
            done = subprocess.run(
                [
                    *(pgbench, "-n", "-c", str(REFERENCE_CLIENTS), "-j", "2"),
                    *("-T", f"{self.sizes.seconds:g}", "-f", str(script), benchdb.url(DB_NAME)),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(float(re.search(r"^tps = ([\d.]+)", done.stdout, re.MULTILINE)[1]))
            print(
                f"    run {round_no}, raw claim + submit ({self.sizes.raw_tasks:,} tasks): "
                f"{runs[-1]:,.0f} transactions/s"
            )
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE bench_raw_task")
        return statistics.median(runs)

    def _web_ceiling(self) -> float:
        """BENCHMARKS.md's web ceiling: bench/ceiling_app.py under gunicorn, 2 sync workers."""
        server, port = benchdb.start_gunicorn(
            *("--chdir", str(Path(__file__).parent), "--workers", "2"),
            app="ceiling_app:application",
            log=self.logdir / "ceiling.log",
        )
        runs = []
        try:
            for round_no in range(1, ROUNDS + 1):
                tokens = ["-"] * REFERENCE_CLIENTS  # sent, not read: the endpoint has no auth
                run = self.load(
                    None,
                    tokens,
                    server=(server, port),
                    seconds=self.sizes.seconds,
                    loop=_ok_loop,
                )
                runs.append(run.loops_per_s)
                print(
                    f"    run {round_no}, web ceiling: {run.loops_per_s:,.0f} requests/s, p99 "
                    f"{run.submit_p99:.1f} ms | errors {run.errors} | server CPU "
                    f"{run.server_ms_per_loop:.2f} ms/request"
                )
        finally:
            benchdb.stop_gunicorn(server)
        return statistics.median(runs)

    def main_runs(self, project_id: int, raw: float | None, ceiling: float) -> None:
        print(
            f"\n[1] claim→submit loops, {self.sizes.seconds:g} s per run, gunicorn "
            f"-w {self.gunicorn_workers} {self.worker_class} x{self.gunicorn_threads}, {self.sizes.tasks:,} tasks (overlap {OVERLAP}, "
            f"1 in {GOLD_EVERY} gold), fresh workers per run"
        )
        # A warm-up, not reported: each gunicorn worker's first requests open its database
        # connection and prepare the loop's statements (first 8-worker runs had claim p99 > 1 s).
        self.load(project_id, [token for _, token in self.workers(8)], seconds=2)
        results: dict[int, list[RunResult]] = {c: [] for c in CONCURRENCY}
        for round_no in range(1, ROUNDS + 1):
            for concurrency in CONCURRENCY:
                tokens = [token for _, token in self.workers(concurrency)]
                run = self.load(project_id, tokens, seconds=self.sizes.seconds)
                results[concurrency].append(run)
                print(f"    run {round_no}, {concurrency:2d} workers: {_describe(run)}")
                for sample in run.error_samples:
                    print(f"      error: {sample}")
        print()
        for concurrency, runs in results.items():
            loops = _median(runs, "loops_per_s")
            print(
                f"FIGURE claim_loop {concurrency:2d} workers: {loops:.1f} loops/s ("
                + (f"{loops / raw:.0%} of the raw limit, " if raw else "")
                + f"requests at {2 * loops / ceiling:.0%} of the web ceiling [0]) | claim p50 "
                f"{_median(runs, 'claim_p50'):.1f} ms p99 {_median(runs, 'claim_p99'):.1f} ms | "
                f"submit p50 {_median(runs, 'submit_p50'):.1f} ms p99 "
                f"{_median(runs, 'submit_p99'):.1f} ms | errors {sum(r.errors for r in runs)} | "
                f"server CPU {_median(runs, 'server_ms_per_loop'):.1f} ms/loop "
                f"(median of {len(runs)} runs; loops/s "
                f"{', '.join(f'{r.loops_per_s:.1f}' for r in runs)})"
            )

    def open_tasks_runs(self) -> None:
        sizes = self.sizes
        print(
            f"\n[3] claim p50 vs open tasks: 8 workers x {sizes.scale_loops} loops on a project of "
            f"{sizes.small_open:,} vs {sizes.large_open:,} open regular tasks (+10% gold)"
        )
        started = time.time()
        large = self.project("bench large", sizes.large_open, sizes.large_open // GOLD_EVERY)
        print(f"    loaded {sizes.large_open * 1.1:,.0f} tasks in {time.time() - started:.1f} s")
        small_runs, large_runs = [], []
        for round_no in range(1, ROUNDS + 1):
            # A fresh small project each round, so that it really has that many open tasks.
            small = self.project(
                f"bench small {round_no}", sizes.small_open, sizes.small_open // 10
            )
            for name, project_id, runs in (
                ("small", small, small_runs),
                ("large", large, large_runs),
            ):
                tokens = [token for _, token in self.workers(8)]
                run = self.load(project_id, tokens, loops_per_worker=sizes.scale_loops)
                runs.append(run)
                print(f"    run {round_no}, {name}: {_describe(run)}")
        small_p50, large_p50 = _median(small_runs, "claim_p50"), _median(large_runs, "claim_p50")
        print(
            f"FIGURE claim p50 {sizes.small_open:,} open tasks: {small_p50:.1f} ms | "
            f"{sizes.large_open:,} open tasks: {large_p50:.1f} ms | ratio {large_p50 / small_p50:.2f}x"
        )
        return large

    def history_runs(self, project_id: int) -> None:
        sizes = self.sizes
        print(
            f"\n[4] claim p50 of one worker ({sizes.history_loops} sequential loops) with "
            f"{sizes.history:,} earlier assignments vs a fresh worker, main project"
        )
        (on_complete, _), (filler1, _), (filler2, _) = workers = self.workers(3)
        self.history(
            project_id, [on_complete, filler1, filler2], tasks=sizes.history, complete=True
        )
        ((on_open, _),) = open_workers = self.workers(1)
        self.history(project_id, [on_open], tasks=sizes.history, complete=False)
        tokens = {"complete": workers[0][1], "open": open_workers[0][1]}
        runs: dict[str, list[RunResult]] = {"fresh": [], "complete": [], "open": []}
        for round_no in range(1, ROUNDS + 1):
            tokens["fresh"] = self.workers(1)[0][1]
            for name in runs:
                run = self.load(project_id, [tokens[name]], loops_per_worker=sizes.history_loops)
                runs[name].append(run)
                print(f"    run {round_no}, {name:>8}: {_describe(run)}")
        fresh = _median(runs["fresh"], "claim_p50")
        for name, label in (("complete", "on complete tasks"), ("open", "on open tasks")):
            p50 = _median(runs[name], "claim_p50")
            print(
                f"FIGURE claim p50 fresh worker {fresh:.1f} ms | worker with {sizes.history:,} "
                f"assignments {label}: {p50:.1f} ms | ratio {p50 / fresh:.2f}x"
            )
        self.history_workers = {"fresh": tokens["fresh"], "open": tokens["open"]}

    def queries_per_request(self, project_id: int) -> None:
        """SQL statements, app CPU and SQL time per claim and per submit: sequential in-process
        requests (Django test client, token auth included) for a fresh worker and for the worker
        with history on open tasks. BEGIN/COMMIT/SAVEPOINT are not counted as statements."""
        from django.db import connection, transaction
        from django.test import Client

        def request(client, path, body):
            """The response, the statements run as (SQL, parameters, seconds), and the app's CPU
            seconds."""
            statements = []

            def timed(execute, sql, params, many, context):
                started = time.perf_counter()
                try:
                    return execute(sql, params, many, context)
                finally:
                    statements.append((sql, params, time.perf_counter() - started))

            with connection.execute_wrapper(timed):
                cpu = time.process_time()
                response = client.post(path, body, "application/json")
                cpu = time.process_time() - cpu
            queries = [
                statement
                for statement in statements
                if not statement[0].startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))
            ]
            return response, queries, cpu

        loops = self.sizes.history_loops // 2
        print(
            f"\n[5] per request, {loops} sequential in-process loops (Django test client, token "
            "auth included; app CPU = this process, SQL = time in cursor.execute)"
        )
        for name, token in (
            ("fresh worker", self.workers(1)[0][1]),
            ("worker with history on open tasks", self.history_workers["open"]),
        ):
            client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token}")
            figures = {"claim": [], "submit": []}  # (statements, app cpu ms, sql ms)
            first_claim = None
            for _ in range(loops):
                claim, queries, cpu = request(
                    client, "/api/v1/assignments/claim/", {"project": project_id}
                )
                if claim.status_code != 201:
                    print(f"    {name}: claim answered {claim.status_code}")
                    break
                first_claim = first_claim or queries
                sql_ms = sum(seconds for *_, seconds in queries) * 1000
                figures["claim"].append((len(queries), cpu * 1000, sql_ms))
                body = claim.json()
                submit, queries, cpu = request(
                    client,
                    f"/api/v1/assignments/{body['id']}/submit/",
                    {"answer": body["task"]["data"]["label"]},
                )
                if submit.status_code == 200:
                    self.submitted_ids.append(body["id"])
                sql_ms = sum(seconds for *_, seconds in queries) * 1000
                figures["submit"].append((len(queries), cpu * 1000, sql_ms))
            parts = []
            for kind, rows in figures.items():
                if not rows:
                    continue
                counts = [row[0] for row in rows]
                parts.append(
                    f"{kind} {min(counts)}-{max(counts)} statements (mean "
                    f"{statistics.mean(counts):.1f}), app CPU p50 "
                    f"{statistics.median(row[1] for row in rows):.1f} ms, SQL p50 "
                    f"{statistics.median(row[2] for row in rows):.1f} ms"
                )
            print(f"FIGURE per request, {name}: {' | '.join(parts)}")
            if self.explain and first_claim:
                # The claim's own statement, as the one-statement claim runs it: prepared
                # on this connection by the request, sent with other statements in one query.
                picks = [
                    part
                    for sql, params, _ in first_claim
                    for part in connection.ops.compose_sql(sql, params).split("; ")
                    if part.startswith("EXECUTE loop_claim")
                ]
                for sql in picks:
                    print(f"    EXPLAIN ANALYZE of the claim ({name}):")
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                        for (line,) in cursor.fetchall():
                            print(f"      {line}")
                        transaction.set_rollback(True)

    def run(self) -> int:
        sizes = self.sizes
        started = time.time()
        benchdb.create_database(DB_NAME)
        benchdb.setup_django(DB_NAME)
        print(f"Database {DB_NAME} created and migrated in {time.time() - started:.1f} s")
        started = time.time()
        gold = sizes.tasks // GOLD_EVERY
        main = self.project("bench main", sizes.tasks - gold, gold)
        print(
            f"Loaded {sizes.tasks:,} tasks ({gold:,} gold) in {time.time() - started:.1f} s "
            f"({sizes.tasks / (time.time() - started):,.0f} rows/s)"
        )
        # Import the whole app now, as gunicorn does at start: the in-process figures then measure
        # the same code as the HTTP ones even if files change while the bench runs.
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018
        references = self.references()
        self.start_server()
        print(
            f"gunicorn -w {self.gunicorn_workers} {self.worker_class} x{self.gunicorn_threads} on 127.0.0.1:{self.port} (log {self.logdir}); "
            f"code {_code_version()}"
        )

        self.main_runs(main, *references)
        print("\n[2] invariants after the loop runs")
        violations = benchdb.invariants(self.submitted_ids)
        print(f"FIGURE invariant violations after the loop runs: {violations}")

        if self.loop_only:
            return 1 if violations else 0
        self.open_tasks_runs()
        self.history_runs(main)
        try:
            self.queries_per_request(main)
        except Exception as error:  # a figure failing must not skip the final invariant check
            print(f"per-request figures failed: {type(error).__name__}: {error}")

        print("\n[6] invariants over everything, at the end")
        violations += benchdb.invariants(self.submitted_ids)
        print(f"FIGURE invariant violations: {violations}")
        return 1 if violations else 0

    def cleanup(self) -> None:
        self.stop_server()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        try:
            benchdb.drop_database(DB_NAME)
        except psycopg.Error as error:
            print(f"could not drop {DB_NAME}: {error}", file=sys.stderr)


def _code_version() -> str:
    try:
        return subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=benchdb.ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds per run")
    parser.add_argument("--seconds", type=float, help="seconds per loop run (default 20; quick 3)")
    parser.add_argument("--gunicorn-workers", type=int, default=4, help="workers (default 4)")
    parser.add_argument(
        "--gunicorn-threads",
        type=int,
        default=1,
        help="threads per worker (default 1; more than 1 means gthread workers)",
    )
    parser.add_argument(
        "--gunicorn-worker-class",
        choices=[SYNC, "sync", "gthread"],
        help=f"sync workers answer one request at a time and close the connection after it "
        f"({SYNC}, the product's, without waiting for the client to close its side); gthread "
        f"workers keep connections alive (default: {SYNC}, gthread with threads)",
    )
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the task pick")
    parser.add_argument(
        "--loop-only", action="store_true", help="only the loop runs [1] and their invariants [2]"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        help="before each run wait up to this many seconds for an idle machine (default 20; "
        "quick 5; 0: off)",
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.seconds:
        sizes = Sizes(**{**sizes.__dict__, "seconds": args.seconds})
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    quiet_wait = args.quiet_wait if args.quiet_wait is not None else (5 if args.quick else 20)
    bench = Bench(
        sizes,
        args.gunicorn_workers,
        args.gunicorn_threads,
        args.gunicorn_worker_class or ("gthread" if args.gunicorn_threads > 1 else SYNC),
        args.explain,
        quiet_wait,
        args.loop_only,
    )
    try:
        return bench.run()
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        bench.cleanup()


if __name__ == "__main__":
    sys.exit(main())
