"""Gold questions: invisible to workers, seen once each, scoring and blocking (SPEC §4.3, §6)."""

import datetime
import json

import pytest
from django.utils import timezone

from marketplace.models import Assignment, Project, Task
from qc.models import WorkerQuality
from tests import factories
from tests.utils import api_client

CLAIM = "/api/v1/assignments/claim/"
SECRET_WORDS = ("gold", "check_passed", "is_gold")


def shape(value):
    """The structure of a JSON value: keys at every depth, and types; never the values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return type(value).__name__


def assert_no_secret(response) -> None:
    text = response.content.decode().lower()
    for word in SECRET_WORDS:
        assert word not in text, f"{word!r} leaked in {response.request['PATH_INFO']}"


@pytest.fixture
def project_half_gold(manager_pat):
    project = factories.project_create(
        manager_pat, gold_ratio=0.5, overlap=1, min_gold_before_block=1000
    )
    factories.tasks_create(project, 40, gold=40, answer="positive")
    return project


def test_gold_and_regular_claims_look_the_same(worker_alice, project_half_gold):
    client = api_client(worker_alice.user)
    shapes = {True: set(), False: set()}
    for _ in range(40):
        response = client.post(CLAIM)
        assert response.status_code == 201
        assert_no_secret(response)
        body = response.json()
        is_gold = Task.objects.get(pk=body["task"]["id"]).is_gold
        shapes[is_gold].add(json.dumps(shape(body), sort_keys=True))
        submitted = client.post(
            f"/api/v1/assignments/{body['id']}/submit/", {"answer": "negative"}, format="json"
        )
        assert_no_secret(submitted)
        shapes[is_gold].add(json.dumps(shape(submitted.json()), sort_keys=True))

    # both kinds were served, and no key, at any depth, tells them apart
    assert shapes[True] and shapes[False]
    assert shapes[True] == shapes[False]


def test_worker_facing_reads_reveal_no_gold(worker_alice, project_half_gold):
    client = api_client(worker_alice.user)
    ids = []
    for _ in range(12):
        body = client.post(CLAIM).json()
        ids.append(body["id"])
        client.post(f"/api/v1/assignments/{body['id']}/submit/", {"answer": "neutral"}, "json")
    gold_ids = set(Assignment.objects.filter(is_gold=True).values_list("id", flat=True))
    assert gold_ids and gold_ids != set(ids)

    reads = [client.get("/api/v1/assignments/"), client.get("/api/v1/me/")]
    reads += [client.get(f"/api/v1/assignments/{pk}/") for pk in ids]
    for response in reads:
        assert response.status_code == 200
        assert_no_secret(response)
    details = {json.dumps(shape(r.json()), sort_keys=True) for r in reads[2:]}
    assert len(details) == 1


@pytest.mark.parametrize(
    "query",
    [
        "is_gold=true",
        "is_gold=false",
        "gold_answer=positive",
        "check_passed=false",
        "ordering=is_gold",
        "ordering=-check_passed",
        "ordering=task__is_gold",
        "ordering=gold_order",
        "task__is_gold=true",
    ],
)
def test_no_filter_or_ordering_reveals_gold(worker_alice, project_half_gold, query):
    client = api_client(worker_alice.user)
    for _ in range(10):
        body = client.post(CLAIM).json()
        client.post(f"/api/v1/assignments/{body['id']}/submit/", {"answer": "neutral"}, "json")
    plain = client.get("/api/v1/assignments/?ordering=-id").json()["results"]

    response = client.get(f"/api/v1/assignments/?{query}")

    assert response.status_code == 200
    assert sorted(row["id"] for row in response.json()["results"]) == sorted(
        row["id"] for row in plain
    )
    ordered = [row["id"] for row in response.json()["results"]]
    assert ordered in ([row["id"] for row in plain], sorted(row["id"] for row in plain))


def test_each_gold_question_reaches_a_worker_at_most_once(manager_pat, center_manila):
    project = factories.project_create(manager_pat, gold_ratio=0.9, overlap=3)
    factories.tasks_create(project, 30, gold=5)
    workers = factories.WorkerFactory.create_batch(3, center=center_manila)
    for worker in workers:
        client = api_client(worker.user)
        while (response := client.post(CLAIM)).status_code == 201:
            client.post(
                f"/api/v1/assignments/{response.json()['id']}/submit/",
                {"answer": "positive"},
                format="json",
            )

    for worker in workers:
        gold_seen = list(
            Assignment.objects.filter(worker=worker, is_gold=True).values_list("task", flat=True)
        )
        assert len(gold_seen) == len(set(gold_seen)) == 5
    # gold does not use up the overlap, and never completes
    assert not Task.objects.filter(is_gold=True, status="complete").exists()
    assert set(Task.objects.filter(is_gold=False).values_list("status", flat=True)) == {"complete"}


def test_no_gold_once_regular_work_has_run_out(worker_alice, manager_pat):
    project = factories.project_create(manager_pat, gold_ratio=0.99)
    factories.tasks_create(project, 1, gold=10)
    client = api_client(worker_alice.user)
    served = []
    while (response := client.post(CLAIM)).status_code == 201:
        served.append(response.json()["task"]["id"])
        client.post(
            f"/api/v1/assignments/{response.json()['id']}/submit/",
            {"answer": "positive"},
            format="json",
        )

    tasks = Task.objects.in_bulk(served)
    assert not tasks[served[-1]].is_gold
    assert sum(not task.is_gold for task in tasks.values()) == 1
    assert response.status_code == 204


@pytest.fixture
def project_strict(manager_pat):
    project = factories.project_create(
        manager_pat, gold_ratio=0.5, overlap=2, min_gold_before_block=5, min_gold_accuracy=0.7
    )
    factories.tasks_create(project, 40, gold=20, answer="positive")
    return project


def _work(client, answer) -> int | None:
    response = client.post(CLAIM)
    if response.status_code != 201:
        return None
    assignment_id = response.json()["id"]
    client.post(f"/api/v1/assignments/{assignment_id}/submit/", {"answer": answer}, "json")
    return assignment_id


def _fail_until_blocked(client, project) -> None:
    """Some regular work first (so there is work to untrust), then wrong answers throughout."""
    Project.objects.filter(pk=project.pk).update(gold_ratio=0.0)
    for _ in range(4):
        _work(client, "negative")
    Project.objects.filter(pk=project.pk).update(gold_ratio=0.9)
    while _work(client, "negative") is not None:
        pass


def test_a_worker_failing_gold_is_blocked_and_their_work_redone(worker_alice, project_strict):
    client = api_client(worker_alice.user)
    _fail_until_blocked(client, project_strict)
    quality = WorkerQuality.objects.get(worker=worker_alice, project=project_strict)

    # (0 correct + 4) / (5 seen + 5) = 0.4 < 0.7 after the fifth failed gold question
    assert quality.blocked
    assert (quality.gold_seen, quality.gold_correct) == (5, 0)
    assert client.post(CLAIM).status_code == 204
    regular = Assignment.objects.filter(worker=worker_alice, is_gold=False)
    assert regular.count() >= 4
    assert set(regular.values_list("status", flat=True)) == {"untrusted"}
    reopened = Task.objects.filter(pk__in=regular.values("task"))
    assert set(reopened.values_list("status", "done_count", "live_count")) == {("open", 0, 0)}


def test_untrusted_work_still_reads_submitted_to_its_worker(worker_alice, project_strict):
    client = api_client(worker_alice.user)
    _fail_until_blocked(client, project_strict)
    untrusted = Assignment.objects.filter(worker=worker_alice, status="untrusted")

    listed = client.get("/api/v1/assignments/?status=submitted").json()
    refused = client.get("/api/v1/assignments/?status=untrusted")
    detail = client.get(f"/api/v1/assignments/{untrusted.first().pk}/").json()
    me = client.get("/api/v1/me/").json()

    assert listed["count"] == Assignment.objects.filter(worker=worker_alice).count()
    assert {row["status"] for row in listed["results"]} == {"submitted"}
    assert refused.status_code == 400
    assert detail["status"] == "submitted"
    assert me["quality"][0]["blocked"] is True


def test_an_honest_worker_stays_unblocked(worker_alice, project_strict):
    client = api_client(worker_alice.user)
    while _work(client, "positive") is not None:
        pass

    quality = WorkerQuality.objects.get(worker=worker_alice, project=project_strict)
    assert not quality.blocked
    assert quality.gold_seen == quality.gold_correct > 0
    assert not Assignment.objects.filter(status="untrusted").exists()


def test_a_too_fast_answer_is_a_failed_check_even_on_regular_tasks(worker_alice, manager_pat):
    project = factories.project_create(manager_pat, gold_ratio=0.0, min_seconds_per_task=30)
    factories.tasks_create(project, 2)
    client = api_client(worker_alice.user)

    fast = _work(client, "positive")
    slow_id = client.post(CLAIM).json()["id"]
    Assignment.objects.filter(pk=slow_id).update(
        claimed_at=timezone.now() - datetime.timedelta(seconds=31)
    )
    client.post(f"/api/v1/assignments/{slow_id}/submit/", {"answer": "positive"}, "json")

    quality = WorkerQuality.objects.get(worker=worker_alice, project=project)
    assert (quality.gold_seen, quality.gold_correct) == (1, 0)
    assert Assignment.objects.get(pk=fast).check_passed is False
    assert Assignment.objects.get(pk=slow_id).check_passed is None


def test_workers_see_their_estimate_as_of_the_previous_utc_midnight(
    worker_alice, project_half_gold
):
    client = api_client(worker_alice.user)
    # Before any work: nothing. From the first claim, gold or not, the project is listed with
    # its prior, 4 / 5: listed from the first gold check, it would tell which task was gold.
    assert client.get("/api/v1/me/").json()["quality"] == []
    prior = [
        {
            "project": project_half_gold.pk,
            "accuracy_estimate": pytest.approx(4 / 5),
            "as_of": timezone.now()
            .replace(hour=0, minute=0, second=0, microsecond=0)
            .isoformat()
            .replace("+00:00", "Z"),
            "blocked": False,
        }
    ]
    _work(client, "positive")
    assert client.get("/api/v1/me/").json()["quality"] == prior
    while not Assignment.objects.filter(worker=worker_alice, is_gold=True).exists():
        _work(client, "positive")

    # The gold check made the record; what shows is still as of midnight.
    assert client.get("/api/v1/me/").json()["quality"] == prior

    # The next day the same counts are history and do show: (1 + 4) / (1 + 5).
    WorkerQuality.objects.filter(worker=worker_alice).update(
        day=timezone.now().date() - datetime.timedelta(days=1)
    )
    tomorrow = client.get("/api/v1/me/").json()["quality"][0]
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    assert tomorrow["accuracy_estimate"] == pytest.approx(5 / 6)
    assert tomorrow["as_of"] == midnight.isoformat().replace("+00:00", "Z")
    assert tomorrow["blocked"] is False

    # More gold today changes nothing shown until the next day.
    while WorkerQuality.objects.get(worker=worker_alice).gold_seen < 2:
        _work(client, "negative")
    again = client.get("/api/v1/me/").json()["quality"][0]
    assert again["accuracy_estimate"] == pytest.approx(5 / 6)
