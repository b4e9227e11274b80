"""Benchmark of the consensus EM alone (qc.aggregation), per BENCHMARKS.md's Dawid-Skene row.

    .venv/bin/python bench/aggregate_em.py                 # 1,000,000 tasks x 3 judgments
    .venv/bin/python bench/aggregate_em.py --tasks 100000  # a quicker run
    .venv/bin/python bench/aggregate_em.py --shuffle       # judgments in random order

Synthesises a crowd with a known truth: 3 labels with unequal priors and 2,000 workers, about 10%
of them spammers who answer uniformly at random and the others right with a known probability drawn
from Beta(8, 2) (errors spread evenly over the other labels); activity is skewed (log-normal), so
that a few workers do much of the work.
Every task gets 3 distinct workers; judgments arrive grouped by task, as a database read ordered by
task would deliver them (`--shuffle`: in random order, which costs the EM cache misses).

Runs dawid_skene twice and prints the median time, then one-coin Dawid-Skene and Wawa (twice
each), with accuracy against the known truth. Memory: the numpy allocations the EM adds on top of
its inputs (tracemalloc, which numpy reports to) and the peak RSS of the whole process (inputs
included). The timed runs have tracemalloc on: on these few large allocations it costs about 2%.
No database: the job that reads judgments and writes results is measured elsewhere.
"""

import argparse
import os
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qc.aggregation import Judgments, dawid_skene, one_coin_dawid_skene, wawa

N_LABELS = 3
PRIORS = np.array([0.5, 0.3, 0.2])
SPAMMER_SHARE = 0.10
PER_TASK = 3


def synthesise(
    n_tasks: int, n_workers: int, seed: int, *, shuffle: bool = False
) -> tuple[Judgments, np.ndarray]:
    """A crowd with known truth; returns the judgments and the true label per task."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(N_LABELS, size=n_tasks, p=PRIORS)
    accuracy = rng.beta(8, 2, size=n_workers)
    spammer = rng.random(n_workers) < SPAMMER_SHARE
    activity = rng.lognormal(0.0, 1.0, size=n_workers)
    activity /= activity.sum()

    workers = rng.choice(n_workers, size=(n_tasks, PER_TASK), p=activity)
    # A worker never judges the same task twice (SPEC §4.1): redraw the colliding slots.
    while True:
        ordered = np.sort(workers, axis=1)
        clash = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
        if not clash.any():
            break
        workers[clash] = rng.choice(n_workers, size=(int(clash.sum()), PER_TASK), p=activity)

    task = np.repeat(np.arange(n_tasks, dtype=np.int64), PER_TASK)
    worker = workers.ravel().astype(np.int64)
    true_label = truth[task]
    right = rng.random(task.size) < accuracy[worker]
    wrong = (true_label + rng.integers(1, N_LABELS, size=task.size)) % N_LABELS
    label = np.where(right, true_label, wrong)
    spam = spammer[worker]
    label[spam] = rng.integers(0, N_LABELS, size=int(spam.sum()))
    if shuffle:
        order = rng.permutation(task.size)
        task, worker, label = task[order], worker[order], label[order]
    judgments = Judgments(task, worker, label.astype(np.int64), n_tasks, n_workers, N_LABELS)
    return judgments, truth


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(name: str, run, truth: np.ndarray, repeats: int = 2) -> None:
    seconds, peaks = [], []
    for _ in range(repeats):
        tracemalloc.start()
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
        peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()
    accuracy = float((result.label == truth).mean())
    print(f"{name} seconds (median of {repeats}): {statistics.median(seconds):.2f}")
    print(f"{name} iterations: {result.iterations}")
    print(f"{name} peak allocations MB (tracemalloc, beyond the inputs): {max(peaks):.0f}")
    print(f"{name} accuracy vs truth: {accuracy:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--shuffle", action="store_true", help="judgments in random order")
    args = parser.parse_args()

    start = time.perf_counter()
    judgments, truth = synthesise(args.tasks, args.workers, args.seed, shuffle=args.shuffle)
    print(
        f"data: {args.tasks:,} tasks x {PER_TASK} judgments, {args.workers:,} workers "
        f"({SPAMMER_SHARE:.0%} spammers), {N_LABELS} labels, "
        f"{'random order' if args.shuffle else 'grouped by task'}, "
        f"synthesised in {time.perf_counter() - start:.1f} s"
    )
    print(f"RSS with the inputs loaded MB: {rss_mb():.0f}")
    measure("dawid_skene", lambda: dawid_skene(judgments), truth)
    print(f"peak RSS MB (process, inputs included): {peak_rss_mb():.0f}")
    measure("one_coin_dawid_skene", lambda: one_coin_dawid_skene(judgments), truth)
    measure("wawa", lambda: wawa(judgments), truth)
    print(f"peak RSS MB (process, all runs): {peak_rss_mb():.0f}")


if __name__ == "__main__":
    main()
