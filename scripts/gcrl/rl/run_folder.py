"""A run folder, and the interface every learner of the course implements.

Every training run, whatever learns in it (a Stable-Baselines3 algorithm or the
book's SAC+HER), lives in one folder with the same layout and the same rules:

- ``checkpoint/``: the learner's files and ``state.json`` (the config, the env
  steps done, the learning curve, the clock, and each file's SHA-256). A new
  checkpoint is written into a staging folder and swapped in whole, so an
  interrupted save leaves the previous checkpoint intact; a file whose hash no
  longer matches is a clear error, not a silent resume;
- ``curve.json`` and ``curve.csv``: the learning curve, one row per evaluation;
- ``metrics.json``: the run's summary with provenance, written when the run
  trained (or when it is missing), so reading a finished run back never changes
  its record.

:class:`LearnerConfig` is what the course needs of every learner's config (a
frozen dataclass: data, which :mod:`gcrl.rl.learners` trains by its type);
:class:`RunResult` is what every run returns.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gcrl.core.errors import CourseError
from gcrl.core.io import write_bytes_atomic, write_json_atomic
from gcrl.core.provenance import RunRecord

CHECKPOINT = "checkpoint"
#: A checkpoint's folder and its ``state.json``, as :func:`verified_checkpoint` finds them.
Checkpoint = tuple[Path, dict[str, Any]]
Policy = Callable[[dict[str, np.ndarray]], np.ndarray]
Curve = list[dict[str, Any]]


class LearnerConfig(Protocol):
    """What the course needs of a learner's configuration: its task, budget, seed and grid, and a record."""

    env_id: str
    seed: int
    total_steps: int
    eval_every: int
    eval_episodes: int
    eval_seed: int
    target_success: float | None
    checkpoint_every: int

    @property
    def algo(self) -> str: ...

    def as_dict(self) -> dict[str, Any]: ...

    def cost(self) -> float:
        """A run's relative cost, for scheduling the longest first: env steps times its networks' squared width."""
        ...

    def cpus(self) -> int:
        """The CPU cores a run keeps busy, for a scheduler's resource request."""
        ...


@dataclass
class RunResult:
    """A finished run: its folder, config, metrics and learning curve, and its policy (live, or loaded on first use
    by ``loader``, which :func:`gcrl.rl.learners.read_back` gives a run trained elsewhere)."""

    run_dir: Path
    config: LearnerConfig
    metrics: dict[str, Any]
    curve: Curve
    loaded: Policy | None = field(default=None, repr=False)
    loader: Callable[[LearnerConfig, Path], Policy] | None = field(default=None, repr=False)

    def policy(self) -> Policy:
        """The deterministic policy, observations normalised with the run's final statistics."""
        if self.loaded is None:
            if self.loader is None:
                raise CourseError(f"the result of {self.run_dir} carries no policy; read it back with "
                                  "gcrl.rl.learners.read_back")
            self.loaded = self.loader(self.config, self.run_dir)
        return self.loaded


# --- checkpoints -------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def staging_folder(run_dir: Path) -> Path:
    """An empty folder beside the checkpoint, into which the next checkpoint is written."""
    staging = run_dir / f".{CHECKPOINT}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def commit_checkpoint(run_dir: Path, staging: Path, state: dict[str, Any], files: list[str]) -> Path:
    """Record each staged file's SHA-256 in ``state.json``, then swap the complete folder in for the last checkpoint."""
    state = {**state, "files": {name: sha256(staging / name) for name in files}}
    (staging / "state.json").write_text(json.dumps(state, indent=1))
    target, previous = run_dir / CHECKPOINT, run_dir / f".{CHECKPOINT}.previous"
    shutil.rmtree(previous, ignore_errors=True)
    if target.exists():
        os.replace(target, previous)
    os.replace(staging, target)
    shutil.rmtree(previous, ignore_errors=True)
    return target


def checkpoint_folder(run_dir: Path) -> Path | None:
    """The last complete checkpoint folder of a run (the previous one if a swap was interrupted)."""
    for folder in (run_dir / CHECKPOINT, run_dir / f".{CHECKPOINT}.previous"):
        if (folder / "state.json").is_file():
            return folder
    return None


