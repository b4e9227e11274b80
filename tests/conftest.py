import pytest
from rest_framework.test import APIClient

from marketplace.services import stats
from tests import factories


@pytest.fixture(autouse=True)
def _analytics_refreshed_on_every_read(monkeypatch):
    """Every read of the analytics refreshes them first (marketplace.services.stats), however
    long a refresh took on a slow host and however often tests read in a second; tests of those
    limits set them back."""
    monkeypatch.setattr(stats, "INLINE_REFRESH_SECONDS", float("inf"))
    monkeypatch.setattr(stats, "INLINE_PER_SECOND", 10**9)


@pytest.fixture
def anonymous():
    return APIClient()


@pytest.fixture
def staff_sam(db):
    return factories.StaffFactory(username="staff_sam")


@pytest.fixture
def manager_pat(db):
    return factories.ManagerFactory(username="manager_pat")


@pytest.fixture
def vendor_acme(db):
    return factories.VendorFactory(name="Acme BPO")


@pytest.fixture
def vendor_globex(db):
    return factories.VendorFactory(name="Globex Staffing", country="IN")


@pytest.fixture
def vendor_admin_acme(vendor_acme):
    return factories.VendorAdminFactory(username="vendor_admin_acme", vendor=vendor_acme)


@pytest.fixture
def vendor_admin_globex(vendor_globex):
    return factories.VendorAdminFactory(username="vendor_admin_globex", vendor=vendor_globex)


@pytest.fixture
def center_manila(vendor_acme):
    return factories.CenterFactory(vendor=vendor_acme, name="Manila 1")


@pytest.fixture
def center_pune(vendor_globex):
    return factories.CenterFactory(
        vendor=vendor_globex, name="Pune", country="IN", city="Pune", timezone="Asia/Kolkata"
    )


@pytest.fixture
def worker_alice(center_manila):
    return factories.WorkerFactory(
        user=factories.UserFactory(username="worker_alice"), center=center_manila
    )


@pytest.fixture
def worker_bob(center_pune):
    return factories.WorkerFactory(
        user=factories.UserFactory(username="worker_bob"), center=center_pune
    )


@pytest.fixture
def freelancer_fay(db):
    return factories.WorkerFactory(
        user=factories.UserFactory(username="freelancer_fay"), freelancer=True
    )


@pytest.fixture
def celery_worker(transactional_db, settings):
    """A real Celery worker process on Redis, sharing the test database (PostgreSQL only)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from celery.result import allow_join_result
    from django.db import connection

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
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-l", "warning"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
    )
    app.conf.task_always_eager = False
    try:
        for _ in range(60):
            if app.control.ping(timeout=0.5):
                break
        else:
            pytest.fail("the Celery worker did not start")
        # Celery marks "inside a task" in a process-wide flag while it runs a job eagerly; eager
        # jobs started from several threads at once (concurrency tests) can leave it set, and
        # waiting for a result then fails with "Never call result.get() within a task!".
        with allow_join_result():
            yield process
    finally:
        app.conf.task_always_eager = True
        process.terminate()
        process.wait(timeout=30)
