"""The one door to training many runs, and the scheduler of every grid of independent jobs.

A grid of training runs (a chapter's plan, a sweep's trials, the benchmark's
seeds) is trained here, on one of two backends behind the same call:

- this machine's process pool (:func:`run_parallel`): worker processes, one
  torch thread each, spawned, never forked, so no job inherits another's state;
  a pool reuses its workers between jobs unless ``fresh`` asks for a new process
  per job. Evaluations of perturbed policies and the determinism check's
  repeated runs use the same pool;
- Ray: an embedded instance with every core of this machine (a sweep), or the
  cluster an address names (``GCRL_RAY_ADDRESS`` or ``--address``), whose nodes
  must see the results folder on a shared filesystem. Runs already complete in
  their folders are read back, and the others are trained as Ray tasks.

The course's networks are small: a second torch thread speeds one job up a
little, while two multi-threaded jobs on the same cores slow each other down
badly, so a grid runs fastest as parallel single-threaded jobs. Every job runs
with one thread whatever the number of workers, so its numbers do not depend on
how busy the machine was. Either way a run folder holds the same files, so a
book executed later without the cluster reads the cluster's runs back.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from gcrl.core import progress
from gcrl.core.errors import CourseError
from gcrl.core.provenance import RunRecord
from gcrl.rl.learners import read_back, train
from gcrl.rl.run_folder import Curve, LearnerConfig, RunResult

Key = TypeVar("Key", bound=Hashable)
#: The environment variable that names a Ray cluster (``HOST:PORT``) for every grid of runs.
RAY_ADDRESS_ENV = "GCRL_RAY_ADDRESS"


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
    result = train(config, Path(run_dir), run)
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
    return [read_back(run_dir, config, metrics, curve) for (config, run_dir), (metrics, curve) in zip(jobs, outcomes)]


def train_plan(plan: dict[Key, LearnerConfig], runs_folder: Path, run: RunRecord,
               folder_name: Callable[[Key], str], address: str | None = None,
               workers: int | None = None) -> dict[Key, RunResult]:
    """Train every run of a chapter's plan, each in ``runs_folder / folder_name(key)``; results by the same keys.

    With a cluster address (``address``, else ``GCRL_RAY_ADDRESS``) the runs not
    already complete in their folders are trained as Ray tasks there, exactly as a
    sweep's trials are, and the complete ones are read back; without one, they
    are trained on this machine's pool (:func:`train_many`), each resuming from
    its checkpoint or read back when finished.
    """
    jobs = {key: (config, Path(runs_folder) / folder_name(key)) for key, config in plan.items()}
    address = cluster_address(address)
    if not address:
        return dict(zip(jobs, train_many(list(jobs.values()), run, workers)))
    results, pending, backend = complete_on_ray(jobs, run, address)
    print(f"gcrl: {len(pending)} runs trained, {len(plan) - len(pending)} read back "
          f"({backend or 'none: every run was complete'})", flush=True)
    return results


def cluster_address(address: str | None = None) -> str | None:
    """The Ray cluster to train on: ``address``, else ``GCRL_RAY_ADDRESS``, else none."""
    return address or os.environ.get(RAY_ADDRESS_ENV) or None


# --- Ray -----------------------------------------------------------------------------------------


def completed(config, run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The metrics and curve of a finished run of exactly ``config`` in ``run_dir``, else ``None``."""
    metrics_file, curve_file = run_dir / "metrics.json", run_dir / "curve.json"
    if not (metrics_file.is_file() and curve_file.is_file()):
        return None
    metrics = json.loads(metrics_file.read_text())
    if metrics.get("config") != config.as_dict():
        return None
    return metrics, json.loads(curve_file.read_text())


def complete_on_ray(jobs: dict[Any, tuple[LearnerConfig, Path]], run: RunRecord,
                     address: str | None) -> tuple[dict[Any, RunResult], list[Any], str | None]:
    """Read back every job already complete in its folder and train the others on Ray (the cluster at ``address``,
    or an embedded instance without one): the results by key, the keys trained now, and the backend they trained on
    (``None`` if every job was complete)."""
    finished = {key: completed(config, folder) for key, (config, folder) in jobs.items()}
    pending = [key for key, done in finished.items() if done is None]
    backend = None
    if pending:
        backend, outcomes = _train_on_ray([jobs[key] for key in pending], run, address)
        finished.update(zip(pending, outcomes))
    results = {key: read_back(folder, config, *finished[key]) for key, (config, folder) in jobs.items()}
    return results, pending, backend


