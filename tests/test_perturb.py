"""The perturbation suite (gcrl.rl.perturb): identity at zero, the change applied and undone, seeds that reproduce."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from gcrl.rl import perturb
from gcrl.rl.envs import make_fetch_env
from gcrl.core.errors import CourseError

EPISODE_SEEDS = [11, 12]


class ActionRecorder(gym.Wrapper):
    """Records the actions that reach the environment, below the perturbation."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.applied: list[np.ndarray] = []

    def step(self, action):
        self.applied.append(np.array(action, copy=True))
        return self.env.step(action)


def rollout(env: gym.Env, seeds=EPISODE_SEEDS, steps: int = 10, action_seed: int = 0):
    """Observations and rewards of fixed random action sequences, one episode per seed."""
    actions = np.array([np.random.default_rng([action_seed, seed]).uniform(-1, 1, (steps, 4)) for seed in seeds],
                       dtype=np.float32)  # each episode's actions depend on its seed alone
    trace = []
    for seed, episode_actions in zip(seeds, actions):
        observation, _ = env.reset(seed=seed)
        trace.append(observation)
        for action in episode_actions:
            observation, reward, _, _, info = env.step(action)
            trace.append({**observation, "reward": np.array(reward), "success": np.array(info["is_success"])})
    return trace, actions


