"""Who may use which workforce endpoint (SPEC §4.7): 401 without credentials, 403 for a role that
may not use an endpoint at all, 404 for someone else's object, and nothing changed by a refusal."""

from typing import Any, NamedTuple

import pytest
from rest_framework.test import APIClient

from tests import factories
from tests.utils import api_client, workforce_state
from workforce.models import DeliveryCenter, Vendor, Worker

NEW_CENTER = {
    "name": "Cebu 2",
    "country": "PH",
    "city": "Cebu",
    "timezone": "Asia/Manila",
    "languages": ["en", "fil"],
    "seats": 40,
}
NEW_WORKER = {
    "username": "new_worker",
    "email": "new_worker@example.com",
    "password": "long-enough-pass",
    "languages": [{"code": "en", "level": "C1"}],
}
NEW_ACCOUNT = {
    "username": "new_account",
    "email": "new@example.com",
    "password": "long-enough-pass",
}

ERROR_CODES = {401: "not_authenticated", 403: "permission_denied", 404: "not_found"}


class Endpoint(NamedTuple):
    method: str
    path: str  # placeholders filled from the `world` fixture
    roles: frozenset[str]  # roles that may use it; everything else is a 403
    ok: int = 200
    body: Any = None

    def call(self, client: APIClient, ids: dict):
        return getattr(client, self.method)(self.path.format(**ids), self.body, format="json")


def endpoint(method, path, roles, ok=200, body=None):
    return pytest.param(
        Endpoint(method, path, frozenset({"staff", *roles}), ok, body),
        id=f"{method.upper()} {path}",
    )


VENDOR_ADMIN = ("vendor_admin",)
STAFF_ONLY = ()

# Endpoints on one vendor's objects: the isolation matrix reruns them against another vendor.
VENDOR_OBJECT_ENDPOINTS = [
    endpoint("get", "/api/v1/vendors/{vendor}/", VENDOR_ADMIN),
    endpoint("get", "/api/v1/vendors/{vendor}/centers/", VENDOR_ADMIN),
    endpoint("post", "/api/v1/vendors/{vendor}/centers/", VENDOR_ADMIN, 201, NEW_CENTER),
    endpoint("get", "/api/v1/centers/{center}/", VENDOR_ADMIN),
    endpoint("patch", "/api/v1/centers/{center}/", VENDOR_ADMIN, body={"seats": 7}),
    endpoint("get", "/api/v1/centers/{center}/workers/", VENDOR_ADMIN),
    endpoint("post", "/api/v1/centers/{center}/workers/", VENDOR_ADMIN, 201, NEW_WORKER),
    endpoint("get", "/api/v1/workers/{worker}/", VENDOR_ADMIN),
    endpoint("post", "/api/v1/workers/{worker}/suspend/", VENDOR_ADMIN),
    endpoint("post", "/api/v1/workers/{suspended_worker}/reinstate/", VENDOR_ADMIN),
]

AUTHENTICATED_ENDPOINTS = [
    endpoint("get", "/api/v1/me/", ("manager", "vendor_admin", "worker")),
    endpoint("get", "/api/v1/vendors/", VENDOR_ADMIN),
    endpoint("get", "/api/v1/workers/", VENDOR_ADMIN),
    *VENDOR_OBJECT_ENDPOINTS,
    endpoint("post", "/api/v1/vendors/{pending_vendor}/approve/", STAFF_ONLY),
    endpoint("post", "/api/v1/vendors/{pending_vendor}/reject/", STAFF_ONLY),
    endpoint("post", "/api/v1/vendors/{vendor}/suspend/", STAFF_ONLY),
    endpoint("post", "/api/v1/managers/", STAFF_ONLY, 201, NEW_ACCOUNT),
    # Vendor admins read the skill catalogue: they need its slugs to onboard workers.
    endpoint("get", "/api/v1/skills/", ("manager", "vendor_admin")),
    endpoint("post", "/api/v1/skills/", ("manager",), 201, {"slug": "asr", "name": "Speech"}),
    endpoint("patch", "/api/v1/skills/{skill}/", ("manager",), body={"name": "Entities"}),
]

ROLES = ["staff", "manager", "vendor_admin", "worker"]


