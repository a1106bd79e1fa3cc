"""One door to every learner: from (algorithm, environment, overrides) to a config that trains itself.

The CLI, the sweeps, the chapters and the benchmark all build their runs here,
so an algorithm's name means the same everywhere:

- ``sac+her``: the book's SAC with hindsight relabelling (:mod:`gcrl.rl.sac_her`),
  with the SAC recipe of ``hyperparams/sac.yml``;
- ``ppo``, ``sac``, ``td3``, ``tqc``: Stable-Baselines3 and sb3-contrib
  (:mod:`gcrl.rl.sb3`), with the recipe of ``hyperparams/<algo>.yml``.

Every config implements :class:`gcrl.rl.run_folder.LearnerConfig`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gcrl.core.errors import CourseError
from gcrl.rl.recipes import ALGORITHMS, BOOK_ALGORITHM as BOOK, SB3_ALGORITHMS
from gcrl.core.provenance import RunRecord
from gcrl.rl.run_folder import LearnerConfig, RunResult
from gcrl.rl.sac_her.config import SacHerConfig
from gcrl.rl.sb3 import TrainConfig


def make_config(algo: str, env_id: str, **overrides: Any) -> LearnerConfig:
    """The recipe of ``algo`` on ``env_id`` with ``overrides``: the one way the course builds a run."""
    if algo == BOOK:
        return SacHerConfig.from_recipe(env_id, **overrides)
    if algo in SB3_ALGORITHMS:
        return TrainConfig.from_file(algo, env_id, **overrides)
    raise CourseError(f"unknown algorithm {algo!r}; choose one of {', '.join(ALGORITHMS)}")



def train(config: LearnerConfig, run_dir: str | os.PathLike[str], run: RunRecord | None = None) -> RunResult:
    """Train ``config`` into ``run_dir`` (resuming from its checkpoint, or reading a finished run back)."""
    return config.train(Path(run_dir), run)
