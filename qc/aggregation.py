"""Consensus over categorical judgments (SPEC §6): weighted majority, Wawa, one-coin and full
Dawid-Skene, vectorised in numpy.

Pure: numpy and the standard library only. The caller maps tasks, workers and labels to 0..n-1
(labels in the order the project lists them, so "lowest index" is "listed first") and maps the
result back. Every method works on the flat judgment arrays with `np.bincount`: nothing loops over
judgments, tasks or workers in Python, and nothing dense of size tasks x workers is built. Memory is
a few arrays the length of the judgments plus (labels x tasks) posteriors.

`gold` is an int64 array (n_tasks,) holding the known label of a task, or -1. Gold tasks are pinned:
their label is the gold label with confidence 1 (even without judgments), and the judgments on them
teach the model about the workers who gave them.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

# crowd-kit's floor for confusion entries and skills: a worker never observed giving label l for
# true class k keeps a probability that is tiny but not zero, so one surprising answer cannot make
# a class impossible (log 0) and an unseen true class falls back to a uniform row.
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Judgments:
    task: np.ndarray  # int64 (n,), 0..n_tasks-1
    worker: np.ndarray  # int64 (n,), 0..n_workers-1
    label: np.ndarray  # int64 (n,), 0..n_labels-1
    n_tasks: int
    n_workers: int
    n_labels: int

    def __post_init__(self) -> None:
        # int64 input is kept as is (no copy of millions of rows); other integer dtypes are
        # converted once here so that every method can trust the dtype.
        for name, bound in (
            ("task", self.n_tasks),
            ("worker", self.n_workers),
            ("label", self.n_labels),
        ):
            values = np.asarray(getattr(self, name))
            if values.size and values.dtype.kind not in "iu":
                raise ValueError(f"{name} must hold integers")
            values = values.astype(np.int64, copy=False)
            if values.ndim != 1:
                raise ValueError(f"{name} must be one-dimensional")
            if bound < 0:
                raise ValueError(f"n_{name}s must be >= 0")
            if values.size and (values.min() < 0 or values.max() >= bound):
                raise ValueError(f"{name} values must lie in 0..n_{name}s-1")
            object.__setattr__(self, name, values)
        if self.n_labels < 1:
            raise ValueError("n_labels must be >= 1")
        if not len(self.task) == len(self.worker) == len(self.label):
            raise ValueError("task, worker and label must have the same length")


@dataclass(frozen=True)
class Result:
    label: np.ndarray  # int64 (n_tasks,), -1 for tasks with no judgments (and no gold)
    confidence: np.ndarray  # float64 (n_tasks,) in [0, 1]: posterior / weight share of the label
    worker_skill: np.ndarray  # float64 (n_workers,): accuracy estimate, NaN without judgments
    iterations: int  # voting passes (1 weighted majority, 2 Wawa) or EM iterations


# --- helpers --------------------------------------------------------------------------------------


def _argmax_lowest(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row index and value of the maximum of each column of (n_labels, n) scores.

    A later label must be strictly better to win, so ties go to the lowest label (SPEC §6). A loop
    over the small label axis beats `argmax(axis=0)` and states the tie rule explicitly.
    """
    best = scores[0].copy()
    index = np.zeros(scores.shape[1], dtype=np.int64)
    for k in range(1, scores.shape[0]):
        better = scores[k] > best
        index[better] = k
        np.maximum(best, scores[k], out=best)
    return index, best


def _label_major(label: np.ndarray, task: np.ndarray, n_tasks: int) -> np.ndarray:
    """Flat index label * n_tasks + task: one bincount then fills (n_labels, n_tasks) row by row."""
    index = label * n_tasks
    index += task
    return index


def _agreement(j: Judgments, task_label: np.ndarray) -> np.ndarray:
    """Share of each worker's judgments equal to the task's label (NaN for workers without any)."""
    hits = np.bincount(j.worker, weights=j.label == task_label[j.task], minlength=j.n_workers)
    return _per_worker_mean(j.worker, hits)


