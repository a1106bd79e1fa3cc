"""Chapter 6: reference solutions."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def iqm(scores: np.ndarray) -> float:
    """The interquartile mean: sort, drop the lowest and the highest floor(n/4) scores, average the rest.

    This is scipy.stats.trim_mean(scores, 0.25), which rliable's IQM computes.
    """
    x = np.sort(np.asarray(scores, dtype=float).ravel())
    cut = int(0.25 * len(x))
    return float(x[cut:len(x) - cut].mean())


def bootstrap_interval(scores: np.ndarray, statistic: Callable[[np.ndarray], float], reps: int,
                       seed: int, confidence: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap: resample the scores with replacement ``reps`` times, take the quantiles."""
    rng = np.random.default_rng(seed)
    scores = np.asarray(scores, dtype=float)
    draws = rng.integers(0, len(scores), size=(reps, len(scores)))
    replicates = np.array([statistic(scores[row]) for row in draws])
    tail = (1 - confidence) / 2
    return float(np.quantile(replicates, tail)), float(np.quantile(replicates, 1 - tail))


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) + P(X = Y) / 2 over all pairs of runs: the Mann-Whitney U statistic divided by n m."""
    x, y = np.asarray(x, dtype=float)[:, None], np.asarray(y, dtype=float)[None, :]
    return float(np.mean((x > y) + 0.5 * (x == y)))


def seeded_generators(seed: int) -> tuple[np.random.Generator, torch.Generator]:
    """Both of a run's generators derived from its seed (the repaired planted bug)."""
    return np.random.default_rng(seed), torch.Generator().manual_seed(seed)
