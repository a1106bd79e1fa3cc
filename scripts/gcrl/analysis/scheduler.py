"""The one scheduler of independent jobs on this machine: worker processes, one torch thread each.

Every grid of the course (training runs, evaluations of perturbed policies, the
determinism check's repeated runs) goes through :func:`run_parallel` when it
runs on this machine. Sweeps, and a chapter's training runs when a cluster is
named, go through Ray instead (:mod:`gcrl.analysis.sweep`), with the same worker
function for a training run.

The course's networks are small: a second torch thread speeds one job up a
little, while two multi-threaded jobs on the same cores slow each other down
badly, so a grid runs fastest as parallel single-threaded jobs. Every job runs
with one thread whatever the number of workers, so its numbers do not depend on
how busy the machine was. Workers are spawned, never forked, so no job inherits
another's state; a pool reuses its workers between jobs unless ``fresh`` asks
for a new process per job.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from gcrl.core import progress
from gcrl.core.provenance import RunRecord
from gcrl.rl.run_folder import Curve, LearnerConfig, RunResult

Key = TypeVar("Key", bound=Hashable)


def default_workers() -> int:
    """One worker per CPU core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def run_parallel(function: Callable[..., Any], jobs: Sequence[tuple[Any, ...]], stage: str,
                 workers: int | None = None, cost: Callable[[tuple[Any, ...]], float] | None = None,
                 fresh: bool = False) -> list[Any]:
    """``[function(*job) for job in jobs]``, computed in worker processes; results come back in the jobs' order.

    ``cost`` orders the submissions, most expensive first, so that no core idles
    while one long job finishes alone at the end; ``stage`` names the jobs in the
    progress a running chapter shows (:mod:`gcrl.core.progress`).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    if not jobs:
        return []
    workers = max(1, min(workers or default_workers(), len(jobs)))
    order = sorted(range(len(jobs)), key=lambda i: -cost(jobs[i])) if cost else range(len(jobs))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_one_thread, max_tasks_per_child=1 if fresh else None)
    with pool:
        futures = {i: pool.submit(function, *jobs[i]) for i in order}
        progress.report(stage, 0, len(jobs))
        for done, _ in enumerate(as_completed(futures.values()), start=1):
            progress.report(stage, done, len(jobs))
        return [futures[i].result() for i in range(len(jobs))]


# --- training runs -----------------------------------------------------------------------------


def train_in_worker(config: LearnerConfig, run_dir: Path, run: RunRecord) -> tuple[dict[str, Any], Curve]:
    """Train one run in this process with one torch thread; what comes back is its metrics and curve."""
    _one_thread()
    result = config.train(Path(run_dir), run)
    return result.metrics, result.curve


def train_many(jobs: Sequence[tuple[LearnerConfig, Path]], run: RunRecord, workers: int | None = None) -> list[RunResult]:
    """Train independent runs (a config and its run folder each); each resumes from its checkpoint if it has one.

    By default as many run at once as the cores hold: a run that keeps more than
    one busy (a collector process, several torch threads) counts for that many.
    """
    if workers is None and jobs:
        workers = max(1, default_workers() // max(config.cpus() for config, _ in jobs))
    outcomes = run_parallel(train_in_worker, [(config, Path(run_dir), run) for config, run_dir in jobs],
                            "training runs", workers, cost=lambda job: job[0].cost())
    return [RunResult(Path(run_dir), config, metrics, curve)
            for (config, run_dir), (metrics, curve) in zip(jobs, outcomes)]


def train_plan(plan: dict[Key, LearnerConfig], runs_folder: Path, run: RunRecord,
               folder_name: Callable[[Key], str], workers: int | None = None) -> dict[Key, RunResult]:
    """Train every run of a chapter's plan, each in ``runs_folder / folder_name(key)``; results by the same keys."""
    keys = list(plan)
    results = train_many([(plan[key], Path(runs_folder) / folder_name(key)) for key in keys], run, workers)
    return dict(zip(keys, results))