def damaged_files(folder: Path, state: dict[str, Any]) -> list[str]:
    """The files of a checkpoint that are missing or whose SHA-256 differs from ``state.json``."""
    return [name for name, digest in state["files"].items()
            if not (folder / name).is_file() or sha256(folder / name) != digest]


def verified_checkpoint(run_dir: Path, config: LearnerConfig) -> Checkpoint | None:
    """The last checkpoint's folder and state, after checking it belongs to ``config`` and is intact.

    The recorded config must equal ``config`` in every field; a field the record
    lacks was added to the config class later, and its default is what that run
    used. ``None`` when the run has no checkpoint yet.
    """
    folder = checkpoint_folder(Path(run_dir))
    if folder is None:
        return None
    fix = f"delete {folder} to train from the start"
    try:
        state = json.loads((folder / "state.json").read_text())
    except ValueError as exc:
        raise CourseError(f"checkpoint {folder} is damaged (state.json: {exc}); {fix}") from None
    defaults = {f.name: f.default for f in fields(config) if f.default is not MISSING}
    recorded = json.loads(json.dumps({**defaults, **state["config"]}))
    wanted = config.as_dict()
    if recorded != wanted:
        changed = sorted(k for k in {**recorded, **wanted} if recorded.get(k) != wanted.get(k))
        raise CourseError(f"{folder} belongs to a different run ({', '.join(changed)} differ); "
                          f"use another run folder or {fix}")
    for name in damaged_files(folder, state)[:1]:
        raise CourseError(f"checkpoint {folder} is damaged: {name} is missing, truncated or altered; {fix}")
    return folder, state


def finished_checkpoint(run_dir: Path, config: LearnerConfig) -> Checkpoint:
    """:func:`verified_checkpoint` of a run that must have one (to load its policy): no checkpoint is an error."""
    found = verified_checkpoint(Path(run_dir), config)
    if found is None:
        raise CourseError(f"{run_dir} holds no checkpoint; train the run first")
    return found


# --- curve and metrics -------------------------------------------------------------------------


def write_curve(run_dir: Path, curve: Curve) -> None:
    """The learning curve as JSON and CSV, rewritten atomically after every evaluation."""
    write_json_atomic(run_dir / "curve.json", curve)
    if curve:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(curve[0]))
        writer.writeheader()
        writer.writerows(curve)
        write_bytes_atomic(run_dir / "curve.csv", text.getvalue().encode())


def run_metrics(config: LearnerConfig, env_steps: int, clock: dict[str, float], curve: Curve,
                target_success: float | None, resumed_from: int | None, seeds: list[int],
                target_entropy: float | None) -> dict[str, Any]:
    """``metrics.json`` of a run: budget, time, final and best success, time to target."""
    target_row = next((r for r in curve if target_success and r["success_rate"] >= target_success), None)
    final = curve[-1]
    return {
        "config": config.as_dict(),
        "env_steps": env_steps,
        "train_time_s": round(clock["train_s"], 2),
        "eval_time_s": round(clock["eval_s"], 2),
        "env_steps_per_s": round(env_steps / max(clock["train_s"], 1e-9), 1),
        "final": {k: final[k] for k in ("episodes", "successes", "success_rate", "ci95_low", "ci95_high",
                                        "mean_final_distance")},
        "best_success_rate": max(r["success_rate"] for r in curve),
        "time_to_target": None if target_row is None else
        {"env_steps": target_row["env_steps"], "train_s": target_row["train_s"]},
        "evaluations": len(curve),
        "resumed_from": resumed_from,
        "eval_seeds": [seeds[0], seeds[-1]],
        "target_entropy": target_entropy,
    }


def record_metrics(run_dir: Path, metrics: dict[str, Any], run: RunRecord, trained: bool) -> None:
    """Write ``metrics.json`` with provenance when the run trained now, or when none exists yet."""
    path = Path(run_dir) / "metrics.json"
    if trained or not path.is_file():
        write_json_atomic(path, {**metrics, "provenance": run.snapshot()})


def default_run_record(config: LearnerConfig) -> RunRecord:
    """The provenance of a run trained outside a chapter (the CLI, a test): its own seed, no profile."""
    return RunRecord(profile="none", seeds=[config.seed])
