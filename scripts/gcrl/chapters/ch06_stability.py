"""Chapter 6: the stability question.

The chapter's runs are one sweep file per profile (``gcrl/sweeps/ch06-*.yml``):
a *comparison* group (SAC+HER, the same code without relabelling, PPO) and a
*sensitivity* group (SAC+HER's recipe, one parameter changed at a time). This
module turns the sweep's results into rliable's aggregates and the chapter's
tables: score matrices, the spread of three-seed means, the sources of
variation, the sensitivity verdicts and the determinism check's run.
"""

from __future__ import annotations

import inspect
import itertools
from pathlib import Path
from typing import Any

import numpy as np

from gcrl.analysis import scheduler, stability, sweep
from gcrl.analysis.sweep import SweepOutcome, SweepSpec
from gcrl.core.provenance import RunRecord
from gcrl.course import profiles
from gcrl.course.profiles import StabilityBudget
from gcrl.rl.envs import task_name
from gcrl.rl.learners import make_config
from gcrl.rl.run_folder import LearnerConfig

COMPARISON, SENSITIVITY = "comparison", "sensitivity"
RECIPE = "SAC+HER"
NO_HER, PPO = "SAC, no HER", "PPO"
PAIRS: tuple[tuple[str, str], ...] = ((RECIPE, NO_HER), (RECIPE, PPO), (NO_HER, PPO))
#: Thresholds of the performance profiles: success rates from 0 to 1 in steps of 0.05.
TAUS = tuple(round(0.05 * i, 2) for i in range(21))
#: The verdict on a parameter none of whose tried values changed the score detectably.
NOT_SHOWN = "not shown sensitive"
#: A variant whose score falls by more than this fraction of the recipe's, significantly, is knife-edge.
KNIFE_EDGE_DROP = 0.5
#: How the prose names the parameters the sensitivity study varies.
PARAMETER_NAMES = {"learning_rate": "learning rate", "batch_size": "batch size", "n_sampled_goal": "k"}


def sweep_spec(budget: StabilityBudget) -> SweepSpec:
    """The chapter's sweep, as the profile's budget defines it."""
    return SweepSpec.from_dict(budget.sweep, where=f"gcrl.course.profiles: ch06 sweep {budget.sweep['name']}")


def train_sweep(spec: SweepSpec, runs_folder: Path, run: RunRecord, seed: int) -> SweepOutcome:
    """The chapter's sweep on the seeds ``seed, seed + 1, ...``: the trials complete in ``runs_folder`` read back,
    the others trained (:func:`gcrl.analysis.sweep.run_sweep`, on Ray)."""
    return sweep.run_sweep(spec, runs_folder, run, seed_offset=seed)


def completion_rule() -> str:
    """The source of the rule by which a trial, like every run of the course, counts as complete (§3.1 prints it)."""
    return inspect.getsource(scheduler.completed)


def curve_area(result: Any) -> float:
    """Mean success over a run's evaluations: the normalised area under its learning curve."""
    return float(np.mean([row["success_rate"] for row in result.curve]))


def subset_means(matrix: np.ndarray, size: int = 3) -> list[float]:
    """The mean score of every subset of ``size`` runs: what a three-seed paper could have reported."""
    rows = range(matrix.shape[0])
    return sorted(float(matrix[list(subset)].mean()) for subset in itertools.combinations(rows, min(size, len(rows))))


def episode_scores(result: Any, score: str) -> np.ndarray:
    """One run's score per evaluation episode: the final outcome (``final``) or its mean over the curve (``area``).

    Every evaluation uses the same episode seeds in the same order, so the
    entries line up across the evaluations of a run and across runs.
    """
    outcomes = np.array([[int(c) for c in row["outcomes"]] for row in result.curve], dtype=float)
    return outcomes[-1] if score == "final" else outcomes.mean(axis=0)


