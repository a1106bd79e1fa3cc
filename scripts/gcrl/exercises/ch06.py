"""Chapter 6's problems: the IQM, the percentile bootstrap, the probability of improvement, a planted seed leak."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from scipy import stats

from gcrl.analysis.stability import aggregate
from gcrl.exercises.problem import Problem, require


def check_iqm(iqm: Callable[..., Any]) -> None:
    """Properties of a right answer: (1) one number; (2) rliable's IQM (scipy's trim_mean(scores, 0.25): sort, drop
    floor(n/4) scores from each end, average the rest) for every n from 4 to 13 and n = 20, on unsorted scores, so
    that n not divisible by 4 separates floor from round or from percentile cuts; (3) floor(n/4) collapsed seeds do
    not move it below the others; (4) the caller's scores are not modified (not sorted in place)."""
    rng = np.random.default_rng(0)
    for n in (*range(4, 14), 20):
        scores = rng.random(n)
        given = scores.copy()
        value = np.asarray(iqm(given), dtype=float)
        require(value.size == 1, f"the IQM of {n} scores is one number, got shape {value.shape}")
        require(np.array_equal(given, scores), "iqm modified (sorted?) the caller's scores in place: work on a copy")
        ours, expected = float(value.reshape(-1)[0]), float(aggregate(scores[:, None])[0])
        require(np.isclose(ours, expected), f"for {n} scores the IQM is {ours:.6f}, rliable's is {expected:.6f}: "
                f"sort, drop floor({n}/4) = {n // 4} from each end, average the {n - 2 * (n // 4)} in the middle")
    outlier = np.array([0.9, 0.92, 0.88, 0.91, 0.0, 0.89, 0.93, 0.9])
    require(float(np.asarray(iqm(outlier), dtype=float).reshape(-1)[0]) > 0.88, "one collapsed seed (score 0) of 8 "
            "moved the IQM below 0.88: the lowest quarter must not count")


class _Recorder:
    """A statistic that records every sample it is given (a 2-D array with ``axis`` counts as one sample per row)."""

    def __init__(self, function: Callable[..., Any]):
        self.function, self.samples = function, []

    def __call__(self, sample: Any, axis: int | None = None) -> Any:
        array = np.asarray(sample, dtype=float)
        if axis is not None and array.ndim == 2:
            rows = array if axis in (1, -1) else array.T
            self.samples.extend(np.array(row) for row in rows)
            return np.array([self.function(row) for row in rows])
        self.samples.append(array.copy())
        return self.function(array)


def _resamples(statistic: _Recorder, reps: int) -> list[np.ndarray]:
    """The resamples the statistic was called on (a call on the scores themselves, in their order, does not count):
    there must be ``reps`` of them, each as long as the sample."""
    samples = [x for x in statistic.samples if not np.array_equal(x, SCORES)]
    lengths = sorted({len(x) for x in samples})
    require(len(samples) in (reps, reps + 1) and lengths == [len(SCORES)], f"with reps = {reps} the statistic was "
            f"called on {len(samples)} resamples of lengths {lengths[:5]}; it must be called on reps resamples of all "
            f"{len(SCORES)} scores")
    return samples


#: eleven scores, unsorted and unevenly spaced, so that the median's bootstrap distribution is skewed
SCORES = np.array([0.41, 0.97, 0.05, 0.62, 0.26, 0.88, 0.11, 0.47, 0.70, 0.20, 0.30])


