"""Chapter 1: the anatomy of the goal-conditioned Fetch environments.

Everything here is read off the environments themselves: the observation
layout (from the order in which ``generate_mujoco_observations`` concatenates
its parts), the task constants (threshold, horizon, control period), and the
reward, which is checked against ``compute_reward`` on real transitions,
batched and per sample, on the original goals and on relabelled ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gcrl.core.errors import CourseError
from gcrl.course.deliverables import Upstream
from gcrl.rl import her
from gcrl.rl.envs import FETCH_ENV_IDS, make_fetch_env
from gcrl.rl.evaluate import wilson_interval

TASKS: tuple[str, ...] = ("FetchReach-v4", "FetchPush-v4", "FetchPickAndPlace-v4", "FetchSlide-v4")
POLICIES: tuple[str, ...] = ("random", "zero")
XYZ = ("x", "y", "z")

ACTION_LABELS: tuple[tuple[str, str], ...] = (
    ("dx", "gripper target displacement along x; scaled by 0.05 m before it moves the mocap target"),
    ("dy", "gripper target displacement along y; scaled by 0.05 m"),
    ("dz", "gripper target displacement along z; scaled by 0.05 m"),
    ("grip", "finger command, applied to both fingers (ignored when the gripper is blocked)"),
)


def observation_labels(env) -> list[dict[str, Any]]:
    """One label per dimension of ``observation``, in the order the environment concatenates them.

    Raises :class:`CourseError` if the layout no longer matches the environment's dimension.
    """
    unwrapped = env.unwrapped
    has_object = bool(unwrapped.has_object)
    fingers = tuple(
        name.split(":", 1)[1] for name in unwrapped._model_names.joint_names if name.startswith("robot")
    )[-2:]
    groups = (
        ("grip_pos", XYZ, "position of the grip site between the fingers, world frame", "m", True),
        ("object_pos", XYZ, "position of the object, world frame", "m", has_object),
        ("object_rel_pos", XYZ, "object position minus grip position", "m", has_object),
        ("gripper_state", fingers, "finger joint position", "m", True),
        ("object_rot", ("roll", "pitch", "yaw"), "object orientation, Euler angles", "rad", has_object),
        ("object_velp", XYZ, "object linear velocity relative to the grip, times dt (displacement per step)",
         "m/step", has_object),
        ("object_velr", XYZ, "object angular velocity times dt", "rad/step", has_object),
        ("grip_velp", XYZ, "grip site linear velocity times dt", "m/step", True),
        ("gripper_vel", fingers, "finger joint velocity times dt", "m/step", True),
    )
    labels = []
    for group, axes, description, unit, present in groups:
        if not present:
            continue
        for axis in axes:
            labels.append({"index": len(labels), "name": f"{group}.{axis}", "group": group,
                           "description": f"{description} ({axis})", "unit": unit})
    size = unwrapped.observation_space["observation"].shape[0]
    if len(labels) != size:
        raise CourseError(f"{env.spec.id}: {len(labels)} labels for a {size}-dimensional observation; "
                          "the Fetch observation layout has changed")
    return labels


def task_facts(env) -> dict[str, Any]:
    """The constants that define the task, read off the environment."""
    unwrapped = env.unwrapped
    substep = float(unwrapped.model.opt.timestep)
    return {
        "env_id": env.spec.id,
        "reward_type": unwrapped.reward_type,
        "distance_threshold": float(unwrapped.distance_threshold),
        "max_episode_steps": int(env.spec.max_episode_steps),
        "n_substeps": int(unwrapped.n_substeps),
        "substep_s": substep,
        "control_period_s": round(unwrapped.n_substeps * substep, 6),
        "has_object": bool(unwrapped.has_object),
        "block_gripper": bool(unwrapped.block_gripper),
        "achieved_goal": "object position" if unwrapped.has_object else "grip site position",
        "target_range": float(unwrapped.target_range),
        "target_in_the_air": bool(unwrapped.target_in_the_air and unwrapped.has_object),
        "target_offset": np.asarray(unwrapped.target_offset, dtype=float).reshape(-1).tolist(),
        "object_range": float(unwrapped.obj_range) if unwrapped.has_object else None,
    }


def _array_schema(size: int, items: list[dict[str, Any]], low: float, high: float) -> dict[str, Any]:
    bounded = {key: value for key, value in (("minimum", low), ("maximum", high)) if np.isfinite(value)}
    return {
        "type": "array",
        "minItems": size,
        "maxItems": size,
        "prefixItems": [{"type": "number", **bounded, **item} for item in items],
        "items": False,
    }


def interface_schema(env_id: str) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of ``env_id``'s observation dictionary, with its action space and task.

    Keywords beginning with ``x-`` are annotations the validator ignores: the
    NumPy dtype and shape, the exact bounds (JSON has no infinity), the action
    space, and the task constants.
    """
    env = make_fetch_env(env_id)
    try:
        spaces = env.observation_space
        labels = observation_labels(env)
        goal_items = [{"title": f"{axis}", "description": f"{axis} coordinate, world frame (m)"} for axis in XYZ]
        properties = {}
        for key in ("observation", "achieved_goal", "desired_goal"):
            box = spaces[key]
            items = ([{"title": l["name"], "description": f"{l['description']} [{l['unit']}]"} for l in labels]
                     if key == "observation" else goal_items)
            schema = _array_schema(box.shape[0], items, float(box.low.min()), float(box.high.max()))
            schema["x-dtype"] = str(box.dtype)
            schema["x-shape"] = list(box.shape)
            schema["x-bounds"] = [str(float(box.low.min())), str(float(box.high.max()))]
            properties[key] = schema
        action = env.action_space
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://gcrl-course.invalid/schemas/{env_id}.json",
            "title": f"{env_id} observation",
            "description": f"The observation dictionary of {env_id} (Gymnasium-Robotics), one control step.",
            "type": "object",
            "required": ["observation", "achieved_goal", "desired_goal"],
            "additionalProperties": False,
            "properties": properties,
            "x-action-space": {
                **_array_schema(action.shape[0], [{"title": n, "description": d} for n, d in ACTION_LABELS],
                                float(action.low.min()), float(action.high.max())),
                "x-dtype": str(action.dtype),
                "x-shape": list(action.shape),
            },
            "x-task": task_facts(env),
        }
    finally:
        env.close()


