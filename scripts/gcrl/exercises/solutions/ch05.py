"""Chapter 5: reference solutions."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np


class ActionNoise(gym.ActionWrapper):
    """a + N(0, sigma^2) per dimension, clipped to the action box, from a generator seeded once."""

    def __init__(self, env: gym.Env, sigma: float, seed: int = 0):
        super().__init__(env)
        self.sigma = sigma
        self.rng = np.random.default_rng(seed)

    def action(self, action: np.ndarray) -> np.ndarray:
        noisy = np.asarray(action) + self.rng.normal(0.0, self.sigma, np.shape(action))
        return np.clip(noisy, self.action_space.low, self.action_space.high).astype(self.action_space.dtype)


def _wilson(successes: int, trials: int, z: float) -> tuple[float, float]:
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return centre - half, centre + half


def newcombe_interval(successes_a: int, trials_a: int, successes_b: int, trials_b: int,
                      z: float = 1.96) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p_a - p_b, built from each rate's Wilson interval."""
    p_a, p_b = successes_a / trials_a, successes_b / trials_b
    (l_a, u_a), (l_b, u_b) = _wilson(successes_a, trials_a, z), _wilson(successes_b, trials_b, z)
    d = p_a - p_b
    return d - math.hypot(p_a - l_a, u_b - p_b), d + math.hypot(u_a - p_a, p_b - l_b)


def noisy_observation(observation: dict[str, np.ndarray], sigma: float,
                      rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Sensor noise on what is sensed (``observation``), never on the commanded ``desired_goal`` (the repaired bug)."""
    noisy = dict(observation)
    noisy["observation"] = observation["observation"] + rng.normal(0.0, sigma, observation["observation"].shape)
    return noisy
