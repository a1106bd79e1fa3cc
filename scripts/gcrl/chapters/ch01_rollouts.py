"""Chapter 1's measurements on whole episodes: the reward identities and the floors.

Episodes of the random and the zero policy are rolled out on every task
(:func:`collect`); on them the reward is checked against ``compute_reward``,
batched and per sample, on the original goals and on relabelled ones
(:func:`reward_consistency`), and the policies' success is the floor that later
chapters compare with (:func:`baseline`). What is read off the environments
without rolling them out is :mod:`gcrl.chapters.ch01_anatomy`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gcrl.core.errors import CourseError
from gcrl.rl import her
from gcrl.rl.envs import make_fetch_env
from gcrl.rl.evaluate import wilson_interval

POLICIES: tuple[str, ...] = ("random", "zero")


def as_json(observation: dict[str, np.ndarray]) -> dict[str, list[float]]:
    return {key: np.asarray(value).tolist() for key, value in observation.items()}



@dataclass
class Rollouts:
    """Full episodes of one policy on one environment, with what the checks need.

    ``achieved[:, 0]`` is the achieved goal at reset and ``achieved[:, t + 1]``
    the one after step ``t``; rewards, recomputed rewards and successes are per step.
    """

    env_id: str
    policy: str
    seeds: list[int]
    achieved: np.ndarray
    desired: np.ndarray
    rewards: np.ndarray
    recomputed: np.ndarray
    success: np.ndarray
    observations: list[dict[str, list[float]]] = field(default_factory=list)

    @property
    def episodes(self) -> int:
        return len(self.seeds)

    @property
    def transitions(self) -> int:
        return int(self.rewards.size)



def collect(env_id: str, policy: str, episodes: int, seed: int, keep_observations: int = 0) -> Rollouts:
    """Roll out the ``random`` or ``zero`` policy for whole episodes, episode ``i`` reset with ``seed + i``.

    Each step's reward is recomputed with ``compute_reward(achieved, desired, info)``
    right away, one sample at a time; the first ``keep_observations`` observation
    dictionaries are kept (as JSON lists) for schema validation.
    """
    if policy not in POLICIES:
        raise CourseError(f"unknown baseline policy {policy!r}; choose one of {', '.join(POLICIES)}")
    env = make_fetch_env(env_id)
    unwrapped = env.unwrapped
    env.action_space.seed(seed)
    horizon = env.spec.max_episode_steps
    achieved = np.empty((episodes, horizon + 1, 3))
    desired = np.empty((episodes, 3))
    rewards = np.empty((episodes, horizon))
    recomputed = np.empty((episodes, horizon))
    success = np.empty((episodes, horizon), dtype=bool)
    kept: list[dict[str, list[float]]] = []
    zero = np.zeros(env.action_space.shape, dtype=env.action_space.dtype)
    try:
        for episode in range(episodes):
            observation, _ = env.reset(seed=seed + episode)
            achieved[episode, 0] = observation["achieved_goal"]
            desired[episode] = observation["desired_goal"]
            for step in range(horizon):
                if len(kept) < keep_observations:
                    kept.append(as_json(observation))
                action = env.action_space.sample() if policy == "random" else zero
                observation, reward, terminated, truncated, info = env.step(action)
                if terminated or (truncated and step != horizon - 1):
                    raise CourseError(f"{env_id} ended at step {step}: expected truncation only at {horizon}")
                achieved[episode, step + 1] = observation["achieved_goal"]
                rewards[episode, step] = reward
                recomputed[episode, step] = unwrapped.compute_reward(
                    observation["achieved_goal"], observation["desired_goal"], info
                )
                success[episode, step] = bool(info["is_success"])
    finally:
        env.close()
    return Rollouts(env_id, policy, [seed + i for i in range(episodes)], achieved, desired, rewards,
                    recomputed, success, kept)



def sparse_reward(distance: np.ndarray, threshold: float) -> np.ndarray:
    """The course's own statement of the sparse reward, to check the environment's against."""
    return -(distance > threshold).astype(np.float32)



def reward_consistency(rollouts: Rollouts, seed: int) -> dict[str, Any]:
    """Every reward identity of §1 checked on ``rollouts``; counts of what was checked and what failed."""
    env = make_fetch_env(rollouts.env_id)
    unwrapped = env.unwrapped
    try:
        threshold = float(unwrapped.distance_threshold)
        dense = unwrapped.reward_type == "dense"
        episodes, horizon = rollouts.rewards.shape
        next_achieved = rollouts.achieved[:, 1:]
        goals = np.broadcast_to(rollouts.desired[:, None, :], next_achieved.shape)
        distance = np.linalg.norm(next_achieved - goals, axis=-1)

        batched = unwrapped.compute_reward(next_achieved.reshape(-1, 3), goals.reshape(-1, 3), None)
        step_mismatch = int(np.sum(rollouts.rewards != rollouts.recomputed))
        batch_mismatch = int(np.sum(batched.reshape(episodes, horizon) != rollouts.recomputed))

        # HER's "future" goals (Chapter 4): for transition t, the goal achieved after transition j, j >= t
        t = np.broadcast_to(np.arange(horizon), (episodes, horizon))
        j = her.goal_indices(t, horizon, "future", np.random.default_rng(seed))
        relabelled_goals = np.take_along_axis(next_achieved, j[..., None], axis=1)
        relabelled_batch = unwrapped.compute_reward(
            next_achieved.reshape(-1, 3), relabelled_goals.reshape(-1, 3), None
        ).reshape(episodes, horizon)
        relabelled_single = np.array([
            unwrapped.compute_reward(a, g, {}) for a, g in zip(next_achieved.reshape(-1, 3), relabelled_goals.reshape(-1, 3))
        ]).reshape(episodes, horizon)
        relabelled_distance = np.linalg.norm(next_achieved - relabelled_goals, axis=-1)
        relabelled_expected = -relabelled_distance if dense else sparse_reward(relabelled_distance, threshold)
        relabelled_mismatch = int(np.sum((relabelled_batch != relabelled_single) | (relabelled_batch != relabelled_expected)))

        reward_success = distance <= threshold  # what the sparse reward calls success (r = 0)
        disagreement = reward_success != rollouts.success
        explained = disagreement & (distance == threshold)  # is_success uses d < eps, the reward d <= eps
        report: dict[str, Any] = {
            "env_id": rollouts.env_id,
            "reward_type": unwrapped.reward_type,
            "episodes": rollouts.episodes,
            "transitions": rollouts.transitions,
            "step_vs_compute_reward_mismatches": step_mismatch,
            "batched_vs_single_mismatches": batch_mismatch,
            "relabelled_checked": int(relabelled_batch.size),
            "relabelled_mismatches": relabelled_mismatch,
            "success_vs_reward_disagreements": int(disagreement.sum()),
            "disagreements_at_threshold": int(explained.sum()),
            "unexplained_disagreements": int((disagreement & ~explained).sum()),
            "original_success_fraction": float(reward_success.mean()),
            "relabelled_success_fraction": float((relabelled_distance <= threshold).mean()),
        }
        if dense:
            report["dense_vs_minus_distance_max_abs"] = float(np.max(np.abs(rollouts.rewards + distance)))
            report["dense_vs_minus_distance_mismatches"] = int(np.sum(rollouts.rewards != -distance))
        else:
            report["sparse_vs_definition_mismatches"] = int(np.sum(rollouts.rewards != sparse_reward(distance, threshold)))
        report["mismatches"] = sum(v for k, v in report.items() if k.endswith("mismatches"))
        return report
    finally:
        env.close()



def baseline(rollouts: Rollouts, threshold: float) -> dict[str, Any]:
    """Final-step success rate with its 95% Wilson interval, final distance, success at reset."""
    final_distance = np.linalg.norm(rollouts.achieved[:, -1] - rollouts.desired, axis=-1)
    initial_distance = np.linalg.norm(rollouts.achieved[:, 0] - rollouts.desired, axis=-1)
    successes = int(rollouts.success[:, -1].sum())
    at_reset = int((initial_distance < threshold).sum())
    return {
        "env_id": rollouts.env_id,
        "policy": rollouts.policy,
        "episodes": rollouts.episodes,
        "seeds": [rollouts.seeds[0], rollouts.seeds[-1]],
        "successes": successes,
        "success_rate": successes / rollouts.episodes,
        "success_ci95": list(wilson_interval(successes, rollouts.episodes)),
        "mean_final_distance": float(final_distance.mean()),
        "mean_initial_distance": float(initial_distance.mean()),
        "success_at_reset": at_reset,
        "success_at_reset_fraction": at_reset / rollouts.episodes,
        "success_at_reset_ci95": list(wilson_interval(at_reset, rollouts.episodes)),
    }



def zero_action_changes(rollouts: Rollouts, threshold: float) -> int:
    """Episodes whose final success differs from their success at reset.

    Under the zero action nothing should move, so for the zero policy this
    counts the episodes in which something did (settling, drift).
    """
    at_reset = np.linalg.norm(rollouts.achieved[:, 0] - rollouts.desired, axis=-1) < threshold
    return int(np.sum(at_reset != rollouts.success[:, -1]))



def moved_fraction(rollouts: Rollouts, threshold: float) -> float:
    """The fraction of episodes in which the achieved goal ever came more than ``threshold`` from where it started.

    For the object tasks the achieved goal is the object, so under a random
    policy this measures how often the arm displaces the block at all.
    """
    displacement = np.linalg.norm(rollouts.achieved - rollouts.achieved[:, :1], axis=-1).max(axis=1)
    return float(np.mean(displacement > threshold))



def plot_initial_distances(rollouts: list[Rollouts], threshold: float):
    """Distribution of the initial distance d(φ(s_0), g) per task, with the success threshold marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    data = [np.linalg.norm(r.achieved[:, 0] - r.desired, axis=-1) for r in rollouts]
    ax.violinplot(data, showmedians=True)
    ax.axhline(threshold, color="tab:red", linestyle="--", label=f"threshold ε = {threshold:g} m")
    ax.set_xticks(range(1, len(rollouts) + 1), [r.env_id.removesuffix("-v4") for r in rollouts])
    ax.set_ylabel("initial distance to goal (m)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig



def plot_success_against_threshold(rollouts: list[Rollouts], threshold: float):
    """Fraction of episodes whose final distance is within ε, as ε varies, for each task and policy."""
    import matplotlib.pyplot as plt

    grid = np.linspace(0.0, 0.30, 121)
    colours = {env_id: f"C{i}" for i, env_id in enumerate(dict.fromkeys(r.env_id for r in rollouts))}
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    for r in rollouts:
        final = np.linalg.norm(r.achieved[:, -1] - r.desired, axis=-1)
        ax.plot(grid, (final[None, :] < grid[:, None]).mean(axis=1), "-" if r.policy == "random" else ":",
                color=colours[r.env_id], label=f"{r.env_id.removesuffix('-v4')} · {r.policy}")
    ax.axvline(threshold, color="black", linestyle="--", linewidth=1)
    ax.set_xlabel("distance threshold ε (m)")
    ax.set_ylabel("final success rate")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig
