"""Chapter 5's problems: an action-noise wrapper, Newcombe's interval, a planted noise on the commanded goal."""

from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym
import numpy as np
from scipy import stats

from gcrl.exercises.problem import Problem, require
from gcrl.rl.envs import make_fetch_env
from gcrl.rl.evaluate import newcombe_interval


def _applied_actions(wrapper: Callable[..., Any], env: Any, actions: np.ndarray, *arguments: Any) -> np.ndarray:
    """What the robot receives for each action, read from ``wrapper(env, *arguments).action``; each action is given as
    a fresh copy, and the check fails if the wrapper changed it in place."""
    wrapped = wrapper(env, *arguments)
    wrapped.reset(seed=0)
    applied = []
    for action in actions:
        given = action.copy()
        applied.append(np.asarray(wrapped.action(given), dtype=float))
        require(np.array_equal(given, action), "ActionNoise.action modified the policy's action array in place: "
                "return a new array")
    wrapped.step(actions[0])  # the wrapper must also step
    return np.array(applied)


def _max_correlation(samples: np.ndarray) -> tuple[float, int, int]:
    """The largest |correlation| between two columns of ``samples`` (steps x dimensions), and which two."""
    c = np.corrcoef(samples, rowvar=False)
    np.fill_diagonal(c, 0.0)
    i, j = np.unravel_index(int(np.argmax(np.abs(c))), c.shape)
    return float(abs(c[i, j])), int(i), int(j)


def _gaussian_noise(noise: np.ndarray, sigma: float, what: str, spread: float, correlation: float,
                    lag: bool = False) -> None:
    """Noise (draws x dimensions) that must be N(0, sigma^2) in every dimension, independently: not the same draw
    each time, mean 0 and standard deviation sigma per dimension (to ``spread`` relative), no correlation between
    dimensions above ``correlation`` (nor, with ``lag``, between one draw and the next), Gaussian by a
    Kolmogorov-Smirnov test per dimension when there are enough draws."""
    draws, dimensions = noise.shape
    require(not np.allclose(noise, noise[:1]), f"{what}: the noise was the same on all {draws} draws "
            f"({np.array2string(noise[0][:4], precision=4)} ...); it must be drawn anew each time")
    std = noise.std(axis=0, ddof=1)
    mean = noise.mean(axis=0)
    k = int(np.argmax(np.abs(std / sigma - 1)))
    require(abs(std[k] / sigma - 1) < spread, f"{what}: over {draws} draws the noise's standard deviation in "
            f"dimension {k} is {std[k]:.4g} (across the {dimensions} dimensions it ranges from {std.min():.4g} to "
            f"{std.max():.4g}); it must be sigma = {sigma} in every dimension")
    k = int(np.argmax(np.abs(mean)))
    require(abs(mean[k]) < 5 * sigma / np.sqrt(draws), f"{what}: the noise's mean in dimension {k} is {mean[k]:+.4f} "
            f"over {draws} draws; it must be 0 (5 standard errors: {5 * sigma / np.sqrt(draws):.4f})")
    largest, i, j = _max_correlation(noise)
    require(largest < correlation, f"{what}: the noise of dimensions {i} and {j} has correlation {largest:.2f} over "
            f"{draws} draws; each dimension's noise must be drawn independently (N(0, sigma^2 I))")
    if lag:
        r = [abs(float(np.corrcoef(noise[:-1, d], noise[1:, d])[0, 1])) for d in range(dimensions)]
        require(max(r) < correlation, f"{what}: in dimension {int(np.argmax(r))} the noise of one step and the next "
                f"have correlation {max(r):.2f}; each step's noise must be a new, independent draw")
    if draws >= 1000:
        ks = [stats.kstest(noise[:, d], "norm", args=(0.0, sigma)).statistic for d in range(dimensions)]
        require(max(ks) < KS_CRITICAL, f"{what}: the noise of dimension {int(np.argmax(ks))} is not Gaussian: its "
                f"Kolmogorov-Smirnov distance to N(0, {sigma}^2) over {draws} draws is {max(ks):.3f} "
                f"(critical value {KS_CRITICAL:.3f})")


#: Power of the distributional tests on 2000 steps (the standard errors of a standard deviation and of a correlation
#: are 1.6% of sigma and 0.022). Spread: within 10% of sigma, 6 standard errors, so sigma^2 or sigma / 2 for sigma is
#: always seen. Correlation: between independent dimensions it exceeds 0.15 (6.7 null standard errors) with
#: probability < 1e-10 for the six pairs; in 2000 simulations a component shared by all dimensions with correlation
#: 0.2 exceeded it every time (a scalar draw added to every dimension has correlation 1), and in 300 simulations a
#: lag-one autocorrelation of 0.25 between steps did too. Shape: the Kolmogorov-Smirnov critical value at level 1e-4
#: for n = 2000; uniform noise of the right variance (distance 0.057) exceeds it in 99.7% of samples, in each
#: dimension.
ACTION_STEPS = 2000
KS_CRITICAL = float(stats.kstwo.ppf(1 - 1e-4, ACTION_STEPS))


