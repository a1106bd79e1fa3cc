"""Every Fetch v4 environment builds, resets and steps on the pinned MuJoCo."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest

from gcrl.rl.envs import FETCH_ENV_IDS, make_fetch_env
from gcrl.core.errors import CourseError

PIN_HINT = (
    "gymnasium-robotics {gr} with mujoco {mj} cannot build {env_id}: {error!r}. "
    "The course pins mujoco==3.11.0 because gymnasium-robotics 1.4.2 fails on mujoco >= 3.12; "
    "restore the pins in requirements.txt and run make install."
)


def test_there_are_eight_ids():
    assert len(FETCH_ENV_IDS) == 8 and len(set(FETCH_ENV_IDS)) == 8


@pytest.mark.parametrize("env_id", FETCH_ENV_IDS)
def test_fetch_env_builds_resets_and_steps(env_id):
    try:
        env = make_fetch_env(env_id)
        observation, _ = env.reset(seed=0)
        next_observation, reward, terminated, truncated, info = env.step(env.action_space.sample())
    except Exception as error:  # the failure mode of a broken pin is an AssertionError deep in MuJoCo glue
        pytest.fail(PIN_HINT.format(
            gr=importlib.metadata.version("gymnasium-robotics"),
            mj=importlib.metadata.version("mujoco"),
            env_id=env_id,
            error=error,
        ))
    assert set(observation) == {"observation", "achieved_goal", "desired_goal"}
    assert env.observation_space.contains(next_observation)
    assert env.action_space.shape == (4,)
    assert np.isfinite(reward) and not terminated and not truncated
    assert "is_success" in info
    env.close()


def test_unknown_env_id_is_a_clear_error():
    with pytest.raises(CourseError, match="unknown Fetch environment 'FetchReach-v1'"):
        make_fetch_env("FetchReach-v1")
