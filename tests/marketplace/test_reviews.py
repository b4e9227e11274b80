"""Managers review judgments: accept, reject (which reopens the task), random samples."""

import datetime

import pytest
from django.utils import timezone

from marketplace.models import Assignment, Task
from marketplace.selectors import judgments_payable
from tests import factories
from tests.utils import api_client

CLAIM = "/api/v1/assignments/claim/"


def do_work(worker, count: int, answer="positive") -> list[int]:
    client = api_client(worker.user)
    ids = []
    for _ in range(count):
        assignment_id = client.post(CLAIM).json()["id"]
        client.post(f"/api/v1/assignments/{assignment_id}/submit/", {"answer": answer}, "json")
        ids.append(assignment_id)
    return ids


@pytest.fixture
def project_reviewed(manager_pat):
    project = factories.project_create(manager_pat, gold_ratio=0.0, overlap=1)
    factories.tasks_create(project, 12)
    return project


def review(manager, assignment_id, action):
    return api_client(manager).post(f"/api/v1/assignments/{assignment_id}/{action}/")


def test_accept_is_idempotent(manager_pat, worker_alice, project_reviewed):
    [assignment_id] = do_work(worker_alice, 1)

    first = review(manager_pat, assignment_id, "accept")
    again = review(manager_pat, assignment_id, "accept")

    assert (first.status_code, first.json()["status"]) == (200, "accepted")
    assert (again.status_code, again.json()["status"]) == (200, "accepted")
    task = Task.objects.get(assignments__pk=assignment_id)
    assert (task.status, task.done_count) == ("complete", 1)


@pytest.mark.parametrize("before", ["submitted", "accepted"])
def test_reject_reopens_the_task_for_another_worker(
    manager_pat, worker_alice, worker_bob, project_reviewed, before
):
    [assignment_id] = do_work(worker_alice, 1)
    if before == "accepted":
        review(manager_pat, assignment_id, "accept")

    response = review(manager_pat, assignment_id, "reject")

    assert (response.status_code, response.json()["status"]) == (200, "rejected")
    task = Task.objects.get(assignments__pk=assignment_id)
    assert (task.status, task.done_count, task.live_count) == ("open", 0, 0)
    # every task misses one judgment; the reopened one is first in the serve order, as for alice
    assert api_client(worker_bob.user).post(CLAIM).json()["task"]["id"] == task.id


@pytest.mark.parametrize(
    ("state", "action"),
    [("rejected", "accept"), ("active", "accept"), ("active", "reject"), ("untrusted", "accept")],
)
def test_review_of_work_in_the_wrong_state_is_409(
    manager_pat, worker_alice, project_reviewed, state, action
):
    [assignment_id] = do_work(worker_alice, 1)
    Assignment.objects.filter(pk=assignment_id).update(status=state)

    response = review(manager_pat, assignment_id, action)

    assert response.status_code == 409
    assert Assignment.objects.get(pk=assignment_id).status == state


def test_only_the_projects_managers_review(manager_pat, worker_alice, project_reviewed, staff_sam):
    [assignment_id] = do_work(worker_alice, 1)
    other_manager = factories.ManagerFactory()

    assert review(other_manager, assignment_id, "reject").status_code == 404
    assert review(worker_alice.user, assignment_id, "reject").status_code == 403
    assert Assignment.objects.get(pk=assignment_id).status == "submitted"
    assert review(staff_sam, assignment_id, "accept").status_code == 200


def sample(manager, project, body):
    return api_client(manager).post(
        f"/api/v1/projects/{project.id}/review-sample/", body, format="json"
    )


@pytest.mark.parametrize(("percent", "expected"), [(25, 3), (10, 1), (100, 10), (0.5, 1)])
def test_review_sample_takes_that_share_rounded_up(
    manager_pat, worker_alice, project_reviewed, percent, expected
):
    ids = do_work(worker_alice, 10)

    response = sample(
        manager_pat, project_reviewed, {"worker": worker_alice.id, "percent": percent}
    )

    assert response.status_code == 200
    picked = response.json()["assignments"]
    assert len(picked) == len(set(picked)) == expected
    assert set(picked) <= set(ids)


def test_review_sample_leaves_out_reviewed_and_gold_work(
    manager_pat, worker_alice, project_reviewed
):
    ids = do_work(worker_alice, 6)
    review(manager_pat, ids[0], "accept")
    review(manager_pat, ids[1], "reject")
    Assignment.objects.filter(pk=ids[2]).update(is_gold=True)

    response = sample(manager_pat, project_reviewed, {"worker": worker_alice.id, "percent": 100})

    assert sorted(response.json()["assignments"]) == ids[3:]


@pytest.mark.parametrize("body", [{"worker": 1, "percent": 0}, {"worker": 1, "percent": 101}, {}])
def test_bad_review_sample_is_400(manager_pat, project_reviewed, body):
    response = sample(manager_pat, project_reviewed, body)

    assert response.status_code == 400


def test_rejected_and_untrusted_work_is_not_payable(manager_pat, worker_alice, project_reviewed):
    ids = do_work(worker_alice, 4)
    review(manager_pat, ids[0], "reject")
    review(manager_pat, ids[1], "accept")
    Assignment.objects.filter(pk=ids[2]).update(status="untrusted")
    now = timezone.now()

    payable = judgments_payable(
        start=now - datetime.timedelta(hours=1), end=now + datetime.timedelta(seconds=1)
    )

    assert sorted(payable.values_list("pk", flat=True)) == [ids[1], ids[3]]
    assert not judgments_payable(start=now + datetime.timedelta(seconds=1), end=now).exists()
