"""Chapter 2: a PPO baseline on Reach (dense and sparse) and Push (sparse).

The experiment is a grid of (environment, seed) runs of the toolkit's
``train``, with PPO's hyperparameters from ``hyperparams/ppo.yml``; this module
only sets up the grid and summarises it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gcrl.errors import CourseError
from gcrl.evaluate import pooled
from gcrl.profiles import TrainingBudget
from gcrl.provenance import RunRecord
from gcrl.train import TrainConfig, TrainResult, train

EXPERIMENTS: tuple[str, ...] = ("FetchReachDense-v4", "FetchReach-v4", "FetchPush-v4")


def config(env_id: str, seed: int, budget: TrainingBudget) -> TrainConfig:
    return TrainConfig.from_file(
        "ppo", env_id, total_steps=budget.env_steps, seed=seed, eval_every=budget.eval_every,
        eval_episodes=budget.eval_episodes, checkpoint_every=budget.eval_every,
    )


def run_grid(runs_folder: Path, budget: TrainingBudget, base_seed: int, run: RunRecord) -> dict[tuple[str, int], TrainResult]:
    """Train every (environment, seed) of the chapter; each run resumes from its checkpoint if one exists."""
    results = {}
    for env_id in EXPERIMENTS:
        for seed in range(base_seed, base_seed + budget.seeds):
            results[(env_id, seed)] = train(config(env_id, seed, budget), runs_folder / f"{env_id}-seed{seed}", run)
    return results


def summary_rows(results: dict[tuple[str, int], TrainResult]) -> list[dict[str, Any]]:
    """One row per run: final success with its interval, steps, time and throughput."""
    return [
        {"env_id": env_id, "seed": seed, **result.metrics["final"],
         "env_steps": result.metrics["env_steps"], "train_time_s": result.metrics["train_time_s"],
         "env_steps_per_s": result.metrics["env_steps_per_s"],
         "best_success_rate": result.metrics["best_success_rate"]}
        for (env_id, seed), result in results.items()
    ]


def pooled_by_env(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {env_id: pooled([r for r in rows if r["env_id"] == env_id]) for env_id in dict.fromkeys(r["env_id"] for r in rows)}


def random_policy_step_success(results_root: Path, profile: str) -> dict[str, float]:
    """Chapter 1's measured fraction of random-policy steps at the goal, read from its deliverable."""
    path = Path(results_root) / profile / "ch01" / "reward_consistency.json"
    if not path.is_file():
        raise CourseError(f"Chapter 2 reads Chapter 1's results, and {path} is missing; run chapter ch01 first")
    report = json.loads(path.read_text())["environments"]
    return {env_id: report[env_id]["original_success_fraction"] for env_id in ("FetchReach-v4", "FetchPush-v4")}
