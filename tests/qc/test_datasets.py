"""Real crowd data with known truth, through the product: tasks, judgments, aggregation jobs.

The bar is crowd-kit's published accuracy on the same data (../shared/datasets/README.md):
a project's Dawid-Skene result must reach it minus 0.005, and weighted majority with weights
learnt from gold must do at least as well as plain majority vote.
"""

import csv
import random
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from django.utils import timezone

from marketplace.models import Assignment, Task
from marketplace.services.tasks import task_bulk_create
from qc.models import TaskResult
from qc.services.aggregation import aggregation_start
from qc.services.quality import quality_record_check
from qc.services.results import task_consensus_record
from tests import factories
from workforce.models import Worker

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
pytestmark = pytest.mark.skipif(
    not DATASETS.is_dir(), reason=f"the shared datasets are not at {DATASETS}"
)

# crowd-kit 1.4.2 on all items (datasets/README.md)
REFERENCE = {
    "d_product": {"dawid_skene": 0.9397, "one_coin_ds": 0.9084, "wawa": 0.8966},
    "rte": {"dawid_skene": 0.9275, "one_coin_ds": 0.9250, "wawa": 0.9188},
}


def load(name: str) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    with open(DATASETS / name / "labels.csv") as file:
        labels = [(row["worker"], row["item"], row["label"]) for row in csv.DictReader(file)]
    with open(DATASETS / name / "gold.csv") as file:
        gold = {row["item"]: row["gold"] for row in csv.DictReader(file)}
    return labels, gold


def build_project(manager, center, name: str, gold_items: set[str]):
    """A project holding the dataset: its items as tasks (gold_items as gold questions), its
    workers as workers, and every label as a submitted judgment."""
    labels, truth = load(name)
    per_item = Counter(item for _, item, _ in labels)
    project = factories.project_create(
        manager,
        name=name,
        labels=sorted({label for _, _, label in labels}),
        overlap=max(per_item.values()),
        gold_ratio=0.0,
    )
    items = sorted(per_item)
    task_bulk_create(
        project=project,
        rows=[
            {"data": {"item": item}, **({"gold_answer": truth[item]} if item in gold_items else {})}
            for item in items
        ],
    )
    task_of = {
        task.data["item"]: task.pk for task in Task.objects.filter(project=project).only("data")
    }
    names = sorted({worker for worker, _, _ in labels})
    workers = {
        name: factories.WorkerFactory(center=center, user__username=f"{project.pk}-{name}")
        for name in names
    }
    now = timezone.now()
    Assignment.objects.bulk_create(
        [
            Assignment(
                task_id=task_of[item],
                project=project,
                worker=workers[worker],
                status=Assignment.Status.SUBMITTED,
                is_gold=item in gold_items,
                answer=label,
                claimed_at=now,
                lease_expires_at=now,
                submitted_at=now,
            )
            for worker, item, label in labels
        ],
        batch_size=5000,
    )
    for worker, item, label in labels:
        if item in gold_items:
            quality_record_check(
                worker_id=workers[worker].pk,
                project=project,
                passed=label == truth[item],
                day=now.date(),
            )
    for count in set(per_item.values()):
        Task.objects.filter(
            project=project,
            is_gold=False,
            pk__in=[task_of[item] for item, n in per_item.items() if n == count],
        ).update(live_count=count, done_count=count, status="complete")
    return project, truth


def aggregate(manager, project, method, capture) -> dict[str, str]:
    with capture(execute=True):
        job = aggregation_start(project=project, method=method, user=manager)
    job.refresh_from_db()
    assert job.status == "done", job.error
    return {
        result.task.data["item"]: result.consensus
        for result in TaskResult.objects.filter(project=project).select_related("task")
    }


def accuracy(answers: dict[str, str], truth: dict[str, str]) -> float:
    return sum(answers[item] == truth[item] for item in answers) / len(answers)


def majority_vote(name: str, items: set[str], labels_order: list[str]) -> dict[str, str]:
    """Plain majority vote, ties to the label listed first (SPEC §6's tie rule)."""
    votes = defaultdict(Counter)
    for _, item, label in load(name)[0]:
        if item in items:
            votes[item][label] += 1
    return {
        item: max(labels_order, key=lambda label: (count[label], -labels_order.index(label)))
        for item, count in votes.items()
    }


@pytest.mark.parametrize("name", ["d_product", "rte"])
@pytest.mark.parametrize("method", ["dawid_skene", "one_coin_ds", "wawa"])
def test_project_aggregation_reaches_crowd_kit(
    name, method, manager_pat, center_manila, django_capture_on_commit_callbacks
):
    project, truth = build_project(manager_pat, center_manila, name, gold_items=set())

    answers = aggregate(manager_pat, project, method, django_capture_on_commit_callbacks)

    assert len(answers) == len(truth)
    assert accuracy(answers, truth) >= REFERENCE[name][method] - 0.005


@pytest.mark.parametrize("name", ["d_product", "rte"])
@pytest.mark.parametrize("path", ["online", "job"])
def test_weighted_majority_with_gold_learnt_weights_beats_plain_majority(
    name, path, manager_pat, center_manila, django_capture_on_commit_callbacks
):
    truth = load(name)[1]
    gold_items = set(random.Random(7).sample(sorted(truth), len(truth) // 10))
    project, _ = build_project(manager_pat, center_manila, name, gold_items)
    assert Worker.objects.filter(quality__project=project).exists()

    if path == "online":
        # what each task gets when its last judgment arrives
        for task in Task.objects.filter(project=project, is_gold=False).iterator():
            task_consensus_record(task=task, project=project)
        weighted = {
            result.task.data["item"]: result.consensus
            for result in TaskResult.objects.filter(project=project).select_related("task")
        }
    else:
        weighted = aggregate(
            manager_pat, project, "weighted_majority", django_capture_on_commit_callbacks
        )
    plain = majority_vote(name, set(weighted), project.labels)

    assert set(weighted) == set(truth) - gold_items
    assert accuracy(weighted, truth) >= accuracy(plain, truth)
