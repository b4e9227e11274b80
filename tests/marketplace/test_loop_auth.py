"""Claim and submit authenticate a token in the round trip of their first statement on
PostgreSQL (config.api.AuthenticatedInFirstStatement): a caller DRF would refuse before the
handler is refused the same way, and nothing is claimed or stored for them. On SQLite the same
answers come from DRF's usual path."""

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.authentication import USER_BY_TOKEN, TokenCaller
from marketplace.models import Assignment, Task
from tests.utils import api_client, requires_postgres
from workforce.models import Role, User

CLAIM = "/api/v1/assignments/claim/"


def submit_path(assignment_id: int) -> str:
    return f"/api/v1/assignments/{assignment_id}/submit/"


def with_header(value: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=value)
    return client


def loop_state() -> list:
    return [
        list(Assignment.objects.order_by("pk").values_list("pk", "status", "answer")),
        list(Task.objects.order_by("pk").values_list("pk", "live_count", "done_count")),
    ]


@pytest.fixture
def held(worker_bob, project_sentiment) -> int:
    """An assignment another worker holds: what a refused submit must leave alone."""
    return api_client(worker_bob.user).post(CLAIM, {}, format="json").json()["id"]


def deactivated(worker):
    worker.user.is_active = False
    worker.user.save(update_fields=["is_active"])
    return worker


def turned_manager(worker):
    # A worker profile, eligible in every other way, whose user may no longer use the loop.
    worker.user.role = "manager"
    worker.user.save(update_fields=["role"])
    return worker


REFUSALS = {
    "unknown token": (lambda worker: with_header("Token " + "0" * 40), 401),
    "inactive user": (lambda worker: api_client(deactivated(worker).user), 401),
    "no longer a worker": (lambda worker: api_client(turned_manager(worker).user), 403),
    "token without key": (lambda worker: with_header("Token"), 401),
    "token with spaces": (lambda worker: with_header("Token a b"), 401),
}


@pytest.mark.parametrize("refusal", REFUSALS)
@pytest.mark.parametrize("body", [{}, {"project": 1}, {"project": "x"}, [1]], ids=repr)
def test_a_refused_claim_gets_401_or_403_and_claims_nothing(
    worker_alice, project_sentiment, held, refusal, body
):
    make_client, status = REFUSALS[refusal]
    client = make_client(worker_alice)
    before = loop_state()

    response = client.post(CLAIM, body, format="json")

    assert response.status_code == status
    if status == 401:
        assert response["WWW-Authenticate"] == "Token"
    assert loop_state() == before


@pytest.mark.parametrize("refusal", REFUSALS)
@pytest.mark.parametrize("body", [{"answer": "positive"}, {"answer": None}, {}], ids=repr)
def test_a_refused_submit_gets_401_or_403_and_stores_nothing(
    worker_alice, project_sentiment, held, refusal, body
):
    make_client, status = REFUSALS[refusal]
    client = make_client(worker_alice)
    own = Assignment.objects.get(pk=held)
    if refusal != "unknown token":
        # The caller's own assignment, so that only authentication stands in the way.
        own.worker = worker_alice
        own.save(update_fields=["worker"])
    before = loop_state()

    response = client.post(submit_path(held), body, format="json")

    assert response.status_code == status
    assert loop_state() == before


def test_a_valid_token_with_a_bad_body_is_400(worker_alice, project_sentiment):
    client = api_client(worker_alice.user)

    assert client.post(CLAIM, {"project": "x"}, format="json").status_code == 400
    assert client.post(submit_path(1), {}, format="json").status_code == 400


def test_staff_may_call_the_loop_without_a_worker_profile(staff_sam, project_sentiment):
    response = api_client(staff_sam).post(CLAIM, {}, format="json")

    assert response.status_code == 204
    assert not Assignment.objects.exists()


def test_a_revoked_token_stops_working_at_once(worker_alice, project_sentiment):
    client = api_client(worker_alice.user)
    assignment_id = client.post(CLAIM, {}, format="json").json()["id"]

    Token.objects.filter(user=worker_alice.user).delete()

    assert (
        client.post(submit_path(assignment_id), {"answer": "positive"}, "json").status_code == 401
    )
    assert client.post(CLAIM, {}, format="json").status_code == 401
    assert Assignment.objects.get(pk=assignment_id).status == Assignment.Status.ACTIVE


def test_a_session_still_authenticates_the_loop(worker_alice, project_sentiment):
    client = APIClient()
    client.force_login(worker_alice.user)

    response = client.post(CLAIM, {}, format="json")

    assert response.status_code == 201


def test_the_caller_is_the_authenticated_user_after_the_first_statement(
    worker_alice, worker_bob, project_sentiment
):
    # Two workers' tokens on one connection, one after the other: each claim is their own.
    first = api_client(worker_alice.user).post(CLAIM, {}, format="json").json()["id"]
    second = api_client(worker_bob.user).post(CLAIM, {}, format="json").json()["id"]

    owners = dict(Assignment.objects.values_list("pk", "worker_id"))
    assert (owners[first], owners[second]) == (worker_alice.pk, worker_bob.pk)
    other = api_client(worker_bob.user).post(submit_path(first), {"answer": "positive"}, "json")
    assert other.status_code == 404


def _plan_nodes(node: dict) -> list[dict]:
    return [node] + [child for sub in node.get("Plans", []) for child in _plan_nodes(sub)]


@requires_postgres
@pytest.mark.parametrize("form", ["user row", "user id"])
def test_a_token_is_found_by_its_key_however_many_users_there_are(db, form):
    # As a join, the generic plan of the prepared statement scanned every user and looked the
    # token up for each while the user table was small and not analyzed yet.
    users = User.objects.bulk_create(
        User(username=f"many{n}", password="!", role=Role.WORKER) for n in range(50)
    )
    tokens = Token.objects.bulk_create(Token(key=Token.generate_key(), user=u) for u in users)
    keys = [token.key for token in tokens]
    caller = TokenCaller(keys[-1], frozenset({Role.WORKER}), authenticate=User)
    sql = USER_BY_TOKEN if form == "user row" else f"SELECT {caller.user_id_sql('{}')}"
    with connection.cursor() as cursor:
        cursor.execute(f"PREPARE token_probe (text) AS {sql.format('$1')}")
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE token_probe(%s)", [keys[-1]])
        (plan,) = cursor.fetchone()
        cursor.execute("DEALLOCATE token_probe")

    scans = {node.get("Relation Name"): node for node in _plan_nodes(plan[0]["Plan"])}
    for table in ("authtoken_token", "workforce_user"):
        assert scans[table]["Actual Loops"] == 1, table
        assert scans[table]["Actual Rows"] == 1, table
        assert scans[table].get("Rows Removed by Filter", 0) == 0, table
