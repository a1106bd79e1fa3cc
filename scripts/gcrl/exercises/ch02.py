"""Chapter 2's problems: rewards-to-go, GAE, the clipped surrogate, a planted episode-boundary leak."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gcrl.exercises.problem import Problem, require
from gcrl.rl.policy_gradient import gae


def _episode(length: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rewards = -(rng.random(length) > 0.3).astype(float)
    values = rng.normal(-5, 1, length)
    next_values = np.append(values[1:], rng.normal(-5, 1))
    return rewards, values, next_values


def check_rewards_to_go(rewards_to_go: Callable[..., Any]) -> None:
    rewards, _, _ = _episode()
    for gamma in (0.0, 0.5, 0.98, 1.0):
        ours = np.asarray(rewards_to_go(rewards, gamma), dtype=float)
        require(ours.shape == rewards.shape, f"one return per step: shape {rewards.shape}, got {ours.shape}")
        direct = np.array([sum(gamma ** k * r for k, r in enumerate(rewards[t:])) for t in range(len(rewards))])
        require(np.allclose(ours[-1], rewards[-1]), "the last step's return is its own reward: nothing follows it")
        require(np.allclose(ours, direct), f"with gamma = {gamma} some G_t differ from sum_k gamma^k r_(t+k): "
                "the discount counts steps from t, not from the episode's start")


def check_gae(ours_gae: Callable[..., Any]) -> None:
    rewards, values, next_values = _episode()
    for gamma, lam in ((0.99, 0.95), (0.9, 0.0), (0.9, 1.0), (1.0, 0.5)):
        ours = np.asarray(ours_gae(rewards, values, next_values, gamma, lam), dtype=float)
        require(ours.shape == rewards.shape, f"one advantage per step: shape {rewards.shape}, got {ours.shape}")
        deltas = rewards + gamma * next_values - values
        if lam == 0.0:
            require(np.allclose(ours, deltas), "with lambda = 0 the advantage is the one-step TD error delta_t")
        if lam == 1.0:
            tail = np.array([sum(gamma ** k * d for k, d in enumerate(deltas[t:])) for t in range(len(deltas))])
            require(np.allclose(ours, tail), "with lambda = 1 the advantage is the discounted sum of all later "
                    "TD errors (the telescoping sum: return minus V(s_t) plus the bootstrapped tail)")
        require(np.allclose(ours, gae(rewards, values, next_values, gamma, lam)),
                f"with gamma = {gamma}, lambda = {lam} the advantages differ from the course's GAE (pinned to "
                "Stable-Baselines3's): the recursion is A_t = delta_t + gamma lambda A_(t+1), run backwards")


def check_clipped_surrogate(surrogate: Callable[..., Any]) -> None:
    ratio = np.linspace(0.5, 1.5, 101)
    eps = 0.2
    for sign in (1.0, -1.0):
        advantage = np.full_like(ratio, sign * 2.0)
        ours = np.asarray(surrogate(ratio, advantage, eps), dtype=float)
        require(ours.shape == ratio.shape, "one objective value per sample")
        inside = np.abs(ratio - 1) < eps - 1e-9
        require(np.allclose(ours[inside], (ratio * advantage)[inside]), "inside [1 - eps, 1 + eps] the objective is "
                "the unclipped surrogate r A")
        side = ratio > 1 + eps if sign > 0 else ratio < 1 - eps
        require(np.allclose(ours[side], ours[side][0]), "where moving the ratio further would raise the objective "
                "beyond the clip range, the objective must be flat (no gradient): that is what stops the update")
        other = ratio < 1 - eps if sign > 0 else ratio > 1 + eps
        require(np.allclose(ours[other], (ratio * advantage)[other]), "on the side where the new policy is worse "
                "than the old, the objective keeps r A (the minimum makes it a pessimistic bound)")
    ours = np.asarray(surrogate(np.array([1.0]), np.array([3.0]), eps), dtype=float)
    require(np.allclose(ours, 3.0), "at ratio 1 the objective equals the advantage")


def check_rollout_advantages(advantages: Callable[..., Any]) -> None:
    rewards, values, next_values = _episode(12)
    terminated = np.zeros(12)
    truncated = np.zeros(12)
    terminated[5] = 1.0  # the first episode ends at step 5; steps 6-11 are the next episode
    next_values[5] = 0.0
    first = np.asarray(advantages(rewards, values, next_values, terminated, truncated, 0.99, 0.95), dtype=float)
    changed = rewards.copy()
    changed[6:] -= 10.0
    second = np.asarray(advantages(changed, values, next_values, terminated, truncated, 0.99, 0.95), dtype=float)
    require(np.allclose(first[:6], second[:6]), "symptom: the advantages of episode 1's steps change when only the "
            f"rewards of episode 2 change (step 5: {first[5]:+.3f} then {second[5]:+.3f}); the recursion carries "
            "one episode's TD errors into the one before it")
    require(np.allclose(first[:6], gae(rewards[:6], values[:6], next_values[:6], 0.99, 0.95)) and
            np.allclose(first[6:], gae(rewards[6:], values[6:], next_values[6:], 0.99, 0.95)),
            "each episode's advantages must equal GAE computed on that episode alone")
    truncated[5], terminated[5], next_values[5] = 1.0, 0.0, -4.0
    cut = np.asarray(advantages(rewards, values, next_values, terminated, truncated, 0.99, 0.95), dtype=float)
    require(np.isclose(cut[5], rewards[5] + 0.99 * -4.0 - values[5]), "at a truncation the last step still "
            "bootstraps from V(s_(t+1)); only the recursion stops")


PROBLEMS = (
    Problem("ch02", 1, "derivation", "the discounted rewards-to-go", "rewards_to_go", check_rewards_to_go),
    Problem("ch02", 2, "implementation", "generalised advantage estimation", "gae", check_gae),
    Problem("ch02", 3, "implementation", "PPO's clipped surrogate", "clipped_surrogate", check_clipped_surrogate),
    Problem("ch02", 4, "diagnosis", "advantages that leak across episodes", "rollout_advantages",
            check_rollout_advantages),
)
