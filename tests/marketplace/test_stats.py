"""Manager analytics: the stats, workers and throughput endpoints, served from the rollups that
`stats_refresh` keeps (marketplace.services.stats)."""

import csv
import datetime
import io
import threading
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import PayrollRun, StatementLine
from config.celery import app
from marketplace.models import (
    Assignment,
    Project,
    ProjectStats,
    ProjectWorkerStats,
    StatsHour,
    StatsState,
    Task,
)
from marketplace.services import stats
from marketplace.tasks import stats_refresh_task
from qc.services.quality import quality_record_check
from tests import factories
from tests.billing.utils import post_run
from tests.utils import api_client, requires_postgres

CLAIM = "/api/v1/assignments/claim/"
REPORT = "/api/v1/reports/throughput/"


def stats_url(project) -> str:
    return f"/api/v1/projects/{project.pk}/stats/"


def workers_url(project) -> str:
    return f"/api/v1/projects/{project.pk}/workers/"


def work(worker, project, count: int) -> list[int]:
    """`count` claim → submit loops over the API; returns the assignment ids."""
    client, done = api_client(worker.user), []
    for _ in range(count):
        claimed = client.post(CLAIM, {"project": project.pk}, format="json")
        assert claimed.status_code == 201, claimed.content
        submitted = client.post(
            f"/api/v1/assignments/{claimed.data['id']}/submit/",
            {"answer": "positive"},
            format="json",
        )
        assert submitted.status_code == 200, submitted.content
        done.append(claimed.data["id"])
    return done


def gold(worker, project, *, correct: int, wrong: int = 0, at=None) -> None:
    """Answered gold questions, with the worker's gold record, as a submit leaves them."""
    at = at or timezone.now()
    for passed in [True] * correct + [False] * wrong:
        task = Task.objects.create(
            project=project, data={"text": "g"}, is_gold=True, gold_answer="positive", required=0
        )
        Assignment.objects.create(
            task=task,
            project=project,
            worker=worker,
            status=Assignment.Status.SUBMITTED,
            is_gold=True,
            answer="positive" if passed else "negative",
            check_passed=passed,
            claimed_at=at - datetime.timedelta(seconds=30),
            lease_expires_at=at + datetime.timedelta(minutes=9),
            submitted_at=at,
        )
        quality_record_check(worker_id=worker.pk, project=project, passed=passed, day=at.date())


def regular(worker, project, *, at, seconds: int = 20) -> Assignment:
    """A regular judgment made directly, submitted at `at`, on a task it completes."""
    task = Task.objects.create(
        project=project, data={"text": "r"}, required=1, live_count=1, done_count=1
    )
    task.status = Task.Status.COMPLETE
    task.save(update_fields=["status"])
    return Assignment.objects.create(
        task=task,
        project=project,
        worker=worker,
        status=Assignment.Status.SUBMITTED,
        answer="positive",
        claimed_at=at - datetime.timedelta(seconds=seconds),
        lease_expires_at=at + datetime.timedelta(minutes=9),
        submitted_at=at,
    )


@pytest.fixture
def project(manager_pat):
    project = factories.project_create(manager_pat, gold_ratio=0.0, rate="0.10", currency="USD")
    factories.tasks_create(project, 10)
    return project


@pytest.fixture
def rollups_as_stored(monkeypatch):
    """Reads serve the rollups as they are: no refresh first."""
    monkeypatch.setattr(stats, "stats_ensure_fresh", lambda: None)


@pytest.fixture
def large_system(monkeypatch, project):
    """Refreshes take 30 s, longer than a read may wait; the figures stored say 7 tasks."""
    monkeypatch.setattr(stats, "INLINE_REFRESH_SECONDS", 0.1)
    stats.stats_refresh()
    StatsState.objects.update(refresh_seconds=30)
    ProjectStats.objects.filter(project=project).update(tasks_total=7)


