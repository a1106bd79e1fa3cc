"""Chapter 6: the stability question.

The chapter's runs are one sweep file per profile (``gcrl/sweeps/ch06-*.yml``):
a *comparison* group (SAC+HER, the same code without relabelling, PPO) and a
*sensitivity* group (SAC+HER's recipe, one parameter changed at a time). This
module turns the sweep's results into rliable's aggregates and the chapter's
tables: score matrices, the spread of three-seed means, the sources of
variation, the sensitivity verdicts and the determinism check's run.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from gcrl import stability
from gcrl.envs import task_name
from gcrl.profiles import StabilityBudget
from gcrl.sac_her import SacHerConfig
from gcrl.sweep import SweepOutcome, SweepSpec

COMPARISON, SENSITIVITY = "comparison", "sensitivity"
RECIPE = "SAC+HER"
NO_HER, PPO = "SAC, no HER", "PPO"
PAIRS: tuple[tuple[str, str], ...] = ((RECIPE, NO_HER), (RECIPE, PPO), (NO_HER, PPO))
#: Thresholds of the performance profiles: success rates from 0 to 1 in steps of 0.05.
TAUS = tuple(round(0.05 * i, 2) for i in range(21))
#: A variant whose score falls by more than this fraction of the recipe's, significantly, is knife-edge.
KNIFE_EDGE_DROP = 0.5


def sweep_spec(budget: StabilityBudget) -> SweepSpec:
    return SweepSpec.from_file(budget.sweep)


def curve_area(result: Any) -> float:
    """Mean success over a run's evaluations: the normalised area under its learning curve."""
    return float(np.mean([row["success_rate"] for row in result.curve]))


def subset_means(matrix: np.ndarray, size: int = 3) -> list[float]:
    """The mean score of every subset of ``size`` runs: what a three-seed paper could have reported."""
    rows = range(matrix.shape[0])
    return sorted(float(matrix[list(subset)].mean()) for subset in itertools.combinations(rows, min(size, len(rows))))


def variation_sources(recipe: list[Any], configurations: dict[str, list[Any]]) -> dict[str, dict[str, float]]:
    """Standard deviations of a score from three sources, for final success and the curve's area.

    - *episodes*: the sampling error of one run's estimate from its finite
      evaluation episodes (binomial), averaged over the recipe's runs;
    - *seeds*: the spread of the recipe's runs across training seeds;
    - *hyperparameters*: the spread across the sensitivity configurations of
      their mean score over seeds.
    """
    def binomial_sd(rows: list[dict[str, Any]]) -> float:
        return float(np.sqrt(sum(r["success_rate"] * (1 - r["success_rate"]) / r["episodes"] for r in rows)) / len(rows))

    finals = np.array([r.metrics["final"]["success_rate"] for r in recipe])
    areas = np.array([curve_area(r) for r in recipe])
    config_finals = [np.mean([r.metrics["final"]["success_rate"] for r in runs]) for runs in configurations.values()]
    config_areas = [np.mean([curve_area(r) for r in runs]) for runs in configurations.values()]
    return {
        "evaluation episodes": {"final": float(np.mean([binomial_sd([r.curve[-1]]) for r in recipe])),
                                "area": float(np.mean([binomial_sd(r.curve) for r in recipe]))},
        "training seeds": {"final": float(finals.std(ddof=1)), "area": float(areas.std(ddof=1))},
        "hyperparameters": {"final": float(np.std(config_finals, ddof=1)), "area": float(np.std(config_areas, ddof=1))},
    }


def sensitivity(outcome: SweepOutcome, reps: int, seed: int) -> dict[str, Any]:
    """Each configuration's IQM (area and final success) and its comparison with the recipe, and a verdict per parameter.

    A variant is *worse* when the probability that a recipe run beats a
    variant run has a 95% interval above 1/2, *better* when below. A parameter
    is *stable* over the tried values when none is worse, *knife-edge* when some
    value is worse by more than ``KNIFE_EDGE_DROP`` of the recipe's IQM area,
    and *sensitive* otherwise.
    """
    by_label = outcome.group(SENSITIVITY)
    (env_id,) = {e for per_task in by_label.values() for e in per_task}
    _, areas = stability.score_matrices(by_label, curve_area)
    _, finals = stability.score_matrices(by_label)
    area_estimates = stability.interval_estimates(areas, reps, seed)
    final_estimates = stability.interval_estimates(finals, reps, seed)
    variants = [label for label in by_label if label != RECIPE]
    improvement = stability.probability_of_improvement(areas, [(RECIPE, v) for v in variants], reps, seed)
    recipe_iqm = area_estimates[RECIPE]["IQM"]["estimate"]
    configurations = {}
    for label in by_label:
        parameter, _, value = label.partition("=")
        row = {"parameter": parameter if value else None, "value": value or None,
               "area": area_estimates[label], "final": final_estimates[label]}
        if label != RECIPE:
            p = improvement[stability.pair_key(RECIPE, label)]
            row["p_recipe_better"] = p
            drop = recipe_iqm - area_estimates[label]["IQM"]["estimate"]
            row["effect"] = ("worse" if p["ci95"][0] > 0.5 else "better" if p["ci95"][1] < 0.5 else "within noise")
            row["iqm_area_drop"] = drop
        configurations[label] = row
    verdicts = {}
    for parameter in dict.fromkeys(r["parameter"] for r in configurations.values() if r["parameter"]):
        rows = [r for r in configurations.values() if r["parameter"] == parameter]
        worse = [r for r in rows if r["effect"] == "worse"]
        verdicts[parameter] = ("stable" if not worse else
                               "knife-edge" if max(r["iqm_area_drop"] for r in worse) > KNIFE_EDGE_DROP * recipe_iqm
                               else "sensitive")
    return {"env_id": env_id, "task": task_name(env_id), "recipe": by_label[RECIPE][env_id][0].config.as_dict(),
            "configurations": configurations, "verdicts": verdicts,
            "variation": variation_sources(by_label[RECIPE][env_id],
                                           {label: per_task[env_id] for label, per_task in by_label.items()})}


def determinism_config(budget: StabilityBudget) -> SacHerConfig:
    """A short run of the Reach recipe, evaluated and checkpointed once, at its end."""
    steps = budget.determinism_env_steps
    return SacHerConfig.from_recipe("FetchReach-v4", total_steps=steps, learning_starts=min(1_000, steps // 2 // 50 * 50),
                                    eval_every=steps, eval_episodes=10, checkpoint_every=steps)
