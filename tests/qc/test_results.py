"""Consensus when a task completes, adaptive overlap, and the results export (SPEC §6, §8)."""

import csv
import io
import json

import pytest

from marketplace.models import Task
from marketplace.services.tasks import task_bulk_create
from qc.models import TaskResult, WorkerQuality
from tests import factories
from tests.utils import api_client

CLAIM = "/api/v1/assignments/claim/"


def answer_next(worker, answer) -> int:
    client = api_client(worker.user)
    body = client.post(CLAIM).json()
    client.post(f"/api/v1/assignments/{body['id']}/submit/", {"answer": answer}, "json")
    return body["task"]["id"]


@pytest.fixture
def crowd(center_manila):
    return factories.WorkerFactory.create_batch(3, center=center_manila)


def test_consensus_is_weighted_by_accuracy_when_the_task_completes(manager_pat, crowd):
    project = factories.project_create(manager_pat, gold_ratio=0.0, overlap=3)
    factories.tasks_create(project, 1)
    expert, novice_a, novice_b = crowd
    # The expert has a strong gold record, the novices a poor one (estimates 0.97 vs 0.4).
    WorkerQuality.objects.create(worker=expert, project=project, gold_seen=95, gold_correct=95)
    for novice in (novice_a, novice_b):
        WorkerQuality.objects.create(worker=novice, project=project, gold_seen=5, gold_correct=0)

    task_id = answer_next(expert, "negative")
    assert not TaskResult.objects.exists()
    answer_next(novice_a, "positive")
    answer_next(novice_b, "positive")

    result = TaskResult.objects.get(task_id=task_id)
    assert result.consensus == "negative"
    assert result.method == "weighted_majority"
    assert result.confidence == pytest.approx(99 / 100 / (99 / 100 + 0.4 + 0.4))


def test_adaptive_overlap_asks_for_more_until_confident_or_at_the_cap(manager_pat, center_manila):
    project = factories.project_create(
        manager_pat, gold_ratio=0.0, overlap=2, target_confidence=0.9, max_overlap=4
    )
    factories.tasks_create(project, 1)
    workers = factories.WorkerFactory.create_batch(5, center=center_manila)
    task = Task.objects.get(project=project)

    answer_next(workers[0], "positive")
    answer_next(workers[1], "negative")  # 50/50: not confident, one more judgment
    task.refresh_from_db()
    assert (task.required, task.status) == (3, "open")
    answer_next(workers[2], "positive")  # 2/3: still below 0.9
    answer_next(workers[3], "positive")  # 3/4 and the cap is reached
    task.refresh_from_db()
    assert (task.required, task.status, task.done_count) == (4, "complete", 4)
    assert api_client(workers[4].user).post(CLAIM).status_code == 204
    assert TaskResult.objects.get(task=task).consensus == "positive"


def test_a_confident_task_completes_at_the_overlap(manager_pat, crowd):
    project = factories.project_create(
        manager_pat, gold_ratio=0.0, overlap=2, target_confidence=0.9, max_overlap=5
    )
    factories.tasks_create(project, 1)

    for worker in crowd[:2]:
        answer_next(worker, "neutral")

    task = Task.objects.get(project=project)
    assert (task.required, task.status) == (2, "complete")


@pytest.fixture
def finished_project(manager_pat, crowd):
    project = factories.project_create(
        manager_pat, gold_ratio=0.0, overlap=1, labels=["@SUM(A1)", "negative"]
    )
    task_bulk_create(
        project=project,
        rows=[
            {"data": {"text": '=HYPERLINK("http://evil")'}},
            {"data": {"text": "plain"}},
            {"data": {"text": "unfinished"}},
        ],
    )
    answer_next(crowd[0], "@SUM(A1)")
    answer_next(crowd[1], "negative")
    return project


def results(manager, project, query=""):
    return api_client(manager).get(f"/api/v1/projects/{project.id}/results/{query}")


def test_results_list_complete_tasks_only(manager_pat, finished_project):
    response = results(manager_pat, finished_project)

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [set(row) for row in rows] == [
        {"task", "data", "consensus", "confidence", "judgments", "method"}
    ] * 2
    assert sorted(row["consensus"] for row in rows) == ["@SUM(A1)", "negative"]
    assert all(row["judgments"] == 1 and row["method"] == "weighted_majority" for row in rows)


def test_results_stream_as_json_lines(manager_pat, finished_project):
    response = results(manager_pat, finished_project, "?format=jsonl")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert sorted(json.loads(line)["consensus"] for line in lines) == ["@SUM(A1)", "negative"]


def test_results_csv_neutralises_formulas(manager_pat, finished_project):
    response = results(manager_pat, finished_project, "?format=csv")

    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(row["consensus"] for row in rows) == ["'@SUM(A1)", "negative"]
    assert all(set(json.loads(row["data"])) == {"text"} for row in rows)
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())


def test_results_are_for_the_projects_managers(finished_project, worker_alice):
    assert results(factories.ManagerFactory(), finished_project).status_code == 404
    assert results(worker_alice.user, finished_project).status_code == 403


def test_results_query_count_is_flat(manager_pat, center_manila, django_assert_num_queries):
    project = factories.project_create(manager_pat, gold_ratio=0.0, max_active_assignments=100)
    factories.tasks_create(project, 40)
    worker = factories.WorkerFactory(center=center_manila)
    client = api_client(manager_pat)
    for _ in range(3):
        answer_next(worker, "neutral")
    # token+user, project, count, page
    with django_assert_num_queries(4):
        small = client.get(f"/api/v1/projects/{project.id}/results/")
    for _ in range(30):
        answer_next(worker, "neutral")
    with django_assert_num_queries(4):
        large = client.get(f"/api/v1/projects/{project.id}/results/")

    assert (small.json()["count"], large.json()["count"]) == (3, 33)


def test_rejected_work_is_left_out_of_consensus(manager_pat, center_manila):
    project = factories.project_create(manager_pat, gold_ratio=0.0, overlap=2)
    factories.tasks_create(project, 1)
    careless, careful, third = factories.WorkerFactory.create_batch(3, center=center_manila)
    answer_next(careless, "negative")
    answer_next(careful, "positive")
    rejected = careless.assignments.get()

    api_client(manager_pat).post(f"/api/v1/assignments/{rejected.id}/reject/")
    answer_next(third, "positive")

    result = TaskResult.objects.get(task__project=project)
    assert (result.consensus, result.confidence) == ("positive", 1.0)
    assert Task.objects.get(project=project).done_count == 2