def median_bootstrap_quantile(scores: np.ndarray, q: float) -> float:
    """The q-quantile of the median of a resample of n (odd) scores drawn with replacement, exactly: the median of
    the resample is at most the k-th smallest score x_(k) when at least (n + 1) / 2 draws are, so
    P(median <= x_(k)) = P(Binomial(n, k / n) >= (n + 1) / 2)."""
    x = np.sort(scores)
    n = len(x)
    cdf = stats.binom.sf((n + 1) // 2 - 1, n, np.arange(1, n + 1) / n)
    return float(x[int(np.searchsorted(cdf, q))])


#: (confidence, reps) of the exact test. With 11 scores the median's bootstrap distribution function takes the values
#: 0.0072, 0.0512, 0.1727, 0.3786, 0.6214, 0.8273, 0.9488, 0.9928 at the 2nd to 9th smallest score; every tail
#: probability below lies at least 0.018 from them, 7 standard errors of a quantile estimated from ``reps``
#: resamples, so a right answer lands on the exact end whatever its resampling stream (failing with probability
#: < 1e-11), while the percentile ends of another tail (alpha instead of alpha / 2), the basic bootstrap
#: (2 theta - q), the normal approximation (theta +- z sd) and the mean instead of the statistic all miss them.
MEDIAN_CASES = ((0.95, 4000), (0.8, 2000), (0.5, 2000))


def check_bootstrap_interval(bootstrap: Callable[..., Any]) -> None:
    """Properties of a right answer: (1) ``reps`` resamples of the n scores (each of length n), the statistic called on
    each; (2) drawn with replacement, every score equally likely (within 10% over reps x n draws: 4.7 standard
    errors), the resamples not all the same; (3) the ends are the (1 - c) / 2 and (1 + c) / 2 quantiles of the
    statistic over the resamples, for the statistic given (the median of 11 scores, whose bootstrap quantiles are
    known exactly: ``MEDIAN_CASES``) and for c = 0.95, 0.8 and 0.5; (4) one seed gives one interval and one set of
    resamples, two seeds different resamples; (5) with the mean of 20 normal scores the interval contains the mean
    and is about 2 x 1.96 standard errors wide (between 2.5 and 5), and the 99% interval contains the 95% one."""
    for confidence, reps in MEDIAN_CASES:
        statistic = _Recorder(np.median)
        given = SCORES.copy()
        low, high = (float(v) for v in (bootstrap(given, statistic, reps, 0) if confidence == 0.95 else
                                        bootstrap(given, statistic, reps, 0, confidence=confidence)))
        require(np.array_equal(given, SCORES), "bootstrap_interval modified the caller's scores in place")
        samples = _resamples(statistic, reps)
        distinct = len({x.tobytes() for x in samples})
        require(distinct > len(samples) // 2, f"only {distinct} of the {len(samples)} resamples are distinct: draw a "
                "new resample for each replicate")
        draws = np.concatenate(samples)
        counts = np.array([np.sum(draws == v) for v in SCORES])
        expected_count = len(draws) / len(SCORES)
        k = int(np.argmax(np.abs(counts / expected_count - 1)))
        require(np.isin(draws, SCORES).all() and abs(counts[k] / expected_count - 1) < 0.1, f"over {len(samples)} "
                f"resamples the score {SCORES[k]} was drawn {counts[k]} times, not about {expected_count:.0f}: every "
                "score must be equally likely in every draw")
        repeated = np.mean([len(np.unique(x)) < len(x) for x in samples])
        require(repeated > 0.5, f"only {100 * repeated:.0f}% of the resamples hold a score twice; drawn with "
                "replacement, almost all of them do (all but 11!/11^11 = 0.01%)")
        tail = (1 - confidence) / 2
        ends = median_bootstrap_quantile(SCORES, tail), median_bootstrap_quantile(SCORES, 1 - tail)
        require(abs(low - ends[0]) < 1e-9 and abs(high - ends[1]) < 1e-9, f"with statistic = np.median, confidence "
                f"{confidence} and {reps} resamples the interval is [{low:.4f}, {high:.4f}]; the percentile bootstrap "
                f"gives [{ends[0]:.4f}, {ends[1]:.4f}], the {tail:.3g} and {1 - tail:.3g} quantiles of the medians of "
                f"the resamples (exactly known here: P(median <= x_(k)) = P(Binomial(11, k/11) >= 6))")
    first, second, other = _Recorder(np.median), _Recorder(np.median), _Recorder(np.median)
    intervals = [tuple(float(v) for v in bootstrap(SCORES, r, 500, seed)) for r, seed in
                 ((first, 3), (second, 3), (other, 4))]
    first, second, other = (_resamples(r, 500) for r in (first, second, other))
    require(intervals[0] == intervals[1] and all(np.array_equal(a, b) for a, b in zip(first, second)),
            "two calls with seed 3 drew different resamples: draw them from numpy's default_rng(seed)")
    require(not all(np.array_equal(a, b) for a, b in zip(first, other)), "seeds 3 and 4 drew the same resamples: "
            "the seed must set the generator")
    rng = np.random.default_rng(0)
    scores = rng.normal(0.7, 0.1, 20)
    low, high = (float(v) for v in bootstrap(scores, np.mean, 2000, 0))
    require(low < float(np.mean(scores)) < high, f"with np.mean the interval [{low:.4f}, {high:.4f}] does not contain "
            f"the sample's own mean {np.mean(scores):.4f}")
    standard_error = float(np.std(scores, ddof=1) / np.sqrt(len(scores)))
    require(2.5 * standard_error < high - low < 5.0 * standard_error, f"with np.mean the interval's width "
            f"{high - low:.4f} is not about 2 x 1.96 standard errors ({2 * 1.96 * standard_error:.4f})")
    wide = tuple(float(v) for v in bootstrap(scores, np.mean, 2000, 0, confidence=0.99))
    require(wide[0] < low and wide[1] > high, f"the 99% interval [{wide[0]:.4f}, {wide[1]:.4f}] must contain the 95% "
            f"one [{low:.4f}, {high:.4f}] strictly")


#: runs of unequal numbers (5 and 3), unsorted, with ties within and across the two sets
IMPROVEMENT_CASES = ((np.array([0.9, 0.7, 0.8, 0.7, 0.6]), np.array([0.85, 0.5, 0.7])),
                     (np.array([0.2, 0.4]), np.array([0.4, 0.1, 0.3, 0.4])))


def check_probability_of_improvement(improvement: Callable[..., Any]) -> None:
    """Properties of a right answer, on runs of unequal numbers with ties within and across the sets: (1) the average
    over all n m pairs of 1[x > y] + 1[x = y] / 2 (the Mann-Whitney U / (n m)), in both orders; (2) the two orders
    sum to 1; (3) an algorithm against itself scores 1/2; (4) the arguments are not modified (not sorted in place)."""
    for x, y in IMPROVEMENT_CASES:
        for a, b in ((x, y), (y, x)):
            given = a.copy(), b.copy()
            ours = float(np.asarray(improvement(*given), dtype=float).reshape(-1)[0])
            require(np.array_equal(given[0], a) and np.array_equal(given[1], b), "probability_of_improvement "
                    "modified (sorted?) its arguments in place")
            wins = sum(float(u > v) for u in a for v in b)
            ties = sum(float(u == v) for u in a for v in b)
            expected = (wins + 0.5 * ties) / (len(a) * len(b))
            require(np.isclose(ours, expected), f"for x = {a.tolist()} and y = {b.tolist()} the estimate is "
                    f"{ours:.4f}; over all {len(a) * len(b)} pairs x wins {wins:.0f} and ties {ties:.0f}, so "
                    f"P(X > Y) + P(X = Y)/2 = {expected:.4f}")
        forward, backward = float(improvement(x, y)), float(improvement(y, x))
        require(np.isclose(forward + backward, 1.0), f"P(X > Y) = {forward:.4f} and P(Y > X) = {backward:.4f} must "
                "sum to 1 (ties split evenly)")
        require(np.isclose(float(improvement(x, x.copy())), 0.5), "an algorithm against itself must score 1/2")


def check_seeded_generators(seeded: Callable[..., Any]) -> None:
    """Properties of the repaired function: (1) two runs with one seed draw the same numpy numbers and the same torch
    numbers (seeds 3 and 0); (2) two seeds give different numpy numbers and different torch numbers (both
    generators depend on the seed); (3) each call makes generators of its own: drawing from one run's generators
    does not change another's stream (no shared global state)."""
    (numpy_a, torch_a), (numpy_b, torch_b) = seeded(3), seeded(3)
    a, b = numpy_a.random(5), numpy_b.random(5)
    require(np.array_equal(a, b), "symptom: two runs with seed 3 drew different numpy numbers (first draws "
            f"{a[0]:.4f} and {b[0]:.4f}), so the replay buffer's minibatches, and the run, differ")
    require(torch.equal(torch.rand(5, generator=torch_a), torch.rand(5, generator=torch_b)),
            "two runs with seed 3 drew different torch numbers")
    (numpy_a, torch_a), (numpy_b, torch_b) = seeded(0), seeded(0)
    require(np.array_equal(numpy_a.random(5), numpy_b.random(5)) and
            torch.equal(torch.rand(5, generator=torch_a), torch.rand(5, generator=torch_b)),
            "two runs with seed 0 drew different numbers (seed 0 is a seed like any other)")
    (numpy_3, torch_3), (numpy_4, torch_4) = seeded(3), seeded(4)
    require(not np.array_equal(numpy_3.random(5), numpy_4.random(5)), "seeds 3 and 4 gave the same numpy numbers")
    require(not torch.equal(torch.rand(5, generator=torch_3), torch.rand(5, generator=torch_4)),
            "seeds 3 and 4 gave the same torch numbers: the torch generator must depend on the seed too")
    (numpy_a, torch_a), (numpy_b, torch_b) = seeded(5), seeded(5)
    numpy_a.random(5), torch.rand(5, generator=torch_a)
    first_numpy, first_torch = numpy_a.random(5), torch.rand(5, generator=torch_a)
    (numpy_c, torch_c) = seeded(5)
    require(np.array_equal(numpy_b.random(5), numpy_c.random(5)) and np.array_equal(numpy_b.random(5), first_numpy),
            "drawing from one run's numpy generator changed another run's numbers: each call must make a generator "
            "of its own")
    require(torch.equal(torch.rand(5, generator=torch_b), torch.rand(5, generator=torch_c)) and
            torch.equal(torch.rand(5, generator=torch_b), first_torch),
            "drawing from one run's torch generator changed another run's numbers: each call must make a generator "
            "of its own")


PROBLEMS = (
    Problem("ch06", 1, "implementation", "the interquartile mean", "iqm", check_iqm),
    Problem("ch06", 2, "implementation", "the percentile bootstrap", "bootstrap_interval", check_bootstrap_interval),
    Problem("ch06", 3, "derivation", "the probability of improvement as a U statistic",
            "probability_of_improvement", check_probability_of_improvement),
    Problem("ch06", 4, "diagnosis", "a run that is not reproducible from its seed", "seeded_generators",
            check_seeded_generators),
)
