"""One door to every learner: from (algorithm, environment, overrides) to a config, and from a config to a run.

The CLI, the sweeps, the chapters and the benchmark all build and train their runs here,
so an algorithm's name means the same everywhere:

- ``sac+her``: the book's SAC with hindsight relabelling (:mod:`gcrl.rl.sac_her`),
  with the recipe of ``hyperparams/sac_her.yml``;
- ``ppo``, ``sac``, ``td3``, ``tqc``: Stable-Baselines3 and sb3-contrib
  (:mod:`gcrl.rl.sb3`), with the recipe of ``hyperparams/<algo>.yml``.

A config is data (:class:`gcrl.rl.run_folder.LearnerConfig`); what trains it is
chosen here by its type, and every run goes through the one run procedure of
:mod:`gcrl.rl.run`, each learner supplying its session.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from gcrl.core.errors import CourseError
from gcrl.core.provenance import RunRecord
from gcrl.rl import run as run_procedure
from gcrl.rl import sb3
from gcrl.rl.recipes import ALGORITHMS, BOOK_ALGORITHM as BOOK, SB3_ALGORITHMS
from gcrl.rl.run_folder import Curve, LearnerConfig, Policy, RunResult
from gcrl.rl.sac_her import learner as sac_her
from gcrl.rl.sac_her.config import SacHerConfig
from gcrl.rl.sb3 import TrainConfig

class Learner(NamedTuple):
    """What trains a config type: how a run of it is opened, and how a finished run's policy is loaded."""

    open_session: run_procedure.Opener
    load_policy: Callable[[Any, Path], Policy]


LEARNERS = {
    SacHerConfig: Learner(sac_her.open_session, sac_her.load_policy),
    TrainConfig: Learner(sb3.open_session, sb3.load_policy),
}


def make_config(algo: str, env_id: str, **overrides: Any) -> LearnerConfig:
    """The recipe of ``algo`` on ``env_id`` with ``overrides``: the one way the course builds a run."""
    if algo == BOOK:
        return SacHerConfig.from_recipe(env_id, **overrides)
    if algo in SB3_ALGORITHMS:
        return TrainConfig.from_file(algo, env_id, **overrides)
    raise CourseError(f"unknown algorithm {algo!r}; choose one of {', '.join(ALGORITHMS)}")


def _learner(config: LearnerConfig) -> Learner:
    try:
        return LEARNERS[type(config)]
    except KeyError:
        raise CourseError(f"no learner trains a {type(config).__name__}; the course's configs are "
                          f"{', '.join(c.__name__ for c in LEARNERS)}") from None


def train(config: LearnerConfig, run_dir: str | os.PathLike[str], run: RunRecord | None = None) -> RunResult:
    """Train ``config`` into ``run_dir``, resuming from its checkpoint, or read a finished run back."""
    return run_procedure.train(config, run_dir, run, _learner(config).open_session)


def load_policy(config: LearnerConfig, run_dir: str | os.PathLike[str]) -> Policy:
    """The deterministic policy of a finished run of ``config`` in ``run_dir``."""
    return _learner(config).load_policy(config, Path(run_dir))


def read_back(run_dir: str | os.PathLike[str], config: LearnerConfig, metrics: dict[str, Any],
              curve: Curve) -> RunResult:
    """The result of a run trained elsewhere (a worker process, a Ray node), its policy loaded on first use."""
    return RunResult(Path(run_dir), config, metrics, curve, loader=_learner(config).load_policy)
