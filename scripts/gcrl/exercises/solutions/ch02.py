"""Chapter 2: reference solutions."""

from __future__ import annotations

import numpy as np


def rewards_to_go(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = sum_k gamma^k r_{t+k}, by the backward recursion G_t = r_t + gamma G_{t+1}."""
    returns = np.zeros(len(rewards))
    running = 0.0
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


def gae(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """A_t = delta_t + gamma lambda A_{t+1}, delta_t = r_t + gamma V(s_{t+1}) - V(s_t), A past the end = 0."""
    deltas = np.asarray(rewards) + gamma * np.asarray(next_values) - np.asarray(values)
    advantages = np.zeros(len(deltas))
    running = 0.0
    for t in reversed(range(len(deltas))):
        running = deltas[t] + gamma * lam * running
        advantages[t] = running
    return advantages


def clipped_surrogate(ratio: np.ndarray, advantage: np.ndarray, clip: float) -> np.ndarray:
    """PPO's per-sample objective (to be maximised): min(r A, clip(r, 1 - eps, 1 + eps) A)."""
    ratio, advantage = np.asarray(ratio), np.asarray(advantage)
    return np.minimum(ratio * advantage, np.clip(ratio, 1 - clip, 1 + clip) * advantage)


def rollout_advantages(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray, terminated: np.ndarray,
                       truncated: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """GAE over a rollout of several episodes: the recursion stops at every episode's end (the repaired bug).

    A terminated step has no next value; a truncated one keeps V(s_{t+1}) (the episode was cut, not ended).
    """
    deltas = rewards + gamma * next_values * (1.0 - terminated) - values
    advantages = np.zeros(len(deltas))
    running = 0.0
    for t in reversed(range(len(deltas))):
        ended = terminated[t] or truncated[t]
        running = deltas[t] + gamma * lam * running * (1.0 - ended)
        advantages[t] = running
    return advantages
