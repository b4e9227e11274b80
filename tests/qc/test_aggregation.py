"""qc.aggregation: weighted majority, Wawa, one-coin and full Dawid-Skene (SPEC §6).

Hand-made crowds pin down the rules (ties, gold, empty tasks); two real crowds with expert labels
check that the accuracy matches crowd-kit's published figures.
"""

import csv
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qc.aggregation import (
    Judgments,
    Result,
    dawid_skene,
    one_coin_dawid_skene,
    wawa,
    weighted_majority,
)

REPO = Path(__file__).resolve().parents[2]
# CI clones the repository into a folder of its own with a copy of shared/ beside it.
DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"


def equal_weights(j: Judgments) -> Result:
    return weighted_majority(j, np.ones(j.n_workers))


METHODS = {
    "weighted_majority": lambda j, gold=None: equal_weights(j),
    "wawa": wawa,
    "one_coin_dawid_skene": one_coin_dawid_skene,
    "dawid_skene": dawid_skene,
}
LEARNING = ["wawa", "one_coin_dawid_skene", "dawid_skene"]  # the methods that take gold


def crowd(rows, *, n_tasks=None, n_workers=None, n_labels=2) -> Judgments:
    """Judgments from (task, worker, label) rows."""
    task, worker, label = (np.array(column, dtype=np.int64) for column in zip(*rows, strict=True))
    return Judgments(
        task,
        worker,
        label,
        n_tasks=int(task.max()) + 1 if n_tasks is None else n_tasks,
        n_workers=int(worker.max()) + 1 if n_workers is None else n_workers,
        n_labels=n_labels,
    )


def assert_well_formed(result: Result, j: Judgments, gold=None) -> None:
    judged = np.bincount(j.task, minlength=j.n_tasks) > 0
    pinned = np.zeros(j.n_tasks, bool) if gold is None else np.asarray(gold) >= 0
    assert result.label.dtype == np.int64 and result.label.shape == (j.n_tasks,)
    assert result.confidence.dtype == np.float64 and result.confidence.shape == (j.n_tasks,)
    assert result.worker_skill.dtype == np.float64 and result.worker_skill.shape == (j.n_workers,)
    assert ((result.confidence >= 0) & (result.confidence <= 1)).all()
    assert ((result.label >= 0) == (judged | pinned)).all()
    assert (result.label < j.n_labels).all()
    assert (result.confidence[~judged & ~pinned] == 0).all()
    if gold is not None:
        assert (result.label[pinned] == np.asarray(gold)[pinned]).all()
        assert (result.confidence[pinned] == 1).all()
    active = np.bincount(j.worker, minlength=j.n_workers) > 0
    assert (np.isnan(result.worker_skill) == ~active).all()
    skill = result.worker_skill[active]
    assert ((skill >= 0) & (skill <= 1)).all()


# --- hand-made crowds ----------------------------------------------------------------------------

# Three workers agree on every task: task 0 is label 1, task 1 label 0, task 2 label 2.
UNANIMOUS = crowd(
    [(t, w, label) for t, label in enumerate([1, 0, 2]) for w in range(3)],
    n_labels=3,
)

# Workers 0 and 1 always answer right; worker 2 is a spammer who always says 0 (right half the
# time). On the last task only worker 0 and the spammer answer, and they disagree.
SPAMMER = 2
CONTESTED = 20
SPAMMED = crowd(
    [(t, w, t % 2) for t in range(CONTESTED) for w in (0, 1)]
    + [(t, SPAMMER, 0) for t in range(CONTESTED)]
    + [(CONTESTED, 0, 1), (CONTESTED, SPAMMER, 0)]
)

# Workers 0, 1 and 2 agree on tasks 1..9; on task 0 workers 0 and 1 say 0, worker 2 says 1, and
# the expert says 1.
OUTVOTED = 2
GOLD_MINORITY = crowd(
    [(0, 0, 0), (0, 1, 0), (0, OUTVOTED, 1)]
    + [(t, w, t % 2) for t in range(1, 10) for w in range(3)]
)


