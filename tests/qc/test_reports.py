"""Managers' quality reports: agreement (Krippendorff's alpha, agreement with the consensus) and
the data checks before a delivery (qc.reports, SPEC §8 style endpoints)."""

import random

import krippendorff
import numpy as np
import pytest
from django.utils import timezone

from marketplace.models import Assignment, Task
from marketplace.selectors import project_answer_format
from marketplace.services.tasks import task_bulk_create
from qc import reports, scoring
from qc.services.results import task_consensus_record
from tests import factories
from tests.utils import api_client, requires_postgres

CLAIM = "/api/v1/assignments/claim/"
NAN = np.nan

# The example of the krippendorff package's documentation: 3 coders x 15 units, values 1-4,
# missing values as NaN; its published alphas are 0.691358 (nominal) and 0.810845 (interval).
DOC_EXAMPLE = [
    [NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
    [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
    [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4],
]
LETTERS = ["a", "b", "c", "d"]


def answer_next(worker, answer) -> int:
    client = api_client(worker.user)
    body = client.post(CLAIM).json()
    client.post(f"/api/v1/assignments/{body['id']}/submit/", {"answer": answer}, "json")
    return body["task"]["id"]


def judged_project(manager, matrix, *, data=None, **settings):
    """A project with one task per column of `matrix` (workers x tasks, None or NaN: no
    judgment), every answer a submitted judgment of that row's worker. Tasks with `overlap`
    judgments (default: the number of workers) are complete, with their consensus recorded by
    the product's own service. Returns the project, its workers and its tasks."""
    settings.setdefault("overlap", len(matrix))
    project = factories.project_create(manager, gold_ratio=0.0, **settings)
    data = data or [{"text": f"item {n}"} for n in range(len(matrix[0]))]
    task_bulk_create(project=project, rows=[{"data": payload} for payload in data])
    tasks = list(Task.objects.filter(project=project).order_by("pk"))
    workers = [factories.WorkerFactory(freelancer=True) for _ in matrix]
    fmt = project_answer_format(project)
    now = timezone.now()
    judgments = [
        Assignment(
            task=task,
            project=project,
            worker=worker,
            status=Assignment.Status.SUBMITTED,
            answer=scoring.answer_normalise(fmt, answer, task.data),
            claimed_at=now,
            lease_expires_at=now,
            submitted_at=now,
        )
        for worker, row in zip(workers, matrix, strict=True)
        for task, answer in zip(tasks, row, strict=True)
        if not _missing(answer)
    ]
    Assignment.objects.bulk_create(judgments)
    for task in tasks:
        count = sum(judgment.task == task for judgment in judgments)
        complete = count >= task.required
        task.live_count = task.done_count = count
        task.status = Task.Status.COMPLETE if complete else Task.Status.OPEN
        task.save(update_fields=["live_count", "done_count", "status"])
        if complete:
            task_consensus_record(task=task, project=project)
    return project, workers, tasks


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def as_labels(matrix) -> list[list]:
    return [[None if _missing(v) else LETTERS[int(v) - 1] for v in row] for row in matrix]


def agreement(user, project):
    return api_client(user).get(f"/api/v1/projects/{project.id}/agreement/")


def checks(user, project):
    return api_client(user).get(f"/api/v1/projects/{project.id}/checks/")


@pytest.fixture(params=["package", "sums"])
def alpha_path(request, monkeypatch):
    """Runs a test once with krippendorff.alpha on the value counts, once with the per-task sums
    used past the package's memory budget: both must give the same alpha."""
    if request.param == "sums":
        monkeypatch.setattr(reports, "_PACKAGE_MAX_CELLS", 0)
    return request.param


# --- agreement ------------------------------------------------------------------------------------


def test_agreement_through_the_product(manager_pat):
    # given three workers answering over the API, overlap 3: t1 positive, positive, negative;
    # t2 negative x 3; t3 only one judgment (open, so no consensus yet)
    project = factories.project_create(manager_pat, gold_ratio=0.0, overlap=3)
    factories.tasks_create(project, 3)
    alice, bob, carol = (factories.WorkerFactory(freelancer=True) for _ in range(3))
    for worker, answer in ((alice, "positive"), (bob, "positive"), (carol, "negative")):
        answer_next(worker, answer)
    for worker in (alice, bob, carol):
        answer_next(worker, "negative")
    answer_next(carol, "negative")

    # when
    response = agreement(manager_pat, project)

    # then: by hand, t3 has no pair and drops out; coincidences (positive, negative) over t1
    # (m = 3) and t2 (m = 3) are o = [[1, 1], [1, 3]], so n_pos = 2, n_neg = 4, n = 6; expected
    # disagreement 2 * 2 * 4 / 5 = 3.2 against the observed 2: alpha = 1 - 2 / 3.2 = 0.375
    assert response.status_code == 200
    body = response.json()
    assert body["krippendorff_alpha"] == pytest.approx(0.375)
    assert krippendorff.alpha(
        reliability_data=[[0, 1, NAN], [0, 1, NAN], [1, 1, 1]], level_of_measurement="nominal"
    ) == pytest.approx(0.375)
    assert (body["level"], body["note"], body["judgments"]) == ("nominal", None, 7)
    assert body["workers"] == [
        {
            "worker": alice.pk,
            "username": alice.user.username,
            "judgments": 2,
            "judgments_with_consensus": 2,
            "agreement_with_consensus": 1.0,
        },
        {
            "worker": bob.pk,
            "username": bob.user.username,
            "judgments": 2,
            "judgments_with_consensus": 2,
            "agreement_with_consensus": 1.0,
        },
        {
            "worker": carol.pk,
            "username": carol.user.username,
            "judgments": 3,
            "judgments_with_consensus": 2,
            "agreement_with_consensus": 0.5,
        },
    ]


def test_perfect_agreement_is_an_alpha_of_one(manager_pat, alpha_path):
    matrix = [["positive", "negative", "neutral", "positive"]] * 3
    project, _, _ = judged_project(manager_pat, matrix)

    body = agreement(manager_pat, project).json()

    assert body["krippendorff_alpha"] == 1.0
    assert [row["agreement_with_consensus"] for row in body["workers"]] == [1.0] * 3


def test_nominal_alpha_of_the_documented_example(manager_pat, alpha_path):
    project, _, _ = judged_project(manager_pat, as_labels(DOC_EXAMPLE), labels=LETTERS, overlap=3)

    body = agreement(manager_pat, project).json()

    dense = krippendorff.alpha(reliability_data=DOC_EXAMPLE, level_of_measurement="nominal")
    assert body["krippendorff_alpha"] == pytest.approx(dense, abs=1e-12)
    assert body["krippendorff_alpha"] == pytest.approx(0.691358, abs=1e-6)
    assert body["judgments"] == 27


def test_interval_alpha_for_ratings(manager_pat, alpha_path):
    project, _, _ = judged_project(
        manager_pat, DOC_EXAMPLE, task_type="rating", scale_min=1, scale_max=4
    )

    body = agreement(manager_pat, project).json()

    assert body["level"] == "interval"
    assert body["krippendorff_alpha"] == pytest.approx(0.810845, abs=1e-6)


@pytest.mark.parametrize("task_type", ["classification", "rating"])
def test_alpha_matches_the_package_on_a_random_sparse_matrix(manager_pat, alpha_path, task_type):
    # 7 workers x 40 tasks, each judgment present with probability 0.6; workers mostly agree
    # with a hidden truth, so alpha is neither 0 nor 1.
    rng = random.Random(5)
    truth = [rng.randint(1, 4) for _ in range(40)]
    dense = np.array(
        [
            [
                (t if rng.random() < 0.7 else rng.randint(1, 4)) if rng.random() < 0.6 else NAN
                for t in truth
            ]
            for _ in range(7)
        ]
    )
    if task_type == "classification":
        project, _, _ = judged_project(manager_pat, as_labels(dense), labels=LETTERS, overlap=7)
        level = "nominal"
    else:
        project, _, _ = judged_project(
            manager_pat, dense.tolist(), task_type="rating", scale_min=1, scale_max=4, overlap=7
        )
        level = "interval"

    body = agreement(manager_pat, project).json()

    expected = krippendorff.alpha(reliability_data=dense, level_of_measurement=level)
    assert 0.2 < expected < 0.9
    assert body["krippendorff_alpha"] == pytest.approx(expected, abs=1e-12)
    assert body["judgments"] == int(np.sum(~np.isnan(dense)))


def test_multi_label_alpha_is_the_mean_over_labels(manager_pat, alpha_path):
    matrix = [
        [["a"], ["a", "b"], [], ["b"]],
        [["a"], ["a"], ["b"], ["b"]],
        [["a", "b"], ["a", "b"], [], ["b"]],
    ]
    project, _, _ = judged_project(manager_pat, matrix, task_type="multi_label", labels=LETTERS)

    body = agreement(manager_pat, project).json()

    # One binary matrix per label; c and d were never chosen, so they have no alpha.
    per_label = [
        krippendorff.alpha(
            reliability_data=[[int(label in answer) for answer in row] for row in matrix],
            level_of_measurement="nominal",
        )
        for label in ("a", "b")
    ]
    assert body["krippendorff_alpha"] == pytest.approx(np.mean(per_label), abs=1e-12)
    assert body["level"] == "nominal"
    assert "2 of 4 labels" in body["note"]


def test_rating_agreement_is_within_the_tolerance(manager_pat):
    # t1: 3, 4, 5 -> median 4, everyone within 1; t2: 1, 1, 5 -> median 1, carol is 4 off
    project, (alice, bob, carol), tasks = judged_project(
        manager_pat,
        [[3, 1], [4, 1], [5, 5]],
        task_type="rating",
        scale_min=1,
        scale_max=5,
        gold_tolerance=1,
    )
    # Judgments that are not trusted, or on gold, count nowhere.
    now = timezone.now()
    gold = Task.objects.create(project=project, data={"x": 1}, is_gold=True, gold_answer=2)
    Assignment.objects.bulk_create(
        [
            Assignment(task=gold, project=project, worker=carol, status="submitted", answer=1,
                       is_gold=True, claimed_at=now, lease_expires_at=now),
            Assignment(task=tasks[0], project=project, worker=factories.WorkerFactory(
                freelancer=True), status="rejected", answer=1, claimed_at=now,
                lease_expires_at=now),
        ]
    )  # fmt: skip

    body = agreement(manager_pat, project).json()

    assert [
        (row["worker"], row["judgments"], row["agreement_with_consensus"])
        for row in body["workers"]
    ] == [(alice.pk, 2, 1.0), (bob.pk, 2, 1.0), (carol.pk, 2, 0.5)]
    assert body["judgments"] == 6


def test_text_has_no_alpha_and_agreement_uses_the_similarity_threshold(manager_pat):
    # "the cat  sat" folds to the consensus ("The cat sat", the earliest most central answer)
    project, _, _ = judged_project(
        manager_pat,
        [["The cat sat", "A dog"], ["the cat  sat", "a dog"], ["Something else", "A dog!"]],
        task_type="text",
    )

    body = agreement(manager_pat, project).json()

    assert (body["krippendorff_alpha"], body["level"]) == (None, None)
    assert "text" in body["note"]
    # 1 - edit distance / length: "a dog!" against "a dog" is 5/6 < 0.9
    assert [row["agreement_with_consensus"] for row in body["workers"]] == [1.0, 1.0, 0.0]


def test_bbox_agreement_uses_the_iou_threshold(manager_pat):
    # Alice's and Bob's boxes overlap well and make the consensus (their mean box, equal to
    # neither); Carol's box is elsewhere and has no majority.
    def box(x):
        return [{"label": "a", "x": x, "y": 0, "w": 10, "h": 10}]

    project, _, _ = judged_project(
        manager_pat, [[box(0)], [box(1)], [box(50)]], task_type="bbox", labels=LETTERS
    )

    body = agreement(manager_pat, project).json()

    assert (body["krippendorff_alpha"], body["level"]) == (None, None)
    assert [row["agreement_with_consensus"] for row in body["workers"]] == [1.0, 1.0, 0.0]


def test_alpha_is_undefined_without_variation_or_pairs(manager_pat):
    same, _, _ = judged_project(manager_pat, [["positive", "positive"]] * 2)
    single, _, _ = judged_project(manager_pat, [["positive", "negative"]])

    for project in (same, single):
        body = agreement(manager_pat, project).json()
        assert body["krippendorff_alpha"] is None
        assert "undefined" in body["note"]


# --- data checks ----------------------------------------------------------------------------------


def test_duplicate_payloads_are_grouped(manager_pat):
    project = factories.project_create(manager_pat, gold_ratio=0.0)
    rows = [{"text": "same"}, {"text": "other"}, {"text": "same"}, {"text": "unique"}]
    rows += [{"text": "other"}, {"text": "same"}, {"text": "also unique"}]
    task_bulk_create(
        project=project,
        rows=[{"data": data} for data in rows]
        + [{"data": {"text": "same"}, "gold_answer": "positive"}],  # gold is not delivered
    )
    ids = list(Task.objects.filter(project=project, is_gold=False).values_list("pk", flat=True))

    body = checks(manager_pat, project).json()

    assert body["duplicate_payloads"] == {
        "groups": 2,
        "tasks": 5,
        "examples": [[ids[0], ids[2], ids[5]], [ids[1], ids[4]]],
    }
    assert body["completeness"] == {"tasks_missing_judgments": 0, "empty_answers": 0}
    assert body["duplicate_text_answers"] == []
    assert body["inconsistent_workers"] == []


def test_duplicate_payload_examples_are_capped(manager_pat, monkeypatch):
    monkeypatch.setattr(reports, "EXAMPLES", 2)
    project = factories.project_create(manager_pat, gold_ratio=0.0)
    task_bulk_create(
        project=project, rows=[{"data": {"n": n % 3}} for n in range(9)]
    )  # three groups of three
    ids = list(Task.objects.filter(project=project).values_list("pk", flat=True))

    body = checks(manager_pat, project).json()["duplicate_payloads"]

    assert body == {"groups": 3, "tasks": 9, "examples": [[ids[0], ids[3]], [ids[1], ids[4]]]}


@requires_postgres
def test_duplicate_payloads_ignore_key_order_on_postgresql(manager_pat):
    project = factories.project_create(manager_pat, gold_ratio=0.0)
    task_bulk_create(project=project, rows=[{"data": {"a": 1, "b": 2}}, {"data": {"b": 2, "a": 1}}])

    body = checks(manager_pat, project).json()["duplicate_payloads"]

    assert (body["groups"], body["tasks"]) == (1, 2)


def test_a_worker_contradicting_themselves_is_reported(manager_pat):
    # Items 0 and 2 carry the same payload, and so do 1 and 3. Alice answers item 0/2
    # differently; Bob answers both pairs the same way; Carol meets no item twice.
    data = [{"text": "same"}, {"text": "twin"}, {"text": "same"}, {"text": "twin"}]
    project, (alice, _, _), _ = judged_project(
        manager_pat,
        [
            ["positive", "neutral", "negative", "neutral"],
            ["positive", "negative", "positive", "negative"],
            ["positive", None, None, "neutral"],
        ],
        data=data,
    )

    body = checks(manager_pat, project).json()

    assert body["inconsistent_workers"] == [
        {
            "worker": alice.pk,
            "username": alice.user.username,
            "repeated_items": 2,
            "contradictions": 1,
        }
    ]
    assert (body["duplicate_payloads"]["groups"], body["duplicate_payloads"]["tasks"]) == (2, 4)


def test_duplicate_text_answers_per_worker(manager_pat):
    long_answer = "x" * 300
    project, (alice, bob), _ = judged_project(
        manager_pat,
        [
            ["copy", "copy", "copy", "fine"],
            [long_answer, long_answer, "one", "two"],
        ],
        task_type="text",
    )

    body = checks(manager_pat, project).json()

    assert body["duplicate_text_answers"] == [
        {"worker": alice.pk, "username": alice.user.username, "answer": "copy", "tasks": 3},
        {"worker": bob.pk, "username": bob.user.username, "answer": "x" * 200, "tasks": 2},
    ]


def test_completeness_counts_missing_judgments_and_empty_answers(manager_pat):
    project, _, tasks = judged_project(
        manager_pat,
        [[[], ["a"], ["b"]], [[], [], ["b"]]],
        task_type="multi_label",
        labels=LETTERS,
    )
    # A complete task that lost a judgment behind the product's back.
    Assignment.objects.filter(task=tasks[2]).first().delete()

    body = checks(manager_pat, project).json()

    assert body["completeness"] == {"tasks_missing_judgments": 1, "empty_answers": 3}


def test_blank_text_answers_are_empty(manager_pat):
    project, _, tasks = judged_project(manager_pat, [["fine", "also fine"]], task_type="text")
    # Validation refuses blank text; these rows stand for data that came around it.
    Assignment.objects.filter(task=tasks[0]).update(answer=" \t\n")
    Assignment.objects.filter(task=tasks[1]).update(answer="")

    body = checks(manager_pat, project).json()

    assert body["completeness"]["empty_answers"] == 2


# --- access and query counts ----------------------------------------------------------------------

ENDPOINTS = ["agreement", "checks"]


@pytest.fixture
def project_of_pat(manager_pat):
    project = factories.project_create(manager_pat)
    factories.tasks_create(project, 2)
    return project


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("actor", "status"),
    [
        ("anonymous", 401),
        ("worker_alice", 403),
        ("vendor_admin_acme", 403),
        ("another_manager", 404),
        ("staff_sam", 200),
        ("manager_pat", 200),
    ],
)
def test_reports_are_for_the_projects_managers_and_staff(
    request, project_of_pat, endpoint, actor, status
):
    if actor == "anonymous":
        client = api_client()
    elif actor == "another_manager":
        client = api_client(factories.ManagerFactory())
    else:
        user = request.getfixturevalue(actor)
        client = api_client(getattr(user, "user", user))

    response = client.get(f"/api/v1/projects/{project_of_pat.id}/{endpoint}/")

    assert response.status_code == status


def test_unknown_project_is_404(manager_pat):
    for endpoint in ENDPOINTS:
        assert api_client(manager_pat).get(f"/api/v1/projects/0/{endpoint}/").status_code == 404


def _crowd_matrix(tasks: int, workers: int = 3) -> list[list[str]]:
    # Everyone agrees but the last worker on every third task; every fifth task is open.
    labels = ["positive", "negative", "neutral"]
    return [
        [
            None
            if t % 5 == 4 and w == workers - 1
            else labels[(t + (w == workers - 1 and t % 3 == 0)) % 3]
            for t in range(tasks)
        ]
        for w in range(workers)
    ]


def test_agreement_query_count_is_flat(manager_pat, django_assert_num_queries):
    small, _, _ = judged_project(manager_pat, _crowd_matrix(10))
    large, _, _ = judged_project(manager_pat, _crowd_matrix(100, workers=5), overlap=5)

    client = api_client(manager_pat)

    # token+user, project, (task, answer) counts for alpha, per-worker counts
    with django_assert_num_queries(4):
        small_body = client.get(f"/api/v1/projects/{small.id}/agreement/").json()
    with django_assert_num_queries(4):
        large_body = client.get(f"/api/v1/projects/{large.id}/agreement/").json()

    assert (small_body["judgments"], large_body["judgments"]) == (28, 480)


def test_text_agreement_query_count_is_flat(manager_pat, django_assert_num_queries):
    small, _, _ = judged_project(manager_pat, [["same"] * 5] * 2, task_type="text")
    large, _, _ = judged_project(manager_pat, [["same"] * 50] * 2, task_type="text")

    client = api_client(manager_pat)

    # token+user, project, per-worker counts, the stream of (answer, consensus) to match
    for project in (small, large):
        with django_assert_num_queries(4):
            body = client.get(f"/api/v1/projects/{project.id}/agreement/").json()
        assert [row["agreement_with_consensus"] for row in body["workers"]] == [1.0, 1.0]


def test_checks_query_count_is_flat(manager_pat, django_assert_num_queries):
    def text_project(n):
        # n distinct payloads, each twice; the worker answers one copy differently
        data = [{"text": f"item {i // 2}"} for i in range(2 * n)]
        answers = ["same" if i % 4 else f"answer {i}" for i in range(2 * n)]
        project, _, _ = judged_project(
            manager_pat, [answers], data=data, task_type="text", overlap=1
        )
        return project

    small, large = text_project(5), text_project(50)
    client = api_client(manager_pat)

    # token+user, project, tasks missing judgments, empty answers, duplicate payload totals,
    # the first groups, their task ids, duplicate text answers, inconsistent workers
    with django_assert_num_queries(9):
        small_body = client.get(f"/api/v1/projects/{small.id}/checks/").json()
    with django_assert_num_queries(9):
        large_body = client.get(f"/api/v1/projects/{large.id}/checks/").json()

    assert (
        small_body["duplicate_payloads"]["groups"],
        large_body["duplicate_payloads"]["groups"],
    ) == (5, 50)
    assert len(large_body["duplicate_payloads"]["examples"]) == reports.EXAMPLES
    assert large_body["inconsistent_workers"][0]["repeated_items"] == 50
