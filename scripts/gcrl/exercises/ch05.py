"""Chapter 5's problems: an action-noise wrapper, Newcombe's interval, a planted noise on the commanded goal."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gcrl.exercises.problem import Problem, require
from gcrl.rl.envs import make_fetch_env
from gcrl.rl.evaluate import newcombe_interval


def _applied_actions(wrapper: Callable[..., Any], sigma: float, seed: int, actions: np.ndarray) -> np.ndarray:
    """What the wrapped environment's robot receives for each action (read from the wrapper's ``action``)."""
    env = make_fetch_env("FetchReach-v4")
    wrapped = wrapper(env, sigma, seed)
    try:
        wrapped.reset(seed=0)
        applied = np.array([np.asarray(wrapped.action(a)) for a in actions])
        wrapped.step(actions[0])  # the wrapper must also step
    finally:
        env.close()
    return applied


def check_action_noise(wrapper: Callable[..., Any]) -> None:
    rng = np.random.default_rng(0)
    actions = rng.uniform(-0.5, 0.5, size=(2000, 4)).astype(np.float32)
    require(np.allclose(_applied_actions(wrapper, 0.0, 0, actions[:50]), actions[:50]),
            "with sigma = 0 the wrapper must pass actions through unchanged")
    noisy = _applied_actions(wrapper, 0.1, 7, actions)
    require(noisy.shape == actions.shape, "the perturbed action has the action's shape")
    spread = float(np.std(noisy - actions))
    require(abs(spread - 0.1) < 0.01, f"with sigma = 0.1 the noise's standard deviation is {spread:.3f}: "
            "N(0, sigma^2) per dimension")
    require(np.allclose(noisy, _applied_actions(wrapper, 0.1, 7, actions)), "two wrappers with one seed must "
            "perturb alike (seed the generator once, from the argument)")
    require(not np.allclose(noisy, _applied_actions(wrapper, 0.1, 8, actions)), "two seeds must give different noise")
    edge = _applied_actions(wrapper, 1.0, 0, np.ones((200, 4), dtype=np.float32))
    require(float(edge.max()) <= 1.0 and float(edge.min()) >= -1.0, "perturbed actions left the action box "
            "[-1, 1]: clip them to the action space's bounds")


def check_newcombe_interval(interval: Callable[..., Any]) -> None:
    for a, na, b, nb in ((95, 100, 8, 100), (50, 100, 50, 100), (0, 20, 0, 30), (12, 150, 10, 150), (30, 40, 5, 60)):
        low, high = (float(v) for v in interval(a, na, b, nb))
        ref_low, ref_high = newcombe_interval(a, na, b, nb)
        d = a / na - b / nb
        require(low <= d <= high, f"for {a}/{na} - {b}/{nb} the interval [{low:.4f}, {high:.4f}] must contain the "
                f"observed difference {d:+.4f}")
        require(abs(low - ref_low) < 1e-4 and abs(high - ref_high) < 1e-4,
                f"for {a}/{na} - {b}/{nb} the interval [{low:.4f}, {high:.4f}] is not Newcombe's: the lower end "
                "combines how far A's rate may fall (p_a - l_a) with how far B's may rise (u_b - p_b), in quadrature")


def check_noisy_observation(noisy_observation: Callable[..., Any]) -> None:
    env = make_fetch_env("FetchPush-v4")
    observation, _ = env.reset(seed=0)
    env.close()
    kept = {key: value.copy() for key, value in observation.items()}
    noisy = noisy_observation(observation, 0.01, np.random.default_rng(0))
    require(all(np.array_equal(observation[k], kept[k]) for k in kept), "the argument was modified in place: "
            "return a new dict")
    moved = float(np.abs(noisy["desired_goal"] - observation["desired_goal"]).max())
    require(moved == 0.0, f"symptom: the desired goal moved by up to {moved * 1000:.1f} mm under sensor noise; it is "
            "the command the policy was given, not a measurement, so no sensor corrupts it")
    require(not np.allclose(noisy["observation"], observation["observation"]), "the sensed state (`observation`) "
            "must be perturbed")


PROBLEMS = (
    Problem("ch05", 1, "implementation", "an action-noise wrapper", "ActionNoise", check_action_noise),
    Problem("ch05", 2, "derivation", "Newcombe's interval of a difference of rates", "newcombe_interval",
            check_newcombe_interval),
    Problem("ch05", 3, "diagnosis", "sensor noise on the commanded goal", "noisy_observation",
            check_noisy_observation),
)
