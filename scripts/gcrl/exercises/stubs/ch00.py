"""Chapter 0, problem set: your solutions. Check them with `gcrl check ch00` (or `make check CHAPTER=ch00`).

This file is yours: the course created it once and never writes to it again.
"""

import math

import numpy as np


def sparse_reward(achieved_goal, desired_goal, threshold=0.05):
    """Problem 0.1. Fetch's sparse reward for one goal (shape (3,)) or a batch (shape (N, 3)):
    0.0 where the achieved goal lies within `threshold` of the desired goal, -1.0 otherwise."""
    raise NotImplementedError


def episodes_for_half_width(half_width, p=0.5, z=1.96):
    """Problem 0.2. The fewest episodes n whose normal-approximation interval p_hat +- z sqrt(p(1-p)/n)
    has half-width at most `half_width` (an integer)."""
    raise NotImplementedError


def dense_reward(achieved_goal, desired_goal):
    """Problem 0.3 (diagnosis). The reward of the dense variants (FetchReachDense-v4 and the others).
    A policy trained on it moves away from its goals. Run the check, read the symptom, repair this code."""
    distance = np.linalg.norm(np.asarray(achieved_goal) - np.asarray(desired_goal), axis=-1)
    return distance.astype(np.float32)
