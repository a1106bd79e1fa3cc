"""Chapter 0's problems: the sparse reward, how many episodes an interval needs, a planted sign error."""

from __future__ import annotations

import functools
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


#: distances, as a fraction of the threshold, of the off-axis pairs: 1% and 4% either side of it (where the L1,
#: L-infinity and squared distances decide otherwise: along (1, 2, -2)/3 the L-infinity distance is 2/3 and the L1
#: distance 5/3 of the Euclidean one), 20% either side, well inside (where even the L1 distance, at most sqrt(3)
#: times the Euclidean one, is within), beyond (where even the L-infinity distance, at least 1/sqrt(3) of it, is
#: beyond) and far beyond (8 thresholds: where the squared distance exceeds the threshold too)
RADII = (0.3, 0.45, 0.55, 0.8, 0.96, 0.99, 1.01, 1.04, 1.2, 2.0, 8.0)


def _off_axis_pairs(threshold: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Achieved and desired goals in Fetch's workspace whose Euclidean distances are ``RADII`` x ``threshold``, along
    the direction (1, 2, -2)/3 and along random directions, so that the norms disagree near the threshold; the
    pairs are shuffled, rewards 0 and -1 mixed within the batch."""
    rng = np.random.default_rng(seed)
    directions = np.vstack([np.array([1.0, 2.0, -2.0]) / 3.0, rng.normal(size=(3, 3))])
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    offsets = np.array([r * threshold * u for u in directions for r in RADII])
    desired = rng.uniform([1.05, 0.4, 0.42], [1.55, 1.1, 0.9], size=(len(offsets), 3))
    order = rng.permutation(len(offsets))
    return desired[order] + offsets[order], desired[order]


def _rewards(output: Any, count: int, called: str) -> np.ndarray:
    """The rewards as a float array of shape (count,), or a failure naming the shape that came back."""
    rewards = np.asarray(output, dtype=float)
    pairs, values = ("one goal pair", "one reward") if count == 1 else (f"{count} goal pairs", f"{count} rewards")
    require(rewards.shape == (count,), f"{called} on a batch of {pairs} (shape ({count}, 3)) must give {values} "
            f"(shape ({count},)), got shape {rewards.shape}: reduce over the last axis only")
    return rewards


def _one_reward(output: Any, called: str) -> float:
    """The reward of a single pair: one number (a scalar or an array of one element)."""
    reward = np.asarray(output, dtype=float)
    require(reward.size == 1, f"{called} on one goal pair (shape (3,)) must give one reward, got shape {reward.shape}")
    return float(reward.reshape(-1)[0])


def _other_distances(achieved: np.ndarray, desired: np.ndarray) -> dict[str, np.ndarray]:
    """Distances other than the Euclidean one, per pair: a hint names one only when the rewards match it on every
    pair."""
    gap = np.abs(achieved - desired)
    return {"the L-infinity distance (the largest coordinate gap)": gap.max(-1),
            "the L1 distance (the sum of the coordinate gaps)": gap.sum(-1),
            "the squared distance": (gap ** 2).sum(-1)}


def check_sparse_reward(sparse_reward: Callable[..., Any]) -> None:
    """Properties of a right answer: (1) one pair (shape (3,)) gives one reward, a batch (N, 3) gives N (N = 1 too);
    (2) the reward is 0 when the Euclidean distance over the goal's coordinates is at most ``threshold`` (a distance
    of exactly the threshold included) and -1 beyond it, decided per pair; (3) ``threshold`` is honoured, not only
    its default; (4) on real FetchReach-v4 transitions it equals the environment's ``compute_reward``; (5) the
    arguments are not modified. The off-axis pairs lie 1% and 4% either side of the threshold, where the L1,
    L-infinity and squared distances give other rewards."""
    goal = np.array([1.3, 0.7, 0.5])
    require(_one_reward(sparse_reward(goal, goal.copy()), "sparse_reward(g, g)") == 0.0, "an achieved goal equal to "
            "the desired goal must give reward 0 (the reward is 0 on success, negative otherwise)")
    require(_one_reward(sparse_reward(goal + [0.0, 0.2, 0.0], goal), "sparse_reward") == -1.0,
            "a goal 20 cm away must give -1: every failing step costs exactly one")
    at_threshold = _one_reward(sparse_reward(np.array([0.05, 0.0, 0.0]), np.zeros(3)), "sparse_reward")
    require(at_threshold == 0.0, "a goal exactly 5 cm away must give reward 0: the environment penalises only "
            "distances strictly beyond the threshold (Chapter 1, section 1.4)")
    single = _rewards(sparse_reward(goal[None, :] + [[0.1, 0.0, 0.0]], goal[None, :]), 1, "sparse_reward")
    require(single[0] == -1.0, "a batch of one pair 10 cm apart must give [-1]")
    for threshold, seed in ((None, 0), (0.1, 1), (0.02, 2)):
        achieved, desired = _off_axis_pairs(0.05 if threshold is None else threshold, seed)
        kept = achieved.copy(), desired.copy()
        ours = _rewards(sparse_reward(achieved, desired) if threshold is None else
                        sparse_reward(achieved, desired, threshold=threshold), len(achieved),
                        "sparse_reward" if threshold is None else f"sparse_reward(..., threshold={threshold})")
        require(np.array_equal(achieved, kept[0]) and np.array_equal(desired, kept[1]),
                "sparse_reward modified its arguments in place: the caller's goals must stay as they were")
        t = 0.05 if threshold is None else threshold
        right = -(np.linalg.norm(achieved - desired, axis=-1) > t).astype(float)
        right_at_default = -(np.linalg.norm(achieved - desired, axis=-1) > 0.05).astype(float)
        wrong = np.flatnonzero(ours != right)
        if len(wrong) == 0:
            continue
        i = wrong[0]
        gap = np.abs(achieved[i] - desired[i])
        called = "the default threshold 0.05" if threshold is None else f"threshold = {threshold}"
        candidates = {name: -(distance > t).astype(float)
                      for name, distance in _other_distances(achieved, desired).items()}
        if threshold is not None:
            candidates["the Euclidean distance against 0.05, not the threshold given"] = right_at_default
        matched = [name for name, rewards in candidates.items() if np.array_equal(ours, rewards)]
        matched = matched if len(matched) == 1 else []  # name a rule only where the data single it out
        require(False, f"with {called}, {len(wrong)} of {len(ours)} off-axis goal pairs got the wrong reward; e.g. a "
                f"pair at Euclidean distance {np.linalg.norm(gap):.4f} m (largest coordinate gap {gap.max():.4f}, "
                f"sum of gaps {gap.sum():.4f}) got {ours[i] + 0.0:g} instead of {right[i] + 0.0:g}"
                + (f"; on these pairs your rewards equal, pair by pair, those of {matched[0]}" if matched else "")
                + ": the reward compares the Euclidean distance over the goal's coordinates with the threshold")
    achieved, desired, env = _goal_pairs("FetchReach-v4")
    desired = desired + np.random.default_rng(1).normal(0, 0.05, desired.shape)  # straddle the threshold
    ours = _rewards(sparse_reward(achieved, desired), len(achieved), "sparse_reward")
    theirs = env.unwrapped.compute_reward(achieved, desired, None)
    env.close()
    wrong = int(np.sum(ours != theirs))
    require(wrong == 0, f"{wrong} of {len(ours)} rewards on real FetchReach-v4 transitions differ from the "
            "environment's compute_reward")


#: (half-width, p, z): the default z and three others; (0.1, 0.5, 2.0) needs exactly 100 episodes, where floating
#: point may round z^2 p (1 - p) / h^2 to either side of 100
HALF_WIDTH_CASES = ((0.05, 0.5, None), (0.1, 0.5, None), (0.02, 0.1, None), (0.03, 0.95, None), (0.05, 0.5, 2.5758),
                    (0.04, 0.3, 1.0), (0.1, 0.5, 2.0), (0.01, 0.02, 3.0))
#: relative tolerance on the half-width, for the case that lands on an integer
RELATIVE = 1e-9


def _half_width(episodes: int, p: float, z: float) -> float:
    """The normal approximation's half-width z sqrt(p (1 - p) / n)."""
    return z * math.sqrt(p * (1 - p) / episodes)


