"""Reliable aggregates of many runs (rliable), and a bitwise determinism check.

Scores are success rates in [0, 1], so they need no normalisation. A score
matrix holds one row per run (seed) and one column per task. The aggregates
are rliable's (Agarwal et al., 2021): the interquartile mean (IQM), the mean,
the median and the optimality gap, each with a 95% stratified-bootstrap
interval (runs are resampled within each task); performance profiles (the
fraction of runs whose score exceeds each threshold); and the probability that
a run of one algorithm beats a run of another on a task, with its interval.
Every bootstrap is seeded, so the intervals a chapter prints are reproducible
to the last digit. rliable 1.2's bootstraps draw their resampling indices from
NumPy's *global* generator whatever ``random_state`` they are given, so
:func:`_bootstrap` seeds that generator for the duration of each call and then
restores it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gcrl.analysis.scheduler import run_parallel
from gcrl.core.errors import CourseError

Scores = Mapping[str, np.ndarray]
AGGREGATES = ("IQM", "Mean", "Median", "Optimality gap")
#: Bootstrap replications unless a budget says otherwise; rliable's papers use 50,000 for final figures.
DEFAULT_REPS = 2_000
BOOTSTRAP_SEED = 0


def _rliable():
    # rliable's bootstrap passes arch a RandomState, which arch accepts with a FutureWarning; we
    # pass a seeded one on purpose (it is what makes the intervals reproducible).
    warnings.filterwarnings("ignore", message="random_state is deprecated", category=FutureWarning)
    from rliable import library, metrics

    return library, metrics


@contextlib.contextmanager
def _bootstrap(seed: int) -> Iterator[np.random.RandomState]:
    """A seeded RandomState for rliable, with NumPy's global generator seeded alike and restored afterwards."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield np.random.RandomState(seed)
    finally:
        np.random.set_state(saved)


def check_scores(scores: Scores) -> dict[str, np.ndarray]:
    """Validate ``{algorithm: (runs x tasks) matrix}``: finite, in [0, 1], the same tasks for every algorithm."""
    if not scores:
        raise CourseError("no scores to aggregate")
    checked = {}
    for name, matrix in scores.items():
        matrix = np.asarray(matrix, dtype=float)
        if matrix.ndim != 2 or matrix.shape[0] < 1 or matrix.shape[1] < 1:
            raise CourseError(f"scores of {name!r} must be a (runs x tasks) matrix, got shape {matrix.shape}")
        if not np.all(np.isfinite(matrix)) or matrix.min() < 0 or matrix.max() > 1:
            raise CourseError(f"scores of {name!r} must be success rates in [0, 1]")
        checked[name] = matrix
    tasks = {m.shape[1] for m in checked.values()}
    if len(tasks) != 1:
        raise CourseError(f"every algorithm needs the same tasks (columns); got {sorted(tasks)}")
    return checked


def aggregate(matrix: np.ndarray) -> np.ndarray:
    """IQM, mean, median and optimality gap (to a success rate of 1) of one score matrix."""
    _, metrics = _rliable()
    return np.array([metrics.aggregate_iqm(matrix), metrics.aggregate_mean(matrix),
                     metrics.aggregate_median(matrix), metrics.aggregate_optimality_gap(matrix, 1.0)])


def interval_estimates(scores: Scores, reps: int = DEFAULT_REPS, seed: int = BOOTSTRAP_SEED) -> dict[str, dict[str, Any]]:
    """Each algorithm's aggregates, with 95% stratified-bootstrap intervals: ``{alg: {IQM: {estimate, ci95}}}``."""
    library, _ = _rliable()
    scores = check_scores(scores)
    with _bootstrap(seed) as generator:
        points, intervals = library.get_interval_estimates(scores, aggregate, reps=reps, random_state=generator)
    return {name: {metric: {"estimate": float(points[name][i]),
                            "ci95": [float(intervals[name][0][i]), float(intervals[name][1][i])]}
                   for i, metric in enumerate(AGGREGATES)}
            for name in scores}


def performance_profiles(scores: Scores, taus: Sequence[float], reps: int = DEFAULT_REPS,
                         seed: int = BOOTSTRAP_SEED) -> dict[str, dict[str, list[float]]]:
    """The fraction of runs (over all tasks) with a score above each ``tau``, with 95% bootstrap bands."""
    library, _ = _rliable()
    scores = check_scores(scores)
    taus = np.asarray(taus, dtype=float)
    with _bootstrap(seed) as generator:
        points, intervals = library.get_interval_estimates(
            scores, lambda m: np.array([np.mean(m > tau) for tau in taus]), reps=reps, random_state=generator)
    return {name: {"tau": taus.tolist(), "fraction": points[name].tolist(),
                   "ci95_low": intervals[name][0].tolist(), "ci95_high": intervals[name][1].tolist()}
            for name in scores}