@pytest.fixture
def worked(
    project,
    manager_pat,
    worker_alice,
    worker_bob,
    freelancer_fay,
    django_capture_on_commit_callbacks,
):
    """Alice submits 4 tasks and answers 3 gold questions (2 right), Bob 2 tasks and 1 gold
    question (right); Fay holds a lease. One of Alice's is accepted, one of Bob's rejected,
    then a payroll run pays what stands."""
    alice = work(worker_alice, project, 4)
    bob = work(worker_bob, project, 2)
    gold(worker_alice, project, correct=2, wrong=1)
    gold(worker_bob, project, correct=1)
    client = api_client(manager_pat)
    assert client.post(f"/api/v1/assignments/{alice[0]}/accept/").status_code == 200
    assert client.post(f"/api/v1/assignments/{bob[0]}/reject/").status_code == 200
    assert (
        api_client(freelancer_fay.user)
        .post(CLAIM, {"project": project.pk}, format="json")
        .status_code
        == 201
    )
    run = post_run(
        manager_pat,
        timezone.now() - datetime.timedelta(days=1),
        timezone.now(),
        django_capture_on_commit_callbacks,
    )
    assert run.status_code == 202, run.content
    return project


def test_stats_agree_with_the_judgments_made(worked, manager_pat):
    # given the judgments of `worked`, when the rollups are refreshed
    stats.stats_refresh()

    body = api_client(manager_pat).get(stats_url(worked)).json()

    # then every count is what was made
    assert body["tasks"] == {"total": 10, "open": 5, "complete": 5}  # Bob's rejected one reopens
    judgments = body["judgments"]
    assert (judgments["submitted"], judgments["accepted"], judgments["rejected"]) == (6, 1, 1)
    assert (judgments["untrusted"], judgments["pending_review"], judgments["remaining"]) == (
        0,
        4,
        5,
    )
    assert body["gold"] == {"answered": 4, "correct": 3, "accuracy": 0.75}
    assert body["workers"] == {"active": 3, "blocked": 0, "total": 3}  # Fay holds a lease
    throughput = body["throughput"]
    assert throughput["last_hour"] == throughput["last_24h"] == 6
    assert sum(row["judgments"] for row in throughput["per_hour"]) == 6
    assert len(throughput["per_hour"]) == 24 and len(throughput["per_day"]) == 14
    assert sum(row["judgments"] for row in throughput["per_day"]) == 6
    # Pay: Alice 4 regular + 3 gold at (2 + 4) / (3 + 5) = 0.75 → x1.00 = 0.70; Bob 1 regular
    # (one rejected before the run) + 1 gold at 5 / 6 → x1.00 = 0.20.
    lines = sum(StatementLine.objects.filter(project=worked).values_list("amount", flat=True))
    assert lines == Decimal("0.90")
    assert body["cost"]["currency"] == "USD" and body["cost"]["to_date"] == "0.90"
    # 0.10 a judgment for the 5 missing judgments plus gold in the share seen (4 per 6):
    # 0.90 + 5 x (1 + 4/6) x 0.10 = 1.7333...
    assert body["cost"]["projected_total"] == "1.73"
    # 6 judgments within the first hour: 6 an hour, 5 missing → 3000 s.
    assert body["eta_seconds"] == 3000
    assert body["as_of"] is not None


def test_work_paid_then_untrusted_by_a_block_leaves_the_projection_alone(
    worked, manager_pat, worker_alice
):
    # given Alice's 7 paid judgments (4 regular, 3 gold) untrusted after the payroll run, as a
    # block leaves them: they stay paid (SPEC §6, no clawback) but are no longer payable
    Assignment.objects.filter(worker=worker_alice).update(status=Assignment.Status.UNTRUSTED)

    stats.stats_refresh()
    body = api_client(manager_pat).get(stats_url(worked)).json()

    # then nothing trusted is left unpaid, and the projection is still what is paid plus the
    # missing judgments: 0.90 + 5 x (1 + 4/6) x 0.10 (payable - paid would give 1.03)
    assert ProjectStats.objects.get(project=worked).unpaid_judgments == 0
    assert body["cost"]["to_date"] == "0.90"
    assert body["cost"]["projected_total"] == "1.73"


