"""rliable aggregates against hand computations, their errors, and Chapter 6's verdicts on planted results."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import stats

from gcrl.analysis import stability
from gcrl.chapters import ch06_stability as ch06
from gcrl.core.errors import CourseError
from gcrl.analysis.sweep import SweepOutcome, SweepSpec

RNG = np.random.default_rng(7)
SCORES = {"a": RNG.uniform(0.5, 1.0, size=(10, 2)), "b": RNG.uniform(0.0, 0.6, size=(10, 2))}


def test_aggregates_equal_direct_computations_and_intervals_contain_them():
    estimates = stability.interval_estimates(SCORES, reps=500)
    for name, matrix in SCORES.items():
        assert estimates[name]["IQM"]["estimate"] == pytest.approx(stats.trim_mean(matrix.ravel(), 0.25))
        assert estimates[name]["Mean"]["estimate"] == pytest.approx(matrix.mean())
        # rliable's median is over tasks, of each task's mean score
        assert estimates[name]["Median"]["estimate"] == pytest.approx(np.median(matrix.mean(axis=0)))
        assert estimates[name]["Optimality gap"]["estimate"] == pytest.approx(np.mean(1 - matrix))
        for e in estimates[name].values():
            assert e["ci95"][0] <= e["estimate"] <= e["ci95"][1] and e["ci95"][0] < e["ci95"][1]


def test_the_bootstrap_is_seeded():
    assert stability.interval_estimates(SCORES, reps=300) == stability.interval_estimates(SCORES, reps=300)
    assert stability.interval_estimates(SCORES, reps=300, seed=1) != stability.interval_estimates(SCORES, reps=300)


def test_the_bootstrap_is_stratified_by_task():
    """Task 0 scores 0 and task 1 scores 1 on every run: a stratified replicate always has the same mean."""
    scores = {"a": np.array([[0.0, 1.0]] * 6)}
    mean = stability.interval_estimates(scores, reps=200)["a"]["Mean"]
    assert mean["estimate"] == 0.5 and mean["ci95"] == [0.5, 0.5]


@pytest.mark.parametrize("scores, message", [
    ({}, "no scores"),
    ({"a": np.array([0.5, 0.6])}, "(runs x tasks) matrix"),
    ({"a": np.array([[1.5]])}, "success rates in [0, 1]"),
    ({"a": np.array([[np.nan]])}, "success rates in [0, 1]"),
    ({"a": np.ones((3, 1)), "b": np.ones((3, 2))}, "the same tasks"),
])
def test_bad_score_matrices_are_refused(scores, message):
    with pytest.raises(CourseError) as error:
        stability.interval_estimates(scores, reps=10)
    assert message in str(error.value)


def test_probability_of_improvement_counts_wins_and_half_ties():
    scores = {"x": np.array([[1.0], [0.0]]), "y": np.array([[0.5], [0.5]]), "z": np.array([[0.2], [0.3]])}
    result = stability.probability_of_improvement(scores, [("x", "y"), ("y", "z"), ("y", "y")], reps=200)
    assert result["x > y"]["estimate"] == pytest.approx(0.5)  # wins 2 of 4 pairs, loses 2
    assert result["y > z"]["estimate"] == 1.0 and result["y > z"]["ci95"] == [1.0, 1.0]
    assert result["y > y"]["estimate"] == 0.5
    with pytest.raises(CourseError, match="no scores for"):
        stability.probability_of_improvement(scores, [("x", "w")], reps=10)


def test_performance_profiles_are_the_fraction_of_runs_above_each_threshold():
    scores = {"a": np.array([[0.1, 0.9], [0.5, 0.5]])}
    profile = stability.performance_profiles(scores, [0.0, 0.5, 0.8, 1.0], reps=100)["a"]
    assert profile["fraction"] == [1.0, 0.25, 0.25, 0.0]
    assert all(lo <= f <= hi for lo, f, hi in zip(profile["ci95_low"], profile["fraction"], profile["ci95_high"]))


def test_sample_efficiency_is_the_iqm_at_every_shared_step():
    runs = [[{"env_steps": s, "success_rate": v} for s, v in zip((10, 20, 30), values)]
            for values in ((0.0, 0.2, 1.0), (0.0, 0.4, 1.0), (0.1, 0.6, 0.9), (0.0, 0.8, 1.0))]
    runs[0] = runs[0][:2]  # a run that stopped early: only steps all runs share are aggregated
    curve = stability.sample_efficiency({"a": runs}, reps=200)["a"]
    assert curve["env_steps"] == [10, 20]
    assert curve["iqm"] == pytest.approx([stats.trim_mean([0, 0, 0.1, 0], 0.25), stats.trim_mean([0.2, 0.4, 0.6, 0.8], 0.25)])
    with pytest.raises(CourseError, match="share no evaluated env step"):
        stability.sample_efficiency({"a": [[{"env_steps": 1, "success_rate": 0}], [{"env_steps": 2, "success_rate": 0}]]})


def test_parameter_digest_sees_one_bit():
    weights = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.zeros(3)}
    digest = stability.parameter_digest(weights)
    assert digest == stability.parameter_digest({k: v.clone() for k, v in weights.items()})
    flipped = weights["w"].clone()
    flipped.view(torch.int32)[0, 1] ^= 1  # the lowest bit of one float
    assert stability.parameter_digest({**weights, "w": flipped}) != digest


def test_a_determinism_check_needs_a_repeated_setting_first():
    with pytest.raises(CourseError, match="same thread count first"):
        stability.determinism_check(None, "/nonexistent", threads=(1, 2))


def test_three_seed_means_list_every_subset():
    means = ch06.subset_means(np.array([[0.0], [1.0], [1.0], [1.0], [0.0]]))
    assert len(means) == 10 and means[0] == pytest.approx(1 / 3) and means[-1] == 1.0


def planted_outcome(areas: dict[str, list[float]]) -> SweepOutcome:
    """A sensitivity sweep whose runs have constant learning curves at the given levels."""
    spec = SweepSpec.from_dict({"name": "planted", "seeds": len(areas["SAC+HER"]), "groups": [
        {"name": "sensitivity", "label": "SAC+HER", "algo": "sac+her", "env_id": "FetchReach-v4",
         "config": {"total_steps": 100, "learning_starts": 50},
         "vary": {"learning_rate": [0.01], "batch_size": [64], "n_sampled_goal": [8]}}]})
    results = {}
    for trial in spec.trials():
        level = areas[trial.label][trial.seed]
        successes = round(level * 50)
        outcomes = "1" * successes + "0" * (50 - successes)  # the first episodes are the easy ones, for every run
        curve = [{"env_steps": s, "success_rate": level, "episodes": 50, "outcomes": outcomes} for s in (50, 100)]
        results[trial.folder_name] = SimpleNamespace(curve=curve, metrics={"final": {"success_rate": level}},
                                                     config=trial.build())
    return SweepOutcome(spec.trials(), results, [], list(results), "planted")


def test_sensitivity_verdicts_follow_the_stated_rule():
    outcome = planted_outcome({"SAC+HER": [0.9, 0.92, 0.88, 0.9, 0.94], "learning_rate=0.01": [0.1, 0.0, 0.2, 0.1, 0.05],
                               "batch_size=64": [0.8, 0.82, 0.78, 0.8, 0.84], "n_sampled_goal=8": [0.9, 0.92, 0.88, 0.9, 0.94]})
    result = ch06.sensitivity(outcome, reps=500, seed=0)
    assert result["verdicts"] == {"learning_rate": "knife-edge", "batch_size": "sensitive", "n_sampled_goal": "not shown sensitive"}
    rows = result["configurations"]
    assert rows["learning_rate=0.01"]["effect"] == "worse" and rows["n_sampled_goal=8"]["effect"] == "within noise"
    assert rows["learning_rate=0.01"]["p_recipe_better"]["estimate"] == 1.0
    assert rows["SAC+HER"]["parameter"] is None and rows["batch_size=64"]["value"] == "64"
    variation = result["variation"]
    recipe = [0.9, 0.92, 0.88, 0.9, 0.94]
    assert variation["training seeds (observed)"]["area"] == pytest.approx(np.std(recipe, ddof=1))
    # runs differ only in how many of the shared episodes they solve: the spread is all run effect plus interaction
    assert 0 < variation["training seeds"]["area"] < variation["training seeds (observed)"]["area"]
    assert variation["evaluation episodes"]["final"] == pytest.approx(np.sqrt(np.mean(
        [p * (1 - p) * 50 / 49 / 50 for p in recipe])))
    assert variation["hyperparameters"]["area"] <= variation["hyperparameters (observed)"]["area"]


def test_a_better_value_is_not_stable():
    outcome = planted_outcome({"SAC+HER": [0.5, 0.52, 0.48, 0.5, 0.54], "learning_rate=0.01": [0.9, 0.92, 0.88, 0.9, 0.94],
                               "batch_size=64": [0.5, 0.52, 0.48, 0.5, 0.54], "n_sampled_goal=8": [0.5, 0.52, 0.48, 0.5, 0.54]})
    result = ch06.sensitivity(outcome, reps=500, seed=0)
    assert result["configurations"]["learning_rate=0.01"]["effect"] == "better"
    assert result["verdicts"] == {"learning_rate": "sensitive", "batch_size": "not shown sensitive", "n_sampled_goal": "not shown sensitive"}


def test_crossed_variance_separates_seeds_from_shared_episodes():
    rng = np.random.default_rng(0)
    runs, episodes = rng.normal(size=(8, 1)), rng.normal(size=(1, 400))
    additive = ch06.crossed_variance(runs + episodes)  # no interaction: the run variance is recovered exactly
    assert additive["interaction_variance"] == pytest.approx(0, abs=1e-12)
    assert additive["seed_variance"] == pytest.approx(float(np.var(runs, ddof=1)))
    shared = ch06.crossed_variance(np.repeat(episodes, 8, axis=0))  # identical runs on shared episodes
    assert shared["raw_run_variance"] == pytest.approx(0, abs=1e-12) and shared["seed_variance"] == 0
    assert shared["episode_se"] == pytest.approx(float(np.std(episodes, ddof=1) / np.sqrt(400)))
    noise = ch06.crossed_variance(rng.normal(size=(8, 400)))  # no run effect at all: the correction removes the noise
    assert noise["seed_variance"] < 0.2 * noise["raw_run_variance"]


def test_only_the_interaction_of_run_and_episode_is_evaluation_noise_between_runs():
    # 5 runs on the same 50 episodes: 30 easy ones every run solves, 20 hard ones none does, and one flip per run.
    # Against fresh episodes a run's score is uncertain (episode_se); between these runs the shared episodes cancel
    matrix = np.zeros((5, 50))
    matrix[:, :30] = 1.0
    for run in range(5):
        matrix[run, 30 + run] = 1.0
    components = ch06.crossed_variance(matrix)
    assert components["interaction_se"] == pytest.approx(np.sqrt(components["interaction_variance"] / 50))
    assert components["interaction_se"] < components["episode_se"] / 3
    text = ch06.variation_text({"evaluation episodes": {"area": 0.07}, "evaluation episodes, not shared": {"area": 0.01},
                                "training seeds": {"area": 0.05}, "hyperparameters": {"area": 0.1}})
    assert "5.0 times the part of a run's evaluation noise that does not cancel" in text