def crossed_variance(matrix: np.ndarray) -> dict[str, float]:
    """Variance components of a runs x episodes table in which every run is scored on the same episodes.

    The model is S[n, e] = mu + a_n + b_e + eps[n, e]: a run effect a_n (the
    training seed), an episode effect b_e shared by every run (a hard goal is
    hard for all), and an interaction eps. A run's score is its row mean, so
    across runs Var(row mean) = Var(a) + Var(eps) / E: the shared episode effect
    cancels, and only the interaction inflates the spread. The residual mean
    square of the two-way table estimates Var(eps) (method of moments), which
    gives the seed variance by the law of total variance,
    Var(a) = Var(row mean) - Var(eps) / E, floored at 0. ``episode_se`` is the
    standard error of one run's score from its E episodes, averaged over runs: its error against fresh
    episodes, which contains the episode effect b as well. ``interaction_se`` = sqrt(Var(eps) / E) is the part
    of the evaluation noise that does not cancel between runs scored on the same episodes: the only part that
    widens a comparison of runs, and the only part more episodes per run would shrink there.
    """
    runs, episodes = matrix.shape
    row, column, grand = matrix.mean(axis=1), matrix.mean(axis=0), matrix.mean()
    residual = matrix - row[:, None] - column[None, :] + grand
    interaction = float((residual**2).sum() / ((runs - 1) * (episodes - 1)))
    raw = float(row.var(ddof=1))
    return {"raw_run_variance": raw, "interaction_variance": interaction,
            "seed_variance": max(0.0, raw - interaction / episodes),
            "episode_se": float(np.sqrt(np.mean(matrix.var(axis=1, ddof=1) / episodes))),
            "interaction_se": float(np.sqrt(interaction / episodes))}


def variation_sources(recipe: list[Any], configurations: dict[str, list[Any]]) -> dict[str, dict[str, float]]:
    """Standard deviations of a score from three sources, for final success and the curve's area.

    - *evaluation episodes*: the standard error of one run's score from its
      finite evaluation episodes, computed from the episodes themselves (the
      evaluations of one run share their episodes, so they are not independent);
    - *evaluation episodes, not shared*: the part of that noise which does not cancel between runs scored on
      the same episodes (:func:`crossed_variance`'s ``interaction_se``), the part that widens the comparisons;
    - *training seeds*: the spread of the recipe's runs across seeds, as
      observed and corrected for the evaluation noise it contains
      (:func:`crossed_variance`);
    - *hyperparameters*: the spread across the sensitivity configurations of
      their mean score over seeds, as observed and corrected for the seed and
      episode noise of each configuration's mean (its run variance over N).
    """
    result = {"evaluation episodes": {}, "evaluation episodes, not shared": {}, "training seeds (observed)": {},
              "training seeds": {},
              "hyperparameters (observed)": {}, "hyperparameters": {}}
    for score in ("final", "area"):
        components = crossed_variance(np.array([episode_scores(r, score) for r in recipe]))
        means = [np.mean([episode_scores(r, score).mean() for r in runs]) for runs in configurations.values()]
        within = [np.var([episode_scores(r, score).mean() for r in runs], ddof=1) / len(runs)
                  for runs in configurations.values()]
        between = float(np.var(means, ddof=1))
        result["evaluation episodes"][score] = components["episode_se"]
        result["evaluation episodes, not shared"][score] = components["interaction_se"]
        result["training seeds (observed)"][score] = float(np.sqrt(components["raw_run_variance"]))
        result["training seeds"][score] = float(np.sqrt(components["seed_variance"]))
        result["hyperparameters (observed)"][score] = float(np.sqrt(between))
        result["hyperparameters"][score] = float(np.sqrt(max(0.0, between - float(np.mean(within)))))
    return result


