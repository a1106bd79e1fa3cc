"""Chapter 2's mathematics, pinned to code: the discounted policy gradient and GAE.

The policy-gradient estimator the chapter derives is checked against a
finite-difference gradient of the objective on a tabular MDP, where every
expectation is an exact sum; the estimator without gamma^t (what PPO uses) must
fail the same check. GAE is checked against its two limits and against
Stable-Baselines3's ``RolloutBuffer``, including an episode cut off by the time limit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer

from gcrl.rl import policy_gradient as pg
from gcrl.core.errors import CourseError


@pytest.mark.parametrize("gamma, seed", [(0.5, 0), (0.9, 3), (0.99, 7)])
def test_the_discounted_estimator_is_the_gradient_and_the_undiscounted_one_is_not(gamma, seed):
    check = pg.gradient_check(gamma=gamma, seed=seed)
    assert check["relative_error_discounted"] < 1e-6, check
    assert check["relative_error_undiscounted"] > 1e-3, check


def test_without_discounting_the_two_estimators_coincide():
    mdp = pg.TabularMDP.random(states=2, actions=2, horizon=3, gamma=1.0, seed=1)
    theta = np.random.default_rng(2).normal(size=(2, 2))
    discounted = pg.score_function_gradient(mdp, theta, discount_weight=True)
    plain = pg.score_function_gradient(mdp, theta, discount_weight=False)
    np.testing.assert_allclose(discounted, plain)
    np.testing.assert_allclose(discounted, pg.finite_difference_gradient(mdp, theta), atol=1e-7)


def test_a_malformed_mdp_is_refused():
    with pytest.raises(CourseError, match="sum to 1"):
        pg.TabularMDP(np.ones((2, 2, 2)), np.zeros((2, 2, 2)), np.array([0.5, 0.5]), 3, 0.9)


def _episode(length: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.normal(size=length), rng.normal(size=length + 1)  # rewards r_1..r_T, values V(s_0)..V(s_T)


def test_gae_limits_are_the_bootstrapped_return_and_the_td_error():
    """lambda = 1: the discounted rewards of the stretch plus gamma^h V at its end, minus V (a Monte Carlo
    return only when the stretch ends in a termination); lambda = 0: the one-step TD error (Chapter 2, section 1.3)."""
    gamma, rewards, values = 0.9, *_episode(6, 0)
    next_values = values[1:]  # truncated at the end: the last step bootstraps from V(s_T)
    bootstrapped = np.array([sum(gamma**k * r for k, r in enumerate(rewards[t:])) + gamma ** (len(rewards) - t) * values[-1]
                   for t in range(len(rewards))])
    np.testing.assert_allclose(pg.gae(rewards, values[:-1], next_values, gamma, 1.0), bootstrapped - values[:-1])
    np.testing.assert_allclose(pg.gae(rewards, values[:-1], next_values, gamma, 0.0),
                               rewards + gamma * next_values - values[:-1])


def _sb3_advantages(rewards, values, episode_starts, last_value, done, gamma, lam):
    buffer = RolloutBuffer(len(rewards), spaces.Box(-1, 1, (1,)), spaces.Box(-1, 1, (1,)), device="cpu",
                           gamma=gamma, gae_lambda=lam, n_envs=1)
    buffer.rewards[:, 0], buffer.values[:, 0], buffer.episode_starts[:, 0] = rewards, values, episode_starts
    buffer.compute_returns_and_advantage(torch.tensor([[last_value]]), np.array([done]))
    return buffer.advantages[:, 0]


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.95, 1.0])
def test_gae_matches_stable_baselines3_across_a_truncation(lam):
    """Two episodes in one rollout: the first cut off by the time limit, the second still running.

    SB3 bootstraps a truncation by adding gamma V(s_T) to the last reward and
    starting a new episode; the book passes V(s_T) as the last next value.
    """
    gamma = 0.95
    rewards_1, values_1 = _episode(5, 1)  # values_1[-1] is V(s_T) of the truncated episode
    rewards_2, values_2 = _episode(4, 2)  # the rollout stops inside this episode, at s_4
    sb3 = _sb3_advantages(
        rewards=np.concatenate([rewards_1[:-1], [rewards_1[-1] + gamma * values_1[-1]], rewards_2]),
        values=np.concatenate([values_1[:-1], values_2[:-1]]),
        episode_starts=np.array([1, 0, 0, 0, 0, 1, 0, 0, 0], dtype=np.float32),
        last_value=values_2[-1], done=False, gamma=gamma, lam=lam)
    book = np.concatenate([pg.gae(rewards_1, values_1[:-1], values_1[1:], gamma, lam),
                           pg.gae(rewards_2, values_2[:-1], values_2[1:], gamma, lam)])
    np.testing.assert_allclose(sb3, book, rtol=1e-5, atol=1e-5)


def test_a_termination_is_not_bootstrapped():
    gamma, rewards, values = 0.9, *_episode(3, 4)
    book = pg.gae(rewards, values[:-1], np.append(values[1:-1], 0.0), gamma, 0.95)
    sb3 = _sb3_advantages(rewards, values[:-1], np.array([1, 0, 0], dtype=np.float32), values[-1], True, gamma, 0.95)
    np.testing.assert_allclose(sb3, book, rtol=1e-5, atol=1e-5)
