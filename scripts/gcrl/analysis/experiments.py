"""Grids of training runs: summarise them, compare two methods on them.

A chapter's experiment is a grid of (environment, seed) runs, trained by
:func:`gcrl.analysis.sweep.train_plan`. This module reduces it to one
summary row per run and one pooled success rate per environment, and compares
two methods' learning curves at the env steps both evaluated, which is how the
course measures sample efficiency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gcrl.rl.envs import task_name
from gcrl.rl.evaluate import newcombe_interval, pooled
from gcrl.rl.run_folder import Curve, LearnerConfig, RunResult

Grid = dict[tuple[str, int], RunResult]


def grid_plan(make_config: Callable[[str, int], LearnerConfig], env_ids: Iterable[str],
              seeds: Iterable[int]) -> dict[tuple[str, int], LearnerConfig]:
    """Every (environment, seed) of a grid with its config, for :func:`gcrl.analysis.sweep.train_plan`."""
    return {(env_id, seed): make_config(env_id, seed) for env_id in env_ids for seed in seeds}


def grid_folder(key: tuple[str, int]) -> str:
    """The run folder of one (environment, seed) of a grid."""
    return f"{key[0]}-seed{key[1]}"


def summary_rows(grid: Grid) -> list[dict[str, Any]]:
    """One row per run: final success with its interval, steps, time, throughput and evaluation seeds."""
    return [
        {"env_id": env_id, "seed": seed, **result.metrics["final"],
         "env_steps": result.metrics["env_steps"], "train_time_s": result.metrics["train_time_s"],
         "env_steps_per_s": result.metrics["env_steps_per_s"],
         "best_success_rate": result.metrics["best_success_rate"],
         "eval_seeds": result.metrics["eval_seeds"]}
        for (env_id, seed), result in grid.items()
    ]


def pooled_by_env(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each environment's final successes pooled over its seeds."""
    return {env_id: pooled([r for r in rows if r["env_id"] == env_id]) for env_id in dict.fromkeys(r["env_id"] for r in rows)}


def runs_table(rows: list[dict[str, Any]]):
    """The summary rows as the book prints them: one line per (task, seed), success with its interval."""
    import pandas as pd

    table = pd.DataFrame(rows)
    table["task"] = table.env_id.map(task_name)
    table["95% CI"] = [f"[{lo:.2f}, {hi:.2f}]" for lo, hi in zip(table.ci95_low, table.ci95_high)]
    table = table.set_index(["task", "seed"]).rename(columns={
        "episodes": "n", "successes": "k", "success_rate": "p̂", "mean_final_distance": "final d (m)",
        "env_steps": "env steps", "env_steps_per_s": "steps/s"})
    return table[["env steps", "n", "k", "p̂", "95% CI", "final d (m)", "steps/s"]].round(3)


def pooled_text(p: dict[str, Any]) -> str:
    """A pooled success rate as the prose states it: rate, 95% interval, successes, episodes and seeds."""
    return (f"{p['success_rate']:.1%} (95% CI [{p['ci95_low']:.1%}, {p['ci95_high']:.1%}], "
            f"{p['successes']}/{p['episodes']} episodes over {p['runs']} seed(s))")


def against_floor(p: dict[str, Any], floor: dict[str, Any]) -> str:
    """Where a pooled success rate stands against a floor (a Chapter 1 baseline row): by the 95% interval of their
    difference (Newcombe's hybrid score interval, :func:`gcrl.rl.evaluate.newcombe_interval`).

    *Above* (*below*) when that interval lies entirely above (below) zero; otherwise the two are not
    distinguishable at this sample size. Comparing the two rates' own intervals for overlap would be a stricter
    rule than a test of the difference (9/90 and 6/200 overlap, yet their difference's interval excludes zero).
    The episodes of ``p`` are pooled over its seeds as if independent, which the verdict's wording says.
    """
    low, high = newcombe_interval(p["successes"], p["episodes"], floor["successes"], floor["episodes"])
    seeds = f", {p['runs']} seeds' episodes pooled" if p.get("runs", 1) > 1 else ""
    where = "above" if low > 0 else "below" if high < 0 else "not distinguishable from"
    return f"{where} the random-policy floor (difference's 95% interval [{low:+.2f}, {high:+.2f}]{seeds})"


def pooled_curve(curves: list[Curve]) -> list[dict[str, Any]]:
    """The success rate pooled over seeds at every env step that all seeds evaluated."""
    steps = sorted(set.intersection(*(set(row["env_steps"] for row in curve) for curve in curves)))
    return [{"env_steps": step, **pooled([row for curve in curves for row in curve if row["env_steps"] == step])}
            for step in steps]


def steps_to_threshold(curve: list[dict[str, Any]], threshold: float) -> int | None:
    """The first evaluated env step at which the pooled success rate reaches ``threshold``; ``None`` if none does."""
    return next((row["env_steps"] for row in curve if row["success_rate"] >= threshold), None)


def success_at(curve: list[dict[str, Any]], env_steps: int) -> dict[str, Any] | None:
    """The pooled evaluation at the first evaluated step at or after ``env_steps``; ``None`` past the curve's end."""
    return next((row for row in curve if row["env_steps"] >= env_steps), None)


