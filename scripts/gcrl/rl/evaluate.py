"""Measuring a policy: success on fixed held-out episodes, with a confidence interval.

Every success rate in the course is measured the same way: the deterministic
policy runs whole episodes reset with fixed seeds that training never uses,
success is read at the last step (``info["is_success"]``), and the rate is
reported with its 95% Wilson interval and the number of episodes behind it.
"""

from __future__ import annotations

import math

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from gcrl.rl.envs import make_fetch_env

Policy = Callable[[dict[str, np.ndarray]], np.ndarray]

#: Evaluation episodes are reset with seeds from here on; training seeds stay far below.
EVAL_SEED_BASE = 1_000_000
#: Stored observations on which each evaluation of a stochastic policy estimates its entropy (every learner).
ENTROPY_SAMPLES = 1_024


def deterministic_policy(model: Any) -> Policy:
    """The deterministic action map of an SB3 model, observations normalised as in training.

    When the model was trained behind ``VecNormalize``, its policy expects
    normalised observations; the running statistics are applied here, so the
    same callable serves evaluation, videos and reload checks.
    """
    env = model.get_env()
    normalize = env.normalize_obs if env is not None and hasattr(env, "obs_rms") else None

    def act(observation: dict[str, np.ndarray]) -> np.ndarray:
        if normalize is not None:
            observation = normalize(observation)
        return model.predict(observation, deterministic=True)[0]

    return act


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (SciPy's implementation)."""
    from scipy.stats import binomtest

    interval = binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def newcombe_interval(successes_a: int, trials_a: int, successes_b: int, trials_b: int,
                      confidence: float = 0.95) -> tuple[float, float]:
    """The interval of the difference p_a - p_b of two independent proportions from their Wilson intervals.

    Newcombe's (1998) method 10, the hybrid score interval: with (l, u) each rate's Wilson interval,
    ``d - sqrt((p_a - l_a)^2 + (u_b - p_b)^2)`` to ``d + sqrt((u_a - p_a)^2 + (p_b - l_b)^2)``.
    """
    if min(trials_a, trials_b) < 1:
        raise ValueError("each proportion needs at least one trial")
    p_a, p_b = successes_a / trials_a, successes_b / trials_b
    (l_a, u_a), (l_b, u_b) = wilson_interval(successes_a, trials_a, confidence), wilson_interval(successes_b, trials_b, confidence)
    d = p_a - p_b
    return d - float(np.hypot(p_a - l_a, u_b - p_b)), d + float(np.hypot(u_a - p_a, p_b - l_b))


def paired_newcombe_interval(both: int, only_a: int, only_b: int, neither: int,
                             confidence: float = 0.95) -> tuple[float, float]:
    """The interval of p_a - p_b when a and b were measured on the same items (Newcombe 1998b, method 10).

    ``both``, ``only_a``, ``only_b`` and ``neither`` count the items where both, a alone, b alone and neither
    succeeded. Each marginal rate's Wilson interval gives its margins, combined as in the independent hybrid
    interval (:func:`newcombe_interval`) less ``2 phi`` times their product under the root, with phi the
    correlation of the 2 x 2 table: (both x neither - only_a x only_b) over the root of the four margins' product,
    its numerator reduced by n/2 when it exceeds n/2 and set to 0 between 0 and n/2 (Newcombe's continuity
    correction), 0 when a margin is empty. Agreement narrows the interval; disagreement widens it beyond the
    independent one. With no discordant item the interval still has width, unlike a bootstrap's.
    """
    n = both + only_a + only_b + neither
    if min(both, only_a, only_b, neither) < 0 or n < 1:
        raise ValueError("a paired table needs non-negative counts and at least one item")
    a, b = both + only_a, both + only_b
    p_a, p_b = a / n, b / n
    (l_a, u_a), (l_b, u_b) = wilson_interval(a, n, confidence), wilson_interval(b, n, confidence)
    margins = a * (n - a) * b * (n - b)
    cross = both * neither - only_a * only_b
    phi = 0.0 if margins == 0 or 0 <= cross <= n / 2 else (cross - n / 2 if cross > 0 else cross) / math.sqrt(margins)
    d = p_a - p_b
    below = math.sqrt(max((p_a - l_a) ** 2 - 2 * phi * (p_a - l_a) * (u_b - p_b) + (u_b - p_b) ** 2, 0.0))
    above = math.sqrt(max((u_a - p_a) ** 2 - 2 * phi * (u_a - p_a) * (p_b - l_b) + (p_b - l_b) ** 2, 0.0))
    return d - below, d + above


def paired_table(a: str, b: str) -> tuple[int, int, int, int]:
    """(both, only_a, only_b, neither) of two outcome strings over the same episodes, in the same order."""
    if not a or len(a) != len(b) or set(a + b) - {"0", "1"}:
        raise ValueError("two equally long, non-empty strings of 0/1 outcomes on the same episodes are needed")
    both = sum(x == y == "1" for x, y in zip(a, b))
    neither = sum(x == y == "0" for x, y in zip(a, b))
    return both, a.count("1") - both, b.count("1") - both, neither


@dataclass(frozen=True)
class Evaluation:
    """One evaluation: the success rate with its Wilson interval, and each episode's outcome.

    ``outcomes`` holds one character per episode, in the order of the seeds,
    ``1`` for a success and ``0`` otherwise. Every evaluation of a run, and of
    every run of a chapter, uses the same episode seeds, so outcomes line up
    episode by episode; Chapter 6 needs that to separate the variation due to
    the episodes from the variation due to the training seeds.
    """

    episodes: int
    successes: int
    success_rate: float
    ci95_low: float
    ci95_high: float
    mean_final_distance: float
    outcomes: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(env_id: str, policy: Policy, seeds: list[int], wrap: Callable[[Any], Any] | None = None) -> Evaluation:
    """Run ``policy`` for one whole episode per seed; success and distance are read at the last step.

    ``wrap`` puts a perturbation (:mod:`gcrl.rl.perturb`) between the policy and the
    environment. The final distance is the true one, read from the environment
    itself, so noise on what the policy sees does not enter it.
    """
    env = make_fetch_env(env_id)
    if wrap is not None:
        env = wrap(env)
    outcomes, distances = [], []
    try:
        for seed in seeds:
            observation, _ = env.reset(seed=seed)
            done, info = False, {}
            while not done:
                observation, _, terminated, truncated, info = env.step(policy(observation))
                done = terminated or truncated
            outcomes.append(int(bool(info["is_success"])))
            true = env.unwrapped._get_obs()
            distances.append(float(np.linalg.norm(true["achieved_goal"] - true["desired_goal"])))
    finally:
        env.close()
    successes = sum(outcomes)
    low, high = wilson_interval(successes, len(seeds))
    return Evaluation(len(seeds), successes, successes / len(seeds), low, high, float(np.mean(distances)),
                      "".join(map(str, outcomes)))


def evaluation_seeds(count: int, base: int = EVAL_SEED_BASE) -> list[int]:
    return list(range(base, base + count))


def pooled(evaluations: list[dict[str, Any]]) -> dict[str, Any]:
    """Successes pooled over runs (seeds), with the Wilson interval of the pooled count.

    Pooling treats every evaluation episode as exchangeable, which ignores the
    variation between seeds; Chapter 6 replaces it with stratified bootstrap
    intervals across runs. Here it gives an honest count of what was observed.
    """
    successes = sum(int(e["successes"]) for e in evaluations)
    episodes = sum(int(e["episodes"]) for e in evaluations)
    low, high = wilson_interval(successes, episodes)
    return {"runs": len(evaluations), "episodes": episodes, "successes": successes,
            "success_rate": successes / episodes, "ci95_low": low, "ci95_high": high}
