import os
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from billing.models import LedgerEntry


@pytest.fixture(autouse=True)
def ledger_balanced(request):
    """After every billing test that touches the database: the ledger sums to zero per
    currency (SPEC §4.6). The database fixture is requested first so that this check runs
    before the test's data is rolled back or flushed."""
    transactional = "transactional_db" in request.fixturenames or any(
        marker.kwargs.get("transaction") for marker in request.node.iter_markers("django_db")
    )
    if transactional:
        request.getfixturevalue("transactional_db")
    elif "db" in request.fixturenames or request.node.get_closest_marker("django_db"):
        request.getfixturevalue("db")
    else:
        yield
        return
    yield
    totals = defaultdict(Decimal)  # in decimals: SQLite sums decimal columns as floats
    for currency, amount in LedgerEntry.objects.values_list("account__currency", "amount"):
        totals[currency] += amount
    unbalanced = {currency: total for currency, total in totals.items() if total != 0}
    assert not unbalanced, f"the ledger does not balance: {unbalanced}"


@pytest.fixture
def celery_workers(transactional_db, settings):
    """Starts real Celery worker processes on Redis sharing the test database (PostgreSQL
    only), as many as a test needs: one to kill, one to finish the job. Like the suite's
    `celery_worker` fixture, but a test may start a second worker after killing the first."""
    from config.celery import app

    if not settings.REDIS_URL or connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL and Redis: set DATABASE_URL and REDIS_URL (CI does)")
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "tests-only-not-a-secret",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
    }
    app.control.purge()  # jobs a killed worker of an earlier session left queued
    processes = []

    def start() -> subprocess.Popen:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "-l",
                "warning",
            ],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
        )
        processes.append(process)
        for _ in range(60):
            if app.control.ping(timeout=0.5):
                return process
        pytest.fail("the Celery worker did not start")

    app.conf.task_always_eager = False
    try:
        yield start
    finally:
        app.conf.task_always_eager = True
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
