"""Chapter 0's problems: the sparse reward, how many episodes an interval needs, a planted sign error."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from gcrl.exercises.problem import Problem, require
from gcrl.rl.envs import make_fetch_env


def _goal_pairs(env_id: str, steps: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray, Any]:
    """Achieved and desired goals of real transitions under random actions, and the environment that made them."""
    env = make_fetch_env(env_id)
    env.action_space.seed(seed)
    observation, _ = env.reset(seed=seed)
    achieved, desired = [], []
    for _ in range(steps):
        observation, *_ = env.step(env.action_space.sample())
        achieved.append(observation["achieved_goal"])
        desired.append(observation["desired_goal"])
    return np.array(achieved), np.array(desired), env


def check_sparse_reward(sparse_reward: Callable[..., Any]) -> None:
    goal = np.array([1.3, 0.7, 0.5])
    require(float(np.asarray(sparse_reward(goal, goal))) == 0.0, "an achieved goal equal to the desired goal must "
            "give reward 0 (the reward is 0 on success, negative otherwise)")
    require(float(np.asarray(sparse_reward(goal + [0.2, 0, 0], goal))) == -1.0,
            "a goal 20 cm away must give -1: every failing step costs exactly one")
    require(float(np.asarray(sparse_reward(goal + [0.04, 0, 0], goal))) == 0.0,
            "a goal 4 cm away is within the 5 cm threshold: reward 0")
    at_threshold = float(np.asarray(sparse_reward(np.array([0.05, 0.0, 0.0]), np.zeros(3))))
    require(at_threshold == 0.0, "a goal exactly 5 cm away must give reward 0: the environment penalises only "
            "distances strictly beyond the threshold (Chapter 1, section 1.4)")
    achieved, desired, env = _goal_pairs("FetchReach-v4")
    desired = desired + np.random.default_rng(1).normal(0, 0.05, desired.shape)  # straddle the threshold
    ours = np.asarray(sparse_reward(achieved, desired))
    require(ours.shape == (len(achieved),), f"a batch of {len(achieved)} goal pairs must give {len(achieved)} "
            f"rewards (shape ({len(achieved)},)), got shape {ours.shape}: reduce over the last axis only")
    theirs = env.unwrapped.compute_reward(achieved, desired, None)
    env.close()
    wrong = int(np.sum(ours != theirs))
    require(wrong == 0, f"{wrong} of {len(ours)} rewards on real FetchReach-v4 transitions differ from the "
            "environment's compute_reward: check the distance (Euclidean, over the goal's coordinates) and "
            "which side of the threshold counts as success")


def check_episodes_for_half_width(episodes_for_half_width: Callable[..., Any]) -> None:
    require(isinstance(episodes_for_half_width(0.05), (int, np.integer)), "the answer is a number of episodes: "
            "an integer")
    for h, p in ((0.05, 0.5), (0.1, 0.5), (0.02, 0.1), (0.03, 0.95)):
        n = int(episodes_for_half_width(h, p))
        half = lambda m: 1.96 * math.sqrt(p * (1 - p) / m)  # noqa: E731
        require(half(n) <= h + 1e-12, f"with p = {p} and half-width {h}, {n} episodes give a half-width of "
                f"{half(n):.4f} > {h}: too few")
        require(n == 1 or half(n - 1) > h, f"with p = {p} and half-width {h}, {n - 1} episodes already suffice: "
                "the answer is the fewest")
    require(int(episodes_for_half_width(0.05, 0.5)) > int(episodes_for_half_width(0.05, 0.1)),
            "the variance p(1-p) is largest at p = 1/2, so p = 0.5 must need the most episodes")


def check_dense_reward(dense_reward: Callable[..., Any]) -> None:
    achieved, desired, env = _goal_pairs("FetchReachDense-v4")
    theirs = env.unwrapped.compute_reward(achieved, desired, None)
    env.close()
    ours = np.asarray(dense_reward(achieved, desired), dtype=float)
    near, far = desired[0], desired[0] + np.array([0.3, 0.0, 0.0])
    r_near, r_far = float(np.asarray(dense_reward(near, desired[0]))), float(np.asarray(dense_reward(far, desired[0])))
    require(r_near >= r_far, f"symptom: the reward at the goal is {r_near:+.3f} and 30 cm away {r_far:+.3f}; a policy "
            "that maximises it is paid for moving away from its goal")
    require(ours.shape == theirs.shape and np.allclose(ours, theirs, atol=1e-6),
            "symptom: on real FetchReachDense-v4 transitions the rewards differ from the environment's "
            f"compute_reward (first: {ours[0]:+.4f} against {theirs[0]:+.4f})")


PROBLEMS = (
    Problem("ch00", 1, "implementation", "Fetch's sparse reward, batched", "sparse_reward", check_sparse_reward),
    Problem("ch00", 2, "derivation", "how many episodes a half-width needs", "episodes_for_half_width",
            check_episodes_for_half_width),
    Problem("ch00", 3, "diagnosis", "a dense reward whose policy runs away", "dense_reward", check_dense_reward),
)
