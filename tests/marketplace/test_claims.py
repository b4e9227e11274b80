"""The worker loop over HTTP: who may claim what, leases, submit, release (SPEC §4.1, §4.2, §4.4)."""

import datetime

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from marketplace.apis import (
    AssignmentClaimApi,
    AssignmentSubmitApi,
    ClaimOutputSerializer,
    SubmitOutputSerializer,
    claim_body,
    submit_body,
)
from marketplace.loop_queries import worker_lock
from marketplace.models import Assignment, Task
from marketplace.services.assignments import assignment_claim, assignment_submit, assignments_expire
from marketplace.tasks import assignments_expire_task
from qc.models import WorkerQuality
from qc.services.quality import quality_record_check
from tests import factories
from tests.utils import api_client, requires_postgres
from workforce.models import LanguageLevel, Worker, WorkerLanguage
from workforce.selectors import worker_eligibility_q

CLAIM = "/api/v1/assignments/claim/"


def claim(worker, **body):
    return api_client(worker.user).post(CLAIM, body, format="json")


def submit(worker, assignment_id, answer):
    return api_client(worker.user).post(
        f"/api/v1/assignments/{assignment_id}/submit/", {"answer": answer}, format="json"
    )


def lapse(assignment_id: int) -> None:
    """Moves a lease into the past, as if its time had run out."""
    Assignment.objects.filter(pk=assignment_id).update(
        claimed_at=timezone.now() - datetime.timedelta(hours=2),
        lease_expires_at=timezone.now() - datetime.timedelta(seconds=1),
    )


def test_claim_returns_the_task_the_project_and_the_lease(worker_alice, project_sentiment):
    response = claim(worker_alice)

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "task", "project", "lease_expires_at"}
    assert set(body["task"]) == {"id", "data"}
    assert body["project"] == {
        "id": project_sentiment.id,
        "name": "Sentiment",
        "task_type": "classification",
        "labels": ["positive", "negative", "neutral"],
        "scale": None,
        "instructions": "",
        "guideline_version": 1,
    }
    assignment = Assignment.objects.get(pk=body["id"])
    lease = assignment.lease_expires_at - assignment.claimed_at
    assert lease == datetime.timedelta(seconds=600)
    assert body["lease_expires_at"].endswith("Z")


def test_nothing_fitting_is_204(worker_alice, manager_pat):
    factories.project_create(manager_pat)

    response = claim(worker_alice)

    assert response.status_code == 204
    assert not response.content


def test_tasks_that_need_fewest_judgments_come_first(worker_alice, worker_bob, manager_pat):
    project = factories.project_create(manager_pat, overlap=3, gold_ratio=0.0)
    factories.tasks_create(project, 3)
    started = Task.objects.filter(project=project).order_by("id").last()
    Task.objects.filter(pk=started.pk).update(live_count=2, done_count=2)

    assert claim(worker_alice).json()["task"]["id"] == started.id


def test_higher_priority_projects_are_served_first(worker_alice, manager_pat):
    low = factories.project_create(manager_pat, name="low", gold_ratio=0.0, priority=1)
    high = factories.project_create(manager_pat, name="high", gold_ratio=0.0, priority=5)
    factories.tasks_create(low, 2)
    factories.tasks_create(high, 2)

    assert claim(worker_alice).json()["project"]["id"] == high.id


@pytest.mark.parametrize("why", ["complete", "done by the worker"])
def test_a_project_with_nothing_left_for_the_worker_is_passed_over(
    worker_alice, worker_bob, manager_pat, why
):
    # Complete: someone else gave its one task its one judgment. Done by the worker: its task
    # still needs a judgment, but not from them.
    overlap, who = (1, worker_bob) if why == "complete" else (2, worker_alice)
    high = factories.project_create(
        manager_pat, name="high", gold_ratio=0.0, priority=5, overlap=overlap
    )
    low = factories.project_create(manager_pat, name="low", gold_ratio=0.0, priority=1)
    factories.tasks_create(high, 1)
    factories.tasks_create(low, 1)
    done = claim(who).json()
    assert submit(who, done["id"], "positive").status_code == 200

    response = claim(worker_alice)

    assert response.json()["project"]["id"] == low.id


