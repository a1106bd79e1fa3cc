"""Degradation curves and their summaries (gcrl.analysis.robustness)."""

from __future__ import annotations

import numpy as np
import pytest

from gcrl.analysis import robustness
from gcrl.core.errors import CourseError
from gcrl.rl.sac_her.config import SacHerConfig
from gcrl.rl.learners import train


def test_normalised_area_is_mean_success_over_the_rescaled_severity_axis():
    assert robustness.normalised_area([0, 1, 2], [1.0, 1.0, 1.0]) == 1.0
    assert robustness.normalised_area([0, 0.5, 1.0], [1.0, 0.5, 0.0]) == pytest.approx(0.5)
    # the axis is rescaled: the same shape over severities 0..10 has the same area
    assert robustness.normalised_area([0, 5, 10], [1.0, 0.5, 0.0]) == pytest.approx(0.5)
    # uneven grids are integrated by their spacing, not by their index
    assert robustness.normalised_area([0, 0.1, 1.0], [1.0, 0.0, 0.0]) == pytest.approx(0.05)
    with pytest.raises(CourseError, match="increasing severities from 0"):
        robustness.normalised_area([0.5, 1.0], [1.0, 0.5])


def test_half_success_severity_interpolates_the_first_crossing():
    assert robustness.half_success_severity([0, 1, 2], [0.8, 0.6, 0.2]) == pytest.approx(1.5)
    assert robustness.half_success_severity([0, 1, 2], [0.8, 0.4, 0.8]) == pytest.approx(1.0)
    assert robustness.half_success_severity([0, 1, 2], [0.8, 0.7, 0.5]) is None  # never halves in the grid
    assert robustness.half_success_severity([0, 1], [0.0, 0.0]) is None  # nothing to lose


def test_grids_keep_both_ends_and_families_are_checked():
    noise = robustness.family("observation noise")
    assert robustness.grid(noise, 2) == (0, 0.01)
    assert robustness.grid(noise, 3) == (0, 0.001, 0.01)
    assert robustness.grid(noise, 5) == noise.severities == robustness.grid(noise, 9)
    with pytest.raises(CourseError, match="at least 2"):
        robustness.grid(noise, 1)
    with pytest.raises(CourseError, match="unknown perturbation family"):
        robustness.family("cosmic rays")
    with pytest.raises(CourseError, match="start at 0"):
        robustness.Family("bad", "-", (0.1, 0.2), ("FetchReach-v4",), lambda env, s, seed: env)
    reach = {f.name for f in robustness.families_for("FetchReach-v4")}
    push = {f.name for f in robustness.families_for("FetchPush-v4")}
    assert reach < push and {"object mass", "contact friction loss", "goals in the air"} == push - reach


def test_degradation_curve_pools_seeds_per_severity():
    evaluations = [
        {"family": "action noise", "severity": s, "seed": seed, "episodes": 10, "successes": k,
         "success_rate": k / 10}
        for s, ks in ((0.0, (10, 8)), (0.5, (4, 2))) for seed, k in zip((0, 1), ks)
    ] + [{"family": "action delay", "severity": 0.0, "seed": 0, "episodes": 10, "successes": 0, "success_rate": 0}]
    curve = robustness.degradation_curve(evaluations, "action noise")
    assert [(p["severity"], p["episodes"], p["successes"]) for p in curve] == [(0.0, 20, 18), (0.5, 20, 6)]
    assert curve[1]["per_seed"] == {"0": 0.4, "1": 0.2}
    assert curve[0]["ci95_low"] < 0.9 < curve[0]["ci95_high"]
    assert robustness.summary(curve, robustness.family("action noise"))["normalised_area"] == pytest.approx(0.6)


def test_multiplicative_families_are_summarised_on_a_log_axis():
    mass = robustness.family("object mass")
    curve = [{"severity": s, "success_rate": r} for s, r in ((0, 0.8), (1, 0.8), (3, 0.4), (9, 0.0), (19, 0.0))]
    result = robustness.summary(curve, mass)
    x = np.log1p([0, 1, 3, 9, 19]) / np.log1p(19)
    assert result["normalised_area"] == pytest.approx(np.trapezoid([0.8, 0.8, 0.4, 0, 0], x))
    assert result["half_success_severity"] == pytest.approx(3.0)  # reached at a grid point, in the family's unit
    assert result["worst_success"] == 0.0 and result["nominal_success"] == 0.8


def test_a_trained_policy_is_evaluated_from_its_checkpoint_under_each_severity(tmp_path):
    config = SacHerConfig.from_recipe("FetchReach-v4", total_steps=100, learning_starts=50, batch_size=16,
                                      net_arch=(8,), eval_every=100, eval_episodes=1, checkpoint_every=50)
    train(config, tmp_path / "run")
    source = robustness.PolicySource(str(tmp_path / "run"), config.as_dict())
    delay = robustness.family("action delay")
    jobs = robustness.curve_jobs([source], delay, (0, 8), episodes=3, noise_seed=0)
    first = robustness.run_jobs(jobs, workers=1)
    again = robustness.run_jobs(jobs, workers=2)  # worker processes load the policy from the checkpoint
    assert first == again
    assert [(e["family"], e["severity"], e["seed"], e["episodes"]) for e in first] == \
        [("action delay", 0.0, 0, 3), ("action delay", 8.0, 0, 3)]
    assert first[0]["mean_final_distance"] != first[1]["mean_final_distance"]  # the delay changed the outcome
    assert all(np.isfinite(e["mean_final_distance"]) for e in first)


def test_a_hidden_parameter_spreads_the_achieved_goal_and_nominal_physics_does_not():
    from gcrl.analysis.robustness import hidden_parameter_spread

    fixed = hidden_parameter_spread("FetchReach-v4", (("joint_damping", 0.0, 0.0),), states=3, draws=3,
                                    horizons=(1, 5), seed=0)
    assert all(h["mean_pair_distance_m"] == 0.0 and h["pairs_beyond_threshold"] == 0.0 for h in fixed["horizons"].values())
    hidden = hidden_parameter_spread("FetchReach-v4", (("joint_damping", 0.0, 9_999.0),), states=6, draws=6,
                                     horizons=(1, 10), seed=0)
    one, ten = hidden["horizons"]["1"], hidden["horizons"]["10"]
    assert 0 < one["mean_pair_distance_m"] < ten["mean_pair_distance_m"], hidden
    assert 0 <= one["pairs_beyond_threshold"] <= ten["pairs_beyond_threshold"] <= 1
