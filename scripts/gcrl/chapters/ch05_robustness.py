"""Chapter 5: robustness of learned manipulation policies.

The chapter measures Chapter 4's trained policies, loaded from Chapter 4's
results (never retrained), under every perturbation family of
:mod:`gcrl.analysis.robustness`, and trains domain-randomised versions of Chapter 4's
runs: the same seeds, recipe and budget, with observation noise and a
per-episode draw of the physics. This module plans both and assembles curves
and summaries; the notebook shows and checks them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from gcrl.analysis import robustness
from gcrl.analysis.robustness import Job, PolicySource
from gcrl.analysis.scheduler import train_plan
from gcrl.core.errors import CourseError
from gcrl.core.provenance import RunRecord
from gcrl.course.deliverables import Upstream
from gcrl.course.profiles import RobustnessBudget
from gcrl.rl.run_folder import RunResult
from gcrl.rl.sac_her.config import SacHerConfig
from gcrl.rl.sac_her.learner import load_agent

REACH, PUSH = "FetchReach-v4", "FetchPush-v4"
#: Seed of every perturbation's own noise stream (episodes are seeded separately).
NOISE_SEED = 0
#: The action delay (control steps) of the chapter's video.
VIDEO_DELAY = 2
#: The relabelling-bias measurement (§3.6): draws of the hidden parameter per state, steps replayed, seed.
BIAS_DRAWS = 8
BIAS_HORIZONS: tuple[int, ...] = (1, 5, 10)
BIAS_SEED = 70_000
#: Domain randomisation per task: observation noise (goals clean) and uniform relative physics changes.
#: Sized so that Reach still learns within Chapter 4's standard budget: with damping drawn up to
#: 10,000 times the nominal (alone, or with 3 mm of observation noise), a 5,000-step run of seed 0
#: ended at or below 10% success; with this setting it ended at 100% (20 episodes).
RANDOMISATION: dict[str, dict[str, Any]] = {
    REACH: {"observation_noise": 0.001, "physics_ranges": (("joint_damping", 0.0, 2_999.0),)},
    PUSH: {"observation_noise": 0.001,
           "physics_ranges": (("contact_friction", -0.5, 0.0), ("object_mass", 0.0, 1.0))},
}


def chapter4_policies(upstream: Upstream) -> dict[str, list[PolicySource]]:
    """Chapter 4's trained Reach and Push policies (one per seed), as recorded in its deliverable."""
    record = upstream.read("ch04", "her_results.json")
    folder = upstream.folder("ch04")
    sources: dict[str, list[PolicySource]] = {}
    for env_id, entries in record["policies"].items():
        sources[env_id] = []
        for entry in entries:
            run_dir = folder / entry["run_dir"]
            if not (run_dir / "checkpoint" / "state.json").is_file():
                raise CourseError(f"ch05 loads Chapter 4's policy {entry['run']} from {run_dir}, which holds no "
                                  "checkpoint; run chapter ch04 first")
            sources[env_id].append(PolicySource(str(run_dir), record["configs"][entry["run"]]))
    return sources


def training_std(source: PolicySource) -> np.ndarray:
    """The standard deviation of each observation feature over the training of ``source``'s policy, as its
    normaliser holds it (§3.4: noise on a feature reaches the networks divided by this)."""
    _, normalizer = load_agent(source.run_dir, SacHerConfig.from_dict(source.config))
    return np.sqrt(normalizer.var["observation"] + 1e-8)


def randomised_config(nominal: dict[str, Any]) -> SacHerConfig:
    """Chapter 4's run with this chapter's domain randomisation switched on, nothing else changed."""
    config = SacHerConfig.from_dict(nominal)
    return replace(config, **RANDOMISATION[config.env_id])


def randomised_plan(policies: dict[str, list[PolicySource]], budget: RobustnessBudget) -> dict[tuple[str, int], SacHerConfig]:
    return {(env_id, source.seed): randomised_config(source.config)
            for env_id in budget.dr_tasks for source in policies[env_id]}


def train_randomised(plan: dict[tuple[str, int], SacHerConfig], runs_folder: Path,
                     run: RunRecord) -> dict[tuple[str, int], RunResult]:
    return train_plan(plan, runs_folder, run, lambda key: f"{key[0]}-randomised-seed{key[1]}")


def episodes_per_policy(sources: list[PolicySource], budget: RobustnessBudget) -> int:
    """Episodes per policy and point: ``eval_episodes`` for each of the budget's seeds, shared among the policies
    a task has (Chapter 4 trains Push on fewer seeds than Reach), so every point of every task pools as many."""
    return budget.eval_episodes * max(1, budget.seeds // len(sources))


def evaluation_jobs(sources: list[PolicySource], env_id: str, budget: RobustnessBudget) -> list[Job]:
    """Every perturbed point of every family for ``env_id``, plus the nominal point once (severity 0 is
    the identity for every family, so one nominal evaluation serves all curves)."""
    families = robustness.families_for(env_id)
    episodes = episodes_per_policy(sources, budget)
    jobs = robustness.curve_jobs(sources, families[0], (0,), episodes, NOISE_SEED)
    for family in families:
        jobs += robustness.curve_jobs(sources, family, robustness.grid(family, budget.severities)[1:],
                                      episodes, NOISE_SEED)
    return jobs


def curves(evaluations: list[dict[str, Any]], env_id: str) -> dict[str, list[dict[str, Any]]]:
    """One degradation curve per family, each starting from the shared nominal evaluation."""
    nominal = [e for e in evaluations if e["severity"] == 0]
    result = {}
    for family in robustness.families_for(env_id):
        mine = [{**e, "family": family.name} for e in nominal] + [e for e in evaluations if e["family"] == family.name
                                                                  and e["severity"] != 0]
        result[family.key] = robustness.degradation_curve(mine, family.name)
    return result


def summaries(curve_set: dict[str, list[dict[str, Any]]], env_id: str) -> dict[str, dict[str, Any]]:
    return {f.key: robustness.summary(curve_set[f.key], f) for f in robustness.families_for(env_id)}


def family_table(env_ids: tuple[str, ...], budget: RobustnessBudget) -> list[dict[str, Any]]:
    """The families as the chapter states them: unit, severities measured, tasks."""
    return [{"family": f.name, "unit": f.unit, "axis": "log(1 + s)" if f.log_axis else "s",
             "severities": list(robustness.grid(f, budget.severities)),
             "tasks": [e for e in env_ids if e in f.tasks]} for f in robustness.FAMILIES]


def halving_text(summary_set: dict[str, dict[str, Any]], env_id: str) -> str:
    """The families under which a curve halves within its grid, each with its half-success severity."""
    halves = [(f, summary_set[f.key]["half_success_severity"]) for f in robustness.families_for(env_id)]
    named = [f"{f.name} (at {h:.3g}, {f.unit})" for f, h in halves if h is not None]
    return "; ".join(named) if named else "none of the families"