def assert_error(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail", "code"}
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["code"] == (code or ERROR_CODES[status])


@pytest.fixture
def world(
    staff_sam,
    manager_pat,
    vendor_admin_acme,
    vendor_admin_globex,
    vendor_acme,
    vendor_globex,
    center_manila,
    center_pune,
    worker_alice,
    worker_bob,
    freelancer_fay,
):
    """Two vendors with a center, an active and a suspended worker each, plus shared objects."""

    def side(vendor, center, worker):
        suspended = factories.WorkerFactory(center=center, status=Worker.Status.SUSPENDED)
        return {
            "vendor": vendor.pk,
            "center": center.pk,
            "worker": worker.pk,
            "suspended_worker": suspended.pk,
        }

    shared = {
        "pending_vendor": factories.VendorFactory(status=Vendor.Status.PENDING).pk,
        "skill": factories.SkillFactory(slug="ner", name="NER").slug,
        "freelancer": freelancer_fay.pk,
    }
    return {
        "acme": {**side(vendor_acme, center_manila, worker_alice), **shared},
        "globex": {**side(vendor_globex, center_pune, worker_bob), **shared},
    }


@pytest.fixture
def user_in_role(staff_sam, manager_pat, vendor_admin_acme, worker_alice):
    return {
        "staff": staff_sam,
        "manager": manager_pat,
        "vendor_admin": vendor_admin_acme,
        "worker": worker_alice.user,
    }


# --- 401 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "code"),
    [(None, "not_authenticated"), ("Token nonsense", "authentication_failed")],
    ids=["no-credentials", "bad-token"],
)
@pytest.mark.parametrize("ep", AUTHENTICATED_ENDPOINTS)
def test_no_or_bad_credentials_are_401(world, ep, authorization, code):
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    before = workforce_state()

    response = ep.call(client, world["acme"])

    assert_error(response, 401, code)
    assert workforce_state() == before


# --- 403: role gates ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("ep", AUTHENTICATED_ENDPOINTS)
def test_role_matrix(world, user_in_role, ep, role):
    # Vendor-scoped paths point at the vendor admin's own vendor, so a 403 is the role gate
    # speaking, never the object scoping.
    before = workforce_state()

    response = ep.call(api_client(user_in_role[role]), world["acme"])

    if role in ep.roles:
        assert response.status_code == ep.ok, response.content
    else:
        assert_error(response, 403)
        assert workforce_state() == before


# --- 404: another vendor's objects --------------------------------------------------------------

ISOLATION_ENDPOINTS = [
    *VENDOR_OBJECT_ENDPOINTS,
    endpoint("get", "/api/v1/workers/{freelancer}/", VENDOR_ADMIN),
    endpoint("post", "/api/v1/workers/{freelancer}/suspend/", VENDOR_ADMIN),
]


@pytest.mark.parametrize("ep", ISOLATION_ENDPOINTS)
def test_vendor_admin_gets_404_on_objects_of_another_vendor(world, vendor_admin_acme, ep):
    before = workforce_state()

    response = ep.call(api_client(vendor_admin_acme), world["globex"])

    assert_error(response, 404)
    assert workforce_state() == before


@pytest.mark.parametrize("ep", ISOLATION_ENDPOINTS)
def test_staff_reaches_every_vendors_objects(world, staff_sam, ep):
    response = ep.call(api_client(staff_sam), world["globex"])

    assert response.status_code == ep.ok, response.content


def test_vendor_list_shows_a_vendor_admin_only_their_vendor(world, vendor_admin_acme, vendor_acme):
    response = api_client(vendor_admin_acme).get("/api/v1/vendors/")

    assert response.status_code == 200
    assert [vendor["id"] for vendor in response.json()["results"]] == [vendor_acme.pk]
    assert response.json()["count"] == 1


def test_worker_list_shows_a_vendor_admin_only_their_workers(world, vendor_admin_acme):
    response = api_client(vendor_admin_acme).get("/api/v1/workers/")

    assert response.status_code == 200
    acme = world["acme"]
    assert {worker["id"] for worker in response.json()["results"]} == {
        acme["worker"],
        acme["suspended_worker"],
    }


@pytest.mark.parametrize("path", ["/api/v1/workers/", "/api/v1/centers/{center}/workers/"])
def test_filtering_by_another_vendors_center_answers_as_if_it_did_not_exist(
    world, vendor_admin_acme, path
):
    client = api_client(vendor_admin_acme)
    url = path.format(**world["acme"])
    missing_id = DeliveryCenter.objects.order_by("-pk").first().pk + 1000

    foreign = client.get(url, {"center": world["globex"]["center"]})
    missing = client.get(url, {"center": missing_id})

    # Telling "someone else's" from "missing" would let a vendor admin enumerate other vendors.
    assert (foreign.status_code, foreign.json()) == (missing.status_code, missing.json())