def unlabelled_dimensions(schema: dict[str, Any]) -> list[str]:
    """Every array position in the schema that lacks a title or description."""
    missing = []
    arrays = {**schema["properties"], "action": schema["x-action-space"]}
    for key, array in arrays.items():
        items = array["prefixItems"]
        if len(items) != array["maxItems"]:
            missing.append(f"{key}: {len(items)} labels for {array['maxItems']} dimensions")
        missing += [f"{key}[{i}]" for i, item in enumerate(items) if not item.get("title") or not item.get("description")]
    return missing


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


def render_tasks(size: int, seed: int) -> dict[str, np.ndarray]:
    """One frame of each task after a reset; the red sphere is the desired goal."""
    frames = {}
    for env_id in TASKS:
        env = make_fetch_env(env_id, render_mode="rgb_array", width=size, height=size)
        try:
            env.reset(seed=seed)
            frames[env_id] = np.asarray(env.render())
        finally:
            env.close()
    return frames



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


def tasks_figure(frames: dict[str, np.ndarray]):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(frames), figsize=(3.0 * len(frames), 3.2))
    for ax, (env_id, frame) in zip(axes, frames.items()):
        ax.imshow(frame)
        ax.set_title(env_id.removesuffix("-v4"))
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def floors(upstream: Upstream, env_id: str) -> dict[str, dict[str, Any]]:
    """This chapter's random- and zero-action baselines on ``env_id``, for a later chapter that compares with them."""
    rows = upstream.read("ch01", "baselines.json")["rows"]
    return {row["policy"]: row for row in rows if row["env_id"] == env_id}
