"""Chapter 1: the anatomy of the goal-conditioned Fetch environments.

Everything here is read off the environments themselves: the observation
layout (from the order in which ``generate_mujoco_observations`` concatenates
its parts), the task constants (threshold, horizon, control period), and the
JSON Schema of both; and the floors the chapter measured, for the chapters that
compare with them. The reward, checked against ``compute_reward`` on real
transitions, and the baselines are measured on rolled-out episodes by
:mod:`gcrl.chapters.ch01_rollouts`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gcrl.core.errors import CourseError
from gcrl.course.deliverables import Upstream
from gcrl.rl.envs import make_fetch_env

TASKS: tuple[str, ...] = ("FetchReach-v4", "FetchPush-v4", "FetchPickAndPlace-v4", "FetchSlide-v4")
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