def gold_for(j: Judgments, known: dict[int, int]) -> np.ndarray:
    gold = np.full(j.n_tasks, -1, dtype=np.int64)
    for task, label in known.items():
        gold[task] = label
    return gold


@pytest.mark.parametrize("method", METHODS)
def test_unanimous_crowd_gets_its_answer_with_high_confidence(method):
    # given three workers who agree on every task
    # when aggregating
    result = METHODS[method](UNANIMOUS)
    # then every task gets the shared answer, and every worker looks reliable
    assert result.label.tolist() == [1, 0, 2]
    assert (result.confidence > 0.99).all()
    assert (result.worker_skill > 0.99).all()
    assert_well_formed(result, UNANIMOUS)


@pytest.mark.parametrize("method", METHODS)
def test_a_split_vote_goes_to_the_lowest_label(method):
    # given one task where two workers give labels 2 and 1 (label 0 unused)
    j = crowd([(0, 0, 2), (0, 1, 1)], n_labels=3)
    # when aggregating
    result = METHODS[method](j)
    # then the tie goes to the label listed first among the tied ones
    assert result.label.tolist() == [1]
    # Wawa then weighs the worker who disagreed with that majority at 0.
    assert result.confidence[0] == pytest.approx(1.0 if method == "wawa" else 0.5)
    assert_well_formed(result, j)


def test_a_weighted_tie_goes_to_the_lowest_label():
    # given label 2 from a worker of weight 2, label 0 from two workers of weight 1
    j = crowd([(0, 0, 2), (0, 1, 0), (0, 2, 0)], n_labels=3)
    # when voting
    result = weighted_majority(j, np.array([2.0, 1.0, 1.0]))
    # then 2 against 2 is a tie, and label 0 wins it
    assert result.label.tolist() == [0]
    assert result.confidence.tolist() == [0.5]


def test_weighted_majority_confidence_is_the_winning_weight_share():
    # given label 1 from workers of weight 0.9 and 0.6, label 0 from one of weight 0.5
    j = crowd([(0, 0, 1), (0, 1, 1), (0, 2, 0)])
    # when voting
    result = weighted_majority(j, np.array([0.9, 0.6, 0.5]))
    # then label 1 wins with 1.5 of 2.0; worker 2 disagrees with the result
    assert result.label.tolist() == [1]
    assert result.confidence[0] == pytest.approx(0.75)
    assert result.worker_skill.tolist() == [1.0, 1.0, 0.0]
    assert result.iterations == 1


def test_weightless_voters_count_equally():
    # given a task whose voters all weigh 0: two say 1, one says 0; and a task with a heavy voter
    j = crowd([(0, 0, 1), (0, 1, 1), (0, 2, 0), (1, 0, 0), (1, 3, 1)])
    # when voting
    result = weighted_majority(j, np.array([0.0, 0.0, 0.0, 1.0]))
    # then the weightless task falls back to a plain majority; the other follows the weight
    assert result.label.tolist() == [1, 1]
    assert result.confidence[0] == pytest.approx(2 / 3)
    assert result.confidence[1] == 1.0


@pytest.mark.parametrize("method", METHODS)
def test_the_spammer_is_outvoted_once_skills_are_learnt(method):
    # given a crowd where the contested task is a 1-1 tie between a good worker and a spammer
    # when aggregating
    result = METHODS[method](SPAMMED)
    # then equal weights hand the tie to the spammer's label 0; learnt skills give it to label 1
    expected = 0 if method == "weighted_majority" else 1
    assert result.label[CONTESTED] == expected
    assert (result.label[:CONTESTED] == np.arange(CONTESTED) % 2).all()
    if method != "weighted_majority":
        assert result.worker_skill[0] > result.worker_skill[SPAMMER]
    assert_well_formed(result, SPAMMED)