def test_a_lapsed_lease_on_a_higher_project_is_served_before_a_lower_project(
    worker_alice, worker_bob, manager_pat
):
    high = factories.project_create(manager_pat, name="high", gold_ratio=0.0, priority=5, overlap=1)
    low = factories.project_create(manager_pat, name="low", gold_ratio=0.0, priority=1)
    factories.tasks_create(high, 1)
    factories.tasks_create(low, 1)
    first = claim(worker_bob).json()
    lapse(first["id"])

    response = claim(worker_alice)

    assert response.json()["task"]["id"] == first["task"]["id"]
    assert Assignment.objects.get(pk=first["id"]).status == "expired"


@requires_postgres
def test_passing_over_projects_with_nothing_left_takes_one_statement(
    worker_alice, manager_pat, django_assert_num_queries
):
    # Three projects above the one with work: one out of tasks, one whose only task the worker
    # did, one with nothing but gold. A claim walks past them in its one statement instead of
    # taking the step-by-step path (8 statements and more, one pick per project).
    projects = [
        factories.project_create(manager_pat, name=name, gold_ratio=0.5, priority=priority)
        for name, priority in (("empty", 9), ("done", 8), ("gold only", 7), ("work", 1))
    ]
    factories.tasks_create(projects[1], 1)
    factories.tasks_create(projects[2], 0, gold=3)
    factories.tasks_create(projects[3], 5)
    client = api_client(worker_alice.user)
    done = client.post(CLAIM, {"project": projects[1].id}, format="json").json()
    client.post(f"/api/v1/assignments/{done['id']}/submit/", {"answer": "positive"}, format="json")
    _warm_up_prepared_statements(worker_alice, projects[3])

    # The token's user, the worker lock and the claim, as one simple query.
    with django_assert_num_queries(1):
        response = client.post(CLAIM, {}, format="json")

    assert response.json()["project"]["id"] == projects[3].id


@pytest.fixture
def vendor_worker(center_manila):
    return factories.WorkerFactory(center=center_manila, languages={"en": "C1"})


@pytest.mark.parametrize(
    ("change", "eligible"),
    [
        ({}, True),
        ({"worker_status": "suspended"}, False),
        ({"vendor_status": "pending"}, False),
        ({"vendor_status": "suspended"}, False),
        ({"vendor_status": "rejected"}, False),
        ({"center_status": "inactive"}, False),
        ({"project": {"min_language_level": LanguageLevel.C2}}, False),
        ({"project": {"languages": ["en", "fil"]}}, False),
        ({"language": ("fil", "B2"), "project": {"languages": ["en", "fil"]}}, True),
        ({"project": {"required_skill_slug": "ner", "min_skill_level": 50}}, False),
        ({"skill": 49, "project": {"required_skill_slug": "ner", "min_skill_level": 50}}, False),
        ({"skill": 50, "project": {"required_skill_slug": "ner", "min_skill_level": 50}}, True),
        ({"project": {"allowed_vendor": "other"}}, False),
        ({"project": {"allowed_vendor": "own"}}, True),
        ({"project": {"status": "paused"}}, False),
        ({"project": {"status": "draft"}}, False),
        ({"project": {"status": "completed"}}, False),
    ],
)
def test_only_qualified_workers_claim(vendor_worker, manager_pat, vendor_globex, change, eligible):
    project_settings = dict(change.get("project", {}))
    slug = project_settings.pop("required_skill_slug", None)
    if slug:
        project_settings["required_skill"] = factories.SkillFactory(slug=slug)
    allowed = project_settings.pop("allowed_vendor", None)
    if allowed:
        vendor = vendor_worker.center.vendor if allowed == "own" else vendor_globex
        project_settings["allowed_vendors"] = [vendor.pk]
    status = project_settings.pop("status", "active")
    project = factories.project_create(manager_pat, gold_ratio=0.0, **project_settings)
    factories.tasks_create(project, 2)
    project.status = status
    project.save(update_fields=["status"])
    worker = vendor_worker
    if "language" in change:
        code, level = change["language"]
        WorkerLanguage.objects.create(
            worker=worker, code=code, level=LanguageLevel.from_label(level)
        )
    if "skill" in change:
        worker.skills.create(skill=factories.SkillFactory(slug="ner"), level=change["skill"])
    if "worker_status" in change:
        worker.status = change["worker_status"]
        worker.save()
    if "vendor_status" in change:
        worker.center.vendor.status = change["vendor_status"]
        worker.center.vendor.save()
    if "center_status" in change:
        worker.center.status = change["center_status"]
        worker.center.save()

    response = claim(worker)

    assert response.status_code == (201 if eligible else 204)
    assert Assignment.objects.exists() is eligible


