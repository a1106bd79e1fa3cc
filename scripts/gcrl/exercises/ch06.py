"""Chapter 6's problems: the IQM, the percentile bootstrap, the probability of improvement, a planted seed leak."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from gcrl.analysis.stability import aggregate
from gcrl.exercises.problem import Problem, require


def check_iqm(iqm: Callable[..., Any]) -> None:
    rng = np.random.default_rng(0)
    for n in (4, 8, 10, 13, 20):
        scores = rng.random(n)
        ours = float(iqm(scores))
        expected = float(aggregate(scores[:, None])[0])
        require(np.isclose(ours, expected), f"for {n} scores the IQM is {ours:.4f}, rliable's is {expected:.4f}: "
                "drop floor(n/4) scores from each end of the sorted scores, average the rest")
    outlier = np.array([0.9, 0.92, 0.88, 0.91, 0.0, 0.89, 0.93, 0.9])
    require(float(iqm(outlier)) > 0.88, "one collapsed seed (score 0) moved the IQM below 0.88: the lowest quarter "
            "must not count")


def check_bootstrap_interval(bootstrap: Callable[..., Any]) -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(0.7, 0.1, 20)
    low, high = (float(v) for v in bootstrap(scores, np.mean, 2000, 0))
    require(low < float(np.mean(scores)) < high, "the interval must contain the statistic of the sample itself")
    require((low, high) == tuple(float(v) for v in bootstrap(scores, np.mean, 2000, 0)),
            "two calls with one seed must give the same interval")
    standard_error = float(np.std(scores, ddof=1) / np.sqrt(len(scores)))
    require(2.5 * standard_error < high - low < 5.0 * standard_error, f"the interval's width {high - low:.4f} is not "
            f"about 2 x 1.96 standard errors ({2 * 1.96 * standard_error:.4f}): resample n scores with replacement")
    wide = tuple(float(v) for v in bootstrap(scores, np.mean, 2000, 0, confidence=0.99))
    require(wide[0] < low and wide[1] > high, "a 99% interval must be wider than the 95% one")
    covered = 0
    for trial in range(200):
        sample = np.random.default_rng(100 + trial).normal(0.5, 0.2, 15)
        lo, hi = (float(v) for v in bootstrap(sample, np.mean, 300, trial))
        covered += lo <= 0.5 <= hi
    require(covered >= 170, f"the 95% interval covered the true mean in {covered} of 200 simulated samples "
            "(expected about 190): take the quantiles of the resampled statistics")


def check_probability_of_improvement(improvement: Callable[..., Any]) -> None:
    x, y = np.array([0.9, 0.8, 0.7, 0.6]), np.array([0.5, 0.85, 0.7])
    expected = np.mean([[float(a > b) + 0.5 * float(a == b) for b in y] for a in x])
    ours = float(improvement(x, y))
    require(np.isclose(ours, expected), f"P(X > Y) + P(X = Y)/2 over all {len(x) * len(y)} pairs of runs is "
            f"{expected:.4f}, got {ours:.4f}: compare every run of x with every run of y, ties count half")
    require(np.isclose(float(improvement(x, x)), 0.5), "an algorithm against itself must score 1/2")
    require(np.isclose(float(improvement(x, y)) + float(improvement(y, x)), 1.0),
            "P(X > Y) and P(Y > X) must sum to 1 (ties split evenly)")


def check_seeded_generators(seeded: Callable[..., Any]) -> None:
    (numpy_a, torch_a), (numpy_b, torch_b) = seeded(3), seeded(3)
    a, b = numpy_a.random(5), numpy_b.random(5)
    require(np.array_equal(a, b), "symptom: two runs with seed 3 drew different numpy numbers (first draws "
            f"{a[0]:.4f} and {b[0]:.4f}), so the replay buffer's minibatches, and the run, differ")
    require(torch.equal(torch.rand(5, generator=torch_a), torch.rand(5, generator=torch_b)),
            "two runs with one seed drew different torch numbers")
    require(not np.array_equal(seeded(3)[0].random(5), seeded(4)[0].random(5)), "two seeds must give different "
            "numbers")


PROBLEMS = (
    Problem("ch06", 1, "implementation", "the interquartile mean", "iqm", check_iqm),
    Problem("ch06", 2, "implementation", "the percentile bootstrap", "bootstrap_interval", check_bootstrap_interval),
    Problem("ch06", 3, "derivation", "the probability of improvement as a U statistic",
            "probability_of_improvement", check_probability_of_improvement),
    Problem("ch06", 4, "diagnosis", "a run that is not reproducible from its seed", "seeded_generators",
            check_seeded_generators),
)