def test_staff_lists_every_vendor_and_worker(world, staff_sam):
    client = api_client(staff_sam)

    vendors = client.get("/api/v1/vendors/").json()
    workers = client.get("/api/v1/workers/").json()

    assert {vendor["id"] for vendor in vendors["results"]} == set(
        Vendor.objects.values_list("pk", flat=True)
    )
    assert vendors["count"] == 3
    assert {worker["id"] for worker in workers["results"]} == set(
        Worker.objects.values_list("pk", flat=True)
    )
    assert workers["count"] == 5


# --- public endpoints ---------------------------------------------------------------------------


def public(method, path, status, body=None):
    return pytest.param(method, path, body, status, id=f"{method.upper()} {path}")


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        public(
            "post",
            "/api/v1/vendors/register/",
            201,
            {"name": "Initech", "country": "US", "admin": NEW_ACCOUNT},
        ),
        public("post", "/api/v1/workers/register/", 201, NEW_WORKER),
        public(
            "post",
            "/api/v1/auth/token/",
            200,
            {"username": "worker_alice", "password": factories.PASSWORD},
        ),
        public("get", "/api/schema/", 200),
        public("get", "/api/docs/", 200),
        public("get", "/health/", 200),
    ],
)
def test_public_endpoints_need_no_credentials(worker_alice, method, path, body, status):
    response = getattr(APIClient(), method)(path, body, format="json")

    assert response.status_code == status, response.content


# --- token auth ---------------------------------------------------------------------------------


def test_token_from_good_credentials_authenticates(worker_alice):
    response = APIClient().post(
        "/api/v1/auth/token/",
        {"username": "worker_alice", "password": factories.PASSWORD},
        format="json",
    )

    assert response.status_code == 200
    assert set(response.json()) == {"token"}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    me = client.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "worker_alice"


@pytest.mark.parametrize(
    ("username", "password"),
    [("worker_alice", "wrong-password"), ("nobody", factories.PASSWORD)],
    ids=["wrong-password", "unknown-user"],
)
def test_bad_credentials_get_no_token(worker_alice, username, password):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json"
    )

    assert_error(response, 401, "authentication_failed")


# --- me -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "extra"),
    [("staff", set()), ("manager", set()), ("vendor_admin", {"vendor"})],
)
def test_me_shows_non_worker_roles_their_account(user_in_role, vendor_acme, role, extra):
    user = user_in_role[role]

    body = api_client(user).get("/api/v1/me/").json()

    assert {"id": body["id"], "username": body["username"], "role": body["role"]} == {
        "id": user.pk,
        "username": user.username,
        "role": role,
    }
    worker_fields = {"worker", "kind", "center", "languages", "skills", "status"}
    assert not worker_fields & set(body)
    assert ("vendor" in body) == ("vendor" in extra)
    if "vendor" in extra:
        assert body["vendor"] == vendor_acme.pk


@pytest.mark.parametrize("freelancer", [False, True], ids=["vendor-worker", "freelancer"])
def test_me_shows_a_worker_their_profile(center_manila, freelancer):
    # Users created first so that the worker id and the user id differ.
    factories.UserFactory.create_batch(2)
    worker = factories.WorkerFactory(
        user=factories.UserFactory(username="worker_wes"),
        freelancer=freelancer,
        center=None if freelancer else center_manila,
        languages={"en": "C1", "fil": "native"},
        skills={"ner": 70},
    )
    assert worker.pk != worker.user.pk

    response = api_client(worker.user).get("/api/v1/me/")

    assert response.status_code == 200
    body = response.json()
    assert {key: body[key] for key in body if key not in {"email", "quality"}} == {
        "id": worker.user.pk,
        "username": "worker_wes",
        "role": "worker",
        "worker": worker.pk,
        "kind": "freelancer" if freelancer else "vendor",
        "vendor": None if freelancer else center_manila.vendor_id,
        "center": None if freelancer else center_manila.pk,
        "languages": [{"code": "en", "level": "C1"}, {"code": "fil", "level": "native"}],
        "skills": [{"slug": "ner", "level": 70}],
        "status": "active",
    }