def test_freelancers_are_kept_off_projects_restricted_to_vendors(
    freelancer_fay, manager_pat, vendor_acme
):
    restricted = factories.project_create(
        manager_pat, gold_ratio=0.0, allowed_vendors=[vendor_acme.pk]
    )
    factories.tasks_create(restricted, 1)

    assert claim(freelancer_fay).status_code == 204
    open_project = factories.project_create(manager_pat, name="open", gold_ratio=0.0)
    factories.tasks_create(open_project, 1)
    assert claim(freelancer_fay).json()["project"]["id"] == open_project.id


def test_active_assignment_limit(worker_alice, manager_pat):
    first = factories.project_create(manager_pat, name="first", gold_ratio=0.0, priority=2)
    second = factories.project_create(manager_pat, name="second", gold_ratio=0.0)
    factories.tasks_create(first, 3)
    factories.tasks_create(second, 3)

    assert claim(worker_alice).json()["project"]["id"] == first.id
    # Without a project, projects where the worker is at the limit are skipped ...
    assert claim(worker_alice).json()["project"]["id"] == second.id
    # ... and naming one of them is a conflict.
    at_limit = claim(worker_alice, project=first.id)
    assert at_limit.status_code == 409
    assert at_limit.json()["code"] == "active_assignment_limit"
    assert claim(worker_alice).status_code == 204
    assert Assignment.objects.filter(status="active").count() == 2


def test_a_higher_limit_allows_parallel_assignments(worker_alice, manager_pat):
    project = factories.project_create(manager_pat, gold_ratio=0.0, max_active_assignments=3)
    factories.tasks_create(project, 5)

    codes = [claim(worker_alice, project=project.id).status_code for _ in range(4)]

    assert codes == [201, 201, 201, 409]


def test_claiming_a_project_that_does_not_fit_is_204(worker_alice, manager_pat):
    project = factories.project_create(manager_pat, gold_ratio=0.0, languages=["de"])
    factories.tasks_create(project, 1)

    assert claim(worker_alice, project=project.id).status_code == 204
    assert claim(worker_alice, project=999_999).status_code == 204


def test_bad_claim_body_is_400(worker_alice, project_sentiment):
    response = claim(worker_alice, project="abc")

    assert response.status_code == 400
    assert "project" in response.json()


@pytest.mark.parametrize("ending", ["submit", "release", "expire"])
def test_a_worker_never_gets_the_same_task_twice(worker_alice, manager_pat, ending):
    project = factories.project_create(manager_pat, gold_ratio=0.0, overlap=3)
    factories.tasks_create(project, 1)
    first = claim(worker_alice).json()
    if ending == "submit":
        submit(worker_alice, first["id"], "positive")
    elif ending == "release":
        api_client(worker_alice.user).post(f"/api/v1/assignments/{first['id']}/release/")
    else:
        lapse(first["id"])

    assert claim(worker_alice).status_code == 204


def test_a_task_is_not_served_beyond_its_overlap(manager_pat, center_manila):
    project = factories.project_create(manager_pat, gold_ratio=0.0, overlap=2)
    factories.tasks_create(project, 1)
    workers = factories.WorkerFactory.create_batch(3, center=center_manila)

    codes = [claim(worker).status_code for worker in workers]

    assert codes == [201, 201, 204]
    task = Task.objects.get(project=project)
    assert task.live_count == 2


def test_submit_stores_the_answer_and_completes_the_task(worker_alice, project_sentiment):
    assignment_id = claim(worker_alice).json()["id"]

    response = submit(worker_alice, assignment_id, "negative")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "status", "submitted_at"}
    assert (body["id"], body["status"]) == (assignment_id, "submitted")
    assignment = Assignment.objects.select_related("task").get(pk=assignment_id)
    assert assignment.answer == "negative"
    assert (assignment.task.status, assignment.task.done_count) == ("complete", 1)