@pytest.mark.parametrize("method", LEARNING)
def test_gold_pins_a_task_and_credits_the_worker_who_was_right(method):
    # given task 0 where the majority says 0 and the expert says 1
    gold = gold_for(GOLD_MINORITY, {0: 1})
    # when aggregating without and with the gold answer
    free = METHODS[method](GOLD_MINORITY)
    pinned = METHODS[method](GOLD_MINORITY, gold)
    # then the pinned task flips to the gold label, certain, and the lone dissenter gains skill
    assert free.label[0] == 0
    assert pinned.label[0] == 1
    assert pinned.confidence[0] == 1.0
    assert pinned.worker_skill[OUTVOTED] > free.worker_skill[OUTVOTED]
    assert pinned.worker_skill[0] < free.worker_skill[0]
    assert (pinned.label[1:] == free.label[1:]).all()
    assert_well_formed(pinned, GOLD_MINORITY, gold)


@pytest.mark.parametrize("method", LEARNING)
def test_gold_is_reported_for_a_pinned_task_nobody_judged(method):
    # given task 3 with a gold answer but no judgments, task 2 with neither
    j = crowd([(0, 0, 1), (0, 1, 1), (1, 0, 0), (1, 1, 0)], n_tasks=4)
    gold = gold_for(j, {3: 1})
    # when aggregating
    result = METHODS[method](j, gold)
    # then the gold label stands for task 3, and task 2 has no label
    assert result.label.tolist() == [1, 0, -1, 1]
    assert result.confidence[2] == 0.0
    assert result.confidence[3] == 1.0


@pytest.mark.parametrize("method", METHODS)
def test_tasks_and_workers_without_judgments(method):
    # given tasks 1 and 3 and worker 2 without any judgment
    j = crowd([(0, 0, 1), (0, 1, 1), (2, 0, 0), (2, 1, 0)], n_tasks=4, n_workers=3)
    # when aggregating
    result = METHODS[method](j)
    # then those tasks get label -1 and confidence 0, that worker a NaN skill
    assert result.label.tolist() == [1, -1, 0, -1]
    assert result.confidence[[1, 3]].tolist() == [0.0, 0.0]
    assert np.isnan(result.worker_skill[2])
    assert_well_formed(result, j)


@pytest.mark.parametrize("method", METHODS)
def test_no_judgments_at_all(method):
    # given two tasks, two workers and not one judgment
    empty = np.array([], dtype=np.int64)
    j = Judgments(empty, empty, empty, n_tasks=2, n_workers=2, n_labels=3)
    # when aggregating
    result = METHODS[method](j)
    # then nothing is decided
    assert result.label.tolist() == [-1, -1]
    assert result.confidence.tolist() == [0.0, 0.0]
    assert np.isnan(result.worker_skill).all()


@pytest.mark.parametrize("method", METHODS)
def test_a_single_label_project(method):
    # given a project with one label
    j = crowd([(0, 0, 0), (0, 1, 0), (1, 1, 0)], n_labels=1)
    # when aggregating
    result = METHODS[method](j)
    # then every judged task has that label, certainly
    assert result.label.tolist() == [0, 0]
    assert result.confidence == pytest.approx([1.0, 1.0])
    assert_well_formed(result, j)


@pytest.mark.parametrize("method", ["one_coin_dawid_skene", "dawid_skene"])
def test_em_stops_at_max_iter(method):
    # given a crowd EM would keep refining for a while
    # when allowed one iteration only
    result = METHODS[method](SPAMMED, max_iter=1)
    # then it stops after one
    assert result.iterations == 1
    assert_well_formed(result, SPAMMED)


def test_em_iterations_are_counted_until_convergence():
    # given the spammer crowd
    # when running EM with the default tolerance and a tighter one
    loose = dawid_skene(SPAMMED)
    tight = dawid_skene(SPAMMED, tol=1e-12)
    # then it converges before max_iter, later with the tighter tolerance
    assert 1 < loose.iterations <= tight.iterations < 100


