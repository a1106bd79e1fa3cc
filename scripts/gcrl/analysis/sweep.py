"""Sweeps: many seeds and configurations, defined in one mapping, run on Ray, resumable.

A sweep (a YAML file, or a chapter's sweep from its budget in
:mod:`gcrl.course.profiles`) names its seeds and its *groups*. A group is one
algorithm on one task with configuration overrides; ``vary`` turns it into a
one-at-a-time sensitivity study (each listed value of each parameter, the
others at the group's setting)::

    name: my-sweep
    seeds: 5                       # seeds 0..4, or an explicit list
    groups:
      - name: comparison
        label: SAC+HER
        algo: sac+her              # any name of gcrl.rl.learners: the book's sac+her, or ppo, sac, td3, tqc
        env_id: FetchReach-v4
        config: {total_steps: 5000, eval_every: 1000, eval_episodes: 50}
      - name: sensitivity
        label: SAC+HER
        algo: sac+her
        env_id: FetchReach-v4
        config: {total_steps: 5000}
        vary: {learning_rate: [0.0003, 0.003], batch_size: [64, 1024]}

Every (configuration, seed) is a *trial*, built by :func:`gcrl.rl.learners.make_config`
and trained into its own run folder (the same files and provenance as any single
run). Trials with identical configurations are trained once, whichever groups
name them. A trial is complete when its folder holds a ``metrics.json`` whose
recorded configuration is the trial's; a rerun reads complete trials back and
trains only the others, each resuming from its last checkpoint, so an
interrupted sweep loses at most the steps since each trial's last checkpoint.

Ray runs the trials: by default an embedded local instance with every core of
this machine (one trial per core, one torch thread per trial, a GPU shared by
fractional requests); given an address (``GCRL_RAY_ADDRESS`` or ``--address``),
an existing cluster, whose nodes must see the results folder on a shared
filesystem.

The chapters' own grids of runs (Chapters 2 to 5, the full profile's long runs
on Push, PickAndPlace and Slide among them) go through :func:`train_plan`: on
this machine's process pool by default, and as the same Ray tasks on the
cluster that ``GCRL_RAY_ADDRESS`` names, so that
``GCRL_RAY_ADDRESS=HOST:PORT make book GCRL_PROFILE=full`` trains the whole
book on a cluster with one command.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any, TypeVar

import yaml

from gcrl.analysis import scheduler
from gcrl.analysis.scheduler import default_workers, train_in_worker
from gcrl.core import progress
from gcrl.core.errors import CourseError
from gcrl.core.provenance import RunRecord
from gcrl.rl.learners import ALGORITHMS, make_config
from gcrl.rl.run_folder import LearnerConfig, RunResult

RAY_ADDRESS_ENV = "GCRL_RAY_ADDRESS"
GROUP_KEYS = {"name", "label", "algo", "env_id", "config", "vary"}


@dataclass(frozen=True)
class Trial:
    """One configuration of one group, trained on one seed."""

    group: str
    label: str  # the configuration's name within its group, e.g. "SAC+HER" or "learning_rate=0.003"
    algo: str
    env_id: str
    seed: int
    overrides: dict[str, Any] = field(hash=False)

    def build(self) -> LearnerConfig:
        """The run's configuration (:func:`gcrl.rl.learners.make_config`)."""
        return make_config(self.algo, self.env_id, seed=self.seed, **self.overrides)

    @functools.cached_property
    def folder_name(self) -> str:
        """Names the trial by what decides it, so that identical trials of two groups share one folder."""
        config = json.dumps(self.build().as_dict(), sort_keys=True)
        digest = hashlib.sha256(f"{self.algo}:{config}".encode()).hexdigest()[:12]
        return f"{self.env_id}-{self.algo.replace('+', '')}-{digest}-seed{self.seed}"