def compare_sample_efficiency(ours: list[Curve], theirs: list[Curve], threshold: float) -> dict[str, Any]:
    """Two methods on one task: env steps to ``threshold``, and each one's success at our budget.

    ``theirs`` is read at its first evaluation at or after our last one, so when
    the evaluation grids differ the comparison can only favour the peer.
    """
    ours_pooled, theirs_pooled = pooled_curve(ours), pooled_curve(theirs)
    budget = ours_pooled[-1]["env_steps"]
    ours_steps, theirs_steps = steps_to_threshold(ours_pooled, threshold), steps_to_threshold(theirs_pooled, threshold)
    return {
        "threshold": threshold,
        "budget_env_steps": budget,
        "ours_steps_to_threshold": ours_steps,
        "theirs_steps_to_threshold": theirs_steps,
        "steps_ratio": None if ours_steps is None or theirs_steps is None else theirs_steps / ours_steps,
        "ours_at_budget": ours_pooled[-1],
        "theirs_at_budget": success_at(theirs_pooled, budget),
    }


def final_outcomes(curves: list[Curve]) -> list[str]:
    """Each run's episode outcomes at its last evaluation (one string per seed), as :func:`pooled_difference` reads them."""
    return [curve[-1]["outcomes"] for curve in curves]


def pooled_difference(a: list[str], b: list[str], reps: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """The difference of two pooled success rates, with a 95% interval that resamples as the episodes were pooled.

    ``a`` and ``b`` hold one string of episode outcomes per training seed (the
    ``outcomes`` of :class:`gcrl.rl.evaluate.Evaluation`). Each bootstrap
    replicate draws, for each arm independently, its seeds with replacement and
    then episodes with replacement within each drawn seed (a two-stage, or
    cluster, bootstrap; Davison and Hinkley 1997, §3.8), so that the interval
    carries the variation between training seeds as well as between episodes;
    the percentile interval of the replicated differences is returned. With one
    seed per arm it reduces to the episode bootstrap, which cannot see the
    variation between seeds: the record keeps the number of seeds beside it.
    """
    import numpy as np

    if not a or not b or any(not s or set(s) - {"0", "1"} for s in (*a, *b)):
        raise ValueError("each arm needs at least one run, and each run a non-empty string of 0/1 outcomes")
    rng = np.random.default_rng(seed)

    def replicates(runs: list[str]) -> np.ndarray:
        outcomes = [np.frombuffer(r.encode(), dtype=np.uint8) - ord("0") for r in runs]
        totals = np.zeros(reps)
        counts = np.zeros(reps)
        for draw in rng.integers(0, len(runs), size=(reps, len(runs))).T:  # one drawn seed per replicate and slot
            for run in np.unique(draw):
                chosen = draw == run
                episodes = outcomes[run]
                hits = rng.binomial(len(episodes), episodes.mean(), size=int(chosen.sum()))  # episodes resampled
                totals[chosen] += hits
                counts[chosen] += len(episodes)
        return totals / counts

    return _difference_record(a, b, replicates(a) - replicates(b), "two-stage bootstrap: seeds, then episodes within seeds")


def _difference_record(a: list[str], b: list[str], differences: Any, method: str) -> dict[str, Any]:
    """The pooled difference of ``a`` and ``b`` with the 95% percentile interval of its bootstrap replicates."""
    import numpy as np

    low, high = np.quantile(differences, [0.025, 0.975])
    pooled_a = sum(r.count("1") for r in a) / sum(map(len, a))
    pooled_b = sum(r.count("1") for r in b) / sum(map(len, b))
    return {"difference": pooled_a - pooled_b, "ci95_low": float(low), "ci95_high": float(high),
            "seeds": [len(a), len(b)], "episodes": [sum(map(len, a)), sum(map(len, b))], "reps": len(differences),
            "method": method}


def paired_pooled_difference(a: list[str], b: list[str], reps: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """As :func:`pooled_difference`, for two arms whose runs are paired: ``a[i]`` and ``b[i]`` are the same
    training seed's runs in the two arms, evaluated on the same episodes (the same reset seeds, in order).

    Each replicate draws seeds with replacement as pairs, then episode indices with replacement within each
    drawn seed, shared by both arms, and takes the difference of the pooled rates. Resampling the arms
    independently would treat the shared seeds and episodes as if they were not shared: when the arms agree on
    most episodes (both solve the easy ones), that unpaired interval is wider than the paired one, a test that
    then finds no difference where there is one.
    """
    import numpy as np

    if not a or len(a) != len(b) or any(len(x) != len(y) or not x for x, y in zip(a, b)) \
            or any(set(s) - {"0", "1"} for s in (*a, *b)):
        raise ValueError("paired arms need the same number of runs, each pair a non-empty 0/1 string of one length")
    rng = np.random.default_rng(seed)
    arms = [[np.frombuffer(r.encode(), dtype=np.uint8) - ord("0") for r in arm] for arm in (a, b)]
    differences = np.empty(reps)
    for rep in range(reps):
        hits, count = np.zeros(2), 0
        for run in rng.integers(0, len(a), size=len(a)):  # seeds drawn as pairs
            episodes = rng.integers(0, len(arms[0][run]), size=len(arms[0][run]))  # the same episodes for both arms
            hits += [arms[0][run][episodes].sum(), arms[1][run][episodes].sum()]
            count += len(episodes)
        differences[rep] = (hits[0] - hits[1]) / count
    return _difference_record(a, b, differences, "paired two-stage bootstrap: seeds as pairs, then episodes shared "
                                                 "by both arms")