def random_crowd(seed: int, *, n_tasks=400, n_workers=25, n_labels=3, per_task=3) -> Judgments:
    """Workers of accuracy 0.5-0.95 on every task but each tenth, which nobody judges."""
    rng = np.random.default_rng(seed)
    judged = np.flatnonzero(np.arange(n_tasks) % 10 != 0)
    truth = rng.integers(0, n_labels, n_tasks)
    accuracy = rng.uniform(0.5, 0.95, n_workers)
    task = np.repeat(judged, per_task)
    worker = np.concatenate([rng.choice(n_workers, per_task, replace=False) for _ in judged])
    right = rng.random(task.size) < accuracy[worker]
    label = np.where(
        right, truth[task], (truth[task] + rng.integers(1, n_labels, task.size)) % n_labels
    )
    return Judgments(task, worker, label, n_tasks, n_workers, n_labels)


@pytest.mark.parametrize("method", METHODS)
def test_the_order_of_the_judgments_does_not_matter(method):
    # given a crowd with unjudged tasks, and the same judgments in random order
    j = random_crowd(7)
    order = np.random.default_rng(8).permutation(len(j.task))
    shuffled = Judgments(
        j.task[order], j.worker[order], j.label[order], j.n_tasks, j.n_workers, j.n_labels
    )
    gold = np.where(np.arange(j.n_tasks) % 7 == 0, 1, -1)
    gold = gold if method in LEARNING else None
    # when aggregating both
    grouped, scattered = METHODS[method](j, gold), METHODS[method](shuffled, gold)
    # then the results agree (up to rounding in sums taken in another order)
    np.testing.assert_array_equal(scattered.label, grouped.label)
    np.testing.assert_allclose(scattered.confidence, grouped.confidence, rtol=1e-9)
    np.testing.assert_allclose(scattered.worker_skill, grouped.worker_skill, rtol=1e-9)
    assert scattered.iterations == grouped.iterations
    assert_well_formed(scattered, j, gold)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: crowd([(0, 0, 2)], n_labels=2), "label values"),
        (lambda: crowd([(0, 0, 0)], n_tasks=0), "task values"),
        (lambda: crowd([(0, -1, 0)], n_workers=1), "worker values"),
        (
            lambda: Judgments(
                np.zeros(2, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64), 1, 1, 1
            ),
            "same length",
        ),
        (
            lambda: Judgments(np.zeros(1), np.zeros(1, np.int64), np.zeros(1, np.int64), 1, 1, 1),
            "integers",
        ),
        (
            lambda: Judgments(
                np.zeros((1, 1), np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64), 1, 1, 1
            ),
            "one-dimensional",
        ),
        (lambda: crowd([(0, 0, 0)], n_labels=0), "label values"),
        (lambda: weighted_majority(UNANIMOUS, np.ones(2)), "weights must have shape"),
        (lambda: weighted_majority(UNANIMOUS, np.array([1.0, -1.0, 1.0])), ">= 0"),
        (lambda: weighted_majority(UNANIMOUS, np.array([1.0, np.nan, 1.0])), "finite"),
        (lambda: dawid_skene(UNANIMOUS, np.array([0, 1])), "gold must have shape"),
        (lambda: wawa(UNANIMOUS, np.array([0, 3, -1])), "gold values"),
        (lambda: one_coin_dawid_skene(UNANIMOUS, np.array([0, -2, -1])), "gold values"),
        (lambda: dawid_skene(UNANIMOUS, max_iter=0), "max_iter"),
    ],
)
def test_bad_input_is_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_int32_input_is_accepted_as_int64():
    # given judgments coded as int32
    j = Judgments(
        np.array([0, 0], np.int32), np.array([0, 1], np.int32), np.array([1, 1], np.int32), 1, 2, 2
    )
    # then they are stored as int64, and int64 input is kept without a copy
    assert j.task.dtype == np.int64
    assert (
        UNANIMOUS.task is Judgments(UNANIMOUS.task, UNANIMOUS.worker, UNANIMOUS.label, 3, 3, 3).task
    )