def test_identical_resubmit_is_200_with_the_same_body(worker_alice, project_sentiment):
    assignment_id = claim(worker_alice).json()["id"]
    first = submit(worker_alice, assignment_id, "negative")

    again = submit(worker_alice, assignment_id, "negative")
    different = submit(worker_alice, assignment_id, "positive")

    assert (again.status_code, again.json()) == (200, first.json())
    assert different.status_code == 409
    assert Assignment.objects.get(pk=assignment_id).answer == "negative"
    assert Task.objects.get(pk=Assignment.objects.get(pk=assignment_id).task_id).done_count == 1


def test_late_submit_is_409_and_the_slot_is_served_again(worker_alice, worker_bob, manager_pat):
    project = factories.project_create(manager_pat, gold_ratio=0.0)
    factories.tasks_create(project, 1)
    first = claim(worker_alice).json()
    lapse(first["id"])

    late = submit(worker_alice, first["id"], "positive")

    assert late.status_code == 409
    assert late.json()["code"] == "lease_ended"
    assert Assignment.objects.get(pk=first["id"]).status == "expired"
    assert claim(worker_bob).json()["task"]["id"] == first["task"]["id"]


def test_an_expired_slot_is_served_even_before_the_sweeper_runs(
    worker_alice, worker_bob, manager_pat
):
    project = factories.project_create(manager_pat, gold_ratio=0.0)
    factories.tasks_create(project, 1)
    first = claim(worker_alice).json()
    lapse(first["id"])

    response = claim(worker_bob)

    assert response.json()["task"]["id"] == first["task"]["id"]
    assert Assignment.objects.get(pk=first["id"]).status == "expired"


def test_the_sweeper_expires_lapsed_leases(worker_alice, project_sentiment):
    first = claim(worker_alice).json()
    lapse(first["id"])

    expired = assignments_expire_task.delay().get()

    assert expired == 1
    assert Assignment.objects.get(pk=first["id"]).status == "expired"
    assert Task.objects.get(pk=first["task"]["id"]).live_count == 0
    assert assignments_expire() == 0


def test_release_gives_the_slot_back_and_refuses_a_later_submit(
    worker_alice, worker_bob, manager_pat
):
    project = factories.project_create(manager_pat, gold_ratio=0.0)
    factories.tasks_create(project, 1)
    first = claim(worker_alice).json()
    client = api_client(worker_alice.user)

    released = client.post(f"/api/v1/assignments/{first['id']}/release/")
    again = client.post(f"/api/v1/assignments/{first['id']}/release/")
    late = submit(worker_alice, first["id"], "positive")

    assert (released.status_code, released.json()["status"]) == (200, "released")
    assert again.status_code == 200
    assert late.status_code == 409
    assert claim(worker_bob).json()["task"]["id"] == first["task"]["id"]


def test_release_of_submitted_work_is_409(worker_alice, project_sentiment):
    assignment_id = claim(worker_alice).json()["id"]
    submit(worker_alice, assignment_id, "positive")

    response = api_client(worker_alice.user).post(f"/api/v1/assignments/{assignment_id}/release/")

    assert response.status_code == 409
    assert Assignment.objects.get(pk=assignment_id).status == "submitted"


def test_another_workers_assignment_is_404(worker_alice, worker_bob, project_sentiment):
    assignment_id = claim(worker_alice).json()["id"]
    bob = api_client(worker_bob.user)

    responses = [
        bob.get(f"/api/v1/assignments/{assignment_id}/"),
        bob.post(
            f"/api/v1/assignments/{assignment_id}/submit/", {"answer": "positive"}, format="json"
        ),
        bob.post(f"/api/v1/assignments/{assignment_id}/release/"),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404]
    assert Assignment.objects.get(pk=assignment_id).status == "active"
    assert bob.get("/api/v1/assignments/").json()["count"] == 0


