"""Chapter 2: a PPO baseline on Reach (dense and sparse) and Push (sparse).

The experiment is a grid of (environment, seed) runs of the toolkit's
``train``, with PPO's hyperparameters from ``hyperparams/ppo.yml``; this module
only sets up the grid (``gcrl.experiments`` trains and summarises it).
"""

from __future__ import annotations

from pathlib import Path

from gcrl import experiments
from gcrl.deliverables import read_deliverable
from gcrl.experiments import Grid
from gcrl.profiles import TrainingBudget
from gcrl.provenance import RunRecord
from gcrl.train import TrainConfig

EXPERIMENTS: tuple[str, ...] = ("FetchReachDense-v4", "FetchReach-v4", "FetchPush-v4")


def config(env_id: str, seed: int, budget: TrainingBudget) -> TrainConfig:
    return TrainConfig.from_file(
        "ppo", env_id, total_steps=budget.env_steps, seed=seed, eval_every=budget.eval_every,
        eval_episodes=budget.eval_episodes, checkpoint_every=budget.eval_every,
    )


def run_grid(runs_folder: Path, budget: TrainingBudget, seeds: range, run: RunRecord) -> Grid:
    """Train every (environment, seed) of the chapter; each run resumes from its checkpoint if one exists."""
    return experiments.run_grid(lambda env_id, seed: config(env_id, seed, budget), EXPERIMENTS,
                                seeds, runs_folder, run)


def random_floors(results_root: Path, profile: str) -> dict[str, dict]:
    """Chapter 1's random-policy success (rate and Wilson interval) on each of the chapter's tasks."""
    rows = read_deliverable(results_root, profile, "ch01", "baselines.json", "ch02")["rows"]
    return {row["env_id"]: row for row in rows if row["policy"] == "random" and row["env_id"] in EXPERIMENTS}


def random_policy_step_success(results_root: Path, profile: str) -> dict[str, float]:
    """Chapter 1's measured fraction of random-policy steps at the goal, read from its deliverable."""
    report = read_deliverable(results_root, profile, "ch01", "reward_consistency.json", "ch02")["environments"]
    return {env_id: report[env_id]["original_success_fraction"] for env_id in ("FetchReach-v4", "FetchPush-v4")}
