"""Chapter 6, problem set: your solutions. Check them with `gcrl check ch06` (or `make check CHAPTER=ch06`).

This file is yours: the course created it once and never writes to it again.
"""

import numpy as np
import torch


def iqm(scores):
    """Problem 6.1. The interquartile mean of a 1-D array of scores, as rliable defines it (a float)."""
    raise NotImplementedError


def bootstrap_interval(scores, statistic, reps, seed, confidence=0.95):
    """Problem 6.2. The percentile bootstrap interval (low, high) of statistic(scores) from `reps`
    resamples with replacement, drawn with numpy's default_rng(seed)."""
    raise NotImplementedError


def probability_of_improvement(x, y):
    """Problem 6.3. P(X > Y) + P(X = Y) / 2 for a score X drawn from the runs x and Y from the runs y."""
    raise NotImplementedError


def seeded_generators(seed):
    """Problem 6.4 (diagnosis). A run's numpy and torch generators, from its seed. Two runs with one seed
    should agree. Run the check, read the symptom, repair this code."""
    return np.random.default_rng(), torch.Generator().manual_seed(seed)
