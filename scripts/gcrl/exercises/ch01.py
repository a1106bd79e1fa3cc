"""Chapter 1's problems: the Wilson interval, the random floor, a planted success criterion."""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np
from scipy import stats

from gcrl.exercises.problem import Problem, require
from gcrl.rl.envs import make_fetch_env
from gcrl.rl.evaluate import evaluate, wilson_interval

#: (task, episodes, seed). Under random actions Reach succeeds in about 1% of episodes, so most windows are all
#: failures and cannot tell one action stream from another; these are chosen so that they can. Reach, seed 0:
#: episode 4 (reset seed 4) ends at its goal, and episode 8 passes through it and leaves (success at some step,
#: not the last). Reach, seed 1: episode 7 (reset seed 8) reaches its goal on the last step only. Push, seed 8:
#: episode 2 (reset seed 10) starts with the object on its goal, whatever the actions. Power: 60 other action
#: streams reproduce the success of reset seed 4 in 0 of 60 episodes and that of reset seed 8 in 1 of 60, so an
#: action stream other than the protocol's passes both Reach windows with probability about 1/60 x 1/60 < 0.001.
FLOORS = (("FetchReach-v4", 9, 0), ("FetchReach-v4", 8, 1), ("FetchPush-v4", 4, 8))


#: (successes, trials, z): the ends of the range, small and large n, and z other than its default
WILSON_CASES = ((0, 10, None), (3, 10, None), (10, 10, None), (7, 150, None), (50, 100, None), (1, 1000, None),
                (10, 10, 2.5758), (3, 10, 1.0), (97, 100, 3.0))
#: floating point: the quadratic's roots at x = n come out as 0.9999999999999999
TOLERANCE = 1e-9


def check_wilson_interval(interval: Callable[..., Any]) -> None:
    """Properties of a right answer: (1) the interval lies in [0, 1] and contains x/n (to rounding); (2) its ends
    are the roots of (p_hat - p)^2 = z^2 p (1 - p) / n, for the z it is called with, not only the default."""
    for x, n, z in WILSON_CASES:
        low, high = (float(v) for v in (interval(x, n) if z is None else interval(x, n, z=z)))
        called = f"wilson_interval({x}, {n}{'' if z is None else f', z={z}'})"
        confidence = 2 * float(stats.norm.cdf(1.96 if z is None else z)) - 1  # the z the function is asked for
        ref_low, ref_high = wilson_interval(x, n, confidence)
        require(-TOLERANCE <= low <= x / n + TOLERANCE and x / n - TOLERANCE <= high <= 1.0 + TOLERANCE,
                f"{called} returned [{low:.12g}, {high:.12g}], which must lie in [0, 1] and contain the observed "
                f"rate {x / n:.12g}")
        require(abs(low - ref_low) < 1e-6 and abs(high - ref_high) < 1e-6,
                f"{called} returned [{low:.6f}, {high:.6f}]; the Wilson interval for this z is [{ref_low:.6f}, "
                f"{ref_high:.6f}]: its ends are the p with (p_hat - p)^2 = z^2 p (1 - p) / n")


@functools.lru_cache(maxsize=None)
def protocol_floor(env_id: str, episodes: int, seed: int) -> tuple[bool, ...]:
    """The stated protocol, played by the course's own evaluator: its episodes reset with seed + i, its success read
    at the last step, and the actions drawn from a copy of the task's action space seeded once with ``seed``."""
    env = make_fetch_env(env_id)
    space = env.action_space
    env.close()
    space.seed(seed)
    evaluation = evaluate(env_id, lambda _observation: space.sample(), [seed + i for i in range(episodes)])
    return tuple(outcome == "1" for outcome in evaluation.outcomes)


def _marks(outcomes: Any) -> str:
    return "".join("1" if x else "0" for x in outcomes)


def check_random_floor(random_floor: Callable[..., Any]) -> None:
    """Properties of a right answer, on each window of ``FLOORS``: (1) one outcome per episode; (2) episode i's
    outcome is the protocol's, episode by episode: reset seed ``seed + i``, actions from the action space seeded
    once with ``seed``, success read at the last step; (3) a second call with the same arguments gives the same
    outcomes for its first episodes (checked when (2) fails, up to the first episode that differs, to tell an
    unseeded stream from a wrongly seeded one)."""
    for env_id, episodes, seed in FLOORS:
        called = f"random_floor({env_id!r}, {episodes}, {seed})"
        ours = [bool(x) for x in random_floor(env_id, episodes, seed)]
        require(len(ours) == episodes, f"{called} returned {len(ours)} outcomes: one per episode, {episodes}")
        expected = list(protocol_floor(env_id, episodes, seed))
        if ours == expected:
            continue
        differ = [i for i, (a, b) in enumerate(zip(ours, expected)) if a != b]
        prefix = differ[0] + 1  # the episodes up to the first that differs, played again
        again = [bool(x) for x in random_floor(env_id, prefix, seed)]
        require(again == ours[:prefix], f"{called} and random_floor({env_id!r}, {prefix}, {seed}) gave different "
                f"outcomes for the first {prefix} episodes ({_marks(ours[:prefix])} then {_marks(again)}): the "
                "outcomes must be a function of the arguments, episode i of the same seed + i")
        require(False, f"{called} gave {_marks(ours)} (1 = success), the stated protocol {_marks(expected)}: "
                f"episode{'s' if len(differ) > 1 else ''} {', '.join(map(str, differ))} (reset seed "
                f"{', '.join(str(seed + i) for i in differ)}) {'differ' if len(differ) > 1 else 'differs'}. "
                "The protocol: episode i resets with seed + i, "
                "env.action_space is seeded once with seed before the first episode, success is info['is_success'] "
                "at the last step")


def check_episode_success(episode_success: Callable[..., Any]) -> None:
    """Properties of the repaired function: (1) an episode succeeds exactly when ``is_success`` is 1 at its last
    step, whatever it was before (reached and left: failure; left and came back: success; first step only, or every
    step but the last: failure); (2) alike for a list of floats, a numpy array and a list of bools."""
    cases = (("touched the goal at steps 10-14 and ended 5 cm or more away", [0.0] * 10 + [1.0] * 5 + [0.0] * 35,
              False),
             ("ended at its goal, having reached it only on the last step", [0.0] * 49 + [1.0], True),
             ("never reached its goal", [0.0] * 50, False),
             ("was at its goal on the first step only", [1.0] + [0.0] * 49, False),
             ("left its goal at step 20 and came back at step 30", [1.0] * 20 + [0.0] * 10 + [1.0] * 20, True),
             ("was at its goal on every step but the last", [1.0] * 49 + [0.0], False))
    for i, (story, values, success) in enumerate(cases):
        for form in (list(values), np.array(values), [bool(v) for v in values]):
            ours = bool(episode_success(form))
            if i == 0:
                require(ours == success, "symptom: an episode that touched the goal at steps 10-14 and ended 5 cm or "
                        "more away is counted a success, so a random arm that sweeps through goals scores above "
                        "Chapter 1's floor")
            require(ours == success, f"an episode that {story} is counted a {'success' if ours else 'failure'} "
                    f"(given as a {type(form).__name__}): success is is_success at the last step")


PROBLEMS = (
    Problem("ch01", 1, "derivation", "the Wilson interval, by inverting the score test", "wilson_interval",
            check_wilson_interval),
    Problem("ch01", 2, "implementation", "the random-policy floor, by its stated protocol", "random_floor",
            check_random_floor),
    Problem("ch01", 3, "diagnosis", "a success criterion that inflates the floor", "episode_success",
            check_episode_success),
)
