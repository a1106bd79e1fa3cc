"""Chapter 3: Soft Actor-Critic without hindsight, against Chapter 2's PPO.

The experiment is a grid of (environment, seed) SAC runs with the recipe of
``hyperparams/sac.yml`` and hindsight switched off, on Chapter 2's seeds and
evaluation episodes. This module sets up the grid, reads Chapter 2's curves for
the comparison, and checks the temperature's dynamics.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from gcrl.analysis.experiments import Grid, grid_folder, grid_plan
from gcrl.analysis.scheduler import train_plan
from gcrl.core.errors import CourseError
from gcrl.core.provenance import RunRecord
from gcrl.course import profiles
from gcrl.course.deliverables import Upstream, declared_range
from gcrl.course.profiles import SacBudget
from gcrl.rl.learners import make_config
from gcrl.rl.recipes import library_default, load_hyperparams
from gcrl.rl.run_folder import Curve, LearnerConfig
from gcrl.rl.sac_her.config import SacHerConfig
from gcrl.rl.sb3 import TrainConfig

EXPERIMENTS: tuple[str, ...] = ("FetchReachDense-v4", "FetchReach-v4", "FetchPush-v4")
#: The success rate at which sample efficiency is compared.
THRESHOLD = 0.9
#: A fall of the entropy estimate (nats) below its first value that is not estimation noise.
ENTROPY_DROP = 0.5
#: The least fraction of intervals between evaluations in which alpha must move as its gradient predicts
#: (the chapter's claim, declared in ``deliverables.yaml``).
MIN_AGREEMENT = declared_range("ch03", "sac_results.json", "/temperature/fraction_following_gradient", "all")[0]


def config(env_id: str, seed: int, budget: SacBudget) -> LearnerConfig:
    steps = budget.push_env_steps if env_id.startswith("FetchPush") else budget.reach_env_steps
    warmup = {} if budget.learning_starts is None else {"learning_starts": budget.learning_starts}
    return make_config("sac", env_id, her=None, total_steps=steps, seed=seed, eval_every=budget.eval_every,
                       eval_episodes=budget.eval_episodes, checkpoint_every=budget.eval_every, **warmup)


def run_grid(runs_folder: Path, budget: SacBudget, seeds: range, run: RunRecord) -> Grid:
    """Train every (environment, seed) of the chapter; each run resumes from its checkpoint if one exists."""
    plan = grid_plan(lambda env_id, seed: config(env_id, seed, budget), EXPERIMENTS, seeds)
    return train_plan(plan, runs_folder, run, grid_folder)


def ppo_results(upstream: Upstream) -> dict[str, Any]:
    """Chapter 2's deliverable, which holds PPO's learning curves on the same seeds and evaluation episodes."""
    return upstream.read("ch02", "ppo_results.json")


def ppo_curves(ppo: dict[str, Any], env_id: str, seeds: range) -> list[Curve]:
    """PPO's learning curves on ``env_id`` for ``seeds``; a seed Chapter 2 did not run is a clear error."""
    missing = [seed for seed in seeds if f"{env_id}-seed{seed}" not in ppo["curves"]]
    if missing:
        raise CourseError(f"Chapter 2 has no PPO run of {env_id} with seed(s) {missing}; "
                          "run both chapters with the same profile and seed")
    return [ppo["curves"][f"{env_id}-seed{seed}"] for seed in seeds]


def temperature_check(curve: Curve, target_entropy: float) -> dict[str, Any]:
    """Does the learned temperature follow the sign of its gradient, and does the entropy approach its target?

    The temperature loss is alpha * (H - target), so gradient descent on it
    lowers alpha while the policy's entropy H is above the target and raises it
    while H is below. Between two evaluations the check counts the intervals in
    which alpha moved the way the entropy at the start of the interval says it
    should, compares the entropy's distance to the target at the first and last
    evaluation, and records alpha at the first evaluation where the entropy had
    fallen by ``ENTROPY_DROP`` nats.
    """
    agree = sum(
        (later["ent_coef"] < earlier["ent_coef"]) == (earlier["entropy"] > target_entropy)
        for earlier, later in zip(curve, curve[1:])
    )
    first, last = curve[0], curve[-1]
    fell = next((row for row in curve if row["entropy"] < first["entropy"] - ENTROPY_DROP), None)
    return {
        "evaluations": len(curve),
        "alpha_first": first["ent_coef"], "alpha_last": last["ent_coef"],
        "entropy_first": first["entropy"], "entropy_last": last["entropy"],
        "target_entropy": target_entropy,
        "intervals": len(curve) - 1, "intervals_following_gradient": int(agree),
        "gap_first": abs(first["entropy"] - target_entropy), "gap_last": abs(last["entropy"] - target_entropy),
        "log_alpha_change": math.log(last["ent_coef"]) - math.log(first["ent_coef"]),
        "alpha_when_entropy_fell": None if fell is None else fell["ent_coef"],
    }


def chapter4_push_setting(profile: str) -> str:
    """The learner, network and batch Chapter 4 trains Push with under ``profile``: the book's SAC+HER with its
    Push recipe (``hyperparams/sac_her.yml``), or with the reductions the profile names."""
    her_budget = profiles.budget("ch04", profile)
    overrides = dict(her_budget.push_overrides)
    push = SacHerConfig.from_recipe("FetchPush-v4", total_steps=her_budget.push_env_steps, **overrides)
    return (f"the book's SAC+HER with a network of {' × '.join(map(str, push.net_arch))} and a batch of "
            f"{push.batch_size}" + (", reduced from its Push recipe to prove the mechanics only" if overrides
                                    else ", its Push recipe (Chapter 4)"))


def updates_per_step_text(sac: TrainConfig) -> str:
    """Gradient steps per environment step of Chapter 2's PPO recipe and of ``sac``, as the prose states them."""
    ppo = load_hyperparams("ppo", sac.env_id)
    rollout = ppo["n_steps"] * ppo["n_envs"]
    ppo_updates = ppo["n_epochs"] * math.ceil(rollout / ppo["batch_size"])
    train_freq = sac.hyperparams.get("train_freq", library_default("sac", "train_freq"))
    gradient_steps = sac.hyperparams.get("gradient_steps", library_default("sac", "gradient_steps"))
    sac_rate = gradient_steps / train_freq
    return (f"PPO takes {ppo['n_epochs']} passes of minibatch updates over each rollout of {rollout:,} transitions, "
            f"{ppo_updates} gradient steps, or {ppo_updates / rollout:.3f} per environment step; SAC takes "
            f"{sac_rate:g} per environment step, {sac_rate * rollout / ppo_updates:.0f} times as many")
