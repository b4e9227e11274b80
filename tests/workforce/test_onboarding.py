"""Onboarding of delivery centers and workers: validation, all-or-nothing bulk, query counts."""

import pytest

from tests import factories
from tests.utils import api_client, requires_postgres
from workforce.models import DeliveryCenter, LanguageLevel, User, Worker

GOOD_CENTER = {
    "name": "Cebu 2",
    "country": "PH",
    "city": "Cebu",
    "timezone": "Asia/Manila",
    "languages": ["en", "fil", "ceb"],
    "seats": 40,
}


def worker_row(name: str, **overrides) -> dict:
    username = overrides.get("username", name)
    row = {
        "username": username,
        "email": f"{username}@example.com",
        "password": "long-enough-pass",
        "languages": [{"code": "en", "level": "C1"}, {"code": "fil", "level": "native"}],
        "skills": [{"slug": "ner", "level": 70}],
    }
    row.update(overrides)
    return row


@pytest.fixture
def skill_ner(db):
    return factories.SkillFactory(slug="ner", name="Named entities")


def test_center_created_with_normalised_codes(vendor_admin_acme, vendor_acme):
    response = api_client(vendor_admin_acme).post(
        f"/api/v1/vendors/{vendor_acme.id}/centers/",
        {**GOOD_CENTER, "country": "ph", "languages": ["EN", "fil"]},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["country"] == "PH"
    assert body["languages"] == ["en", "fil"]
    assert body["status"] == "active"
    assert body["vendor"] == vendor_acme.id


@pytest.mark.parametrize(
    ("field", "value", "message_part"),
    [
        ("country", "ZZ", "ZZ"),
        ("timezone", "Mars/Base", "Mars/Base"),
        ("languages", ["en", "xx"], "xx"),
        ("languages", ["eng"], "use 'en'"),
        ("languages", ["en", "en"], "more than once"),
        ("seats", -1, "greater than or equal to 0"),
        ("name", "", "blank"),
    ],
)
def test_bad_center_is_refused_naming_the_field(
    vendor_admin_acme, vendor_acme, field, value, message_part
):
    response = api_client(vendor_admin_acme).post(
        f"/api/v1/vendors/{vendor_acme.id}/centers/", {**GOOD_CENTER, field: value}, format="json"
    )

    assert response.status_code == 400
    assert message_part in str(response.json()[field])
    assert not DeliveryCenter.objects.exists()


def test_center_name_is_unique_per_vendor(vendor_admin_acme, vendor_acme, center_manila):
    response = api_client(vendor_admin_acme).post(
        f"/api/v1/vendors/{vendor_acme.id}/centers/",
        {**GOOD_CENTER, "name": center_manila.name},
        format="json",
    )

    assert response.status_code == 400
    assert "name" in response.json()


def test_center_patch_changes_only_given_fields(vendor_admin_acme, center_manila):
    response = api_client(vendor_admin_acme).patch(
        f"/api/v1/centers/{center_manila.id}/", {"seats": 12, "status": "inactive"}, format="json"
    )

    assert response.status_code == 200
    center_manila.refresh_from_db()
    assert (center_manila.seats, center_manila.status, center_manila.city) == (
        12,
        "inactive",
        "Manila",
    )


def test_bad_center_patch_changes_nothing(vendor_admin_acme, center_manila):
    response = api_client(vendor_admin_acme).patch(
        f"/api/v1/centers/{center_manila.id}/",
        {"seats": 5, "timezone": "Mars/Base"},
        format="json",
    )

    assert response.status_code == 400
    assert "timezone" in response.json()
    center_manila.refresh_from_db()
    assert center_manila.seats == 100


def test_one_worker_onboarded(vendor_admin_acme, center_manila, skill_ner):
    response = api_client(vendor_admin_acme).post(
        f"/api/v1/centers/{center_manila.id}/workers/", worker_row("wanda"), format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["username"] == "wanda"
    assert body["kind"] == "vendor"
    assert body["center"] == center_manila.id
    assert body["vendor"] == center_manila.vendor_id
    assert body["languages"] == [
        {"code": "en", "level": "C1"},
        {"code": "fil", "level": "native"},
    ]
    assert body["skills"] == [{"slug": "ner", "level": 70}]
    assert "password" not in body
    worker = Worker.objects.get(pk=body["id"])
    assert worker.user.check_password("long-enough-pass")
    assert worker.user.role == "worker"
    assert {(lang.code, lang.level) for lang in worker.languages.all()} == {
        ("en", LanguageLevel.C1),
        ("fil", LanguageLevel.NATIVE),
    }


def test_onboarded_worker_can_log_in(vendor_admin_acme, center_manila, skill_ner, anonymous):
    api_client(vendor_admin_acme).post(
        f"/api/v1/centers/{center_manila.id}/workers/", worker_row("wanda"), format="json"
    )

    response = anonymous.post(
        "/api/v1/auth/token/", {"username": "wanda", "password": "long-enough-pass"}
    )

    assert response.status_code == 200
    assert response.json()["token"]


@pytest.mark.parametrize(
    ("overrides", "field", "message_part"),
    [
        ({"skills": [{"slug": "juggling", "level": 5}]}, "skills", "Unknown skill 'juggling'"),
        ({"skills": [{"slug": "ner", "level": 101}]}, "skills", "less than or equal to 100"),
        ({"skills": [{"slug": "ner", "level": 1}, {"slug": "ner", "level": 2}]}, "skills", "ner"),
        ({"languages": [{"code": "xx", "level": "B2"}]}, "languages", "xx"),
        ({"languages": [{"code": "en", "level": "B3"}]}, "languages", "B3"),
        ({"password": ""}, "password", "blank"),
        ({"password": "short"}, "password", "too short"),
        ({"email": "not-an-email"}, "email", "email"),
        ({"username": "has spaces"}, "username", "username"),
        ({"username": "worker_alice"}, "username", "taken"),
    ],
)
def test_bad_worker_is_refused_naming_the_field(
    vendor_admin_acme, center_manila, skill_ner, worker_alice, overrides, field, message_part
):
    before = User.objects.count()

    response = api_client(vendor_admin_acme).post(
        f"/api/v1/centers/{center_manila.id}/workers/",
        worker_row("wanda", **overrides),
        format="json",
    )

    assert response.status_code == 400
    assert message_part in str(response.json()[field])
    assert User.objects.count() == before


def test_bulk_with_one_bad_row_names_it_and_creates_nothing(
    vendor_admin_acme, center_manila, skill_ner
):
    rows = [worker_row(f"w{i}") for i in range(5000)]
    rows[3217]["languages"] = [{"code": "xx", "level": "B2"}]
    rows[4999]["skills"] = [{"slug": "ner", "level": 101}]

    response = api_client(vendor_admin_acme).post(
        f"/api/v1/centers/{center_manila.id}/workers/", rows, format="json"
    )

    assert response.status_code == 400
    errors = response.json()
    assert len(errors) == 5000
    assert "xx" in str(errors[3217]["languages"])
    assert "100" in str(errors[4999]["skills"])
    assert sum(1 for error in errors if error) == 2
    assert not Worker.objects.exists()
    assert not User.objects.filter(username__startswith="w").exclude(role="vendor_admin").exists()


def test_bulk_reports_usernames_repeated_within_the_request(
    vendor_admin_acme, center_manila, skill_ner
):
    rows = [worker_row("twin"), worker_row("solo"), worker_row("twin")]

    response = api_client(vendor_admin_acme).post(
        f"/api/v1/centers/{center_manila.id}/workers/", rows, format="json"
    )

    assert response.status_code == 400
    errors = response.json()
    assert "more than once" in str(errors[0]["username"])
    assert errors[1] == {}
    assert "more than once" in str(errors[2]["username"])
    assert not Worker.objects.exists()


def test_empty_bulk_is_refused(vendor_admin_acme, center_manila):
    response = api_client(vendor_admin_acme).post(
        f"/api/v1/centers/{center_manila.id}/workers/", [], format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"]


def _onboard(client, center, count: int, prefix: str):
    rows = [worker_row(f"{prefix}{i}") for i in range(count)]
    return client.post(f"/api/v1/centers/{center.id}/workers/", rows, format="json")


# SQLite caps a statement at 999 parameters, so Django splits bulk inserts there; the constant
# count is a property of the PostgreSQL deployment.
@requires_postgres
def test_bulk_onboarding_queries_do_not_grow_with_workers(
    vendor_admin_acme, center_manila, skill_ner, django_assert_num_queries
):
    client = api_client(vendor_admin_acme)
    # token+user, center+vendor, skills, taken usernames, savepoint, 4 bulk inserts (users,
    # workers, languages, skills), release savepoint, then the created workers with their
    # users and centers, languages, skills.
    with django_assert_num_queries(13):
        assert _onboard(client, center_manila, 3, "small").status_code == 201
    with django_assert_num_queries(13):
        response = _onboard(client, center_manila, 1000, "large")

    assert response.status_code == 201
    assert len(response.json()) == 1000
    assert Worker.objects.filter(center=center_manila).count() == 1003


def test_freelancer_registers_without_a_center(anonymous, skill_ner):
    response = anonymous.post("/api/v1/workers/register/", worker_row("fred"), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["center"], body["vendor"]) == ("freelancer", None, None)


def test_freelancer_registration_takes_one_worker(anonymous, skill_ner):
    response = anonymous.post(
        "/api/v1/workers/register/", [worker_row("a"), worker_row("b")], format="json"
    )

    assert response.status_code == 400
    assert not Worker.objects.exists()


def test_center_workers_list_is_paginated_with_constant_queries(
    vendor_admin_acme, center_manila, django_assert_num_queries
):
    factories.WorkerFactory.create_batch(3, center=center_manila, skills={"ner": 10})
    client = api_client(vendor_admin_acme)
    url = f"/api/v1/centers/{center_manila.id}/workers/"

    # token+user, center, count, workers+users+centers, languages, skills
    with django_assert_num_queries(6):
        small = client.get(url)
    factories.WorkerFactory.create_batch(30, center=center_manila, skills={"ner": 10})
    with django_assert_num_queries(6):
        large = client.get(url)

    assert small.json()["count"] == 3
    assert large.json()["count"] == 33
    assert set(large.json()) == {"count", "next", "previous", "results"}


def test_workers_filter_by_status(vendor_admin_acme, center_manila):
    active = factories.WorkerFactory(center=center_manila)
    factories.WorkerFactory(center=center_manila, status="suspended")

    response = api_client(vendor_admin_acme).get("/api/v1/workers/?status=active")

    assert [row["id"] for row in response.json()["results"]] == [active.id]


def test_suspend_and_reinstate_are_idempotent(vendor_admin_acme, worker_alice):
    client = api_client(vendor_admin_acme)
    for _ in range(2):
        response = client.post(f"/api/v1/workers/{worker_alice.id}/suspend/")
        assert (response.status_code, response.json()["status"]) == (200, "suspended")
    response = client.post(f"/api/v1/workers/{worker_alice.id}/reinstate/")

    assert (response.status_code, response.json()["status"]) == (200, "active")
    worker_alice.refresh_from_db()
    assert worker_alice.status == "active"


def test_staff_creates_a_manager(staff_sam, anonymous):
    response = api_client(staff_sam).post(
        "/api/v1/managers/",
        {"username": "mia", "email": "mia@example.com", "password": "long-enough-pass"},
    )

    assert response.status_code == 201
    assert response.json()["role"] == "manager"
    login = anonymous.post(
        "/api/v1/auth/token/", {"username": "mia", "password": "long-enough-pass"}
    )
    assert login.status_code == 200


def test_skills_created_listed_and_renamed(manager_pat):
    client = api_client(manager_pat)

    created = client.post("/api/v1/skills/", {"slug": "asr", "name": "Speech"})
    duplicate = client.post("/api/v1/skills/", {"slug": "asr", "name": "Again"})
    renamed = client.patch("/api/v1/skills/asr/", {"name": "Transcription"}, format="json")
    listed = client.get("/api/v1/skills/")

    assert created.status_code == 201
    assert duplicate.status_code == 400
    assert "slug" in duplicate.json()
    assert renamed.json()["name"] == "Transcription"
    assert [row["slug"] for row in listed.json()["results"]] == ["asr"]


def test_bad_skill_slug_is_refused(manager_pat):
    response = api_client(manager_pat).post("/api/v1/skills/", {"slug": "no spaces", "name": "x"})

    assert response.status_code == 400
    assert "slug" in response.json()