def test_the_module_is_pure():
    # the aggregation job may run it anywhere: numpy and the standard library, no Django
    code = (
        "import sys, qc.aggregation; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'django', 'rest_framework'}); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


# --- properties ----------------------------------------------------------------------------------


@st.composite
def crowds(draw):
    """A small crowd, worker weights that add up exactly in any order, and id permutations."""
    n_tasks = draw(st.integers(1, 6))
    n_workers = draw(st.integers(1, 5))
    n_labels = draw(st.integers(1, 4))
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n_tasks - 1), st.integers(0, n_workers - 1)),
            unique=True,
            max_size=n_tasks * n_workers,
        )
    )
    labels = draw(st.lists(st.integers(0, n_labels - 1), min_size=len(pairs), max_size=len(pairs)))
    rows = [(t, w, label) for (t, w), label in zip(pairs, labels, strict=True)]
    j = crowd(rows, n_tasks=n_tasks, n_workers=n_workers, n_labels=n_labels) if rows else None
    if j is None:
        empty = np.array([], dtype=np.int64)
        j = Judgments(empty, empty, empty, n_tasks, n_workers, n_labels)
    # Quarters are exact in binary, so a tie stays a tie whatever the summation order.
    weights = (
        np.array(draw(st.lists(st.integers(0, 8), min_size=n_workers, max_size=n_workers))) / 4
    )
    gold = np.array(
        draw(st.lists(st.integers(-1, n_labels - 1), min_size=n_tasks, max_size=n_tasks)),
        dtype=np.int64,
    )
    return {
        "j": j,
        "weights": weights,
        "gold": gold,
        "task_perm": np.array(draw(st.permutations(range(n_tasks))), dtype=np.int64),
        "worker_perm": np.array(draw(st.permutations(range(n_workers))), dtype=np.int64),
        "row_perm": np.array(draw(st.permutations(range(len(rows)))), dtype=np.int64),
    }


@given(crowds())
def test_weighted_majority_does_not_depend_on_ids_or_row_order(case):
    # given a crowd, and the same crowd with tasks and workers renumbered and rows shuffled
    j, weights = case["j"], case["weights"]
    tp, wp, rp = case["task_perm"], case["worker_perm"], case["row_perm"]
    renamed = Judgments(
        tp[j.task][rp], wp[j.worker][rp], j.label[rp], j.n_tasks, j.n_workers, j.n_labels
    )
    renamed_weights = np.empty_like(weights)
    renamed_weights[wp] = weights
    # when voting on both
    before = weighted_majority(j, weights)
    after = weighted_majority(renamed, renamed_weights)
    # then the results are the same, renumbered
    assert (after.label[tp] == before.label).all()
    assert (after.confidence[tp] == before.confidence).all()
    np.testing.assert_array_equal(after.worker_skill[wp], before.worker_skill)


@given(crowds())
def test_weighted_majority_matches_a_plain_loop(case):
    # given a crowd and weights
    j, weights = case["j"], case["weights"]
    # when voting
    result = weighted_majority(j, weights)
    # then each task's label is what a per-task tally gives
    tally = defaultdict(lambda: np.zeros(j.n_labels))
    count = defaultdict(lambda: np.zeros(j.n_labels))
    for t, w, label in zip(j.task.tolist(), j.worker.tolist(), j.label.tolist(), strict=True):
        tally[t][label] += weights[w]
        count[t][label] += 1
    for t in range(j.n_tasks):
        if t not in tally:
            assert result.label[t] == -1
            continue
        votes = tally[t] if tally[t].sum() > 0 else count[t]
        winner = max(range(j.n_labels), key=lambda k, votes=votes: (votes[k], -k))
        assert result.label[t] == winner
        assert result.confidence[t] == pytest.approx(votes[winner] / votes.sum())


@pytest.mark.parametrize("method", METHODS)
@given(case=crowds())
def test_every_method_returns_a_well_formed_result(method, case):
    j = case["j"]
    gold = case["gold"] if method in LEARNING else None
    assert_well_formed(METHODS[method](j, gold), j, gold)


