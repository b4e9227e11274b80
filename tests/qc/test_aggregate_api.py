"""Re-aggregation jobs over HTTP (SPEC §8: 202 job; results then carry that method)."""

import pytest

from qc.models import AggregationJob, TaskResult
from tests import factories
from tests.utils import api_client

CLAIM = "/api/v1/assignments/claim/"


@pytest.fixture
def answered_project(manager_pat, center_manila):
    project = factories.project_create(manager_pat, gold_ratio=0.0, overlap=3)
    factories.tasks_create(project, 4)
    for worker in factories.WorkerFactory.create_batch(3, center=center_manila):
        client = api_client(worker.user)
        while (response := client.post(CLAIM)).status_code == 201:
            client.post(
                f"/api/v1/assignments/{response.json()['id']}/submit/",
                {"answer": "negative"},
                format="json",
            )
    return project


def test_aggregate_runs_a_job_and_results_carry_its_method(
    manager_pat, answered_project, django_capture_on_commit_callbacks
):
    client = api_client(manager_pat)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/projects/{answered_project.id}/aggregate/",
            {"method": "dawid_skene"},
            format="json",
        )

    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    job = client.get(f"/api/v1/aggregations/{response.json()['id']}/").json()
    assert (job["status"], job["method"], job["tasks_updated"]) == ("done", "dawid_skene", 4)
    results = client.get(f"/api/v1/projects/{answered_project.id}/results/").json()["results"]
    assert {(row["method"], row["consensus"]) for row in results} == {("dawid_skene", "negative")}


def test_a_job_runs_once_however_often_it_is_delivered(
    manager_pat, answered_project, django_capture_on_commit_callbacks
):
    from qc.services.aggregation import aggregation_run

    with django_capture_on_commit_callbacks(execute=True):
        job_id = (
            api_client(manager_pat)
            .post(f"/api/v1/projects/{answered_project.id}/aggregate/", {"method": "wawa"})
            .json()["id"]
        )
    TaskResult.objects.update(method="weighted_majority")

    aggregation_run(job_id=job_id)

    assert set(TaskResult.objects.values_list("method", flat=True)) == {"weighted_majority"}
    assert AggregationJob.objects.get(pk=job_id).status == "done"


@pytest.mark.parametrize("body", [{"method": "glad"}, {}])
def test_unknown_method_is_400(manager_pat, answered_project, body):
    response = api_client(manager_pat).post(
        f"/api/v1/projects/{answered_project.id}/aggregate/", body, format="json"
    )

    assert response.status_code == 400
    assert "method" in response.json()
    assert not AggregationJob.objects.exists()


def test_non_classification_projects_are_not_re_aggregated(manager_pat):
    project = factories.project_create(manager_pat, task_type="text")

    response = api_client(manager_pat).post(
        f"/api/v1/projects/{project.id}/aggregate/", {"method": "dawid_skene"}
    )

    assert response.status_code == 400
    assert "classification" in str(response.json()["method"])


def test_jobs_belong_to_the_projects_managers(manager_pat, answered_project, worker_alice):
    job = AggregationJob.objects.create(
        project=answered_project, method="wawa", created_by=manager_pat
    )
    other = factories.ManagerFactory()

    assert api_client(other).get(f"/api/v1/aggregations/{job.id}/").status_code == 404
    assert (
        api_client(other)
        .post(f"/api/v1/projects/{answered_project.id}/aggregate/", {"method": "wawa"})
        .status_code
        == 404
    )
    assert api_client(worker_alice.user).get(f"/api/v1/aggregations/{job.id}/").status_code == 403
