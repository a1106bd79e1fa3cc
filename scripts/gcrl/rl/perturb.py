"""Perturbations of Fetch environments: Gymnasium wrappers with a severity and a seed.

Every wrapper takes a ``severity`` in its own natural unit, and severity 0 is the
identity: the wrapped environment then returns exactly what the bare one does,
step for step (tested). Randomness comes from the wrapper's own stream, so it
never disturbs the environment's: when an episode is reset with a seed, the
stream is re-seeded from ``(wrapper seed, episode seed)``, which makes every
evaluation episode reproducible whatever the order in which episodes run.

Success is always the environment's own ``info["is_success"]``, computed from the
true state. A perturbation changes what the policy sees or what its actions do,
never the yardstick.

The families:

- :class:`ObservationNoise`: Gaussian noise of one standard deviation on every
  entry of ``observation``, in that entry's own unit (metres for positions,
  metres per control step for Fetch's velocities, which are scaled by the
  control period, radians for the object's rotation), and with
  ``achieved_goal=True`` on the achieved goal too; the desired goal stays clean.
- :class:`ActionNoise`: Gaussian noise on the action, clipped to the action box.
- :class:`ActionDelay`: the action applied at step t is the one chosen at t - n.
- :class:`SensorDropout`: each entry of ``observation`` independently holds its
  previous value (sample-and-hold) with probability ``severity``.
- :class:`PhysicsShift`: a relative change of MuJoCo model fields (friction,
  object mass, arm joint damping), re-applied at every reset and undone on
  close; given a range, a new change is drawn each episode (domain randomisation).
- :class:`GoalRangeShift` and :class:`GoalsInAir`: the goal distribution moves.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from gcrl.core.errors import CourseError

Observation = dict[str, np.ndarray]


class Perturbation(gym.Wrapper):
    """Base class: a severity, a seeded noise stream, and a hook on each observation."""

    def __init__(self, env: gym.Env, severity: float, seed: int = 0, minimum: float = 0.0,
                 maximum: float = float("inf")):
        super().__init__(env)
        if not isinstance(severity, (int, float)) or not minimum <= severity <= maximum:
            raise CourseError(f"{type(self).__name__}: severity must be a number in [{minimum}, {maximum}], "
                              f"got {severity!r}")
        self.severity = float(severity)
        self.noise_seed = int(seed)
        self.rng = np.random.default_rng(self.noise_seed)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Observation, dict]:
        if seed is not None:
            self.rng = np.random.default_rng([self.noise_seed, seed])
        self.before_reset()
        observation, info = self.env.reset(seed=seed, options=options)
        return self.on_reset(observation), info

    def step(self, action: np.ndarray) -> tuple[Observation, float, bool, bool, dict]:
        observation, reward, terminated, truncated, info = self.env.step(self.action(action))
        return self.observation(observation), reward, terminated, truncated, info

    # hooks: each family overrides what it perturbs
    def before_reset(self) -> None:
        pass

    def on_reset(self, observation: Observation) -> Observation:
        return self.observation(observation)

    def observation(self, observation: Observation) -> Observation:
        return observation

    def action(self, action: np.ndarray) -> np.ndarray:
        return action


class ObservationNoise(Perturbation):
    """x + N(0, severity^2) on ``observation`` (and ``achieved_goal`` if asked); the goal stays clean."""

    def __init__(self, env: gym.Env, severity: float, seed: int = 0, achieved_goal: bool = False):
        super().__init__(env, severity, seed)
        self.keys = ("observation", "achieved_goal") if achieved_goal else ("observation",)

    def observation(self, observation: Observation) -> Observation:
        if self.severity == 0:
            return observation
        noisy = dict(observation)
        for key in self.keys:
            noisy[key] = observation[key] + self.rng.normal(0.0, self.severity, observation[key].shape)
        return noisy


class ActionNoise(Perturbation):
    """a + N(0, severity^2), clipped to the action box (the policy's own action space)."""

    def action(self, action: np.ndarray) -> np.ndarray:
        if self.severity == 0:
            return action
        noisy = np.asarray(action) + self.rng.normal(0.0, self.severity, np.shape(action))
        return np.clip(noisy, self.action_space.low, self.action_space.high).astype(self.action_space.dtype)


class ActionDelay(Perturbation):
    """The action applied at step t is the one chosen at step t - severity; before that, zero (hold still)."""

    def __init__(self, env: gym.Env, severity: int, seed: int = 0):
        if not isinstance(severity, int) or isinstance(severity, bool):
            raise CourseError(f"ActionDelay: severity is a whole number of control steps, got {severity!r}")
        super().__init__(env, severity, seed)
        self.delay = severity
        self.queue: deque[np.ndarray] = deque()

    def before_reset(self) -> None:
        zero = np.zeros(self.action_space.shape, self.action_space.dtype)
        self.queue = deque([zero] * self.delay)

    def action(self, action: np.ndarray) -> np.ndarray:
        self.queue.append(np.asarray(action))
        return self.queue.popleft()


class SensorDropout(Perturbation):
    """Each entry of ``observation`` keeps its previous value with probability ``severity``."""

    def __init__(self, env: gym.Env, severity: float, seed: int = 0):
        super().__init__(env, severity, seed, maximum=1.0)
        self.last: np.ndarray | None = None

    def on_reset(self, observation: Observation) -> Observation:
        self.last = observation["observation"].copy()  # the first reading of an episode always arrives
        return observation

    def observation(self, observation: Observation) -> Observation:
        if self.severity == 0:
            return observation
        dropped = self.rng.random(observation["observation"].shape) < self.severity
        held = np.where(dropped, self.last, observation["observation"])
        self.last = held
        return {**observation, "observation": held}


# --- physics --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelField:
    """Entries of one MuJoCo model array: ``getattr(model, array)[rows, column]``."""

    array: str
    rows: np.ndarray
    column: int | None = None


def _ids(model: mujoco.MjModel, kind: mujoco.mjtObj, names: list[str]) -> list[int]:
    ids = [mujoco.mj_name2id(model, kind, name) for name in names]
    return [i for i in ids if i >= 0]


#: Arm joints the mocap weld drags along: their damping sets how the arm follows a commanded motion.
ARM_JOINTS = ["robot0:shoulder_pan_joint", "robot0:shoulder_lift_joint", "robot0:upperarm_roll_joint",
              "robot0:elbow_flex_joint", "robot0:forearm_roll_joint", "robot0:wrist_flex_joint",
              "robot0:wrist_roll_joint"]


PHYSICS_FIELDS = ("table_friction", "object_friction", "contact_friction", "object_mass", "joint_damping")


def model_fields(model: mujoco.MjModel, name: str) -> list[ModelField]:
    """The model entries a named physics perturbation scales; a clear error if the scene lacks them."""
    table = _ids(model, mujoco.mjtObj.mjOBJ_BODY, ["table0"])
    table_geoms = np.flatnonzero(np.isin(model.geom_bodyid, table))
    object_geoms = np.array(_ids(model, mujoco.mjtObj.mjOBJ_GEOM, ["object0"]), dtype=int)
    object_body = np.array(_ids(model, mujoco.mjtObj.mjOBJ_BODY, ["object0"]), dtype=int)
    arm_dofs = model.jnt_dofadr[_ids(model, mujoco.mjtObj.mjOBJ_JOINT, ARM_JOINTS)]
    # Sliding friction is column 0 of geom_friction; a contact takes the larger of its two geoms' values.
    fields = {
        "table_friction": [ModelField("geom_friction", table_geoms, 0)],
        "object_friction": [ModelField("geom_friction", object_geoms, 0)],
        "contact_friction": [ModelField("geom_friction", np.concatenate([table_geoms, object_geoms]), 0)],
        "object_mass": [ModelField("body_mass", object_body), ModelField("body_inertia", object_body)],
        "joint_damping": [ModelField("dof_damping", np.asarray(arm_dofs, dtype=int))],
    }
    if name not in PHYSICS_FIELDS:
        raise CourseError(f"unknown physics field {name!r}; choose one of {', '.join(PHYSICS_FIELDS)}")
    if any(len(f.rows) == 0 for f in fields[name]):
        raise CourseError(f"{name}: this scene has no such bodies (FetchReach has no table object to push)")
    return fields[name]


class PhysicsShift(Perturbation):
    """Scale MuJoCo model fields by (1 + severity) for an episode; restore them on close.

    ``severity`` is a relative change (-0.5 halves, 1.0 doubles); given a pair
    ``(low, high)``, a new change is drawn uniformly at each reset, which is
    domain randomisation. The nominal values are read once, at construction, and
    every reset starts from them, so changes never compound.
    """

    def __init__(self, env: gym.Env, field: str, severity: float | tuple[float, float], seed: int = 0):
        low, high = (severity, severity) if isinstance(severity, (int, float)) else severity
        for bound in (low, high):
            if not isinstance(bound, (int, float)) or bound <= -1:
                raise CourseError(f"PhysicsShift: a relative change must be a number > -1 (a positive "
                                  f"scale), got {severity!r}")
        if low > high:
            raise CourseError(f"PhysicsShift: the range {severity!r} is empty")
        super().__init__(env, max(abs(low), abs(high)), seed)
        self.field, self.low, self.high = field, float(low), float(high)
        self.model = env.unwrapped.model
        self.targets = model_fields(self.model, field)
        self.nominal = [self._view(f).copy() for f in self.targets]
        self.change = 0.0

    def _view(self, target: ModelField) -> np.ndarray:
        array = getattr(self.model, target.array)
        return array[target.rows] if target.column is None else array[target.rows, target.column]

    def _write(self, scale: float) -> None:
        for target, nominal in zip(self.targets, self.nominal):
            array = getattr(self.model, target.array)
            if target.column is None:
                array[target.rows] = nominal * scale
            else:
                array[target.rows, target.column] = nominal * scale

    def before_reset(self) -> None:
        self.change = self.low if self.low == self.high else float(self.rng.uniform(self.low, self.high))
        self._write(1.0 + self.change)

    def restore(self) -> None:
        """Write the nominal values back (the model is shared with the environment)."""
        self._write(1.0)

    def close(self) -> None:
        self.restore()
        super().close()


# --- goals ----------------------------------------------------------------------------------


class GoalRangeShift(Perturbation):
    """Goals drawn from a box (1 + severity) times as wide as in training; restored on close."""

    def __init__(self, env: gym.Env, severity: float, seed: int = 0):
        super().__init__(env, severity, seed)
        self.nominal_range = float(env.unwrapped.target_range)
        env.unwrapped.target_range = self.nominal_range * (1.0 + self.severity)

    def close(self) -> None:
        self.env.unwrapped.target_range = self.nominal_range
        super().close()


class GoalsInAir(Perturbation):
    """With probability ``severity``, the goal rises by U(0, 0.45) m above the table (Push and Slide
    train on table goals only; PickAndPlace's own distribution lifts half of them the same way)."""

    MAX_HEIGHT = 0.45

    def __init__(self, env: gym.Env, severity: float, seed: int = 0):
        super().__init__(env, severity, seed, maximum=1.0)
        if not env.unwrapped.has_object:
            raise CourseError("GoalsInAir: FetchReach's goals are already in the air; use GoalRangeShift")

    def on_reset(self, observation: Observation) -> Observation:
        if self.severity == 0 or self.rng.random() >= self.severity:
            return observation
        fetch = self.env.unwrapped
        fetch.goal = fetch.goal.copy()
        fetch.goal[2] += self.rng.uniform(0.0, self.MAX_HEIGHT)
        return fetch._get_obs()


# --- training under perturbations -------------------------------------------------------------


def randomised(env: gym.Env, observation_noise: float, physics_ranges: tuple[tuple[str, float, float], ...],
               seed: int) -> gym.Env:
    """Domain randomisation: per episode, a uniform draw of each ``(field, low, high)`` relative change;
    at every step, observation noise of std ``observation_noise`` (goals clean, so hindsight relabels
    with true achieved goals). With nothing to randomise, ``env`` itself comes back."""
    for index, (name, low, high) in enumerate(physics_ranges):
        env = PhysicsShift(env, name, (low, high), seed=seed * 16 + index)  # a distinct stream per wrapper
    if observation_noise:
        env = ObservationNoise(env, observation_noise, seed=seed * 16 + len(physics_ranges))
    return env


def _perturbations(env: gym.Env) -> list[Perturbation]:
    layers = []
    while isinstance(env, gym.Wrapper):
        if isinstance(env, Perturbation):
            layers.append(env)
        env = env.env
    return layers


def noise_states(env: gym.Env) -> list[dict[str, Any]]:
    """The random streams of every perturbation in ``env``'s wrapper chain (for exact resumption)."""
    return [layer.rng.bit_generator.state for layer in _perturbations(env)]


def set_noise_states(env: gym.Env, states: list[dict[str, Any]]) -> None:
    layers = _perturbations(env)
    if len(layers) != len(states):
        raise CourseError(f"the checkpoint holds {len(states)} perturbation streams, the env has {len(layers)}")
    for layer, state in zip(layers, states):
        layer.rng.bit_generator.state = state
