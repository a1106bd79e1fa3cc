"""Chapter 1: reference solutions."""

from __future__ import annotations

import math

import gymnasium as gym
import gymnasium_robotics  # noqa: F401  (registers the Fetch tasks)
import numpy as np


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval: the p whose score test |p_hat - p| / sqrt(p(1-p)/n) <= z does not reject."""
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def random_floor(env_id: str, episodes: int, seed: int) -> list[bool]:
    """Each episode's outcome under uniformly random actions: reset seeds seed, seed+1, ...; actions from the action space
    seeded once with ``seed``; success read from ``info["is_success"]`` at the episode's last step."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    outcomes = []
    for i in range(episodes):
        env.reset(seed=seed + i)
        done, info = False, {}
        while not done:
            _, _, terminated, truncated, info = env.step(env.action_space.sample())
            done = terminated or truncated
        outcomes.append(bool(info["is_success"]))
    env.close()
    return outcomes


def episode_success(is_success: list[float]) -> bool:
    """Whether an episode succeeded: ``is_success`` at its last step, not at any step (the repaired bug)."""
    return bool(is_success[-1])