def probability_of_improvement(scores: Scores, pairs: Sequence[tuple[str, str]], reps: int = DEFAULT_REPS,
                               seed: int = BOOTSTRAP_SEED) -> dict[str, dict[str, Any]]:
    """P(X > Y) for each pair (X, Y): the Mann-Whitney probability that a run of X beats one of Y, averaged over tasks."""
    library, metrics = _rliable()
    scores = check_scores(scores)
    unknown = {name for pair in pairs for name in pair} - set(scores)
    if unknown:
        raise CourseError(f"probability of improvement: no scores for {sorted(unknown)}")
    keys = {pair_key(x, y): (x, y) for x, y in pairs}
    paired = {key: (scores[x], scores[y]) for key, (x, y) in keys.items()}
    with _bootstrap(seed) as generator:
        points, intervals = library.get_interval_estimates(paired, metrics.probability_of_improvement, reps=reps,
                                                           random_state=generator)
    return {key: {"x": x, "y": y, "estimate": float(np.ravel(points[key])[0]),
                  "ci95": [float(np.ravel(intervals[key][0])[0]), float(np.ravel(intervals[key][1])[0])]}
            for key, (x, y) in keys.items()}


def pair_key(x: str, y: str) -> str:
    """How a pair is named in :func:`probability_of_improvement`'s result."""
    return f"{x} > {y}"


def sample_efficiency(curves: Mapping[str, Sequence[Sequence[dict[str, Any]]]], reps: int = DEFAULT_REPS,
                      seed: int = BOOTSTRAP_SEED) -> dict[str, dict[str, list[float]]]:
    """IQM success (with 95% bootstrap intervals) at every env step that all of an algorithm's runs evaluated.

    ``curves`` maps an algorithm to its runs' learning curves (rows with
    ``env_steps`` and ``success_rate``) on one task.
    """
    library, metrics = _rliable()
    result = {}
    for name, runs in curves.items():
        steps = sorted(set.intersection(*(set(row["env_steps"] for row in run) for run in runs)))
        if not steps:
            raise CourseError(f"the runs of {name!r} share no evaluated env step")
        matrix = np.array([[next(r["success_rate"] for r in run if r["env_steps"] == step) for step in steps]
                           for run in runs])[:, None, :]  # runs x 1 task x steps; rliable resamples
        # the runs independently at each step, so the bands are pointwise
        with _bootstrap(seed) as generator:
            points, intervals = library.get_interval_estimates(
                {name: matrix}, lambda m: np.array([metrics.aggregate_iqm(m[..., j]) for j in range(m.shape[-1])]),
                reps=reps, random_state=generator)
        result[name] = {"env_steps": steps, "iqm": points[name].tolist(),
                        "ci95_low": intervals[name][0].tolist(), "ci95_high": intervals[name][1].tolist()}
    return result


def score_matrices(by_label: Mapping[str, Mapping[str, Sequence[Any]]],
                   score=None) -> tuple[list[str], dict[str, np.ndarray]]:
    """``{label: (runs x tasks)}`` from ``{label: {env_id: [training results]}}``, tasks in a fixed order.

    A run's score is its final success rate, or ``score(result)``.
    """
    score = score or (lambda result: result.metrics["final"]["success_rate"])
    tasks = list(dict.fromkeys(env_id for per_task in by_label.values() for env_id in per_task))
    matrices = {label: np.array([[score(r) for r in per_task[env_id]] for env_id in tasks]).T
                for label, per_task in by_label.items()}
    return tasks, matrices


# --- determinism ---------------------------------------------------------------------------------


def parameter_digest(named_tensors: Mapping[str, Any]) -> str:
    """A SHA-256 over the bytes of every tensor, in name order: equal digests mean bitwise-equal parameters."""
    digest = hashlib.sha256()
    for name in sorted(named_tensors):
        tensor = named_tensors[name]
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def train_for_determinism(config, run_dir: str, threads: int) -> dict[str, Any]:
    """Train ``config`` from scratch in this process with ``threads`` torch threads; its digest and curve."""
    import torch

    from gcrl.rl.learners import train
    from gcrl.rl.sac_her.learner import load_agent

    torch.set_num_threads(threads)
    result = train(config, Path(run_dir))
    agent, _ = load_agent(Path(run_dir), config)
    return {"threads": threads, "parameters_sha256": parameter_digest(dict(agent.state_dict())),
            "curve": [(row["env_steps"], row["success_rate"], row["mean_final_distance"]) for row in result.curve],
            "final_success_rate": result.metrics["final"]["success_rate"]}


def determinism_check(config, folder: str | os.PathLike[str], threads: Sequence[int] = (1, 1, 2)) -> dict[str, Any]:
    """Train the book's SAC+HER ``config`` once per entry of ``threads``, each in a fresh process, and compare.

    The first two runs use identical settings: on one machine with the same
    pins they must agree bit for bit (parameters and learning curve). The
    later entries change only the number of torch threads, which changes the
    order of floating-point reductions inside matrix products; whether that
    alone changes the trained parameters is what the check reports. The runs go
    one at a time, so that none shares the cores it is timed on.
    """
    if len(threads) < 2 or threads[0] != threads[1]:
        raise CourseError("a determinism check needs at least two runs with the same thread count first")
    folder = Path(folder)
    jobs = []
    for i, count in enumerate(threads):
        run_dir = folder / f"run{i}-threads{count}"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        jobs.append((config, str(run_dir), count))
    runs = run_parallel(train_for_determinism, jobs, "determinism runs", workers=1, fresh=True)
    reference = runs[0]
    for run in runs:
        run["identical_parameters"] = run["parameters_sha256"] == reference["parameters_sha256"]
        run["identical_curve"] = run["curve"] == reference["curve"]
    return {"config": config.as_dict(), "runs": runs,
            "repeatable": runs[1]["identical_parameters"] and runs[1]["identical_curve"]}