@pytest.mark.parametrize(
    ("settings", "data", "answer", "message_part"),
    [
        ({}, {"text": "x"}, "happy", "happy"),
        ({}, {"text": "x"}, ["positive"], "positive"),
        ({"task_type": "multi_label"}, {"text": "x"}, ["positive", "positive"], "positive"),
        ({"task_type": "multi_label"}, {"text": "x"}, ["nope"], "nope"),
        ({"task_type": "text"}, {"text": "x"}, "   ", "blank"),
        ({"task_type": "text"}, {"text": "x"}, 42, "string"),
        ({"task_type": "rating", "scale_min": 1, "scale_max": 5}, {"t": 1}, 6, "5"),
        ({"task_type": "rating", "scale_min": 1, "scale_max": 5}, {"t": 1}, True, "number"),
        ({"task_type": "rating", "scale_min": 1, "scale_max": 5}, {"t": 1}, "3", "number"),
        (
            {"task_type": "ranking"},
            {"responses": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}]},
            ["a", "c"],
            "c",
        ),
        (
            {"task_type": "ranking"},
            {"responses": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}]},
            ["a"],
            "permutation",
        ),
        (
            {"task_type": "bbox"},
            {"image": "x.png"},
            [{"label": "positive", "x": 0, "y": 0, "w": 0, "h": 5}],
            "w",
        ),
        (
            {"task_type": "bbox"},
            {"image": "x.png"},
            [{"label": "cat", "x": 0, "y": 0, "w": 3, "h": 5}],
            "cat",
        ),
    ],
)
def test_invalid_answers_are_400_naming_the_problem(
    worker_alice, manager_pat, settings, data, answer, message_part
):
    project = factories.project_create(manager_pat, gold_ratio=0.0, **settings)
    from marketplace.services import tasks

    tasks.task_bulk_create(project=project, rows=[{"data": data}])
    assignment_id = claim(worker_alice).json()["id"]

    response = submit(worker_alice, assignment_id, answer)

    assert response.status_code == 400
    assert message_part in str(response.json()["answer"])
    assignment = Assignment.objects.get(pk=assignment_id)
    assert (assignment.status, assignment.answer) == ("active", None)
    assert Task.objects.get(pk=assignment.task_id).done_count == 0


def test_submit_without_answer_is_400(worker_alice, project_sentiment):
    assignment_id = claim(worker_alice).json()["id"]

    response = api_client(worker_alice.user).post(
        f"/api/v1/assignments/{assignment_id}/submit/", {}, format="json"
    )

    assert response.status_code == 400
    assert "answer" in response.json()


def test_worker_endpoints_are_for_workers(manager_pat, vendor_admin_acme, anonymous):
    for user in (manager_pat, vendor_admin_acme):
        assert api_client(user).post(CLAIM).status_code == 403
        assert api_client(user).get("/api/v1/assignments/").status_code == 403
    assert anonymous.post(CLAIM).status_code == 401


