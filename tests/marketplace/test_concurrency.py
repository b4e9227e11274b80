"""The worker loop under real concurrency on PostgreSQL: many threads, one database."""

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.db.models import Count, Q

from marketplace.models import Assignment, Task
from tests import factories
from tests.utils import api_client, requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

CLAIM = "/api/v1/assignments/claim/"


def run_in_threads(count: int, work):
    """Runs work(index) in `count` threads; each closes its own database connection."""

    def wrapped(index):
        try:
            return work(index)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(wrapped, range(count)))


def invariant_violations() -> list[str]:
    problems = []
    live = Q(assignments__status__in=["active", "submitted", "accepted"])
    done = Q(assignments__status__in=["submitted", "accepted"])
    tasks = Task.objects.annotate(
        real_live=Count("assignments", filter=live), real_done=Count("assignments", filter=done)
    )
    for task in tasks:
        if not task.is_gold and task.real_live > task.required:
            problems.append(f"task {task.pk}: {task.real_live} live > overlap {task.required}")
        if not task.is_gold and (task.live_count, task.done_count) != (
            task.real_live,
            task.real_done,
        ):
            problems.append(f"task {task.pk}: counters {task.live_count}/{task.done_count}")
    pairs = Counter(Assignment.objects.values_list("task_id", "worker_id"))
    problems += [f"pair {pair} twice" for pair, n in pairs.items() if n > 1]
    return problems


@pytest.mark.parametrize(
    "projects",
    [
        [(0, 60, 10)],
        # by priority: two small projects that run out first, then the main one; claims walk
        # past a project with nothing left for the worker in their one statement
        [(5, 10, 2), (3, 10, 2), (0, 40, 6)],
    ],
    ids=["one project", "three projects by priority"],
)
def test_32_workers_hammering_the_projects_break_no_rule(manager_pat, center_manila, projects):
    for priority, regular, gold in projects:
        project = factories.project_create(
            manager_pat,
            name=f"priority {priority}",
            overlap=3,
            gold_ratio=0.2,
            min_gold_before_block=1000,
            lease_seconds=600,
            priority=priority,
        )
        factories.tasks_create(project, regular, gold=gold)
    workers = factories.WorkerFactory.create_batch(32, center=center_manila)
    clients = [api_client(worker.user) for worker in workers]
    barrier = threading.Barrier(32)

    def work(index):
        client, rng = clients[index], random.Random(index)
        accepted, outcomes = [], Counter()
        barrier.wait()
        while (response := client.post(CLAIM)).status_code == 201:
            assignment_id = response.json()["id"]
            roll = rng.random()
            if roll < 0.1:
                outcome = client.post(f"/api/v1/assignments/{assignment_id}/release/")
            else:
                outcome = client.post(
                    f"/api/v1/assignments/{assignment_id}/submit/",
                    {"answer": rng.choice(["positive", "negative"])},
                    format="json",
                )
                if outcome.status_code == 200:
                    accepted.append(assignment_id)
            outcomes[outcome.status_code] += 1
        outcomes[response.status_code] += 1
        return accepted, outcomes

    results = run_in_threads(32, work)

    submitted_ok = [pk for accepted, _ in results for pk in accepted]
    outcomes = sum((counter for _, counter in results), Counter())
    assert set(outcomes) <= {200, 204}, outcomes
    assert invariant_violations() == []
    # no lost submit: every 200 the clients saw is stored as submitted
    stored = dict(Assignment.objects.filter(pk__in=submitted_ok).values_list("pk", "status"))
    assert set(stored.values()) == {"submitted"} and len(stored) == len(submitted_ok)
    # A worker stops at its first 204, which it can get while the last open slots are locked
    # by others or sit in leases about to be released: one calm pass finishes the work, and
    # then everything regular has its three judgments (no slot was lost).
    for client in clients:
        while (response := client.post(CLAIM)).status_code == 201:
            client.post(
                f"/api/v1/assignments/{response.json()['id']}/submit/",
                {"answer": "positive"},
                format="json",
            )
    assert set(Task.objects.filter(is_gold=False).values_list("status", flat=True)) == {"complete"}
    assert invariant_violations() == []
    gold_pairs = Counter(
        Assignment.objects.filter(is_gold=True).values_list("task_id", "worker_id")
    )
    assert max(gold_pairs.values()) == 1


def test_a_burst_of_claims_fills_each_slot_once(manager_pat, center_manila):
    project = factories.project_create(manager_pat, overlap=1, gold_ratio=0.0)
    factories.tasks_create(project, 10)
    workers = factories.WorkerFactory.create_batch(40, center=center_manila)
    clients = [api_client(worker.user) for worker in workers]
    barrier = threading.Barrier(40)

    def work(index):
        barrier.wait()
        response = clients[index].post(CLAIM)
        return response.status_code, response.json()["task"]["id"] if response.content else None

    results = run_in_threads(40, work)

    codes = Counter(code for code, _ in results)
    assert codes == {201: 10, 204: 30}
    assert len({task for code, task in results if code == 201}) == 10


def test_one_worker_claiming_in_parallel_gets_one_slot(worker_alice, manager_pat):
    project = factories.project_create(manager_pat, gold_ratio=0.0)
    factories.tasks_create(project, 20)
    barrier = threading.Barrier(12)

    def work(_):
        client = api_client(worker_alice.user)
        barrier.wait()
        return client.post(CLAIM, {"project": project.id}, format="json").status_code

    codes = Counter(run_in_threads(12, work))

    assert codes == {201: 1, 409: 11}
    assert Assignment.objects.filter(status="active").count() == 1


def test_parallel_identical_submits_count_once(worker_alice, project_sentiment):
    client = api_client(worker_alice.user)
    assignment_id = client.post(CLAIM).json()["id"]
    barrier = threading.Barrier(16)

    def work(index):
        barrier.wait()
        answer = "positive" if index < 12 else "negative"
        response = api_client(worker_alice.user).post(
            f"/api/v1/assignments/{assignment_id}/submit/", {"answer": answer}, format="json"
        )
        return answer, response.status_code

    results = run_in_threads(16, work)

    stored = Assignment.objects.get(pk=assignment_id).answer
    assert all(code == (200 if answer == stored else 409) for answer, code in results)
    assert Task.objects.get(assignments__pk=assignment_id).done_count == 1


def test_expiry_racing_submit_keeps_counters_true(manager_pat, center_manila):
    project = factories.project_create(manager_pat, overlap=2, gold_ratio=0.0)
    factories.tasks_create(project, 30)
    workers = factories.WorkerFactory.create_batch(32, center=center_manila)
    clients = [api_client(worker.user) for worker in workers]
    claims = [client.post(CLAIM).json() for client in clients[:30]]
    barrier = threading.Barrier(32)

    def work(index):
        barrier.wait()
        if index < 30:
            if index % 2:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "UPDATE marketplace_assignment SET lease_expires_at = now() WHERE id = %s",
                        [claims[index]["id"]],
                    )
            return (
                clients[index]
                .post(
                    f"/api/v1/assignments/{claims[index]['id']}/submit/",
                    {"answer": "positive"},
                    format="json",
                )
                .status_code
            )
        return clients[index].post(CLAIM).status_code

    codes = Counter(run_in_threads(32, work))

    assert codes[200] == 15 and codes[409] == 15
    assert invariant_violations() == []
