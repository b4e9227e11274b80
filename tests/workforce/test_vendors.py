"""The vendor status machine (SPEC §3), what each status allows, and vendor registration."""

import itertools

import pytest
from rest_framework.test import APIClient

from tests import factories
from tests.utils import api_client, workforce_state
from workforce.models import DeliveryCenter, Vendor, Worker, WorkerLanguage
from workforce.selectors import worker_eligibility_q, worker_get_eligible

PENDING, APPROVED, REJECTED, SUSPENDED = (
    Vendor.Status.PENDING,
    Vendor.Status.APPROVED,
    Vendor.Status.REJECTED,
    Vendor.Status.SUSPENDED,
)
NEW_CENTER = {
    "name": "Cebu 2",
    "country": "PH",
    "city": "Cebu",
    "timezone": "Asia/Manila",
    "languages": ["en"],
    "seats": 40,
}
NEW_WORKER = {
    "username": "new_worker",
    "email": "new_worker@example.com",
    "password": "long-enough-pass",
    "languages": [{"code": "en", "level": "B2"}],
}


ALLOWED_TRANSITIONS = [
    (PENDING, "approve", APPROVED),
    (PENDING, "reject", REJECTED),
    (APPROVED, "suspend", SUSPENDED),
    (SUSPENDED, "approve", APPROVED),
]


# --- status machine over HTTP -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "action", "end"),
    ALLOWED_TRANSITIONS,
)
def test_staff_moves_a_vendor_along_its_status_machine(staff_sam, start, action, end):
    vendor = factories.VendorFactory(status=start)

    response = api_client(staff_sam).post(f"/api/v1/vendors/{vendor.pk}/{action}/")

    assert response.status_code == 200, response.content
    assert response.json()["id"] == vendor.pk
    assert response.json()["status"] == end
    vendor.refresh_from_db()
    assert vendor.status == end


@pytest.mark.parametrize(
    ("start", "action", "end"),
    ALLOWED_TRANSITIONS,
)
def test_repeating_a_status_action_is_idempotent(staff_sam, start, action, end):
    vendor = factories.VendorFactory(status=start)
    client = api_client(staff_sam)
    first = client.post(f"/api/v1/vendors/{vendor.pk}/{action}/")

    again = client.post(f"/api/v1/vendors/{vendor.pk}/{action}/")

    assert again.status_code == 200, again.content
    assert again.json() == first.json()
    vendor.refresh_from_db()
    assert vendor.status == end


@pytest.mark.parametrize(
    ("start", "action"),
    [
        (APPROVED, "reject"),
        (PENDING, "suspend"),
        (REJECTED, "approve"),
        (REJECTED, "suspend"),
        (SUSPENDED, "reject"),
    ],
)
def test_a_disallowed_transition_is_a_409_and_changes_nothing(staff_sam, start, action):
    vendor = factories.VendorFactory(status=start)

    response = api_client(staff_sam).post(f"/api/v1/vendors/{vendor.pk}/{action}/")

    assert response.status_code == 409
    body = response.json()
    assert set(body) == {"detail", "code"}
    assert body["code"] == "vendor_status_conflict"
    assert start in body["detail"]
    vendor.refresh_from_db()
    assert vendor.status == start


def test_a_status_action_on_an_unknown_vendor_is_404(staff_sam):
    response = api_client(staff_sam).post("/api/v1/vendors/999999/approve/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# --- what each status allows --------------------------------------------------------------------


@pytest.fixture
def vendor_initech(db):
    return factories.VendorFactory(name="Initech", status=REJECTED)


@pytest.fixture
def vendor_admin_initech(vendor_initech):
    return factories.VendorAdminFactory(username="vendor_admin_initech", vendor=vendor_initech)


@pytest.fixture
def center_austin(vendor_initech):
    return factories.CenterFactory(vendor=vendor_initech, name="Austin", country="US")


@pytest.fixture
def worker_milton(center_austin):
    return factories.WorkerFactory(
        user=factories.UserFactory(username="worker_milton"), center=center_austin
    )


@pytest.fixture
def worker_peter(center_austin):
    return factories.WorkerFactory(
        user=factories.UserFactory(username="worker_peter"),
        center=center_austin,
        status=Worker.Status.SUSPENDED,
    )


@pytest.fixture
def rejected_vendor(vendor_initech, center_austin, worker_milton, worker_peter):
    return {
        "vendor": vendor_initech.pk,
        "center": center_austin.pk,
        "worker": worker_milton.pk,
        "suspended_worker": worker_peter.pk,
    }


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/vendors/{vendor}/centers/", NEW_CENTER),
        ("patch", "/api/v1/centers/{center}/", {"seats": 7, "status": "inactive"}),
        ("post", "/api/v1/centers/{center}/workers/", NEW_WORKER),
        ("post", "/api/v1/centers/{center}/workers/", [NEW_WORKER]),
        ("post", "/api/v1/workers/{worker}/suspend/", None),
        ("post", "/api/v1/workers/{suspended_worker}/reinstate/", None),
    ],
    ids=["create-center", "patch-center", "add-worker", "add-workers", "suspend", "reinstate"],
)
def test_a_rejected_vendor_is_read_only(rejected_vendor, vendor_admin_initech, method, path, body):
    before = workforce_state()

    response = getattr(api_client(vendor_admin_initech), method)(
        path.format(**rejected_vendor), body, format="json"
    )

    assert response.status_code == 403, response.content
    assert response.json()["code"] == "vendor_read_only"
    assert workforce_state() == before


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/vendors/{vendor}/",
        "/api/v1/vendors/{vendor}/centers/",
        "/api/v1/centers/{center}/",
        "/api/v1/centers/{center}/workers/",
        "/api/v1/workers/",
        "/api/v1/workers/{worker}/",
    ],
)
def test_a_rejected_vendors_admin_still_reads(rejected_vendor, vendor_admin_initech, path):
    response = api_client(vendor_admin_initech).get(path.format(**rejected_vendor))

    assert response.status_code == 200, response.content