def assert_same_trace(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_array_equal(x[key], y[key], err_msg=key)


ZERO = {
    "observation noise": lambda env: perturb.ObservationNoise(env, 0.0, seed=3, achieved_goal=True),
    "action noise": lambda env: perturb.ActionNoise(env, 0.0, seed=3),
    "action delay": lambda env: perturb.ActionDelay(env, 0),
    "sensor dropout": lambda env: perturb.SensorDropout(env, 0.0, seed=3),
    "object mass": lambda env: perturb.PhysicsShift(env, "object_mass", 0.0),
    "contact friction": lambda env: perturb.PhysicsShift(env, "contact_friction", 0.0),
    "joint damping": lambda env: perturb.PhysicsShift(env, "joint_damping", 0.0),
    "goal range": lambda env: perturb.GoalRangeShift(env, 0.0),
    "goals in the air": lambda env: perturb.GoalsInAir(env, 0.0, seed=3),
}


@pytest.mark.parametrize("family", sorted(ZERO))
def test_zero_severity_is_the_identity(family):
    bare, _ = rollout(make_fetch_env("FetchPush-v4"))
    wrapped, _ = rollout(ZERO[family](make_fetch_env("FetchPush-v4")))
    assert_same_trace(bare, wrapped)


def test_observation_noise_leaves_the_desired_goal_and_success_alone():
    bare, _ = rollout(make_fetch_env("FetchPush-v4"))
    noisy, _ = rollout(perturb.ObservationNoise(make_fetch_env("FetchPush-v4"), 0.02, seed=1))
    both, _ = rollout(perturb.ObservationNoise(make_fetch_env("FetchPush-v4"), 0.02, seed=1, achieved_goal=True))
    residual = np.concatenate([n["observation"] - b["observation"] for n, b in zip(noisy, bare)])
    assert abs(residual.std() - 0.02) < 0.003 and abs(residual.mean()) < 0.003
    for b, n, x in zip(bare, noisy, both):
        np.testing.assert_array_equal(n["desired_goal"], b["desired_goal"])
        np.testing.assert_array_equal(x["desired_goal"], b["desired_goal"])
        np.testing.assert_array_equal(n["achieved_goal"], b["achieved_goal"])  # only with achieved_goal=True
        if "reward" in b:  # the reward and the success are the true state's, not the perceived one
            assert n["reward"] == b["reward"] and n["success"] == b["success"]
    assert any(not np.array_equal(x["achieved_goal"], b["achieved_goal"]) for x, b in zip(both, bare))


def test_action_noise_is_gaussian_and_stays_in_the_action_box():
    env = ActionRecorder(make_fetch_env("FetchReach-v4"))
    _, actions = rollout(perturb.ActionNoise(env, 0.1, seed=2), seeds=range(6), steps=50)
    applied = np.array(env.applied).reshape(actions.shape)
    inside = np.abs(actions) < 0.7  # far from the clip at +-1
    residual = (applied - actions)[inside]  # about 840 draws: the standard error of the mean is 0.0035
    assert abs(residual.std() - 0.1) < 0.01 and abs(residual.mean()) < 0.015
    _, large = rollout(perturb.ActionNoise(env, 5.0, seed=2), steps=20)
    assert np.abs(np.array(env.applied)).max() <= 1.0


def test_action_delay_applies_the_action_chosen_n_steps_earlier_and_holds_still_before():
    env = ActionRecorder(make_fetch_env("FetchReach-v4"))
    _, actions = rollout(perturb.ActionDelay(env, 3), steps=10)
    applied = np.array(env.applied).reshape(actions.shape)
    for episode in range(len(EPISODE_SEEDS)):  # the queue restarts with each episode
        np.testing.assert_array_equal(applied[episode, :3], 0.0)
        np.testing.assert_array_equal(applied[episode, 3:], actions[episode, :-3])


def test_sensor_dropout_holds_the_previous_reading():
    frozen, _ = rollout(perturb.SensorDropout(make_fetch_env("FetchReach-v4"), 1.0, seed=0), seeds=[5], steps=8)
    for observation in frozen[1:]:  # every reading is dropped: the first one is held all episode
        np.testing.assert_array_equal(observation["observation"], frozen[0]["observation"])
    bare, _ = rollout(make_fetch_env("FetchReach-v4"), seeds=[5], steps=40)
    half, _ = rollout(perturb.SensorDropout(make_fetch_env("FetchReach-v4"), 0.5, seed=0), seeds=[5], steps=40)
    seen = np.array([h["observation"] for h in half[1:]])
    true = np.array([b["observation"] for b in bare[1:]])
    moving = np.array([b["observation"] for b in bare[:-1]]) != true
    stale = (seen != true)[moving].mean()
    assert 0.35 < stale < 0.65  # about half of the readings that changed were not seen
    np.testing.assert_array_equal(np.array([h["desired_goal"] for h in half]),
                                  np.array([b["desired_goal"] for b in bare]))


def test_noise_reproduces_from_wrapper_and_episode_seeds_whatever_the_order():
    def noisy(seed, episode_seeds):
        trace, _ = rollout(perturb.ObservationNoise(make_fetch_env("FetchReach-v4"), 0.05, seed=seed),
                           seeds=episode_seeds, steps=3)
        return trace

    forward, backward = noisy(7, [1, 2]), noisy(7, [2, 1])
    assert_same_trace(forward[:4], backward[4:])  # episode 1's noise does not depend on what ran before
    assert_same_trace(forward, noisy(7, [1, 2]))
    assert not np.array_equal(forward[1]["observation"], noisy(8, [1, 2])[1]["observation"])


def test_physics_shift_scales_the_fields_at_reset_without_compounding_and_restores_them_on_close():
    env = make_fetch_env("FetchPush-v4")
    model = env.unwrapped.model
    mass = model.body_mass.copy()
    inertia = model.body_inertia.copy()
    (body,) = perturb.model_fields(model, "object_mass")[0].rows
    shifted = perturb.PhysicsShift(env, "object_mass", 1.0)
    for seed in (0, 1, 2):
        shifted.reset(seed=seed)
        assert model.body_mass[body] == pytest.approx(2 * mass[body])
        np.testing.assert_allclose(model.body_inertia[body], 2 * inertia[body])
    others = np.arange(model.nbody) != body
    np.testing.assert_array_equal(model.body_mass[others], mass[others])
    shifted.close()
    np.testing.assert_array_equal(model.body_mass, mass)
    np.testing.assert_array_equal(model.body_inertia, inertia)


def test_domain_randomisation_draws_a_new_change_each_episode_within_its_range():
    env = make_fetch_env("FetchPush-v4")
    friction = env.unwrapped.model.geom_friction.copy()
    randomised = perturb.PhysicsShift(env, "contact_friction", (-0.5, 0.5), seed=4)
    changes = []
    for seed in range(20):
        randomised.reset(seed=seed)
        changes.append(randomised.change)
        rows = perturb.model_fields(env.unwrapped.model, "contact_friction")[0].rows
        np.testing.assert_allclose(env.unwrapped.model.geom_friction[rows, 0], friction[rows, 0] * (1 + changes[-1]))
        np.testing.assert_array_equal(env.unwrapped.model.geom_friction[:, 1:], friction[:, 1:])  # torsion, rolling
    assert min(changes) >= -0.5 and max(changes) <= 0.5 and len(set(changes)) == 20
    randomised.close()
    np.testing.assert_array_equal(env.unwrapped.model.geom_friction, friction)


def test_lower_contact_friction_lets_a_pushed_object_slide_farther():
    def travel(change):
        env = perturb.PhysicsShift(make_fetch_env("FetchPush-v4"), "contact_friction", change)
        env.reset(seed=0)
        fetch = env.unwrapped
        qpos = fetch._utils.get_joint_qpos(fetch.model, fetch.data, "object0:joint").copy()
        fetch.data.qvel[fetch.model.jnt_dofadr[fetch.model.joint("object0:joint").id]] = 0.5  # a flick along x
        for _ in range(5):
            env.step(np.zeros(4, np.float32))
        return fetch._utils.get_joint_qpos(fetch.model, fetch.data, "object0:joint")[0] - qpos[0]

    assert travel(-0.8) > 1.5 * travel(0.0) > 0


def test_goal_shifts_move_the_goal_distribution_and_are_undone():
    env = make_fetch_env("FetchReach-v4")
    wide = perturb.GoalRangeShift(env, 1.0)
    offsets = []
    for seed in range(40):
        observation, _ = wide.reset(seed=seed)
        offsets.append(observation["desired_goal"] - env.unwrapped.initial_gripper_xpos)
    offsets = np.abs(offsets)
    assert offsets.max() <= 0.30 and (offsets > 0.15).any()  # twice the training box, and used
    wide.close()
    assert env.unwrapped.target_range == 0.15

    lifted = perturb.GoalsInAir(make_fetch_env("FetchPush-v4"), 1.0, seed=0)
    table = lifted.unwrapped.height_offset
    for seed in range(10):
        observation, _ = lifted.reset(seed=seed)
        assert table < observation["desired_goal"][2] <= table + perturb.GoalsInAir.MAX_HEIGHT
        np.testing.assert_array_equal(observation["desired_goal"], lifted.unwrapped.goal)
        _, reward, _, _, _ = lifted.step(np.zeros(4, np.float32))
        assert reward == lifted.unwrapped.compute_reward(lifted.unwrapped._get_obs()["achieved_goal"],
                                                         lifted.unwrapped.goal, None)


@pytest.mark.parametrize("make, message", [
    (lambda env: perturb.ObservationNoise(env, -0.1), "severity"),
    (lambda env: perturb.SensorDropout(env, 1.5), "severity"),
    (lambda env: perturb.ActionDelay(env, 1.5), "whole number"),
    (lambda env: perturb.PhysicsShift(env, "object_mass", -1.0), "> -1"),
    (lambda env: perturb.PhysicsShift(env, "object_mass", (0.5, -0.5)), "empty"),
    (lambda env: perturb.PhysicsShift(env, "gravity", 0.5), "unknown physics field"),
    (lambda env: perturb.PhysicsShift(make_fetch_env("FetchReach-v4"), "object_mass", 0.5), "no such bodies"),
    (lambda env: perturb.GoalsInAir(make_fetch_env("FetchReach-v4"), 0.5), "already in the air"),
])
def test_bad_perturbations_are_refused_clearly(make, message):
    with pytest.raises(CourseError, match=message):
        make(make_fetch_env("FetchPush-v4"))