def check_episodes_for_half_width(episodes_for_half_width: Callable[..., Any]) -> None:
    """Properties of a right answer: (1) an integer; (2) z sqrt(p (1 - p) / n) <= h for the returned n, (3) and not
    for n - 1 (the fewest), for every (h, p, z) of ``HALF_WIDTH_CASES``: z and p other than their defaults, p off
    1/2 on both sides. A relative tolerance of 1e-9 on the half-width accepts either neighbour where n* is an
    integer and floating point may land on either side of it."""
    require(isinstance(episodes_for_half_width(0.05), (int, np.integer)), "the answer is a number of episodes: "
            f"an integer (got {type(episodes_for_half_width(0.05)).__name__})")
    for h, p, z in HALF_WIDTH_CASES:
        n = episodes_for_half_width(h, p=p) if z is None else episodes_for_half_width(h, p=p, z=z)
        called = f"episodes_for_half_width({h}, p={p}{'' if z is None else f', z={z}'})"
        require(isinstance(n, (int, np.integer)), f"{called} returned {n!r}: a number of episodes is an integer")
        n, zz = int(n), 1.96 if z is None else z
        half = functools.partial(_half_width, p=p, z=zz)
        require(n >= 1, f"{called} returned {n}: at least one episode is needed")
        if half(n) > h * (1 + RELATIVE):
            require(False, f"{called} returned {n}: with {n} episodes the half-width is {half(n):.6f} > {h}, too few")
        if n > 1 and half(n - 1) <= h * (1 - RELATIVE):
            require(False, f"{called} returned {n}, but {n - 1} episodes already give a half-width of "
                    f"{half(n - 1):.6f} <= {h}: the answer is the fewest")


