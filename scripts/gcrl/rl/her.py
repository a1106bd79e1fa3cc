"""Hindsight relabelling as pure functions (Chapter 4 derives it).

A Fetch reward is a known function of the achieved goal after a step and the
desired goal, ``r = compute_reward(ag', g)``, and the goal does not enter the
dynamics, so a stored transition stays a valid transition under any other goal
once its reward is recomputed. These functions choose the substitute goals and
recompute the rewards; they hold no state and draw randomness only from the
generator they are given, so they can be tested on their own and against
Stable-Baselines3's ``HerReplayBuffer``, whose semantics they follow:

- a transition at time ``t`` of an episode of ``T`` transitions is relabelled
  with the achieved goal *after* transition ``j`` (``next_achieved_goal[j]``);
- ``final`` takes ``j = T - 1``; ``future`` draws ``j`` uniformly from
  ``t, ..., T - 1`` (the current transition included); ``episode`` from
  ``0, ..., T - 1``;
- with ``k`` sampled goals per real transition, a fraction ``k / (k + 1)`` of
  every minibatch is relabelled (``int(ratio * batch_size)`` transitions), and
  ``k = 0`` is no relabelling at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gcrl.core.errors import CourseError

STRATEGIES: tuple[str, ...] = ("final", "future", "episode")

#: ``compute_reward(achieved_goal, desired_goal, info)`` of a Fetch environment, vectorised over rows.
RewardFunction = Callable[[np.ndarray, np.ndarray, object], np.ndarray]


def check_relabelling(strategy: str, n_sampled_goal: int) -> None:
    if strategy not in STRATEGIES:
        raise CourseError(f"unknown goal selection strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if not isinstance(n_sampled_goal, int) or isinstance(n_sampled_goal, bool) or n_sampled_goal < 0:
        raise CourseError(f"n_sampled_goal (k) must be an integer >= 0, got {n_sampled_goal!r}")


def her_ratio(n_sampled_goal: int) -> float:
    """The fraction of a minibatch that is relabelled: k / (k + 1)."""
    return 1.0 - 1.0 / (n_sampled_goal + 1)


def relabelled_count(batch_size: int, n_sampled_goal: int) -> int:
    """How many of ``batch_size`` sampled transitions get a substitute goal (rounded down, as SB3 does)."""
    return int(her_ratio(n_sampled_goal) * batch_size)


def actual_count(relabelled: int, actual_goal_fraction: float) -> int:
    """How many of ``relabelled`` rows take a goal actually commanded in a stored episode (rounded down).

    Such a goal is the desired goal of an episode drawn uniformly from the buffer, independently of the row's own
    episode (mrl's "actual" goals, close to HER's ``random`` strategy): the reward is recomputed for it from the
    row's own next achieved goal, so the transition stays valid, and the goal follows the task's own goal
    distribution, which ``future`` goals, drawn from where the object went, do not (Chapter 4, §1.4).
    """
    if not 0 <= actual_goal_fraction <= 1:
        raise CourseError(f"actual_goal_fraction must lie in [0, 1], got {actual_goal_fraction!r}")
    return int(actual_goal_fraction * relabelled)


def goal_indices(t: np.ndarray, horizon: int, strategy: str, rng: np.random.Generator) -> np.ndarray:
    """For transitions at times ``t``, the index ``j`` whose next achieved goal becomes the new goal."""
    t = np.asarray(t, dtype=np.int64)
    if t.size and (t.min() < 0 or t.max() >= horizon):
        raise CourseError(f"transition times must lie in [0, {horizon}), got [{t.min()}, {t.max()}]")
    if strategy == "final":
        return np.full_like(t, horizon - 1)
    if strategy == "future":
        return rng.integers(t, horizon)
    if strategy == "episode":
        return rng.integers(0, horizon, size=t.shape)
    raise CourseError(f"unknown goal selection strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")


@dataclass(frozen=True)
class Relabelled:
    """Hindsight transitions of one episode: which transition, which goal, what reward."""

    t: np.ndarray  # (n,) transition times
    goal_index: np.ndarray  # (n,) j: the goal is next_achieved_goal[j]
    goals: np.ndarray  # (n, goal_dim)
    rewards: np.ndarray  # (n,) compute_reward(next_achieved_goal[t], goals)


def relabel_episode(next_achieved_goals: np.ndarray, strategy: str, n_sampled_goal: int,
                    rng: np.random.Generator, compute_reward: RewardFunction) -> Relabelled:
    """``k`` hindsight copies of every transition of one episode, as the HER paper stores them.

    ``next_achieved_goals[t]`` is the achieved goal after transition ``t``
    (shape ``(T, goal_dim)``). The replay buffer draws the same relabelling one
    minibatch at a time (:func:`goal_indices`), which has the same distribution
    per sampled transition.
    """
    check_relabelling(strategy, n_sampled_goal)
    next_achieved_goals = np.asarray(next_achieved_goals)
    horizon = len(next_achieved_goals)
    if horizon == 0:
        raise CourseError("cannot relabel an empty episode")
    t = np.repeat(np.arange(horizon), n_sampled_goal)
    j = goal_indices(t, horizon, strategy, rng)
    goals = next_achieved_goals[j]
    rewards = np.asarray(compute_reward(next_achieved_goals[t], goals, None), dtype=np.float32)
    return Relabelled(t, j, goals, rewards)
