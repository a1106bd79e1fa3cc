"""Chapter 5, problem set: your solutions. Check them with `gcrl check ch05` (or `make check CHAPTER=ch05`).

This file is yours: the course created it once and never writes to it again.
"""

import math

import gymnasium as gym
import numpy as np


class ActionNoise(gym.ActionWrapper):
    """Problem 5.1. A wrapper that adds N(0, sigma^2) noise to every action dimension and keeps the action
    inside the action box; its generator is seeded once, from `seed`."""

    def __init__(self, env, sigma, seed=0):
        super().__init__(env)
        raise NotImplementedError

    def action(self, action):
        raise NotImplementedError


def newcombe_interval(successes_a, trials_a, successes_b, trials_b, z=1.96):
    """Problem 5.2. Newcombe's hybrid score interval (low, high) for the difference of two independent
    success rates p_a - p_b, built from the two Wilson intervals."""
    raise NotImplementedError


def noisy_observation(observation, sigma, rng):
    """Problem 5.3 (diagnosis). Gaussian sensor noise on a Fetch observation dict (a new dict; the argument
    is not modified). Run the check, read the symptom, repair this code."""
    return {key: value + rng.normal(0.0, sigma, value.shape) for key, value in observation.items()}
