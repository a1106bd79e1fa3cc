"""Hindsight relabelling (gcrl.rl.her) against Stable-Baselines3's HerReplayBuffer semantics."""

from __future__ import annotations

import numpy as np
import pytest

from gcrl.rl import her
from gcrl.rl.envs import make_fetch_env
from gcrl.core.errors import CourseError

HORIZON = 50


@pytest.fixture(scope="module")
def sb3_buffer():
    """An SB3 HerReplayBuffer holding two random FetchReach episodes, and the env that filled it."""
    from stable_baselines3 import HerReplayBuffer
    from stable_baselines3.common.vec_env import DummyVecEnv

    env = DummyVecEnv([lambda: make_fetch_env("FetchReach-v4")])
    env.seed(3)
    buffers = {}
    for strategy in her.STRATEGIES:
        buffers[strategy] = HerReplayBuffer(200, env.observation_space, env.action_space, env=env,
                                            n_sampled_goal=4, goal_selection_strategy=strategy)
    env.action_space.seed(3)
    obs = env.reset()
    rewards = []
    for _ in range(2 * HORIZON):
        action = np.array([env.action_space.sample()])
        next_obs, reward, done, infos = env.step(action)
        stored_next = {k: (np.array([infos[0]["terminal_observation"][k]]) if done[0] else v) for k, v in next_obs.items()}
        for buffer in buffers.values():
            buffer.add(obs, stored_next, action, reward, done, infos)
        rewards.append(float(reward[0]))
        obs = next_obs
    yield buffers, env, np.array(rewards)
    env.close()


def _goal_index_sets(goals: np.ndarray, t: np.ndarray, next_achieved: np.ndarray) -> dict[int, set[int]]:
    """For each transition time, the set of j such that the sampled goal is next_achieved[j]."""
    found: dict[int, set[int]] = {}
    for goal, time in zip(goals, t):
        matches = np.flatnonzero(np.all(next_achieved == goal, axis=1))
        assert len(matches) >= 1, "a relabelled goal must be an achieved goal of the same episode"
        found.setdefault(int(time), set()).add(int(matches[0]))
    return found


@pytest.mark.parametrize("k", [0, 1, 4, 8])
def test_ratio_and_count_match_sb3(k, sb3_buffer):
    from stable_baselines3 import HerReplayBuffer

    buffers, env, _ = sb3_buffer
    reference = HerReplayBuffer(100, env.observation_space, env.action_space, env=env, n_sampled_goal=k)
    assert her.her_ratio(k) == pytest.approx(reference.her_ratio)
    assert her.her_ratio(k) == pytest.approx(k / (k + 1))
    for batch in (1, 7, 256, 512):
        assert her.relabelled_count(batch, k) == int(reference.her_ratio * batch)
    assert her.relabelled_count(256, 0) == 0


@pytest.mark.parametrize("strategy", her.STRATEGIES)
def test_goal_index_range_matches_sb3(strategy, sb3_buffer):
    """For every transition time t, SB3 and gcrl.rl.her draw goals from the same set of indices j."""
    buffers, _, _ = sb3_buffer
    buffer = buffers[strategy]
    next_achieved = buffer.next_observations["achieved_goal"][:HORIZON, 0]  # the first episode
    t = np.repeat(np.arange(HORIZON), 1500)  # every index drawn with near certainty
    np.random.seed(0)
    sb3_goals = buffer._sample_goals(t, np.zeros_like(t))
    ours = her.goal_indices(t, HORIZON, strategy, np.random.default_rng(0))
    sb3_sets = _goal_index_sets(sb3_goals, t, next_achieved)
    our_sets = {int(time): set(ours[t == time].tolist()) for time in range(HORIZON)}
    expected = {
        "final": {time: {HORIZON - 1} for time in range(HORIZON)},
        "future": {time: set(range(time, HORIZON)) for time in range(HORIZON)},
        "episode": {time: set(range(HORIZON)) for time in range(HORIZON)},
    }[strategy]
    assert our_sets == expected
    # Achieved goals can repeat inside an episode (the gripper at rest), so SB3's sets are
    # compared through the goals they select, not through their first matching index.
    for time in range(HORIZON):
        sb3_goal_set = {tuple(next_achieved[j]) for j in sb3_sets[time]}
        our_goal_set = {tuple(next_achieved[j]) for j in our_sets[time]}
        assert sb3_goal_set == our_goal_set, f"t={time}"