def check_dense_reward(dense_reward: Callable[..., Any]) -> None:
    """Properties of the repaired function: (1) the reward is largest (zero) at the goal and falls with the distance;
    (2) it is minus the Euclidean distance, equal to the environment's ``compute_reward`` on real FetchReachDense-v4
    transitions (to 1e-6); (3) one pair gives one reward, a batch of N gives N; (4) the arguments are not modified."""
    achieved, desired, env = _goal_pairs("FetchReachDense-v4")
    theirs = env.unwrapped.compute_reward(achieved, desired, None)
    env.close()
    near, far = desired[0], desired[0] + np.array([0.3, 0.0, 0.0])
    r_near = _one_reward(dense_reward(near, desired[0].copy()), "dense_reward")
    r_far = _one_reward(dense_reward(far, desired[0]), "dense_reward")
    require(r_near >= r_far, f"symptom: the reward at the goal is {r_near:+.3f} and 30 cm away {r_far:+.3f}; a policy "
            "that maximises it is paid for moving away from its goal")
    kept = achieved.copy(), desired.copy()
    ours = np.asarray(dense_reward(achieved, desired), dtype=float)
    require(ours.shape == theirs.shape, f"a batch of {len(theirs)} goal pairs must give {len(theirs)} rewards "
            f"(shape {theirs.shape}), got shape {ours.shape}: reduce over the last axis only")
    require(np.array_equal(achieved, kept[0]) and np.array_equal(desired, kept[1]),
            "dense_reward modified its arguments in place: the caller's goals must stay as they were")
    error = np.abs(ours - theirs)
    i = int(np.argmax(error))
    require(float(error[i]) < 1e-6, f"on real FetchReachDense-v4 transitions {int(np.sum(error >= 1e-6))} of "
            f"{len(theirs)} rewards differ from the environment's compute_reward, by up to {error[i]:.4f} (pair {i}: "
            f"{ours[i]:+.4f} against {theirs[i]:+.4f}, Euclidean distance "
            f"{np.linalg.norm(achieved[i] - desired[i]):.4f} m)")


PROBLEMS = (
    Problem("ch00", 1, "implementation", "Fetch's sparse reward, batched", "sparse_reward", check_sparse_reward),
    Problem("ch00", 2, "derivation", "how many episodes a half-width needs", "episodes_for_half_width",
            check_episodes_for_half_width),
    Problem("ch00", 3, "diagnosis", "a dense reward whose policy runs away", "dense_reward", check_dense_reward),
)
