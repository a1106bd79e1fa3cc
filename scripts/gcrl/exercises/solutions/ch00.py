"""Chapter 0: reference solutions."""

from __future__ import annotations

import math

import numpy as np


def sparse_reward(achieved_goal: np.ndarray, desired_goal: np.ndarray, threshold: float = 0.05) -> np.ndarray:
    """Fetch's sparse reward: 0 within ``threshold`` of the goal, -1 beyond it, for one goal or a batch."""
    distance = np.linalg.norm(np.asarray(achieved_goal) - np.asarray(desired_goal), axis=-1)
    return -(distance > threshold).astype(np.float32)


def episodes_for_half_width(half_width: float, p: float = 0.5, z: float = 1.96) -> int:
    """The fewest episodes whose normal-approximation interval has half-width at most ``half_width``.

    z * sqrt(p (1 - p) / n) <= h  <=>  n >= z^2 p (1 - p) / h^2.
    """
    return math.ceil(z * z * p * (1.0 - p) / (half_width * half_width))


def dense_reward(achieved_goal: np.ndarray, desired_goal: np.ndarray) -> np.ndarray:
    """The dense variant's reward: minus the distance to the goal (the repaired planted bug)."""
    distance = np.linalg.norm(np.asarray(achieved_goal) - np.asarray(desired_goal), axis=-1)
    return -distance.astype(np.float32)
