"""Platform plumbing: settings from the environment, health, schema, the error shape."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from config import env
from config.middleware import MessageMiddleware
from tests.utils import api_client

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("yes", True), ("off", False), ("", False)]
)
def test_env_bool_reads_common_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)

    assert env.env_bool("FLAG", default=not expected) is expected


@pytest.mark.parametrize(
    ("reader", "raw"),
    [
        (lambda: env.env_bool("FLAG", default=False), "maybe"),
        (lambda: env.env_int("FLAG", 5, minimum=1), "ten"),
        (lambda: env.env_int("FLAG", 5, minimum=1), "0"),
        (lambda: env.env_url("FLAG", ("postgres",)), "mysql://x"),
    ],
)
def test_env_refuses_bad_values(monkeypatch, reader, raw):
    monkeypatch.setenv("FLAG", raw)

    with pytest.raises(ImproperlyConfigured, match="FLAG"):
        reader()


def _django_check(**environ) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **environ},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_need_a_secret_key():
    result = _django_check(DEBUG="0")

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_a_bad_database_url_stops_start_up():
    result = _django_check(DEBUG="1", DATABASE_URL="mongodb://nope")

    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


def test_health_reports_the_database(anonymous, db):
    response = anonymous.get("/health/")

    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_health_is_503_when_configured_redis_does_not_answer(anonymous, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    response = anonymous.get("/health/")

    assert response.status_code == 503
    assert response.json()["redis"] == "down"


@pytest.mark.parametrize("credentials", [None, "Token not-a-token", "Basic Zm9vOmJhcg=="])
def test_schema_and_docs_need_no_credentials(anonymous, db, credentials):
    # and whatever a client sends along, as it may with every request, does not matter
    if credentials:
        anonymous.credentials(HTTP_AUTHORIZATION=credentials)

    schema = anonymous.get("/api/schema/")
    docs = anonymous.get("/api/docs/")

    assert schema.status_code == 200
    assert b"/api/v1/centers/{center_id}/workers/" in schema.content
    assert docs.status_code == 200


def test_the_migrations_match_the_models(db):
    # A model change without its migration would leave PostgreSQL and SQLite on the old schema.
    call_command("makemigrations", "--check", "--dry-run", stdout=StringIO())


def test_schema_generates_without_warnings(db):
    # Warnings mean a misdocumented endpoint, e.g. two request bodies under one name.
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=StringIO())


def test_errors_have_detail_and_code(anonymous, manager_pat):
    unauthenticated = anonymous.get("/api/v1/me/")
    missing = api_client(manager_pat).patch("/api/v1/skills/nope/", {"name": "x"}, format="json")

    assert unauthenticated.status_code == 401
    assert set(unauthenticated.json()) == {"detail", "code"}
    assert missing.status_code == 404
    assert missing.json() == {"detail": "No such skill.", "code": "not_found"}


def test_times_are_emitted_in_utc(vendor_admin_acme, vendor_acme):
    response = api_client(vendor_admin_acme).get(f"/api/v1/vendors/{vendor_acme.id}/")

    assert response.json()["created_at"].endswith("Z")


@pytest.mark.parametrize(("path", "has_messages"), [("/api/v1/me/", False), ("/dashboard/", True)])
def test_messages_are_set_up_for_html_pages_but_not_for_the_api(rf, path, has_messages):
    request = rf.get(path)
    SessionMiddleware(lambda request: None).process_request(request)

    MessageMiddleware(lambda request: None).process_request(request)

    assert hasattr(request, "_messages") is has_messages
