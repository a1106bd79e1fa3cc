"""Chapter 1, problem set: your solutions. Check them with `gcrl check ch01` (or `make check CHAPTER=ch01`).

This file is yours: the course created it once and never writes to it again.
"""

import math

import gymnasium as gym
import gymnasium_robotics  # noqa: F401  (registers the Fetch tasks)
import numpy as np


def wilson_interval(successes, trials, z=1.96):
    """Problem 1.1. The Wilson score interval (low, high) of a success rate successes / trials:
    the set of p that the score test |p_hat - p| / sqrt(p (1 - p) / n) <= z does not reject."""
    raise NotImplementedError


def random_floor(env_id, episodes, seed):
    """Problem 1.2. The outcome (a list of `episodes` bools) of each episode of uniformly random actions on `env_id`.
    Protocol: episode i resets with seed `seed + i`; actions come from env.action_space, seeded once with
    `seed` before the first episode; an episode succeeds when info["is_success"] is 1 at its last step."""
    raise NotImplementedError


def episode_success(is_success):
    """Problem 1.3 (diagnosis). Whether an episode succeeded, from its per-step info["is_success"] values.
    The floor this gives is higher than Chapter 1's. Run the check, read the symptom, repair this code."""
    return bool(max(is_success))
