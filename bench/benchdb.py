"""Database and Django setup shared by the benchmarks, so that they all measure the same thing.

Each bench runs on a fresh PostgreSQL database of its own, created and dropped as the admin user.
Django then runs either in child processes (`run_django`, `run_job`: a job's peak RSS is then its
own) or in this process (`setup_django`: requests timed and queries counted from here), which
then serves HTTP through gunicorn as in production (`start_gunicorn`). Synthetic rows are loaded
in SQL: `insert_users`, and `insert_select` through the models, so that a column added with a
default does not break the benches.
"""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")


def url(database: str) -> str:
    return f"{PG_URL}/{database}"


def _admin_sql(statement: str) -> None:
    with psycopg.connect(url("postgres"), autocommit=True) as admin:
        admin.execute(statement)


def create_database(name: str) -> None:
    """A fresh database, migrated in a child process; a previous run's, left behind by a crash,
    is dropped first."""
    drop_database(name)
    _admin_sql(f"CREATE DATABASE {name}")
    run_django(name, "manage.py", "migrate", "--noinput", "-v", "0")


def drop_database(name: str) -> None:
    _admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _django_env(database: str) -> dict[str, str]:
    """What config.settings needs to run on `database`."""
    return {
        "DATABASE_URL": url(database),
        "SECRET_KEY": "bench-only",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }


def run_django(database: str, *args: str) -> str:
    """`python *args` from the repository root with Django on `database`; its stdout. A failing
    child ends the bench with its stderr."""
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **_django_env(database)},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.exit(done.stderr)
    return done.stdout


_JOB = """
import resource, sys, time, django
django.setup()
from django.apps import apps
from django.utils.module_loading import import_string
run, model = import_string(sys.argv[1]), apps.get_model(sys.argv[2])
keyword, pk = sys.argv[3], int(sys.argv[4])
started = time.perf_counter()
run(**{keyword: pk})
seconds = time.perf_counter() - started
job = model.objects.get(pk=pk)
assert job.status == "done", job.error
print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def run_job(database: str, function: str, model: str, **key: int) -> tuple[float, float]:
    """Runs the product's job `function` (dotted path) on its row of `model` ("app.Model"), given
    as its one keyword argument, in a child process, as a Celery worker would; checks that the row
    ends done. Returns the job's wall seconds and the child's peak RSS in MB."""
    ((keyword, pk),) = key.items()
    seconds, rss = run_django(database, "-c", _JOB, function, model, keyword, str(pk)).split()
    return float(seconds), float(rss)


def setup_django(database: str) -> None:
    """Django in this process on `database`, configured as served (DEBUG off, no Redis: local
    cache, eager Celery), with quiet logs. Servers started from here inherit it."""
    os.environ.update(_django_env(database), DEBUG="0")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def insert_users(db: psycopg.Connection, workers: int) -> None:
    """The manager `bench_manager` and `workers` worker accounts `w1`, `w2`, ..., in that order."""
    db.execute(
        "INSERT INTO workforce_user (password, is_superuser, username, first_name, "
        "last_name, email, is_staff, is_active, date_joined, role) VALUES "
        "('!', false, 'bench_manager', '', '', '', false, true, now(), 'manager')"
    )
    db.execute(
        "INSERT INTO workforce_user (password, is_superuser, username, first_name, "
        "last_name, email, is_staff, is_active, date_joined, role) "
        "SELECT '!', false, 'w' || g, '', '', '', false, true, now(), 'worker' "
        "FROM generate_series(1, %s) g",
        [workers],
    )


def insert_select(model, values: dict[str, str], source: str, params: dict | None = None) -> None:
    """Runs `INSERT INTO <model's table> SELECT ... <source>` over every concrete column: the SQL
    expressions in `values` (by attname; `params` fills their placeholders), now() for auto
    timestamps, the model's default (or NULL) for the rest, and the primary key from its sequence
    unless given."""
    from django.db import connection

    names, selects, defaults = [], [], {}
    for column in model._meta.concrete_fields:
        if column.primary_key and column.attname not in values:
            continue
        names.append(connection.ops.quote_name(column.column))
        if column.attname in values:
            selects.append(values[column.attname])
        elif getattr(column, "auto_now", False) or getattr(column, "auto_now_add", False):
            selects.append("now()")
        elif column.has_default() or column.null:
            key = f"default_{column.attname}"
            defaults[key] = column.get_db_prep_save(column.get_default(), connection)
            selects.append(f"%({key})s")
        else:
            raise RuntimeError(f"the bench cannot fill {model.__name__}.{column.attname}")
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(selects)} {source}",
            {**defaults, **(params or {})},
        )


def start_gunicorn(
    *options: str, app: str = "config.wsgi:application", log: Path | None = None
) -> tuple[subprocess.Popen, int]:
    """gunicorn serving `app` (the product unless told) with this process's environment and
    `options` on a free port of 127.0.0.1, output to `log` if given; in its own process group, so
    that Ctrl-C reaches the bench, not it. Returns once /health/ answers: the server and its
    port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    output = open(log, "w") if log else None  # noqa: SIM115 - lives as long as the server
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            app,
            "--bind",
            f"127.0.0.1:{port}",
            *options,
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=output,
        stderr=subprocess.STDOUT if output else None,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"gunicorn exited{f'; see {log}' if log else ''}")
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/health/")
                if conn.getresponse().status == 200:
                    return server, port
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer /health/ within 60 s")
    except BaseException:
        stop_gunicorn(server)
        raise


def stop_gunicorn(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=5)


# --- the worker loop's data and invariants (claim_loop.py, load.py) -----------------------------

LABELS = ["cat", "dog", "bird"]