def test_pay_is_summed_per_worker_in_the_database_and_exactly(worked, manager_pat, worker_alice):
    # given 189 more lines of 0.01 for Alice (a float sum drifts by then)
    # (one line per run, worker and project: each in a run of its own)
    line = StatementLine.objects.get(project=worked, worker=worker_alice)
    runs = []
    for n in range(1, 190):
        run = PayrollRun.objects.get(pk=line.run_id)
        run.pk, run.idempotency_key = None, None
        run.start, run.end = (
            run.start - datetime.timedelta(days=n),
            run.end - datetime.timedelta(days=n),
        )
        runs.append(run)
    copies = []
    for run in PayrollRun.objects.bulk_create(runs):
        copy = StatementLine.objects.get(pk=line.pk)
        copy.pk, copy.run, copy.amount, copy.judgments = None, run, Decimal("0.01"), 1
        copies.append(copy)
    StatementLine.objects.bulk_create(copies)

    with CaptureQueriesContext(connection) as queries:
        stats.stats_refresh()

    # then the lines were summed by the database, not read one by one, and exactly
    reads = [q["sql"] for q in queries if 'FROM "billing_statementline"' in q["sql"]]
    assert reads and all("GROUP BY" in sql for sql in reads if "SUM" in sql)
    assert not [sql for sql in reads if "SUM" not in sql and "DISTINCT" not in sql]
    rows = api_client(manager_pat).get(workers_url(worked), {"ordering": "-earned"}).json()
    assert rows["results"][0]["earned"] == "2.59"  # 0.70 + 1.89
    figures = ProjectStats.objects.get(project=worked)
    assert figures.cost_amount == Decimal("2.79") and figures.paid_judgments == 9 + 189


_JSON_TYPES = {
    "integer": int,
    "number": (int, float),
    "string": str,
    "boolean": bool,
    "array": list,
    "object": dict,
}


