"""Scripted experts for the Fetch tasks: existence in the task, shown by construction (Chapter 7).

Each expert is a controller written from the task's geometry, not learned. It
reads the positions in the observation (Chapter 1's layout) and moves the
gripper's target by a proportional step, ``a = clip(GAIN (p* - p), -1, 1)``
towards a way-point ``p*`` that the phase of the task decides:

- **Reach**: the goal.
- **Push**: rise, travel above the block to the point behind it on the line
  from the goal through the block, descend, then push along that line,
  correcting sideways; the line is recomputed at every step.
- **PickAndPlace**: open above the block, descend, close, and carry the held
  block to the goal.
- **Slide**: rise, travel, descend behind the puck as for Push, then strike
  along the line to the goal with a speed read off a measured table of
  strike speed against sliding distance, and keep still while the puck slides;
  a puck that stops short is struck again if time is left.

Reach, Push and PickAndPlace are *stateless*: the action is a function of the
current observation alone, so the expert can label any state a learner visits
(DAgger needs that). Slide's strike lasts two steps at one speed chosen when it
starts, so its expert keeps that much state between steps and cannot label
arbitrary states. Every expert is deterministic: an episode is fixed by the
seed of the environment's reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gcrl.core.errors import CourseError
from gcrl.rl.envs import make_fetch_env
from gcrl.rl.sac_her.replay import Episode

#: Proportional gain: an action of 1 moves the mocap target 5 cm, so 15 closes a third of the gap per unit.
GAIN = 15.0
# Chapter 1's observation layout (``ch01.observation_labels``; a test checks these slices against it)
GRIP, OBJECT, FINGERS = slice(0, 3), slice(3, 6), slice(9, 11)
OBJECT_VELP, GRIP_VELP = slice(14, 17), slice(20, 23)
#: The block is 5 cm wide: held between the fingers, their two joint positions sum to about this much.
BLOCK_WIDTH = 0.05
#: How far an object must fall below where it started for the episode to count it off the table.
OFF_TABLE_DROP = 0.1


def toward(target: np.ndarray, grip: np.ndarray) -> np.ndarray:
    """The proportional step of the gripper towards ``target``, clipped to the action box."""
    return np.clip(GAIN * (target - grip), -1.0, 1.0)


def behind_on_line(obs: np.ndarray, goal: np.ndarray, offset: float) -> tuple[np.ndarray, np.ndarray, float]:
    """The unit direction from the object to the goal in the table plane, the point ``offset`` behind the object
    on that line, and the object's distance to the goal."""
    obj = obs[OBJECT]
    d = goal[:2] - obj[:2]
    distance = float(np.linalg.norm(d))
    u = d / max(distance, 1e-6)
    return u, obj[:2] - offset * u, distance


def at_point(obs: np.ndarray, point: np.ndarray, tolerance: float) -> bool:
    """The gripper stands at ``point`` in the table plane, at the object's height."""
    grip, obj = obs[GRIP], obs[OBJECT]
    return bool(np.linalg.norm(grip[:2] - point) <= tolerance and abs(grip[2] - obj[2]) <= 0.012)


def approach(obs: np.ndarray, point: np.ndarray, safe_height: float, tolerance: float) -> np.ndarray:
    """Rise, travel above the object, then descend to ``point`` at the object's height; fingers closed.

    Travelling at ``safe_height`` above the object keeps the fingers clear of it, which is what a straight
    line to the point behind the object would not do when the gripper starts on the wrong side.
    """
    grip, obj = obs[GRIP], obs[OBJECT]
    safe_z = obj[2] + safe_height
    if np.linalg.norm(grip[:2] - point) > tolerance:
        target = np.r_[grip[:2], safe_z] if grip[2] < safe_z - 0.02 else np.r_[point, safe_z]  # up first, then over
    else:
        target = np.r_[point, obj[2]]  # down behind it
    return np.r_[toward(target, grip), -1.0]


