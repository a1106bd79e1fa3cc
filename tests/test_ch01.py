"""Chapter 1's functions: labels, schemas, reward identities and intervals, each shown able to fail."""

from __future__ import annotations

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from gcrl.chapters import ch01_anatomy as ch01
from gcrl.chapters import ch01_rollouts
from gcrl.rl.envs import FETCH_ENV_IDS, make_fetch_env
from gcrl.rl.evaluate import wilson_interval
from gcrl.core.errors import CourseError


@pytest.fixture(scope="module")
def push_rollouts():
    return ch01_rollouts.collect("FetchPush-v4", "random", episodes=3, seed=5, keep_observations=40)


@pytest.mark.parametrize("env_id", FETCH_ENV_IDS)
def test_every_dimension_is_labelled_and_the_schema_validates_real_observations(env_id):
    schema = ch01.interface_schema(env_id)
    Draft202012Validator.check_schema(schema)
    assert ch01.unlabelled_dimensions(schema) == []
    rollouts = ch01_rollouts.collect(env_id, "random", episodes=1, seed=0, keep_observations=50)
    validator = Draft202012Validator(schema)
    assert len(rollouts.observations) == 50
    for observation in rollouts.observations:
        validator.validate(observation)
    size = 10 if "Reach" in env_id else 25
    assert schema["properties"]["observation"]["x-shape"] == [size]
    assert schema["properties"]["observation"]["x-dtype"] == "float64"
    assert schema["x-task"]["control_period_s"] == pytest.approx(0.04)


def test_schema_rejects_a_malformed_observation():
    schema = ch01.interface_schema("FetchReach-v4")
    validator = Draft202012Validator(schema)
    env = make_fetch_env("FetchReach-v4")
    observation = ch01_rollouts.as_json(env.reset(seed=0)[0])
    env.close()
    validator.validate(observation)
    assert not validator.is_valid({**observation, "observation": observation["observation"][:-1]})
    assert not validator.is_valid({**observation, "extra": [0.0]})
    assert not validator.is_valid({k: v for k, v in observation.items() if k != "desired_goal"})


def test_an_unlabelled_dimension_is_reported():
    schema = ch01.interface_schema("FetchPush-v4")
    del schema["properties"]["observation"]["prefixItems"][3]["description"]
    schema["x-action-space"]["prefixItems"].pop()
    missing = ch01.unlabelled_dimensions(schema)
    assert "observation[3]" in missing and any(m.startswith("action: 3 labels") for m in missing)


def test_labels_follow_the_environment_layout():
    env = make_fetch_env("FetchPush-v4")
    names = [label["name"] for label in ch01.observation_labels(env)]
    env.close()
    assert names[:6] == ["grip_pos.x", "grip_pos.y", "grip_pos.z", "object_pos.x", "object_pos.y", "object_pos.z"]
    assert names[9:11] == ["gripper_state.r_gripper_finger_joint", "gripper_state.l_gripper_finger_joint"]
    assert names[-2:] == ["gripper_vel.r_gripper_finger_joint", "gripper_vel.l_gripper_finger_joint"]


def test_rewards_are_consistent_on_real_transitions(push_rollouts):
    report = ch01_rollouts.reward_consistency(push_rollouts, seed=0)
    assert report["transitions"] == 150 and report["relabelled_checked"] == 150
    assert report["mismatches"] == 0 and report["unexplained_disagreements"] == 0


def test_a_corrupted_reward_is_caught(push_rollouts):
    corrupted = ch01_rollouts.Rollouts(**{**push_rollouts.__dict__, "rewards": push_rollouts.rewards.copy()})
    corrupted.rewards[0, 7] = -0.5
    report = ch01_rollouts.reward_consistency(corrupted, seed=0)
    assert report["step_vs_compute_reward_mismatches"] == 1 and report["mismatches"] >= 1


def test_a_success_flag_off_the_threshold_is_unexplained(push_rollouts):
    flipped = ch01_rollouts.Rollouts(**{**push_rollouts.__dict__, "success": push_rollouts.success.copy()})
    flipped.success[1, 3] = not flipped.success[1, 3]
    report = ch01_rollouts.reward_consistency(flipped, seed=0)
    assert report["unexplained_disagreements"] == 1


def test_dense_reward_is_minus_the_distance():
    report = ch01_rollouts.reward_consistency(ch01_rollouts.collect("FetchReachDense-v4", "random", 2, seed=1), seed=0)
    assert report["dense_vs_minus_distance_mismatches"] == 0 and report["dense_vs_minus_distance_max_abs"] == 0.0


def test_wilson_interval_known_values():
    low, high = wilson_interval(0, 200)
    assert low == 0.0 and high == pytest.approx(1.96**2 / (200 + 1.96**2), rel=1e-3)
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)


def test_baseline_counts_and_interval(push_rollouts):
    row = ch01_rollouts.baseline(push_rollouts, threshold=0.05)
    assert row["episodes"] == 3 and row["seeds"] == [5, 7]
    assert row["success_ci95"][0] <= row["success_rate"] <= row["success_ci95"][1]
    assert row["mean_final_distance"] >= 0


def test_unknown_policy_is_a_clear_error():
    with pytest.raises(CourseError, match="unknown baseline policy 'greedy'"):
        ch01_rollouts.collect("FetchReach-v4", "greedy", 1, seed=0)
