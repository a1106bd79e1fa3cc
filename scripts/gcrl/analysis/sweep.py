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

The trials are trained by :mod:`gcrl.analysis.scheduler`, the one door to
training many runs, on Ray: by default an embedded local instance with every
core of this machine (one trial per core, one torch thread per trial, a GPU
shared by fractional requests); given an address (``GCRL_RAY_ADDRESS`` or
``--address``), an existing cluster, whose nodes must see the results folder on
a shared filesystem. This module holds what a sweep is: its file format, its
trials and its outcome.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gcrl.analysis import scheduler
from gcrl.core.errors import CourseError
from gcrl.core.provenance import RunRecord
from gcrl.rl.learners import ALGORITHMS, make_config
from gcrl.rl.run_folder import LearnerConfig, RunResult
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
    results: dict[str, RunResult]  # folder name -> the trial's result
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


def run_sweep(spec: SweepSpec, runs_folder: str | os.PathLike[str], run: RunRecord, seed_offset: int = 0,
              address: str | None = None) -> SweepOutcome:
    """Train every trial of ``spec`` not already complete in ``runs_folder``, on Ray; return all results.

    ``address`` (else ``GCRL_RAY_ADDRESS``) connects to an existing Ray cluster;
    without one, Ray starts embedded on this machine and stops afterwards.
    """
    runs_folder = Path(runs_folder)
    trials = spec.trials(seed_offset)
    configs = {t.folder_name: t.build() for t in trials}
    results, pending, backend = scheduler.complete_on_ray(
        {name: (config, runs_folder / name) for name, config in configs.items()}, run, scheduler.cluster_address(address))
    return SweepOutcome(trials, results, pending, [n for n in configs if n not in pending],
                        backend or "none: every trial was complete")


