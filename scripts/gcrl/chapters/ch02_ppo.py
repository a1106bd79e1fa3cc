"""Chapter 2: a PPO baseline on Reach (dense and sparse) and Push (sparse).

The experiment is a grid of (environment, seed) runs of Stable-Baselines3's PPO
with the recipe of ``hyperparams/ppo.yml``; this module sets up the grid and
reads what it compares with from Chapter 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gcrl.analysis.experiments import Grid, grid_folder, grid_plan
from gcrl.analysis.scheduler import train_plan
from gcrl.chapters import ch01_anatomy as ch01
from gcrl.core.provenance import RunRecord
from gcrl.course.deliverables import Upstream
from gcrl.course.profiles import TrainingBudget
from gcrl.rl.learners import make_config
from gcrl.rl.run_folder import LearnerConfig

EXPERIMENTS: tuple[str, ...] = ("FetchReachDense-v4", "FetchReach-v4", "FetchPush-v4")


def config(env_id: str, seed: int, budget: TrainingBudget) -> LearnerConfig:
    return make_config("ppo", env_id, total_steps=budget.env_steps, seed=seed, eval_every=budget.eval_every,
                       eval_episodes=budget.eval_episodes, checkpoint_every=budget.eval_every)


def run_grid(runs_folder: Path, budget: TrainingBudget, seeds: range, run: RunRecord) -> Grid:
    """Train every (environment, seed) of the chapter; each run resumes from its checkpoint if one exists."""
    plan = grid_plan(lambda env_id, seed: config(env_id, seed, budget), EXPERIMENTS, seeds)
    return train_plan(plan, runs_folder, run, grid_folder)


def random_floors(upstream: Upstream) -> dict[str, dict[str, Any]]:
    """Chapter 1's random-policy success (rate and Wilson interval) on each of the chapter's tasks."""
    return {env_id: ch01.floors(upstream, env_id)["random"] for env_id in EXPERIMENTS}


def random_policy_step_success(upstream: Upstream) -> dict[str, float]:
    """Chapter 1's measured fraction of random-policy steps at the goal, read from its deliverable."""
    report = upstream.read("ch01", "reward_consistency.json")["environments"]
    return {env_id: report[env_id]["original_success_fraction"] for env_id in ("FetchReach-v4", "FetchPush-v4")}