def test_future_is_uniform_over_the_remaining_steps():
    rng = np.random.default_rng(1)
    t = np.full(60_000, 40)
    counts = np.bincount(her.goal_indices(t, HORIZON, "future", rng), minlength=HORIZON)[40:]
    assert counts.sum() == 60_000 and counts.min() > 0
    assert np.abs(counts / 60_000 - 0.1).max() < 0.01  # ten indices, each about 1/10


def test_rewards_are_recomputed_like_sb3(sb3_buffer):
    """SB3's virtual rewards are compute_reward(next achieved goal, new goal); so are ours."""
    buffers, env, rewards = sb3_buffer
    buffer = buffers["future"]
    compute_reward = env.envs[0].unwrapped.compute_reward
    t = np.arange(HORIZON)
    np.random.seed(2)
    virtual = buffer._get_virtual_samples(t, np.zeros_like(t))
    sb3_rewards = virtual.rewards.numpy().ravel()
    goals = virtual.observations["desired_goal"].numpy()
    next_achieved = virtual.next_observations["achieved_goal"].numpy()
    assert np.array_equal(sb3_rewards, compute_reward(next_achieved, goals, None).astype(np.float32))

    episode = buffer.next_observations["achieved_goal"][:HORIZON, 0]
    relabelled = her.relabel_episode(episode, "future", 4, np.random.default_rng(0), compute_reward)
    assert len(relabelled.t) == 4 * HORIZON
    assert np.array_equal(relabelled.goals, episode[relabelled.goal_index])
    assert np.array_equal(relabelled.rewards, compute_reward(episode[relabelled.t], relabelled.goals, None))
    # relabelling with the transition's own achieved goal is always a success
    own = relabelled.goal_index == relabelled.t
    assert own.any() and np.all(relabelled.rewards[own] == 0.0)
    # the environment's own reward is the same function of the original goal
    original = buffer.observations["desired_goal"][:HORIZON, 0]
    assert np.array_equal(compute_reward(episode, original, None), rewards[:HORIZON])


def test_relabelling_manufactures_successes(sb3_buffer):
    """On random Reach episodes, hindsight goals turn failures into successes: the point of HER."""
    buffers, env, rewards = sb3_buffer
    episode = buffers["future"].next_observations["achieved_goal"][:HORIZON, 0]
    relabelled = her.relabel_episode(episode, "future", 4, np.random.default_rng(0), env.envs[0].unwrapped.compute_reward)
    assert (relabelled.rewards == 0).mean() > (rewards[:HORIZON] == 0).mean() + 0.1


def test_k_zero_relabels_nothing():
    relabelled = her.relabel_episode(np.zeros((HORIZON, 3)), "future", 0, np.random.default_rng(0),
                                     lambda a, g, i: -(np.linalg.norm(a - g, axis=-1) > 0.05).astype(np.float32))
    assert len(relabelled.t) == 0 and len(relabelled.goals) == 0


@pytest.mark.parametrize("strategy,k,message", [("past", 4, "unknown goal selection strategy 'past'"),
                                                ("future", -1, "must be an integer >= 0"),
                                                ("future", 2.5, "must be an integer >= 0")])
def test_bad_relabelling_is_a_clear_error(strategy, k, message):
    with pytest.raises(CourseError, match=message):
        her.relabel_episode(np.zeros((HORIZON, 3)), strategy, k, np.random.default_rng(0), lambda a, g, i: a[:, 0])


def test_times_outside_the_episode_are_a_clear_error():
    with pytest.raises(CourseError, match=r"must lie in \[0, 50\)"):
        her.goal_indices(np.array([50]), HORIZON, "future", np.random.default_rng(0))