# --- real crowds with expert labels --------------------------------------------------------------


def load(name: str) -> tuple[Judgments, np.ndarray]:
    """labels.csv (worker,item,label) and gold.csv (item,gold) as Judgments and a gold array."""
    with open(DATASETS / name / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(DATASETS / name / "gold.csv", newline="") as f:
        gold_rows = list(csv.DictReader(f))
    items, item_index = np.unique(
        [r["item"] for r in rows] + [r["item"] for r in gold_rows], return_inverse=True
    )
    workers, worker_index = np.unique([r["worker"] for r in rows], return_inverse=True)
    # Labels sort numerically, so label 0 is the one listed first and wins ties.
    labels, label_index = np.unique(
        [int(r["label"]) for r in rows] + [int(r["gold"]) for r in gold_rows], return_inverse=True
    )
    n = len(rows)
    j = Judgments(
        item_index[:n].astype(np.int64),
        worker_index.astype(np.int64),
        label_index[:n].astype(np.int64),
        len(items),
        len(workers),
        len(labels),
    )
    gold = np.full(len(items), -1, dtype=np.int64)
    gold[item_index[n:]] = label_index[n:]
    assert (gold >= 0).all(), "every item has an expert label"
    return j, gold


@pytest.fixture(scope="module")
def datasets():
    if not DATASETS.is_dir():
        pytest.skip(f"crowd datasets not found at {DATASETS} (a copy of shared/ beside the repo)")
    return {name: load(name) for name in ("d_product", "rte")}


# crowd-kit 1.4.2 accuracy on all items (shared/datasets/README.md); weighted majority with equal
# weights is compared with MV with ties to the first label.
CROWD_KIT = {
    ("weighted_majority", "d_product"): 0.8966,
    ("weighted_majority", "rte"): 0.9188,
    ("wawa", "d_product"): 0.8966,
    ("wawa", "rte"): 0.9188,
    ("one_coin_dawid_skene", "d_product"): 0.9084,
    ("one_coin_dawid_skene", "rte"): 0.9250,
    ("dawid_skene", "d_product"): 0.9397,
    ("dawid_skene", "rte"): 0.9275,
}


@pytest.mark.parametrize(("method", "name"), CROWD_KIT)
def test_accuracy_on_real_crowds_matches_crowd_kit(datasets, method, name):
    # given a real crowd with an expert label on every item
    j, gold = datasets[name]
    # when aggregating without gold
    result = METHODS[method](j)
    # then the accuracy on all items is at least crowd-kit's, give or take half a point
    accuracy = (result.label == gold).mean()
    assert accuracy >= CROWD_KIT[method, name] - 0.005, f"{method} on {name}: {accuracy:.4f}"
    assert_well_formed(result, j)


@pytest.mark.parametrize("name", ["d_product", "rte"])
def test_gold_on_a_tenth_of_the_items_does_not_hurt_the_rest(datasets, name):
    # given a real crowd and expert labels for a random 10% of its items
    j, gold = datasets[name]
    rng = np.random.default_rng(2024)
    pinned = np.zeros(j.n_tasks, bool)
    pinned[rng.choice(j.n_tasks, size=j.n_tasks // 10, replace=False)] = True
    known = np.where(pinned, gold, -1)
    # when running Dawid-Skene without and with that gold
    free = dawid_skene(j)
    guided = dawid_skene(j, known)
    # then the other 90% are labelled at least as well, give or take half a point
    rest = ~pinned
    free_accuracy = (free.label[rest] == gold[rest]).mean()
    guided_accuracy = (guided.label[rest] == gold[rest]).mean()
    assert guided_accuracy >= free_accuracy - 0.005, f"{guided_accuracy:.4f} < {free_accuracy:.4f}"
    assert (guided.label[pinned] == gold[pinned]).all()
    assert_well_formed(guided, j, known)