def manager():
    """The benches' manager account, `bench_manager`."""
    from workforce.models import Role, User

    user, _ = User.objects.get_or_create(username="bench_manager", defaults={"role": Role.MANAGER})
    return user


def labelled_project(
    settings: dict, regular: int, gold: int, *, languages: tuple[str, ...] = ("en",)
) -> int:
    """An active classification project over LABELS with `regular` + `gold` tasks, inserted in
    SQL; `settings` adds to and overrides name, labels, overlap 3 and gold ratio 0.1. Each task's
    data holds its true label (`label`), for simulated workers to answer from; gold questions
    have it as their gold answer."""
    from django.db import connection

    from marketplace.models import Task
    from marketplace.services import projects

    project = projects.project_create(
        user=manager(),
        settings={"task_type": "classification", "labels": LABELS, "overlap": 3, "gold_ratio": 0.1}
        | settings,
        languages=list(languages),
    )
    projects.project_transition(project=project, action="publish")
    label = "(%(labels)s::text[])[1 + i %% 3]"
    with connection.cursor() as cursor:
        for n, is_gold in ((regular, False), (gold, True)):
            if not n:
                continue
            params = {"project": project.pk, "labels": LABELS, "overlap": project.overlap, "n": n}
            values = {
                "project_id": "%(project)s",
                "data": f"jsonb_build_object('text', 'item ' || i, 'label', {label})",
                "is_gold": "true" if is_gold else "false",
                "gold_answer": f"to_jsonb({label})" if is_gold else "NULL",
                "shuffle": "random()",
                "status": "'open'",
                "required": "0" if is_gold else "%(overlap)s",
                "live_count": "0",
                "done_count": "0",
            }
            source = "FROM generate_series(1, %(n)s) AS i"
            insert_select(Task, values, source, params)
        cursor.execute("ANALYZE marketplace_task")
    return project.pk


def worker_accounts(
    first: int, count: int, *, languages: dict[str, int] | None = None
) -> list[tuple[int, str]]:
    """Active freelancers `bench_w<first>` ... with API tokens, speaking `languages` (code: level
    rank; default English, native): (worker id, token) each."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from rest_framework.authtoken.models import Token

    from workforce.models import LanguageLevel, Role, User, Worker, WorkerLanguage

    languages = languages or {"en": LanguageLevel.NATIVE}
    with transaction.atomic():
        users = User.objects.bulk_create(
            User(username=f"bench_w{first + n:06d}", password=make_password(None), role=Role.WORKER)
            for n in range(count)
        )
        workers = Worker.objects.bulk_create(
            Worker(user=user, kind=Worker.Kind.FREELANCER) for user in users
        )
        WorkerLanguage.objects.bulk_create(
            WorkerLanguage(worker=worker, code=code, level=level)
            for worker in workers
            for code, level in languages.items()
        )
        tokens = Token.objects.bulk_create(
            Token(key=Token.generate_key(), user=user) for user in users
        )
    return [(worker.pk, token.key) for worker, token in zip(workers, tokens, strict=True)]


_INVARIANTS = {
    "regular tasks with more live assignments than they need": """
        SELECT count(*) FROM (
          SELECT t.id FROM marketplace_task t
          JOIN marketplace_assignment a ON a.task_id = t.id
           AND a.status IN ('active', 'submitted', 'accepted')
          WHERE NOT t.is_gold GROUP BY t.id, t.required HAVING count(*) > t.required) v""",
    "(task, worker) pairs assigned twice": """
        SELECT count(*) FROM (SELECT 1 FROM marketplace_assignment
          GROUP BY task_id, worker_id HAVING count(*) > 1) v""",
    "tasks whose live_count/done_count differ from their assignments": """
        WITH real AS (
          SELECT task_id,
            count(*) FILTER (WHERE status IN ('active', 'submitted', 'accepted')) AS live,
            count(*) FILTER (WHERE status IN ('submitted', 'accepted')) AS done
          FROM marketplace_assignment GROUP BY task_id)
        SELECT count(*) FROM marketplace_task t LEFT JOIN real r ON r.task_id = t.id
        WHERE t.live_count <> CASE WHEN t.is_gold THEN 0 ELSE coalesce(r.live, 0) END
           OR t.done_count <> CASE WHEN t.is_gold THEN 0 ELSE coalesce(r.done, 0) END""",
    "regular tasks whose status disagrees with done_count": """
        SELECT count(*) FROM marketplace_task WHERE NOT is_gold
          AND (status = 'complete') <> (done_count >= required)""",
    "regular judgments still counted for a worker blocked on their project": """
        SELECT count(*) FROM marketplace_assignment a JOIN qc_workerquality q
          ON q.worker_id = a.worker_id AND q.project_id = a.project_id
        WHERE q.blocked AND NOT a.is_gold AND a.status IN ('active', 'submitted')""",
}


def invariants(submitted_ids: list[int]) -> int:
    """Counts and prints violations of SPEC §4.1 and §6 and of the counters the claim relies on;
    `submitted_ids` are the assignments whose submit was answered 200: each must be stored as a
    judgment (submitted, or since reviewed or untrusted)."""
    from django.db import connection

    total = 0
    with connection.cursor() as cursor:
        for name, sql in _INVARIANTS.items():
            cursor.execute(sql)
            (count,) = cursor.fetchone()
            total += count
            print(f"    {name}: {count}")
        cursor.execute(
            "SELECT count(*) FROM marketplace_assignment WHERE id = ANY(%s) "
            "AND status IN ('submitted', 'accepted', 'rejected', 'untrusted')",
            [submitted_ids],
        )
        (found,) = cursor.fetchone()
    lost = len(set(submitted_ids)) - found
    print(f"    submits answered 200 without a judgment stored: {lost} (of {len(submitted_ids):,})")
    return total + lost