def test_a_pending_vendors_admin_sets_up_centers_and_workers(db):
    vendor = factories.VendorFactory(status=PENDING)
    client = api_client(factories.VendorAdminFactory(vendor=vendor))

    center = client.post(f"/api/v1/vendors/{vendor.pk}/centers/", NEW_CENTER, format="json")
    assert center.status_code == 201, center.content
    workers = client.post(
        f"/api/v1/centers/{center.json()['id']}/workers/", [NEW_WORKER], format="json"
    )

    assert workers.status_code == 201, workers.content
    assert Worker.objects.get(user__username="new_worker").center.vendor == vendor


# --- eligibility to claim -----------------------------------------------------------------------

VENDOR_STATUSES = list(Vendor.Status)
CENTER_STATUSES = list(DeliveryCenter.Status)
WORKER_STATUSES = list(Worker.Status)


def make_worker(vendor_status, center_status, worker_status) -> Worker:
    if vendor_status is None:
        return factories.WorkerFactory(freelancer=True, status=worker_status)
    center = factories.CenterFactory(
        vendor=factories.VendorFactory(status=vendor_status), status=center_status
    )
    return factories.WorkerFactory(center=center, status=worker_status)


def expected_eligible(vendor_status, center_status, worker_status) -> bool:
    if worker_status != Worker.Status.ACTIVE:
        return False
    if vendor_status is None:  # freelancer
        return True
    return vendor_status == APPROVED and center_status == DeliveryCenter.Status.ACTIVE


COMBINATIONS = [
    *itertools.product(VENDOR_STATUSES, CENTER_STATUSES, WORKER_STATUSES),
    *((None, None, worker_status) for worker_status in WORKER_STATUSES),
]


@pytest.mark.parametrize(
    ("vendor_status", "center_status", "worker_status"),
    COMBINATIONS,
    ids=lambda status: str(status or "freelancer"),
)
def test_worker_get_eligible(
    db, django_assert_num_queries, vendor_status, center_status, worker_status
):
    worker = make_worker(vendor_status, center_status, worker_status)

    with django_assert_num_queries(1):
        eligible = worker_get_eligible(user=worker.user)

    if expected_eligible(vendor_status, center_status, worker_status):
        assert eligible == worker
    else:
        assert eligible is None


def test_eligibility_q_agrees_with_worker_get_eligible(db):
    workers = {combination: make_worker(*combination) for combination in COMBINATIONS}
    expected = {
        worker.pk for combination, worker in workers.items() if expected_eligible(*combination)
    }

    by_q = set(Worker.objects.filter(worker_eligibility_q()).values_list("pk", flat=True))
    by_selector = {
        worker.pk for worker in workers.values() if worker_get_eligible(user=worker.user)
    }
    # Other apps apply the rule across a relation through the prefix.
    by_prefixed_q = set(
        WorkerLanguage.objects.filter(worker_eligibility_q("worker__")).values_list(
            "worker", flat=True
        )
    )

    assert len(expected) == 2  # an approved vendor's active worker, and an active freelancer
    assert by_q == by_selector == by_prefixed_q == expected


# --- registration -------------------------------------------------------------------------------

REGISTRATION = {
    "name": "Initech",
    "country": "US",
    "admin": {"username": "bill", "email": "bill@initech.example", "password": "tps-reports-123"},
}


def test_registration_creates_a_pending_vendor_whose_admin_can_log_in(db):
    response = APIClient().post("/api/v1/vendors/register/", REGISTRATION, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert {key: body[key] for key in ("name", "country", "status")} == {
        "name": "Initech",
        "country": "US",
        "status": "pending",
    }
    assert Vendor.objects.get(pk=body["id"]).status == PENDING
    token = APIClient().post(
        "/api/v1/auth/token/",
        {"username": "bill", "password": "tps-reports-123"},
        format="json",
    )
    assert token.status_code == 200
    admin = APIClient()
    admin.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    me = admin.get("/api/v1/me/").json()
    assert (me["role"], me["vendor"]) == ("vendor_admin", body["id"])
    assert admin.get(f"/api/v1/vendors/{body['id']}/").status_code == 200


@pytest.mark.parametrize(
    ("changes", "error_path"),
    [
        ({"name": "acme bpo"}, ["name"]),
        ({"name": "  ACME BPO "}, ["name"]),
        (
            {"admin": {**REGISTRATION["admin"], "username": "vendor_admin_acme"}},
            ["admin", "username"],
        ),
        ({"country": "ZZ"}, ["country"]),
        ({"admin": {**REGISTRATION["admin"], "password": "short"}}, ["admin", "password"]),
    ],
    ids=["name-case", "name-spaces", "admin-username", "country", "admin-password"],
)
def test_bad_registration_is_400_naming_the_field_and_creates_nothing(
    vendor_admin_acme, changes, error_path
):
    before = workforce_state()

    response = APIClient().post(
        "/api/v1/vendors/register/", {**REGISTRATION, **changes}, format="json"
    )

    assert response.status_code == 400
    error = response.json()
    for key in error_path:
        error = error[key]
    assert isinstance(error, list)
    assert error
    assert all(isinstance(message, str) for message in error)
    assert workforce_state() == before


def test_registration_is_documented_with_its_own_fields(db):
    schema = APIClient().get("/api/schema/?format=json").json()

    body = schema["paths"]["/api/v1/vendors/register/"]["post"]["requestBody"]
    reference = body["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    assert {"name", "country", "admin"} <= set(component["properties"])