def _backlog(project, size: int) -> None:
    # Gold to spare, so that a gold draw always finds an unseen gold question.
    factories.tasks_create(project, size, gold=size // 2 + 5)


@pytest.mark.parametrize("gold_ratio", [0.0, 0.99])
def test_claim_and_submit_query_counts_do_not_grow_with_backlog(
    worker_alice, manager_pat, django_assert_max_num_queries, gold_ratio
):
    project = factories.project_create(manager_pat, gold_ratio=gold_ratio, overlap=3)
    if connection.vendor == "postgresql":
        # Claim: the token's user, the worker lock and the whole claim as one simple query
        # (plus, the first time on a connection, its statements prepared).
        loop_queries = 1
        # Submit of a regular judgment that leaves its task open: the token's user with the
        # assignment, its task and project (one simple query), then one statement that stores
        # it. A gold check: the same read, savepoint, the quality counters, the statement that
        # stores it, release.
        submit_queries = 2 if gold_ratio == 0 else 5
        _warm_up_prepared_statements(worker_alice, project)
    else:
        # Claim: token+user, worker (locked), claimable projects, next regular task (locked),
        # then either its slot taken or, on a gold draw, one gold lookup; the assignment
        # inserted. Plus the durable block's savepoint and release inside the test transaction.
        loop_queries = 8
        # Submit: token+user, the assignment with task and project, savepoint, the
        # transaction's clock, the conditional update, the task's counters (regular) or the
        # quality counters (gold), release.
        submit_queries = 7
    client = api_client(worker_alice.user)
    # The first gold check of a worker on a project creates their quality row: measure after.
    WorkerQuality.objects.create(worker=worker_alice, project=project)
    counts = []
    for size in (10, 2000):
        _backlog(project, size)
        with django_assert_max_num_queries(loop_queries):
            response = client.post(CLAIM, {"project": project.id}, format="json")
        with django_assert_max_num_queries(submit_queries):
            client.post(
                f"/api/v1/assignments/{response.json()['id']}/submit/",
                {"answer": "positive"},
                format="json",
            )
        counts.append(response.status_code)
    assert counts == [201, 201]


def _warm_up_prepared_statements(worker, project) -> None:
    """One claim, submit and gold check, so that their statements are prepared on this
    connection."""
    client = api_client(worker.user)
    factories.tasks_create(project, 1)
    claim = client.post(CLAIM, {"project": project.id}, format="json").json()
    submit = client.post(
        f"/api/v1/assignments/{claim['id']}/submit/", {"answer": "positive"}, format="json"
    )
    assert submit.status_code == 200
    # A gold check's statement too (the row it creates is not kept).
    quality_record_check(
        worker_id=worker.pk, project=project, passed=True, day=datetime.date.today()
    )
    WorkerQuality.objects.filter(worker=worker, project=project).delete()


def test_worker_assignment_list_query_count_is_flat(
    worker_alice, manager_pat, django_assert_num_queries
):
    project = factories.project_create(manager_pat, gold_ratio=0.0, max_active_assignments=50)
    factories.tasks_create(project, 40)
    client = api_client(worker_alice.user)
    for _ in range(3):
        client.post(CLAIM)
    # token+user, count, the page with tasks and projects
    with django_assert_num_queries(3):
        small = client.get("/api/v1/assignments/")
    for _ in range(30):
        client.post(CLAIM)
    with django_assert_num_queries(3):
        large = client.get("/api/v1/assignments/")

    assert (small.json()["count"], large.json()["count"]) == (3, 33)


def test_overlap_growth_reopens_tasks_for_new_workers(worker_alice, worker_bob, manager_pat):
    project = factories.project_create(manager_pat, gold_ratio=0.0)
    factories.tasks_create(project, 1)
    submit(worker_alice, claim(worker_alice).json()["id"], "positive")
    assert claim(worker_bob).status_code == 204

    api_client(manager_pat).patch(f"/api/v1/projects/{project.id}/", {"overlap": 2}, format="json")

    assert claim(worker_bob).status_code == 201
    assert Task.objects.filter(live_count__gt=F("required")).count() == 0


def test_a_completing_submit_stays_within_budget(
    worker_alice, manager_pat, django_assert_num_queries
):
    project = factories.project_create(manager_pat, gold_ratio=0.0, overlap=1)
    client = api_client(worker_alice.user)
    for size in (10, 2000):
        factories.tasks_create(project, size)
        assignment_id = client.post(CLAIM).json()["id"]
        # token+user and the assignment with task and project (one simple query on
        # PostgreSQL), savepoint, the judgment stored and counted on its task (which reports
        # completion: one statement on PostgreSQL; on SQLite the transaction's clock, the
        # conditional update and the task's counters), the task's trusted judgments with their
        # workers' records (sent with the store on PostgreSQL), the stored result, release.
        with django_assert_num_queries(5 if connection.vendor == "postgresql" else 9):
            response = client.post(
                f"/api/v1/assignments/{assignment_id}/submit/", {"answer": "neutral"}, "json"
            )
        assert response.status_code == 200


def test_the_claims_sql_eligibility_agrees_with_the_orm_rule(db):
    """The claim's hand-written statement and `worker_eligibility_q` state one rule twice."""
    workers = [factories.WorkerFactory(freelancer=True)]
    workers.append(factories.WorkerFactory(freelancer=True, status="suspended"))
    for vendor_status in ("pending", "approved", "rejected", "suspended"):
        for center_status in ("active", "inactive"):
            for worker_status in ("active", "suspended"):
                center = factories.CenterFactory(
                    vendor=factories.VendorFactory(status=vendor_status), status=center_status
                )
                workers.append(factories.WorkerFactory(center=center, status=worker_status))

    by_orm = set(Worker.objects.filter(worker_eligibility_q()).values_list("pk", flat=True))
    by_sql = {worker.pk for worker in workers if worker_lock(user_id=worker.user_id)}

    assert by_sql == by_orm
    assert len(by_orm) == 2  # the active freelancer and the active worker of an approved vendor


def test_release_after_the_lease_ended_is_409_and_frees_the_slot(worker_alice, project_sentiment):
    first = claim(worker_alice).json()
    lapse(first["id"])

    response = api_client(worker_alice.user).post(f"/api/v1/assignments/{first['id']}/release/")

    assert (response.status_code, response.json()["code"]) == (409, "lease_ended")
    assert Assignment.objects.get(pk=first["id"]).status == "expired"
    assert Task.objects.get(pk=first["task"]["id"]).live_count == 0


def test_a_grown_overlap_keeps_what_adaptive_overlap_asked_for(manager_pat, worker_alice):
    project = factories.project_create(manager_pat, gold_ratio=0.0, overlap=2)
    factories.tasks_create(project, 2)
    asked_more = Task.objects.filter(project=project).first()
    Task.objects.filter(pk=asked_more.pk).update(required=4)

    api_client(manager_pat).patch(f"/api/v1/projects/{project.id}/", {"overlap": 3}, "json")

    assert dict(Task.objects.filter(project=project).values_list("pk", "required")) == {
        asked_more.pk: 4,
        Task.objects.exclude(pk=asked_more.pk).get(project=project).pk: 3,
    }


@pytest.mark.parametrize(
    "settings",
    [
        {"task_type": "classification"},
        {"task_type": "rating", "scale_min": 1, "scale_max": 5},
        {"task_type": "text"},
    ],
    ids=lambda settings: settings["task_type"],
)
def test_claim_and_submit_bodies_are_the_documented_shapes(worker_alice, manager_pat, settings):
    # The views build these bodies directly; the OpenAPI schema documents them through the
    # serializers, which must give the same output.
    project = factories.project_create(manager_pat, instructions="Read twice.", **settings)
    factories.tasks_create(project, 1)
    answer = {"classification": "positive", "rating": 4, "text": "fine"}[project.task_type]

    claimed = assignment_claim(user=worker_alice.user)
    submitted = assignment_submit(
        user=worker_alice.user, assignment_id=claimed.assignment_id, answer=answer
    )

    assert claim_body(claimed) == ClaimOutputSerializer(claimed).data
    assert submit_body(submitted) == SubmitOutputSerializer(submitted).data
    assert claim_body(claimed)["project"]["instructions"] == "Read twice."


def test_a_workers_assignments_refer_to_task_and_project_by_id(worker_alice, project_sentiment):
    client = api_client(worker_alice.user)
    first = claim(worker_alice).json()
    submit(worker_alice, first["id"], "positive")
    second = claim(worker_alice).json()

    bodies = [
        *client.get("/api/v1/assignments/").json()["results"],
        client.get(f"/api/v1/assignments/{first['id']}/").json(),
        client.post(f"/api/v1/assignments/{second['id']}/release/").json(),
    ]

    expected = {
        "id",
        "task",
        "project",
        "data",
        "status",
        "answer",
        "claimed_at",
        "lease_expires_at",
        "submitted_at",
    }
    assert [set(body) for body in bodies] == [expected] * 4
    assert [(body["task"], body["project"], body["data"]) for body in bodies[-2:]] == [
        (first["task"]["id"], project_sentiment.id, first["task"]["data"]),
        (second["task"]["id"], project_sentiment.id, second["task"]["data"]),
    ]


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        (None, 201),
        ("*/*", 201),
        ("application/json", 201),
        ("application/json; indent=2", 201),
        ("text/html, application/json;q=0.5", 201),
        ("text/html", 406),
        ("application/xml", 406),
    ],
)
def test_claims_answer_json_to_whoever_accepts_it(worker_alice, project_sentiment, accept, status):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}

    response = api_client(worker_alice.user).post(CLAIM, {}, format="json", **headers)

    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    assert Assignment.objects.count() == (1 if status == 201 else 0)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-3, 3) | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=6,
)
_BODY_KEYS = st.sampled_from(["project", "exam", "answer", "other"])


@pytest.mark.parametrize("api", [AssignmentClaimApi, AssignmentSubmitApi], ids=["claim", "submit"])
@given(body=st.dictionaries(_BODY_KEYS, _JSON, max_size=3) | _JSON)
def test_the_quick_body_check_agrees_with_the_serializer(api, body):
    serializer = api.InputSerializer(data=body)
    if serializer.is_valid():
        assert api.InputSerializer.validated(body) == serializer.validated_data
    else:
        with pytest.raises(ValidationError) as refused:
            api.InputSerializer.validated(body)
        assert refused.value.detail == serializer.errors