def check_action_noise(wrapper: Callable[..., Any]) -> None:
    """Properties of a right answer: (1) with sigma = 0 actions pass through unchanged; (2) the perturbed action has
    the action's shape; (3) the noise is N(0, sigma^2) in every dimension separately (mean 0, standard deviation
    sigma, Gaussian), independently across dimensions and from one step to the next, for sigma = 0.05 and 0.2, not
    only one value; (4) one seed gives one noise (the default seed is 0) and two seeds different noise; (5) the
    perturbed action stays inside the wrapped environment's action box, whatever its bounds (Fetch's [-1, 1], and
    [-0.5, 0.5] after RescaleAction); (6) the policy's action array is not modified. The power of (3) is stated
    beside ``ACTION_STEPS``."""
    rng = np.random.default_rng(0)
    actions = rng.uniform(-0.3, 0.3, size=(ACTION_STEPS, 4)).astype(np.float32)
    env = make_fetch_env("FetchReach-v4")
    try:
        passed = _applied_actions(wrapper, env, actions[:50], 0.0, 0)
        require(np.allclose(passed, actions[:50]), "with sigma = 0 the wrapper must pass actions through unchanged")
        for sigma in (0.05, 0.2):
            noisy = _applied_actions(wrapper, env, actions, sigma, 7)
            require(noisy.shape == actions.shape, f"the perturbed action has the action's shape {actions.shape[1:]}, "
                    f"got {noisy.shape[1:]}")
            _gaussian_noise(noisy - actions, sigma, f"with sigma = {sigma}", 0.1, 0.15, lag=True)
        noisy = _applied_actions(wrapper, env, actions[:200], 0.2, 7)
        require(np.allclose(noisy, _applied_actions(wrapper, env, actions[:200], 0.2, 7)), "two wrappers with one "
                "seed perturbed differently: the noise must be a function of the seed (seed the generator once, "
                "from the argument)")
        require(not np.allclose(noisy, _applied_actions(wrapper, env, actions[:200], 0.2, 8)),
                "two seeds gave the same noise")
        require(np.allclose(_applied_actions(wrapper, env, actions[:200], 0.2),
                            _applied_actions(wrapper, env, actions[:200], 0.2, 0)),
                "a wrapper made without a seed perturbed unlike one with seed 0 (the default seed is 0)")
        edge = _applied_actions(wrapper, env, np.ones((200, 4), dtype=np.float32), 1.0, 0)
        require(float(edge.max()) <= 1.0 and float(edge.min()) >= -1.0, f"perturbed actions reached "
                f"[{edge.min():.2f}, {edge.max():.2f}], outside Fetch's action box [-1, 1]")
        narrow = gym.wrappers.RescaleAction(env, np.full(4, -0.5, np.float32), np.full(4, 0.5, np.float32))
        edge = _applied_actions(wrapper, narrow, np.full((200, 4), 0.5, dtype=np.float32), 1.0, 0)
        require(float(edge.max()) <= 0.5 and float(edge.min()) >= -0.5, f"on an environment whose action box is "
                f"[-0.5, 0.5] (Fetch under RescaleAction) the perturbed actions reached [{edge.min():.2f}, "
                f"{edge.max():.2f}]: keep them inside the wrapped environment's action_space")
    finally:
        env.close()


#: (a, n_a, b, n_b, z): rates near 0 and 1, equal rates, unequal sample sizes, and z other than its default
NEWCOMBE_CASES = ((95, 100, 8, 100, None), (50, 100, 50, 100, None), (0, 20, 0, 30, None), (12, 150, 10, 150, None),
                  (30, 40, 5, 60, None), (3, 10, 9, 10, 2.5758), (40, 50, 20, 50, 1.0), (0, 15, 15, 15, 3.0))