class ReachExpert:
    """Move the gripper to the goal."""

    stateless = True

    def reset(self) -> None:
        pass

    def __call__(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        return np.r_[toward(observation["desired_goal"], observation["observation"][GRIP]), 0.0]


class PushExpert:
    """Get behind the block on the line from the goal through it, then push along that line."""

    stateless = True
    #: where the gripper stands behind the block's centre (half the block, the finger, a margin)
    OFFSET = 0.055

    def reset(self) -> None:
        pass

    def __call__(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        obs, goal = observation["observation"], observation["desired_goal"]
        grip, obj = obs[GRIP], obs[OBJECT]
        u, behind, distance = behind_on_line(obs, goal, self.OFFSET)
        rel = grip[:2] - obj[:2]
        along = float(rel @ u)  # negative: the gripper is behind the block
        lateral = rel - along * u
        in_contact_line = abs(grip[2] - obj[2]) < 0.02 and np.linalg.norm(lateral) < 0.02 and -0.075 < along < -0.02
        if in_contact_line:
            action = np.zeros(4)
            action[3] = -1.0
            # push: step along the line by at most 4 cm (less near the goal), pulling the gripper back onto it
            action[:3] = toward(np.r_[grip[:2] + u * min(distance, 0.04) - lateral, obj[2]], grip)
            return action
        return approach(obs, behind, safe_height=0.1, tolerance=0.015)


class PickAndPlaceExpert:
    """Open above the block, descend, close, and carry the held block to the goal."""

    stateless = True

    def reset(self) -> None:
        pass

    def __call__(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        obs, goal = observation["observation"], observation["desired_goal"]
        grip, obj = obs[GRIP], obs[OBJECT]
        rel = obj - grip
        action = np.zeros(4)
        if holding(obs):
            action[:3], action[3] = toward(goal, grip), -1.0  # carry, fingers closed
        elif np.linalg.norm(rel[:2]) < 0.01 and abs(rel[2]) < 0.01:
            action[3] = -1.0  # between the fingers: close
        elif np.linalg.norm(rel[:2]) < 0.01:
            action[:3], action[3] = toward(obj, grip), 1.0  # above it: descend, open
        else:
            action[:3], action[3] = toward(np.r_[obj[:2], obj[2] + 0.05], grip), 1.0  # go above it, open
        return action


def holding(obs: np.ndarray) -> bool:
    """The block is between closed fingers: they are about a block's width apart and the block is at the grip."""
    width = float(obs[FINGERS].sum())
    return 0.6 * BLOCK_WIDTH < width < 1.3 * BLOCK_WIDTH and float(np.linalg.norm(obs[OBJECT] - obs[GRIP])) < 0.03


class SlideExpert:
    """Stand behind the puck, strike it towards the goal at a speed read off a table, keep still while it slides."""

    stateless = False
    OFFSET = 0.05
    STRIKE_STEPS = 2
    #: Strike speed (action units along the line, held for STRIKE_STEPS steps from OFFSET behind the puck) against
    #: the distance the puck then slides, measured on FetchSlide-v4 (6 episodes per speed; spread 1 cm up to 0.9,
    #: 4 cm at 1.0): the expert inverts it by linear interpolation. Beyond 0.63 m one strike cannot reach the goal.
    SPEEDS = np.array([0.0, 0.3, 0.5, 0.7, 0.9, 1.0])
    DISTANCES = np.array([0.0, 0.059, 0.17, 0.318, 0.53, 0.619])
    #: The puck is at rest when it moves less than this per step (m).
    AT_REST = 5e-4

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.strike = np.zeros(2)
        self.strike_left = 0

    def __call__(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        obs, goal = observation["observation"], observation["desired_goal"]
        action = np.zeros(4)
        action[3] = -1.0
        if self.strike_left > 0:
            self.strike_left -= 1
            action[:2] = self.strike
            return action
        puck_velocity = obs[OBJECT_VELP] + obs[GRIP_VELP]  # the observation gives it relative to the gripper
        if np.linalg.norm(puck_velocity[:2]) > self.AT_REST:
            return action  # keep still while it slides
        u, behind, distance = behind_on_line(obs, goal, self.OFFSET)
        if not at_point(obs, behind, tolerance=0.01):
            return approach(obs, behind, safe_height=0.08, tolerance=0.01)
        self.strike = u * float(np.interp(distance, self.DISTANCES, self.SPEEDS))
        self.strike_left = self.STRIKE_STEPS - 1
        action[:2] = self.strike
        return action


EXPERTS: dict[str, type] = {"FetchReach-v4": ReachExpert, "FetchPush-v4": PushExpert,
                            "FetchPickAndPlace-v4": PickAndPlaceExpert, "FetchSlide-v4": SlideExpert}


def make_expert(env_id: str):
    """The scripted expert of a Fetch task; one clear error for a task that has none."""
    if env_id not in EXPERTS:
        raise CourseError(f"no scripted expert for {env_id!r}; there is one for {', '.join(EXPERTS)}")
    return EXPERTS[env_id]()


# --- episodes and why they fail ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rollout:
    """One episode of a policy: the transitions (a replay :class:`Episode`), its outcome and, if it failed, why."""

    episode: Episode
    success: bool
    final_distance: float
    failure: str | None  # None for a success, else one of FAILURES[env_id]


#: The causes an episode's failure is counted under, per task (:func:`failure_cause`).
FAILURES: dict[str, tuple[str, ...]] = {
    "FetchReach-v4": ("not reached",),
    "FetchPush-v4": ("block off the table", "block never moved", "pushed off the line or short"),
    "FetchPickAndPlace-v4": ("block off the table", "grasp missed", "block dropped", "held but not placed"),
    "FetchSlide-v4": ("puck off the table", "puck never struck", "stopped short", "slid past", "slid wide"),
}


def failure_cause(env_id: str, episode: Episode) -> str:
    """Why a failed episode failed, read off its object trajectory (the causes of ``FAILURES[env_id]``)."""
    if env_id == "FetchReach-v4":
        return "not reached"
    obj = episode.observation[:, OBJECT]
    start, end, goal = obj[0], obj[-1], episode.desired_goal
    if obj[:, 2].min() < start[2] - OFF_TABLE_DROP:
        return "puck off the table" if env_id == "FetchSlide-v4" else "block off the table"
    moved = float(np.linalg.norm(obj[:, :2] - start[:2], axis=1).max())
    if env_id == "FetchPush-v4":
        return "block never moved" if moved < 0.02 else "pushed off the line or short"
    if env_id == "FetchPickAndPlace-v4":
        held = [holding(o) for o in episode.observation]
        if not any(held):
            return "grasp missed"
        return "held but not placed" if held[-1] else "block dropped"
    if moved < 0.02:
        return "puck never struck"
    line = goal[:2] - start[:2]
    u = line / max(float(np.linalg.norm(line)), 1e-6)
    along = float((end[:2] - goal[:2]) @ u)  # > 0: beyond the goal
    wide = float(np.linalg.norm((end[:2] - goal[:2]) - along * u))
    if wide > abs(along):
        return "slid wide"
    return "slid past" if along > 0 else "stopped short"


def rollout(env: Any, policy, seed: int, expert=None) -> tuple[Rollout, np.ndarray | None]:
    """One episode of ``policy`` (observation dict -> action) from ``env.reset(seed=seed)``.

    With ``expert`` (stateless), every visited state is also labelled with the
    expert's action, which is what DAgger aggregates; the labels come back
    beside the rollout (``None`` without an expert).
    """
    if hasattr(policy, "reset"):
        policy.reset()
    observation, _ = env.reset(seed=seed)
    observations, achieved, actions, labels = [observation["observation"]], [observation["achieved_goal"]], [], []
    info: dict[str, Any] = {}
    done = False
    while not done:
        if expert is not None:
            labels.append(expert(observation))
        action = np.asarray(policy(observation), dtype=np.float32)
        observation, _, terminated, truncated, info = env.step(action)
        observations.append(observation["observation"])
        achieved.append(observation["achieved_goal"])
        actions.append(action)
        done = terminated or truncated
    episode = Episode(np.array(observations), np.array(achieved), np.array(observation["desired_goal"]),
                      np.array(actions, dtype=np.float32))
    success = bool(info["is_success"])
    distance = float(np.linalg.norm(observation["achieved_goal"] - observation["desired_goal"]))
    env_id = env.spec.id
    result = Rollout(episode, success, distance, None if success else failure_cause(env_id, episode))
    return result, (np.array(labels, dtype=np.float32) if expert is not None else None)


def expert_rollouts(env_id: str, seeds: list[int]) -> list[Rollout]:
    """The scripted expert's episodes from the given reset seeds (deterministic: the same seeds, the same episodes)."""
    if not seeds:
        raise CourseError("expert_rollouts needs at least one seed")
    expert = make_expert(env_id)
    env = make_fetch_env(env_id)
    try:
        return [rollout(env, expert, seed)[0] for seed in seeds]
    finally:
        env.close()


def failure_counts(env_id: str, rollouts: list[Rollout]) -> dict[str, int]:
    """How many of the failed episodes fall under each cause of ``FAILURES[env_id]`` (zeros included)."""
    counts = dict.fromkeys(FAILURES[env_id], 0)
    for r in rollouts:
        if r.failure is not None:
            counts[r.failure] += 1
    return counts