def _assert_documented(value, schema: dict, components: dict, where: str = "body") -> None:
    """`value` has exactly the fields the OpenAPI `schema` lists, at every depth, of its types."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    if value is None:
        assert schema.get("nullable"), f"{where} is null, documented as not nullable"
        return
    assert isinstance(value, _JSON_TYPES[schema["type"]]), f"{where}: {value!r} is no {schema}"
    if schema["type"] == "object":
        assert set(value) == set(schema["properties"]), where
        for name, item in value.items():
            _assert_documented(item, schema["properties"][name], components, f"{where}.{name}")
    elif schema["type"] == "array":
        for index, item in enumerate(value):
            _assert_documented(item, schema["items"], components, f"{where}[{index}]")


def test_the_schema_documents_every_field_of_the_stats(worked, manager_pat, anonymous):
    stats.stats_refresh()
    components = anonymous.get("/api/schema/?format=json").json()["components"]["schemas"]

    body = api_client(manager_pat).get(stats_url(worked)).json()

    assert body["centers"] and body["vendors"] and body["throughput"]["per_hour"]
    _assert_documented(body, components["ProjectStatsOutput"], components)


def test_breakdowns_per_vendor_and_center_and_the_accuracy_distribution(
    worked, manager_pat, worker_alice, center_manila, center_pune
):
    stats.stats_refresh()

    body = api_client(manager_pat).get(stats_url(worked)).json()

    centers = {row["name"]: row for row in body["centers"]}
    assert set(centers) == {"Manila 1", "Pune", "Freelancers"}
    manila = centers["Manila 1"]
    assert (manila["center"], manila["vendor"]) == (center_manila.pk, center_manila.vendor_id)
    assert (manila["judgments"], manila["gold_answered"], manila["gold_correct"]) == (4, 3, 2)
    assert manila["gold_accuracy"] == pytest.approx(2 / 3)
    assert (manila["workers_active"], manila["seats"]) == (1, 100)
    assert manila["seats_used"] == pytest.approx(0.01)
    assert centers["Pune"]["judgments"] == 2 and centers["Freelancers"]["judgments"] == 0
    vendors = {row["name"]: row for row in body["vendors"]}
    assert vendors["Acme BPO"]["judgments"] == 4 and vendors["Acme BPO"]["centers"] == 1
    assert vendors["Freelancers"]["seats"] is None
    # Estimates: Alice 0.75, Bob 5/6; Fay answered no gold and is not in the distribution.
    bins = {row["min"]: row["workers"] for row in body["quality"]["accuracy_distribution"]}
    assert bins[0.7] == 1 and bins[0.8] == 1 and sum(bins.values()) == 2


def test_the_worker_table_agrees_with_the_judgments_made(
    worked, manager_pat, worker_alice, worker_bob, freelancer_fay, center_manila
):
    stats.stats_refresh()

    response = api_client(manager_pat).get(workers_url(worked), {"ordering": "-judgments"})

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["username"] for row in rows] == ["worker_alice", "worker_bob", "freelancer_fay"]
    alice = rows[0]
    assert alice["worker"] == worker_alice.pk
    assert (alice["vendor"], alice["center"]) == (center_manila.vendor_id, center_manila.pk)
    assert (alice["judgments"], alice["gold_seen"], alice["gold_correct"]) == (4, 3, 2)
    assert alice["accuracy_estimate"] == 0.75 and alice["blocked"] is False
    assert alice["earned"] == "0.70" and rows[1]["earned"] == "0.20"
    assert rows[1]["judgments"] == 2  # the rejected one counts too (SPEC §8)
    assert rows[2]["judgments"] == 0 and rows[2]["seconds_per_task"] is None
    assert alice["seconds_per_task"] >= 0


def test_the_worker_table_filters_and_sorts(worked, manager_pat, worker_alice, center_pune):
    stats.stats_refresh()
    client = api_client(manager_pat)

    def usernames(**query) -> list[str]:
        response = client.get(workers_url(worked), query)
        assert response.status_code == 200, response.content
        return [row["username"] for row in response.json()["results"]]

    assert usernames(center=center_pune.pk) == ["worker_bob"]
    assert usernames(judgments_min=1, ordering="earned") == ["worker_bob", "worker_alice"]
    assert usernames(accuracy_below=0.8) == ["worker_alice"]
    assert usernames(blocked="true") == []
    assert usernames(username="fay") == ["freelancer_fay"]


def test_worker_table_rows_equal_on_the_ordering_keep_the_worker_order(
    project, manager_pat, center_manila, rollups_as_stored
):
    # given four workers with the same figures, their rows stored in descending id order
    workers = [factories.WorkerFactory(center=center_manila) for _ in range(4)]
    for worker in sorted(workers, key=lambda worker: -worker.pk):
        ProjectWorkerStats.objects.create(
            project=project, worker=worker, judgments=3, accuracy_estimate=0.5
        )
    client = api_client(manager_pat)

    # when they are read sorted by a column they tie on, a page of one at a time
    pages = [
        client.get(workers_url(project), {"ordering": "-judgments", "page_size": 1, "page": n})
        for n in range(1, 5)
    ]

    # then every worker comes once, in id order
    assert [page.json()["results"][0]["worker"] for page in pages] == sorted(
        worker.pk for worker in workers
    )


def test_a_blocked_worker_shows_as_blocked_with_untrusted_work(project, manager_pat, worker_bob):
    # given Bob, whose regular work is followed by five wrong gold answers: he is blocked and
    # his regular judgments become untrusted
    work(worker_bob, project, 2)
    gold(worker_bob, project, correct=0, wrong=5)
    Assignment.objects.filter(worker=worker_bob, is_gold=False).update(
        status=Assignment.Status.UNTRUSTED
    )

    stats.stats_refresh()
    body = api_client(manager_pat).get(stats_url(project)).json()
    rows = api_client(manager_pat).get(workers_url(project)).json()["results"]

    assert body["workers"]["blocked"] == 1 and body["judgments"]["untrusted"] == 2
    assert body["gold"] == {"answered": 5, "correct": 0, "accuracy": 0.0}
    assert rows[0]["blocked"] is True and rows[0]["accuracy_estimate"] == 0.4


def test_before_any_refresh_a_project_shows_zeros_and_no_estimates(
    project, manager_pat, rollups_as_stored
):
    body = api_client(manager_pat).get(stats_url(project)).json()

    assert body["as_of"] is None and body["tasks"] == {"total": 0, "open": 0, "complete": 0}
    assert body["eta_seconds"] is None and body["cost"]["projected_total"] is None
    assert body["gold"]["accuracy"] is None


def test_on_a_small_system_every_read_shows_the_figures_of_the_moment(
    project, manager_pat, worker_alice
):
    client = api_client(manager_pat)
    assert client.get(stats_url(project)).json()["tasks"]["total"] == 10

    # tasks added and judged, with no refresh job in between
    assert (
        client.post(
            f"/api/v1/projects/{project.pk}/tasks/", [{"data": {"text": "more"}}] * 5, format="json"
        ).status_code
        == 201
    )
    work(worker_alice, project, 2)
    body = client.get(stats_url(project)).json()
    rows = client.get(workers_url(project)).json()["results"]

    assert body["tasks"]["total"] == 15 and body["judgments"]["submitted"] == 2
    assert [(row["worker"], row["judgments"]) for row in rows] == [(worker_alice.pk, 2)]


def test_reads_refresh_at_most_so_many_times_a_second(project, manager_pat, monkeypatch):
    monkeypatch.setattr(stats, "INLINE_PER_SECOND", 2)
    monkeypatch.setattr(stats, "INLINE_REFRESH_SECONDS", 0.1)
    stats.stats_refresh()
    StatsState.objects.update(refresh_seconds=0.01)
    monkeypatch.setattr(stats, "_this_second", lambda: 1_000_000_000)
    cache.delete(f"{stats._INLINE}:1000000000")
    client = api_client(manager_pat)
    seen = []
    for n in range(4):
        client.post(f"/api/v1/projects/{project.pk}/tasks/", [{"data": {"n": n}}], format="json")
        seen.append(client.get(stats_url(project)).json()["tasks"]["total"])

    # the first two reads of the second refresh; the next two serve the second one's figures
    assert seen == [11, 12, 12, 12]


def test_on_a_large_system_a_read_queues_a_refresh_where_a_broker_runs_jobs(
    project, manager_pat, settings, django_capture_on_commit_callbacks, large_system
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    cache.delete(stats._QUEUED)
    client = api_client(manager_pat)

    with django_capture_on_commit_callbacks() as queued:
        reads = [client.get(stats_url(project)).json() for _ in range(3)]

    # the reads serve what is stored, and one refresh is queued for all of them
    assert [body["tasks"]["total"] for body in reads] == [7, 7, 7]
    assert queued == [stats_refresh_task.delay]


def test_tasks_added_are_counted_by_the_next_refresh(project, manager_pat, rollups_as_stored):
    # given figures of a project quiet for a day
    Project.objects.filter(pk=project.pk).update(updated_at=timezone.now() - datetime.timedelta(1))
    stats.stats_refresh()
    client = api_client(manager_pat)
    client.post(f"/api/v1/projects/{project.pk}/tasks/", [{"data": {"text": "x"}}], format="json")

    stats.stats_refresh()

    assert client.get(stats_url(project)).json()["tasks"]["total"] == 11


def test_without_a_broker_a_large_system_refreshes_once_its_figures_are_ten_refreshes_old(
    project, manager_pat, large_system
):
    client = api_client(manager_pat)
    assert client.get(stats_url(project)).json()["tasks"]["total"] == 7

    StatsState.objects.update(refreshed_at=timezone.now() - datetime.timedelta(seconds=301))

    assert client.get(stats_url(project)).json()["tasks"]["total"] == 10


def test_a_refreshs_length_is_the_longest_of_the_last_few(db):
    stats.stats_refresh()
    StatsState.objects.update(refresh_seconds=8)

    stats.stats_refresh()
    stats.stats_refresh()

    # halved at each refresh, unless the refresh itself took longer
    assert StatsState.objects.get().refresh_seconds == pytest.approx(2)


def test_refreshes_count_each_judgment_once_across_the_settling_margin(
    project, manager_pat, worker_alice, monkeypatch
):
    # given judgments an hour ago (settled by the first refresh) and just now (provisional)
    now = timezone.now()
    for _ in range(3):
        regular(worker_alice, project, at=now - datetime.timedelta(minutes=61))
    regular(worker_alice, project, at=now)
    stats.stats_refresh()
    assert StatsHour.objects.filter(project=project, provisional=True).exists()

    # when later refreshes run, one of them after the margin has passed for every judgment
    stats.stats_refresh()
    monkeypatch.setattr(stats, "SETTLE_SECONDS", 0)
    regular(worker_alice, project, at=timezone.now())
    stats.stats_refresh()
    stats.stats_refresh()

    # then each judgment is counted once, and none is provisional any more
    body = api_client(manager_pat).get(stats_url(project)).json()
    assert sum(row["judgments"] for row in body["throughput"]["per_hour"]) == 5
    assert body["judgments"]["submitted"] == 5
    assert not StatsHour.objects.filter(project=project, provisional=True).exists()
    totals = StatsHour.objects.filter(project=project).values_list("judgments", "seconds")
    assert sum(n for n, _ in totals) == 5
    assert sum(s for _, s in totals) == pytest.approx(100)


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_judgment_committed_after_a_long_transaction_is_counted(
    manager_pat, worker_alice, monkeypatch
):
    # given a margin of 0 s (any transaction outlives it) and a submit whose transaction is
    # still open while a refresh moves the watermark past its `submitted_at`
    monkeypatch.setattr(stats, "SETTLE_SECONDS", 0)
    project = factories.project_create(manager_pat, gold_ratio=0.0)
    stored, committed = threading.Event(), threading.Event()

    def submit():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # stamped with its transaction's clock, as a submit does
                cursor.execute("SELECT transaction_timestamp()")
                regular(worker_alice, project, at=cursor.fetchone()[0])
                stored.set()
                assert committed.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=submit)
    thread.start()
    try:
        assert stored.wait(30)
        stats.stats_refresh()
    finally:
        committed.set()
        thread.join(30)

    # when it has committed and the next refresh runs
    stats.stats_refresh()

    # then its judgment is in the hourly buckets
    hours = StatsHour.objects.filter(project=project).values_list("judgments", flat=True)
    assert sum(hours) == 1


def test_an_unchanged_idle_project_is_not_recomputed(project, worker_alice):
    three_days_ago = timezone.now() - datetime.timedelta(days=3)
    regular(worker_alice, project, at=three_days_ago)
    Project.objects.filter(pk=project.pk).update(updated_at=three_days_ago)
    stats.stats_refresh()
    as_of = ProjectStats.objects.get(project=project).as_of

    stats.stats_refresh()

    assert ProjectStats.objects.get(project=project).as_of == as_of


def test_a_review_on_an_idle_project_shows_at_the_next_refresh(project, manager_pat, worker_alice):
    # given a project idle for days, with figures
    three_days_ago = timezone.now() - datetime.timedelta(days=3)
    judgment = regular(worker_alice, project, at=three_days_ago)
    Project.objects.filter(pk=project.pk).update(updated_at=three_days_ago)
    stats.stats_refresh()

    # when its judgment is accepted
    response = api_client(manager_pat).post(f"/api/v1/assignments/{judgment.pk}/accept/")
    assert response.status_code == 200, response.content
    assert ProjectStats.objects.get(project=project).stats_dirty_at is not None

    # then the next refresh shows it and clears the mark, and the one after leaves it alone
    assert stats.stats_refresh()["projects"] == 1
    figures = ProjectStats.objects.get(project=project)
    assert figures.judgments_accepted == 1 and figures.stats_dirty_at is None
    assert stats.stats_refresh()["projects"] == 0


def test_an_expired_lease_not_yet_swept_makes_no_active_worker(project, manager_pat, worker_alice):
    # given an idle project whose only lease expired a day ago and was not swept yet
    a_day_ago = timezone.now() - datetime.timedelta(days=1)
    Project.objects.filter(pk=project.pk).update(updated_at=a_day_ago)
    Assignment.objects.create(
        task=Task.objects.filter(project=project).first(),
        project=project,
        worker=worker_alice,
        claimed_at=a_day_ago - datetime.timedelta(minutes=10),
        lease_expires_at=a_day_ago,
    )

    stats.stats_refresh()

    # then nobody is active, and the project is not recomputed on every refresh for it
    body = api_client(manager_pat).get(stats_url(project)).json()
    assert body["workers"] == {"active": 0, "blocked": 0, "total": 1}
    assert stats.stats_refresh()["projects"] == 0


def test_the_beat_job_refreshes(project, worker_alice):
    regular(worker_alice, project, at=timezone.now())
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert stats_refresh_task.name in schedule and stats_refresh_task.name in app.tasks

    assert stats_refresh_task.delay().get() == {"skipped": False, "projects": 1}
    assert ProjectStats.objects.get(project=project).judgments_submitted == 1


# --- exports ---------------------------------------------------------------------------------------


def test_stats_export_as_csv(worked, manager_pat):
    stats.stats_refresh()

    response = api_client(manager_pat).get(stats_url(worked), {"format": "csv"})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = dict(csv.reader(io.StringIO(response.content.decode())))
    assert rows["metric"] == "value"
    assert rows["tasks.total"] == "10" and rows["gold.accuracy"] == "0.75"
    assert rows["cost.to_date"] == "0.90" and rows["judgments.submitted"] == "6"


def test_worker_table_export_as_csv_streams_every_row(worked, manager_pat):
    stats.stats_refresh()

    response = api_client(manager_pat).get(
        workers_url(worked), {"format": "csv", "ordering": "username", "page_size": 1}
    )

    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["username"] for row in rows] == ["freelancer_fay", "worker_alice", "worker_bob"]
    assert rows[1]["judgments"] == "4" and rows[1]["earned"] == "0.70"


# --- the cross-project report ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group_by", "expected"),
    [
        ("project", {"Sentiment": 3, "Other": 2}),
        ("vendor", {"Acme BPO": 3, "Globex Staffing": 2}),
        ("center", {"Manila 1": 3, "Pune": 2}),
        ("skill", {"transcription": 2, None: 3}),
        ("language", {"en": 5, "fil": 2}),
    ],
)
@pytest.mark.parametrize("interval", ["hour", "day"])
def test_the_throughput_report_groups_the_managers_projects(
    project, manager_pat, worker_alice, worker_bob, group_by, expected, interval
):
    other = factories.project_create(
        manager_pat,
        name="Other",
        languages=["en", "fil"],
        required_skill=factories.SkillFactory(slug="transcription"),
    )
    someone_elses = factories.project_create(factories.ManagerFactory(), name="Not Pat's")
    now = timezone.now()
    for _ in range(3):
        regular(worker_alice, project, at=now)
    for _ in range(2):
        regular(worker_bob, other, at=now)
    regular(worker_bob, someone_elses, at=now)
    stats.stats_refresh()

    response = api_client(manager_pat).get(REPORT, {"group_by": group_by, "interval": interval})

    assert response.status_code == 200, response.content
    totals = {}
    for row in response.json()["results"]:
        totals[row["name"]] = totals.get(row["name"], 0) + row["judgments"]
    assert totals == expected


@pytest.mark.parametrize("interval", ["hour", "day"])
def test_a_report_starting_inside_a_period_keeps_that_period(
    project, manager_pat, worker_alice, interval
):
    # given a judgment ten minutes into an hour (and a day) two days ago
    day = (timezone.now() - datetime.timedelta(days=2)).astimezone(datetime.UTC)
    day = day.replace(hour=0, minute=0, second=0, microsecond=0)
    regular(worker_alice, project, at=day + datetime.timedelta(minutes=10))
    stats.stats_refresh()

    # when a report starts later in that hour
    start = day + datetime.timedelta(minutes=30)
    response = api_client(manager_pat).get(
        REPORT,
        {
            "group_by": "project",
            "interval": interval,
            "start": start.isoformat(),
            "end": (start + datetime.timedelta(hours=3)).isoformat(),
        },
    )

    # then the period it starts in is there, whole
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert [(row["period"], row["judgments"]) for row in rows] == [
        (day.isoformat().replace("+00:00", "Z"), 1)
    ]


def test_staff_see_every_project_in_the_report(project, staff_sam, worker_alice):
    someone_elses = factories.project_create(factories.ManagerFactory(), name="Not Pat's")
    regular(worker_alice, someone_elses, at=timezone.now())
    regular(worker_alice, project, at=timezone.now())
    stats.stats_refresh()

    response = api_client(staff_sam).get(REPORT, {"group_by": "project"})

    assert {row["name"] for row in response.json()["results"]} == {"Sentiment", "Not Pat's"}


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"group_by": "planet"},
        {"group_by": "project", "interval": "week"},
        {"group_by": "project", "start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {"group_by": "project", "interval": "hour", "start": "2025-01-01T00:00:00Z"},
    ],
)
def test_a_bad_report_query_is_400(manager_pat, query):
    assert api_client(manager_pat).get(REPORT, query).status_code == 400


# --- access (SPEC §4.7) ----------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["stats", "workers", "report"])
@pytest.mark.parametrize(
    ("actor", "status"),
    [
        ("anonymous", 401),
        ("worker_alice", 403),
        ("vendor_admin_acme", 403),
        ("other_manager", 404),
        ("manager_pat", 200),
        ("staff_sam", 200),
    ],
)
def test_access(request, project, endpoint, actor, status):
    if actor == "anonymous":
        user = None
    elif actor == "other_manager":
        user = factories.ManagerFactory()
    else:
        user = request.getfixturevalue(actor)
        user = getattr(user, "user", user)  # a worker fixture is the Worker
    url = {"stats": stats_url(project), "workers": workers_url(project)}.get(endpoint)
    if endpoint == "report":
        # The report has no project in its path: another manager gets 200 with none of it.
        url, status = f"{REPORT}?group_by=project", 200 if status == 404 else status
    response = api_client(user).get(url)
    assert response.status_code == status, response.content


# --- cost independent of size ------------------------------------------------------------------


@pytest.mark.parametrize("judgments", [1, 40])
def test_query_counts_do_not_grow_with_the_data(
    project, manager_pat, center_manila, django_assert_num_queries, judgments, monkeypatch
):
    # reads that find the figures fresh enough (here: refreshes take 30 s, the last was now)
    monkeypatch.setattr(stats, "INLINE_REFRESH_SECONDS", 0.1)
    workers = [factories.WorkerFactory(center=center_manila) for _ in range(min(judgments, 8))]
    now = timezone.now()
    for n in range(judgments):
        regular(workers[n % len(workers)], project, at=now - datetime.timedelta(hours=n % 30))
    stats.stats_refresh()
    StatsState.objects.update(refresh_seconds=30)
    client = api_client(manager_pat)
    client.get(stats_url(project))  # the token is looked up once per client, not measured

    # token, project, the last refresh's duration, its figures, its judgments per hour
    with django_assert_num_queries(5):
        assert client.get(stats_url(project)).status_code == 200
    # token, project, the last refresh's duration, count, page
    with django_assert_num_queries(5):
        assert client.get(workers_url(project), {"ordering": "-judgments"}).status_code == 200
    # token, the last refresh's duration, count, page, group names
    with django_assert_num_queries(5):
        assert client.get(REPORT, {"group_by": "vendor"}).status_code == 200