def sensitivity(outcome: SweepOutcome, reps: int, seed: int) -> dict[str, Any]:
    """Each configuration's IQM (area and final success) and its comparison with the recipe, and a verdict per parameter.

    A variant is *worse* when the probability that a recipe run beats a
    variant run has a 95% interval above 1/2, *better* when below. A parameter
    is *not shown sensitive* over the tried values when every one is within noise of the recipe (neither worse
    nor better: no change was detected, which with a handful of runs per value does not show that the change
    was small, so the verdict does not call it stable), *knife-edge* when some value is worse by more than
    ``KNIFE_EDGE_DROP`` of the recipe's IQM area, and *sensitive* otherwise.
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
        differ = [r for r in rows if r["effect"] != "within noise"]
        knife = worse and max(r["iqm_area_drop"] for r in worse) > KNIFE_EDGE_DROP * recipe_iqm
        verdicts[parameter] = "knife-edge" if knife else "sensitive" if differ else NOT_SHOWN
    return {"env_id": env_id, "task": task_name(env_id), "recipe": by_label[RECIPE][env_id][0].config.as_dict(),
            "configurations": configurations, "verdicts": verdicts,
            "variation": variation_sources(by_label[RECIPE][env_id],
                                           {label: per_task[env_id] for label, per_task in by_label.items()})}


def determinism_config(budget: StabilityBudget) -> LearnerConfig:
    """A short run of the Reach recipe, evaluated and checkpointed once, at its end."""
    steps = budget.determinism_env_steps
    warmup = {} if budget.determinism_learning_starts is None else {"learning_starts": budget.determinism_learning_starts}
    return make_config("sac+her", "FetchReach-v4", total_steps=steps, eval_every=steps, eval_episodes=10,
                       checkpoint_every=steps, **warmup)


def plan_text(spec: SweepSpec, trials: list[Any]) -> dict[str, str]:
    """The sentences of §2 that describe the sweep, computed from it: PPO's budget, what the sensitivity
    study shares with the comparison, how far each parameter is varied, and what the full profile adds."""
    comparison = [t for t in trials if t.group == COMPARISON]
    steps = {(t.label, t.env_id): t.build().total_steps for t in comparison}
    ratios = {e: steps[(PPO, e)] / steps[(RECIPE, e)] for (label, e) in steps if label == PPO}
    if all(r == 1 for r in ratios.values()):
        ppo = ("the same budget, which under this profile proves the mechanics only: at it PPO makes a handful of "
               "updates")
    else:
        ppo = ("; ".join(f"{steps[(PPO, e)]:,} environment steps on {task_name(e)}, {r:g} times SAC's "
                         f"{steps[(RECIPE, e)]:,}" for e, r in ratios.items())
               + ". At SAC's budget PPO would make a handful of updates (Chapter 3 counts its gradient steps per "
                 "environment step), and the comparison would be decided before the run; with the larger budget "
                 "the question is whether an on-policy learner given many more samples catches up with hindsight "
                 "relabelling")
    sensitivity = [t for t in trials if t.group == SENSITIVITY]
    recipe = next(t for t in sensitivity if t.label == RECIPE)
    if recipe.folder_name in {t.folder_name for t in comparison}:
        shared = "its unvaried configuration is the comparison's SAC+HER, trained once and shared"
    else:
        shared = (f"its unvaried configuration is SAC+HER's recipe on {task_name(recipe.env_id)} at "
                  f"{recipe.build().total_steps:,} environment steps, trained for this study")
    base = recipe.build().as_dict()
    varied: dict[str, list[Any]] = {}
    for t in sensitivity:
        if t.label != RECIPE:
            parameter, _, _ = t.label.partition("=")
            varied.setdefault(parameter, []).append(t.build().as_dict()[parameter])
    def span(p: str, values: list[Any]) -> str:
        ratios = sorted({f"×{v / base[p]:.2g}" for v in values}, key=lambda r: float(r[1:]))
        return (f"{PARAMETER_NAMES.get(p, p)} from {base[p]:g} to " + " and ".join(f"{v:g}" for v in dict.fromkeys(values))
                + f" ({' and '.join(ratios)})")

    factors = "; ".join(span(p, vs) for p, vs in varied.items())
    full = sweep_spec(profiles.budget("ch06", "full"))
    full_trials = full.trials()
    full_tasks = sorted({t.env_id for t in full_trials if t.group == COMPARISON})
    full_sensitivity = {t.env_id for t in full_trials if t.group == SENSITIVITY}
    scope = (f"This profile's sweep runs on {', '.join(sorted({task_name(t.env_id) for t in trials}))} with "
             f"{len(spec.seeds)} seeds. The full profile's sweep (`{full.name}`) compares the methods on "
             f"{' and '.join(task_name(e) for e in full_tasks)} with {len(full.seeds)} seeds and runs its "
             f"sensitivity study on {', '.join(task_name(e) for e in sorted(full_sensitivity))}, where a CPU "
             "budget does not reach.")
    return {"ppo_budget": ppo, "shared": shared, "factors": factors, "scope": scope}


def order_text(improvement: dict[str, Any]) -> str:
    """The verdict of a probability of improvement: an interval that excludes 1/2 orders the pair."""
    low, high = improvement["ci95"]
    x, y = improvement["x"], improvement["y"]
    if low > 0.5:
        return f"so a run of {x} beats a run of {y} more often than the reverse (ties counted half)"
    if high < 0.5:
        return f"so a run of {y} beats a run of {x} more often than the reverse (ties counted half)"
    return "an interval that contains 0.5, so these runs do not order the pair"


def three_seed_text(three_seed: dict[str, list[float]]) -> str:
    """What the table of three-run means shows, or why it cannot show anything with so few runs."""
    subsets = min(len(means) for means in three_seed.values())
    if subsets < 2:
        return ("With this few runs per algorithm there is only one subset of three, so the table cannot show how "
                "far two three-seed studies could disagree.")
    widest = max(three_seed, key=lambda label: max(three_seed[label]) - min(three_seed[label]))
    spread = max(three_seed[widest]) - min(three_seed[widest])
    flat = [label for label, means in three_seed.items() if max(means) == min(means)]
    text = (f"The widest gap between two three-seed means of the same algorithm is {spread:.2f} in success rate "
            f"({widest}).")
    if flat:
        text += (f" For {', '.join(flat)} every subset has the same mean: every run scored the same, the case in "
                 "which the bootstrap intervals above collapse to a point.")
    return text


def variation_text(variation: dict[str, dict[str, float]]) -> str:
    """The reading of the variation table, for the sensitivity study's score (the area under the curve)."""
    episodes, seeds = variation["evaluation episodes, not shared"]["area"], variation["training seeds"]["area"]
    hyper = variation["hyperparameters"]["area"]
    if episodes == 0 and seeds == 0:
        return ("Neither the episodes nor the seeds spread the recipe's area here: every run scored the same on "
                "every episode.")
    if seeds >= 2 * episodes:
        text = (f"The spread across seeds is {seeds / max(episodes, 1e-12):.1f} times the part of a run's evaluation "
                "noise that does not cancel between runs scored on the same episodes, so more evaluation episodes "
                "per run would barely narrow the sensitivity study's intervals; more seeds would.")
    else:
        text = (f"The part of a run's evaluation noise that does not cancel between runs scored on the same "
                f"episodes is comparable to or larger than the spread across seeds (their ratio is "
                f"{seeds / max(episodes, 1e-12):.2f}), so more evaluation episodes per run would narrow the "
                "sensitivity study's intervals at least as much as more seeds.")
    if seeds > 0:
        text += (f" Within the tried range, the choice of a hyperparameter moves the area {hyper / seeds:.1f} times "
                 "as much as the choice of a seed.")
    else:
        text += " Corrected for evaluation noise, no spread across seeds remains to compare the hyperparameters with."
    return text