@dataclass(frozen=True)
class SweepSpec:
    """A parsed, validated sweep file."""

    name: str
    seeds: tuple[int, ...]
    groups: tuple[dict[str, Any], ...]

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> "SweepSpec":
        """Read a sweep file; errors name the bad entry."""
        path = Path(path)
        if not path.is_file():
            raise CourseError(f"no sweep file {str(path)!r}")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise CourseError(f"{path}: not valid YAML: {exc}") from None
        return cls.from_dict(data, where=str(path))

    @classmethod
    def from_dict(cls, data: Any, where: str = "sweep") -> "SweepSpec":
        if not isinstance(data, dict) or not {"name", "seeds", "groups"} <= set(data):
            raise CourseError(f"{where}: a sweep is a mapping with name, seeds and groups")
        seeds = data["seeds"]
        if isinstance(seeds, int) and not isinstance(seeds, bool) and seeds >= 1:
            seeds = list(range(seeds))
        if not (isinstance(seeds, list) and seeds and all(isinstance(s, int) and s >= 0 for s in seeds)
                and len(set(seeds)) == len(seeds)):
            raise CourseError(f"{where}: seeds must be a positive count or a list of distinct seeds >= 0, got {seeds!r}")
        groups = data["groups"]
        if not isinstance(groups, list) or not groups:
            raise CourseError(f"{where}: groups must be a non-empty list")
        for i, group in enumerate(groups):
            _check_group(group, f"{where}: groups[{i}]")
        spec = cls(str(data["name"]), tuple(seeds), tuple(groups))
        for trial in spec.trials():  # builds every configuration once, so a bad value fails here, not on Ray
            trial.build()
        return spec

    def as_dict(self) -> dict[str, Any]:
        """The sweep as a mapping of the file format (``yaml.safe_dump`` of it is a sweep file)."""
        return {"name": self.name, "seeds": list(self.seeds), "groups": [dict(g) for g in self.groups]}

    def trials(self, seed_offset: int = 0) -> list[Trial]:
        """Every (group, configuration, seed), in file order; ``seed_offset`` shifts every seed (a master seed)."""
        trials = []
        for group in self.groups:
            base = dict(group.get("config") or {})
            configurations = [(group["label"], base)]
            for parameter, values in (group.get("vary") or {}).items():
                configurations += [(f"{parameter}={value}", {**base, parameter: value})
                                   for value in values if value != base.get(parameter, _UNSET)]
            for label, overrides in configurations:
                trials += [Trial(group["name"], label, group["algo"], group["env_id"], seed + seed_offset, overrides)
                           for seed in self.seeds]
        return trials


_UNSET = object()


def _check_group(group: Any, where: str) -> None:
    if not isinstance(group, dict):
        raise CourseError(f"{where}: a group is a mapping")
    missing = {"name", "label", "algo", "env_id"} - set(group)
    unknown = set(group) - GROUP_KEYS
    if missing or unknown:
        raise CourseError(f"{where}: missing {sorted(missing)}, unknown {sorted(unknown)}; "
                          f"a group has {', '.join(sorted(GROUP_KEYS))}")
    if group["algo"] not in ALGORITHMS:
        raise CourseError(f"{where}: unknown algo {group['algo']!r}; choose one of {', '.join(ALGORITHMS)}")
    if "seed" in (group.get("config") or {}):
        raise CourseError(f"{where}: config may not set seed; the sweep's seeds do")
    vary = group.get("vary") or {}
    if not isinstance(vary, dict) or any(not isinstance(v, list) or not v for v in vary.values()):
        raise CourseError(f"{where}: vary maps a parameter to a non-empty list of values, got {vary!r}")