def check_newcombe_interval(interval: Callable[..., Any]) -> None:
    """Properties of a right answer, for every case of ``NEWCOMBE_CASES`` (z varied): (1) the interval lies in
    [-1, 1] and contains the observed difference d (to 1e-9); (2) exchanging A and B negates it (the interval of
    p_b - p_a is [-high, -low]); (3) its ends are Newcombe's method 10, d - sqrt((p_a - l_a)^2 + (u_b - p_b)^2) and
    d + sqrt((u_a - p_a)^2 + (p_b - l_b)^2), with the Wilson intervals at the z it is called with (to 1e-6)."""
    for a, na, b, nb, z in NEWCOMBE_CASES:
        extra = {} if z is None else {"z": z}
        called = f"newcombe_interval({a}, {na}, {b}, {nb}{'' if z is None else f', z={z}'})"
        low, high = (float(v) for v in interval(a, na, b, nb, **extra))
        d = a / na - b / nb
        require(-1 - 1e-9 <= low <= d + 1e-9 and d - 1e-9 <= high <= 1 + 1e-9, f"{called} returned [{low:.6f}, "
                f"{high:.6f}], which must lie in [-1, 1] and contain the observed difference {d:+.6f}")
        swapped_low, swapped_high = (float(v) for v in interval(b, nb, a, na, **extra))
        require(abs(swapped_low + high) < 1e-9 and abs(swapped_high + low) < 1e-9, f"{called} returned "
                f"[{low:.6f}, {high:.6f}] but with A and B exchanged [{swapped_low:.6f}, {swapped_high:.6f}], not "
                f"[{-high:.6f}, {-low:.6f}]: the interval of p_b - p_a must be the negation of that of p_a - p_b")
        confidence = 2 * float(stats.norm.cdf(1.96 if z is None else z)) - 1
        ref_low, ref_high = newcombe_interval(a, na, b, nb, confidence)
        require(abs(low - ref_low) < 1e-6 and abs(high - ref_high) < 1e-6, f"{called} returned [{low:.6f}, "
                f"{high:.6f}]; Newcombe's interval for this z is [{ref_low:.6f}, {ref_high:.6f}]: the lower end "
                "combines how far A's rate may fall (p_a - l_a) with how far B's may rise (u_b - p_b), in quadrature, "
                "from the two Wilson intervals at this z")


#: Power on 400 draws of the 25 sensed dimensions (standard errors: 3.5% of sigma for a standard deviation, 0.05 for a
#: correlation). Spread: within 20% of sigma per dimension (5.7 standard errors) and the pooled spread within 5%
#: (7 standard errors over 10,000 numbers). Correlation: independent dimensions stay below 0.3 (6 null standard
#: errors: about 1e-6 for all 300 pairs), and in 500 simulations a component shared with correlation 0.4 exceeded it
#: every time (a scalar added to every dimension: correlation 1).
OBSERVATION_DRAWS = 400


def check_noisy_observation(noisy_observation: Callable[..., Any]) -> None:
    """Properties of the repaired function: (1) it returns a new dict with the same keys and leaves the argument
    unchanged; (2) the commanded ``desired_goal`` is not perturbed; (3) the sensed ``observation`` is, with noise
    N(0, sigma^2) in each of its dimensions independently (per-dimension spread, no correlation between dimensions),
    for sigma = 0.01 and 0.05; (4) the noise comes from the generator given: two generators in one state give the
    same noise, and successive calls with one generator different noise. The achieved goal may be perturbed or not
    (it is measured, Chapter 5 allows both). The power of (3) is stated beside ``OBSERVATION_DRAWS``."""
    env = make_fetch_env("FetchPush-v4")
    observation, _ = env.reset(seed=0)
    env.close()
    kept = {key: value.copy() for key, value in observation.items()}
    noisy = noisy_observation(observation, 0.01, np.random.default_rng(0))
    require(all(np.array_equal(observation[k], kept[k]) for k in kept), "the argument was modified in place: "
            "return a new dict")
    require(isinstance(noisy, dict) and set(noisy) == set(kept), f"the result must be a dict with the observation's "
            f"keys {sorted(kept)}, got {sorted(noisy) if isinstance(noisy, dict) else type(noisy).__name__}")
    moved = float(np.abs(noisy["desired_goal"] - observation["desired_goal"]).max())
    require(moved == 0.0, f"symptom: the desired goal moved by up to {moved * 1000:.1f} mm under sensor noise; it is "
            "the command the policy was given, not a measurement, so no sensor corrupts it")
    require(np.shape(noisy["observation"]) == observation["observation"].shape, "the perturbed observation keeps its "
            f"shape {observation['observation'].shape}")
    require(not np.allclose(noisy["observation"], observation["observation"]), "the sensed state (`observation`) "
            "must be perturbed")
    same = [noisy_observation(observation, 0.01, np.random.default_rng(5))["observation"] for _ in range(2)]
    require(np.array_equal(same[0], same[1]), "two generators in the same state gave different noise: draw the noise "
            "from the generator passed as rng")
    for sigma in (0.01, 0.05):
        rng = np.random.default_rng(3)
        noise = np.array([noisy_observation(observation, sigma, rng)["observation"] - observation["observation"]
                          for _ in range(OBSERVATION_DRAWS)])
        _gaussian_noise(noise, sigma, f"with sigma = {sigma}, over {OBSERVATION_DRAWS} calls with one generator",
                        0.2, 0.3)
        pooled = float(noise.std(ddof=1))
        require(abs(pooled / sigma - 1) < 0.05, f"with sigma = {sigma} the noise's standard deviation over all "
                f"{noise.size} numbers is {pooled:.5f}; it must be sigma")


PROBLEMS = (
    Problem("ch05", 1, "implementation", "an action-noise wrapper", "ActionNoise", check_action_noise),
    Problem("ch05", 2, "derivation", "Newcombe's interval of a difference of rates", "newcombe_interval",
            check_newcombe_interval),
    Problem("ch05", 3, "diagnosis", "sensor noise on the commanded goal", "noisy_observation",
            check_noisy_observation),
)
