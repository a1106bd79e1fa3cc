"""Chapter 1's problems: the Wilson interval, the random floor, a planted success criterion."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gcrl.exercises.problem import Problem, require
from gcrl.rl.envs import make_fetch_env
from gcrl.rl.evaluate import evaluate, wilson_interval

#: (task, episodes, seed): on Reach success depends on the actions, on Push mostly on where the reset put the object
FLOORS = (("FetchReach-v4", 10, 0), ("FetchPush-v4", 10, 3))


def check_wilson_interval(interval: Callable[..., Any]) -> None:
    for x, n in ((0, 10), (3, 10), (10, 10), (7, 150), (50, 100), (1, 1000)):
        low, high = (float(v) for v in interval(x, n))
        ref_low, ref_high = wilson_interval(x, n)
        require(0.0 <= low <= x / n <= high <= 1.0, f"for {x}/{n} the interval [{low:.4f}, {high:.4f}] must lie in "
                "[0, 1] and contain the observed rate")
        require(abs(low - ref_low) < 1e-4 and abs(high - ref_high) < 1e-4,
                f"for {x}/{n} the interval [{low:.4f}, {high:.4f}] is not the Wilson interval: solve "
                "(p_hat - p)^2 = z^2 p (1 - p) / n for p (a quadratic), do not plug p_hat into the variance")


def protocol_floor(env_id: str, episodes: int, seed: int) -> list[bool]:
    """The stated protocol, played by the course's own evaluator: its episodes reset with seed + i, its success read
    at the last step, and the actions drawn from a copy of the task's action space seeded once with ``seed``."""
    env = make_fetch_env(env_id)
    space = env.action_space
    env.close()
    space.seed(seed)
    evaluation = evaluate(env_id, lambda _observation: space.sample(), [seed + i for i in range(episodes)])
    return [outcome == "1" for outcome in evaluation.outcomes]


def check_random_floor(random_floor: Callable[..., Any]) -> None:
    for env_id, episodes, seed in FLOORS:
        ours = [bool(x) for x in random_floor(env_id, episodes, seed)]
        require(len(ours) == episodes, f"{episodes} episodes must give {episodes} outcomes, got {len(ours)}")
        again = [bool(x) for x in random_floor(env_id, episodes, seed)]
        require(again == ours, "two calls with the same seed gave different outcomes: seed the action space and "
                "every reset from the arguments")
        expected = protocol_floor(env_id, episodes, seed)
        require(ours == expected, f"{sum(ours)} successes in {episodes} episodes of {env_id} (seed {seed}), "
                f"{sum(a != b for a, b in zip(ours, expected))} outcomes unlike the stated protocol's: reset seeds "
                "seed + i, env.action_space.seed(seed) once before the first episode, success at the last step only")


def check_episode_success(episode_success: Callable[..., Any]) -> None:
    passes_through = [0.0] * 10 + [1.0] * 5 + [0.0] * 35  # reaches the goal at step 10, leaves it at step 15
    require(not episode_success(passes_through), "symptom: an episode that touched the goal at steps 10-14 and ended "
            "5 cm or more away is counted a success, so a random arm that sweeps through goals scores above "
            "Chapter 1's floor")
    require(bool(episode_success([0.0] * 49 + [1.0])), "an episode that ends at its goal is a success")
    require(not episode_success([0.0] * 50), "an episode that never reaches its goal is a failure")


PROBLEMS = (
    Problem("ch01", 1, "derivation", "the Wilson interval, by inverting the score test", "wilson_interval",
            check_wilson_interval),
    Problem("ch01", 2, "implementation", "the random-policy floor, by its stated protocol", "random_floor",
            check_random_floor),
    Problem("ch01", 3, "diagnosis", "a success criterion that inflates the floor", "episode_success",
            check_episode_success),
)