@dataclass
class SweepOutcome:
    """What a sweep produced: each trial's result, and which trials ran now and which were read back."""

    trials: list[Trial]
    results: dict[str, Any]  # folder name -> TrainResult | SacHerResult
    trained: list[str]
    reused: list[str]
    backend: str

    def result(self, trial: Trial):
        return self.results[trial.folder_name]

    def group(self, name: str) -> dict[str, dict[str, list[Any]]]:
        """The results of every group called ``name``: ``{label: {env_id: [results in seed order]}}``."""
        by_label: dict[str, dict[str, list[Any]]] = {}
        for trial in self.trials:
            if trial.group == name:
                by_label.setdefault(trial.label, {}).setdefault(trial.env_id, []).append(self.result(trial))
        if not by_label:
            raise CourseError(f"the sweep has no group {name!r}; it has {sorted({t.group for t in self.trials})}")
        return by_label


def completed(config, run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The metrics and curve of a finished run of exactly ``config`` in ``run_dir``, else ``None``."""
    metrics_file, curve_file = run_dir / "metrics.json", run_dir / "curve.json"
    if not (metrics_file.is_file() and curve_file.is_file()):
        return None
    metrics = json.loads(metrics_file.read_text())
    if metrics.get("config") != config.as_dict():
        return None
    return metrics, json.loads(curve_file.read_text())


def run_sweep(spec: SweepSpec, runs_folder: str | os.PathLike[str], run: RunRecord, seed_offset: int = 0,
              address: str | None = None) -> SweepOutcome:
    """Train every trial of ``spec`` not already complete in ``runs_folder``, on Ray; return all results.

    ``address`` (else ``GCRL_RAY_ADDRESS``) connects to an existing Ray cluster;
    without one, Ray starts embedded on this machine and stops afterwards.
    """
    runs_folder = Path(runs_folder)
    trials = spec.trials(seed_offset)
    configs = {t.folder_name: t.build() for t in trials}
    results, pending, backend = _complete_on_ray({name: (config, runs_folder / name) for name, config in configs.items()},
                                                 run, address or os.environ.get(RAY_ADDRESS_ENV) or None)
    return SweepOutcome(trials, results, pending, [n for n in configs if n not in pending],
                        backend or "none: every trial was complete")


def _complete_on_ray(jobs: dict[Any, tuple[LearnerConfig, Path]], run: RunRecord,
                     address: str | None) -> tuple[dict[Any, RunResult], list[Any], str | None]:
    """Read back every job already complete in its folder and train the others on Ray: the results by key, the
    keys trained now, and the backend they trained on (``None`` if every job was complete)."""
    finished = {key: completed(config, folder) for key, (config, folder) in jobs.items()}
    pending = [key for key, done in finished.items() if done is None]
    backend = None
    if pending:
        backend, outcomes = _train_on_ray([jobs[key] for key in pending], run, address)
        finished.update(zip(pending, outcomes))
    results = {key: RunResult(folder, config, *finished[key]) for key, (config, folder) in jobs.items()}
    return results, pending, backend


Key = TypeVar("Key")


def train_plan(plan: dict[Key, LearnerConfig], runs_folder: Path, run: RunRecord,
               folder_name: Callable[[Key], str], address: str | None = None) -> dict[Key, RunResult]:
    """Train every run of a chapter's plan, each in ``runs_folder / folder_name(key)``; results by the same keys.

    With a cluster address (``address``, else ``GCRL_RAY_ADDRESS``) the runs not
    already complete in their folders are trained as Ray tasks there, exactly as a
    sweep's trials are, and the complete ones are read back; without one,
    :func:`gcrl.analysis.scheduler.train_plan` trains them on this machine. Either
    way a run folder holds the same files, so a book executed later without the
    cluster reads the cluster's runs back instead of training them again.
    """
    address = address or os.environ.get(RAY_ADDRESS_ENV) or None
    if not address:
        return scheduler.train_plan(plan, runs_folder, run, folder_name)
    results, pending, backend = _complete_on_ray(
        {key: (config, Path(runs_folder) / folder_name(key)) for key, config in plan.items()}, run, address)
    print(f"gcrl: {len(pending)} runs trained, {len(plan) - len(pending)} read back "
          f"({backend or 'none: every run was complete'})", flush=True)
    return results


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