def _per_worker_mean(worker: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """sums / judgments per worker, NaN for workers without judgments (len(sums) workers)."""
    seen = np.bincount(worker, minlength=len(sums))
    out = np.full(len(sums), np.nan)
    np.divide(sums, seen, out=out, where=seen > 0)
    return out


def _gold_checked(j: Judgments, gold: np.ndarray | None) -> np.ndarray | None:
    if gold is None:
        return None
    gold = np.asarray(gold, dtype=np.int64)
    if gold.shape != (j.n_tasks,):
        raise ValueError(f"gold must have shape ({j.n_tasks},)")
    if gold.size and (gold.min() < -1 or gold.max() >= j.n_labels):
        raise ValueError("gold values must be -1 (unknown) or lie in 0..n_labels-1")
    return gold


def _pin_result(label: np.ndarray, confidence: np.ndarray, gold: np.ndarray | None) -> None:
    if gold is None:
        return
    pinned = gold >= 0
    label[pinned] = gold[pinned]
    confidence[pinned] = 1.0


# --- voting ---------------------------------------------------------------------------------------


def _vote(j: Judgments, weight_per_judgment: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted plurality per task: (label, confidence); -1 / 0.0 for tasks with no judgments."""
    n_tasks, n_labels = j.n_tasks, j.n_labels
    index = _label_major(j.label, j.task, n_tasks)
    scores = np.bincount(index, weights=weight_per_judgment, minlength=n_labels * n_tasks)
    scores = scores.reshape(n_labels, n_tasks).astype(np.float64, copy=False)
    total = scores.sum(axis=0)
    judged = np.bincount(j.task, minlength=n_tasks)
    if weight_per_judgment is not None:
        # A task whose voters all weigh 0 would be decided by the tie rule alone; counting those
        # voters equally is the only evidence left, so fall back to the plain majority there.
        weightless = (total == 0) & (judged > 0)
        if weightless.any():
            counts = np.bincount(index, minlength=n_labels * n_tasks).reshape(n_labels, n_tasks)
            scores[:, weightless] = counts[:, weightless]
            total[weightless] = judged[weightless]
    label, best = _argmax_lowest(scores)
    confidence = np.zeros(n_tasks)
    np.divide(best, total, out=confidence, where=total > 0)
    label[judged == 0] = -1
    return label, confidence


def weighted_majority(j: Judgments, weights: np.ndarray) -> Result:
    """Per-task vote weighted by `weights[worker]` (>= 0); ties go to the lowest label.

    confidence = winning weight / total weight. Where all of a task's voters weigh 0, they count
    equally. worker_skill = share of the worker's judgments that agree with the result.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (j.n_workers,):
        raise ValueError(f"weights must have shape ({j.n_workers},)")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("weights must be finite and >= 0")
    label, confidence = _vote(j, weights[j.worker])
    return Result(label, confidence, _agreement(j, label), iterations=1)


def wawa(j: Judgments, gold: np.ndarray | None = None) -> Result:
    """Worker Agreement With Aggregate (crowd-kit's Wawa).

    Plain majority (ties to the lowest label; gold where known), then each worker's share of
    agreement with it, then a majority weighted by that share. worker_skill is that share.
    """
    gold = _gold_checked(j, gold)
    reference, _ = _vote(j, None)
    if gold is not None:
        reference = np.where(gold >= 0, gold, reference)
    skill = _agreement(j, reference)
    label, confidence = _vote(j, np.nan_to_num(skill, nan=0.0)[j.worker])
    _pin_result(label, confidence, gold)
    return Result(label, confidence, skill, iterations=2)


# --- expectation-maximisation ---------------------------------------------------------------------


@dataclass
class _Data:
    """The judgments EM works on: only tasks that have any, renumbered 0..n_tasks-1, in task order."""

    task: np.ndarray
    worker: np.ndarray
    label: np.ndarray
    task_label: np.ndarray  # label * n_tasks + task
    n_tasks: int
    n_workers: int
    n_labels: int
    judged: np.ndarray  # judgments per task
    kept: np.ndarray | None  # original id of each task, None when every task was judged


def _prepare(j: Judgments) -> _Data:
    task, worker, label = j.task, j.worker, j.label
    judged = np.bincount(task, minlength=j.n_tasks)
    kept = None
    if not judged.all():
        # Tasks without judgments would only echo the prior; leaving them out keeps them out of
        # the prior estimate and the likelihood.
        kept = np.flatnonzero(judged)
        task = (np.cumsum(judged > 0) - 1)[task]
        judged = judged[kept]
    if (task[1:] < task[:-1]).any():
        # Every iteration gathers from and scatters into task-sized arrays: in task order that is
        # sequential memory access, in random order a cache miss per judgment. One sort costs
        # about two iterations and halves all the others. Unstable is fine: any fixed order
        # within a task will do.
        order = np.argsort(task)
        task, worker, label = task[order], worker[order], label[order]
        del order
    n_tasks = len(judged)
    task_label = _label_major(label, task, n_tasks)
    return _Data(task, worker, label, task_label, n_tasks, j.n_workers, j.n_labels, judged, kept)


class _Model(Protocol):
    def __init__(self, data: _Data) -> None: ...

    def fit(self, posterior: np.ndarray) -> None:
        """M-step: worker parameters from the (n_labels, n_tasks) posterior."""

    def log_likelihood(self) -> np.ndarray:
        """(n_labels, n_tasks): log P(the task's judgments | true label k) under the parameters."""


class _DawidSkene:
    """Full confusion matrix per worker: log_error[k, worker * n_labels + l] = log P(l | k)."""

    def __init__(self, data: _Data):
        self.data = data
        self.worker_label = data.worker * data.n_labels + data.label
        self.log_error = np.empty((data.n_labels, data.n_workers * data.n_labels))

    def fit(self, posterior: np.ndarray) -> None:
        d = self.data
        n_cells = self.log_error.shape[1]
        for k in range(d.n_labels):
            self.log_error[k] = np.bincount(
                self.worker_label, weights=posterior[k][d.task], minlength=n_cells
            )
        counts = self.log_error.reshape(d.n_labels, d.n_workers, d.n_labels)  # [true, who, given]
        np.maximum(counts, _EPS, out=counts)
        norm = np.log(counts.sum(axis=2, keepdims=True))
        np.log(counts, out=counts)
        counts -= norm

    def log_likelihood(self) -> np.ndarray:
        d = self.data
        out = np.empty((d.n_labels, d.n_tasks))
        for k, row in enumerate(self.log_error):
            out[k] = np.bincount(d.task, weights=row[self.worker_label], minlength=d.n_tasks)
        return out


class _OneCoin:
    """One skill s per worker: P(l | k) = s if l == k else (1 - s) / (n_labels - 1)."""

    def __init__(self, data: _Data):
        self.data = data
        self.skill = np.empty(data.n_workers)

    def fit(self, posterior: np.ndarray) -> None:
        skill = _expected_accuracy(self.data, posterior)
        self.skill = np.clip(np.nan_to_num(skill, nan=0.5), _EPS, 1 - _EPS)

    def log_likelihood(self) -> np.ndarray:
        d = self.data
        log_other = np.log((1 - self.skill) / max(d.n_labels - 1, 1))
        gain = np.log(self.skill) - log_other
        # Every judgment contributes log_other to each class and, to the class it names, the gain.
        base = np.bincount(d.task, weights=log_other[d.worker], minlength=d.n_tasks)
        out = np.bincount(
            d.task_label, weights=gain[d.worker], minlength=d.n_labels * d.n_tasks
        ).reshape(d.n_labels, d.n_tasks)
        out += base
        return out


def _expected_accuracy(data: _Data, posterior: np.ndarray) -> np.ndarray:
    """Per worker, the mean posterior probability that their answer is the true label."""
    right = np.bincount(
        data.worker, weights=posterior.ravel()[data.task_label], minlength=data.n_workers
    )
    return _per_worker_mean(data.worker, right)


def _posterior(
    log_joint: np.ndarray, pin: np.ndarray, pin_label: np.ndarray
) -> tuple[np.ndarray, float]:
    """Normalise (n_labels, n_tasks) log joint in place into posteriors; return the log-likelihood.

    Pinned tasks get a one-hot posterior at their gold label and contribute log P(gold, judgments).
    """
    pinned_joint = log_joint[pin_label, pin].sum()
    top = log_joint.max(axis=0)
    log_joint -= top
    np.exp(log_joint, out=log_joint)
    total = log_joint.sum(axis=0)
    log_joint /= total
    evidence = top + np.log(total)
    loglik = float(evidence.sum() - evidence[pin].sum() + pinned_joint)
    log_joint[:, pin] = 0.0
    log_joint[pin_label, pin] = 1.0
    return log_joint, loglik


def _em(
    j: Judgments,
    gold: np.ndarray | None,
    model_class: Callable[[_Data], _Model],
    max_iter: int,
    tol: float,
) -> Result:
    gold = _gold_checked(j, gold)
    if max_iter < 1:
        raise ValueError("max_iter must be >= 1")
    label = np.full(j.n_tasks, -1, dtype=np.int64)
    confidence = np.zeros(j.n_tasks)
    if len(j.task) == 0:
        _pin_result(label, confidence, gold)
        return Result(label, confidence, np.full(j.n_workers, np.nan), iterations=0)

    data = _prepare(j)
    pin = pin_label = np.empty(0, dtype=np.int64)
    if gold is not None:
        kept_gold = gold if data.kept is None else gold[data.kept]
        pin = np.flatnonzero(kept_gold >= 0)
        pin_label = kept_gold[pin]

    # Start from the plain majority's vote shares (as crowd-kit does): soft, so 5-5 ties stay open.
    posterior = np.bincount(data.task_label, minlength=data.n_labels * data.n_tasks).reshape(
        data.n_labels, data.n_tasks
    ) / data.judged.astype(np.float64)
    posterior[:, pin] = 0.0
    posterior[pin_label, pin] = 1.0

    model = model_class(data)
    loglik = -np.inf
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        log_prior = np.log(np.maximum(posterior.mean(axis=1), _EPS))
        model.fit(posterior)
        log_joint = model.log_likelihood()
        log_joint += log_prior[:, None]
        posterior, new_loglik = _posterior(log_joint, pin, pin_label)
        # tol is per judgment, so it means the same on 100 judgments and on 3,000,000.
        converged = (new_loglik - loglik) / len(j.task) < tol
        loglik = new_loglik
        if converged:
            break

    best_label, best = _argmax_lowest(posterior)
    skill = _expected_accuracy(data, posterior)
    if data.kept is None:
        label, confidence = best_label, best
    else:
        label[data.kept] = best_label
        confidence[data.kept] = best
    _pin_result(label, confidence, gold)
    return Result(label, confidence, skill, iterations)


def one_coin_dawid_skene(
    j: Judgments, gold: np.ndarray | None = None, *, max_iter: int = 100, tol: float = 1e-5
) -> Result:
    """Dawid-Skene with one accuracy per worker, errors spread evenly over the other labels.

    EM from the majority vote; class priors estimated; stops when the log-likelihood per judgment
    improves by less than `tol`. worker_skill = the learnt accuracy.
    """
    return _em(j, gold, _OneCoin, max_iter, tol)


def dawid_skene(
    j: Judgments, gold: np.ndarray | None = None, *, max_iter: int = 100, tol: float = 1e-5
) -> Result:
    """Classic Dawid-Skene EM with a full confusion matrix per worker.

    EM from the majority vote; class priors estimated; confusion entries floored at machine epsilon;
    stops when the log-likelihood per judgment improves by less than `tol`. worker_skill = the mean
    posterior probability that the worker's answers are right.
    """
    return _em(j, gold, _DawidSkene, max_iter, tol)