def _start_ray(address: str | None) -> None:
    """Join the cluster at ``address``, or start a Ray instance of this sweep's own.

    Without an address the instance is new and local whatever else runs on the
    machine (``RAY_ADDRESS``, a cluster started with ``ray start``, or the file a
    stopped one left in ``/tmp/ray``): Ray would otherwise join that cluster.
    With one, token authentication follows the rule ``ray start`` and
    ``ray.init(address="auto")`` apply, which an explicit address skips: when
    ``RAY_AUTH_MODE`` is unset and this machine has a token, use it.
    """
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports from an offline CI machine
    if not address:
        ray.init(address="local", num_cpus=default_workers(), include_dashboard=False, logging_level="ERROR",
                 log_to_driver=False)
        return
    # Ray's own rule for a cluster it finds by itself (its internal function: the public ray.init applies it only
    # when no address is given); it also refreshes the configuration of a Ray imported before RAY_AUTH_MODE was set
    from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available

    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    token = ray_token_source()
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except (OSError, ValueError):
        raise CourseError(f"no Ray cluster answers at {address}: start one with `ray start --head` and pass the "
                          "address it prints (host:port)") from None
    try:
        ray.init(address=address, runtime_env={"py_modules": [str(Path(__file__).parents[1])]},
                 logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, ray.exceptions.RayError, SystemExit) as exc:  # Ray exits on some failed handshakes
        if token:
            hint = (f"if it requires token authentication, the token here ({token}) is not the cluster's: "
                    "copy the head's (`ray get-auth-token` there)")
        else:
            hint = ("if it requires token authentication (the default when the head has a token), this machine has "
                    "none: copy the head's (`ray get-auth-token` there) to ~/.ray/auth_token or set RAY_AUTH_TOKEN")
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CourseError(f"cannot connect to the Ray cluster at {address} ({reason}); {hint}") from None


def ray_token_source() -> str | None:
    """Where Ray would read an authentication token on this machine, or ``None`` if there is none."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    for path in (os.environ.get("RAY_AUTH_TOKEN_PATH"), Path.home() / ".ray" / "auth_token"):
        if path and Path(path).is_file():
            return str(path)
    return None


def _train_on_ray(jobs: list[tuple[Any, Path]], run: RunRecord, address: str | None):
    """Run ``jobs`` as Ray tasks, one CPU each (and an equal share of the GPUs); longest first."""
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")  # read at import: a failure is one line, not retries
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        _start_ray(address)
    try:
        resources = ray.cluster_resources()
        cpus, gpus = resources.get("CPU", 1.0), resources.get("GPU", 0.0)
        gpu_share = min(1.0, gpus / cpus) if gpus else 0.0
        task = ray.remote(num_gpus=gpu_share, max_retries=0)(train_in_worker)
        order = sorted(range(len(jobs)), key=lambda i: -jobs[i][0].cost())
        refs = {i: task.options(num_cpus=min(jobs[i][0].cpus(), cpus)).remote(jobs[i][0], jobs[i][1], run)
                for i in order}
        waiting = list(refs.values())
        progress.report("trials to train", 0, len(jobs))
        while waiting:
            _, waiting = ray.wait(waiting, num_returns=1)
            progress.report("trials to train", len(jobs) - len(waiting), len(jobs))
        outcomes = [ray.get(refs[i]) for i in range(len(jobs))]
        backend = (f"Ray {ray.__version__}, {'cluster at ' + address if address else 'embedded'}: "
                   f"{cpus:g} CPUs, {gpus:g} GPUs, {gpu_share:g} GPU per trial")
    finally:
        if started_here:
            ray.shutdown()
    for config, run_dir in jobs:
        if completed(config, run_dir) is None:
            raise CourseError(f"trial {run_dir.name} finished on Ray but {run_dir} holds no result of it; "
                              "a cluster sweep needs the results folder on a filesystem every node shares")
    return backend, outcomes
