"""Making Fetch environments and choosing a headless rendering backend.

MuJoCo picks its OpenGL backend from ``MUJOCO_GL`` when it is first imported,
so :func:`configure_rendering` must run before anything imports ``mujoco``. It
probes each candidate in a child process (a backend that is missing can abort
the interpreter that tries it) and exports the first that renders.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from typing import Any

from gcrl.core.errors import CourseError

FETCH_TASKS: tuple[str, ...] = ("Reach", "Push", "PickAndPlace", "Slide")
FETCH_ENV_IDS: tuple[str, ...] = tuple(
    f"Fetch{task}{variant}-v4" for task in FETCH_TASKS for variant in ("", "Dense")
)

#: Fetch's action: a displacement of the gripper in x, y, z and the finger opening, each in [-1, 1].
ACTION_DIM = 4
#: The keys of a Fetch observation, in the order the networks read them concatenated (SB3's CombinedExtractor's).
OBS_KEYS: tuple[str, ...] = ("achieved_goal", "desired_goal", "observation")

#: Backends tried in order when ``MUJOCO_GL`` is not set: EGL (GPU or Mesa), then OSMesa (software).
RENDER_BACKENDS: tuple[str, ...] = ("egl", "osmesa")

RENDERING_FIX = (
    "install Debian's rendering libraries (sudo apt-get install libegl1 libgl1 libegl-mesa0 libosmesa6, "
    "or run `make sysdeps`) and retry, or set MUJOCO_GL to a backend that works here"
)

_PROBE = (
    "import mujoco\n"
    "ctx = mujoco.GLContext(64, 64)\n"
    "ctx.make_current()\n"
    "ctx.free()\n"
)


def probe_backend(backend: str, timeout_s: float = 60.0) -> tuple[bool, str]:
    """Try to open a 64x64 MuJoCo GL context with ``backend`` in a child process.

    Returns ``(works, detail)``; ``detail`` is the last line of the child's error output.
    """
    env = {**os.environ, "MUJOCO_GL": backend}
    if backend in ("egl", "osmesa"):
        env["PYOPENGL_PLATFORM"] = backend
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout_s:.0f} s"
    if done.returncode == 0:
        return True, "ok"
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return False, lines[-1] if lines else f"exit code {done.returncode}"


def configure_rendering(candidates: tuple[str, ...] | None = None) -> str:
    """Select a working headless backend, export it as ``MUJOCO_GL`` and return its name.

    An explicit ``MUJOCO_GL`` is honoured and checked; otherwise EGL is tried,
    then OSMesa. Raises :class:`CourseError` naming the fix when none renders.
    """
    requested = os.environ.get("MUJOCO_GL", "").strip()
    if candidates is None:
        candidates = (requested,) if requested else RENDER_BACKENDS
    failures = []
    for backend in candidates:
        works, detail = probe_backend(backend)
        if works:
            os.environ["MUJOCO_GL"] = backend
            if backend in ("egl", "osmesa"):
                os.environ["PYOPENGL_PLATFORM"] = backend
            return backend
        failures.append(f"{backend}: {detail}")
    raise CourseError(f"no headless MuJoCo rendering backend works ({'; '.join(failures)}); {RENDERING_FIX}")


def task_name(env_id: str) -> str:
    """The short name the book prints for a Fetch id: ``FetchReachDense-v4`` -> ``ReachDense``."""
    return env_id.removeprefix("Fetch").rsplit("-v", 1)[0]


def _registered(env_id: str):
    """The ``gymnasium`` module with the Gymnasium-Robotics envs registered, after checking ``env_id``."""
    if env_id not in FETCH_ENV_IDS:
        raise CourseError(f"unknown Fetch environment {env_id!r}; the course uses {', '.join(FETCH_ENV_IDS)}")
    import gymnasium as gym

    with contextlib.redirect_stderr(io.StringIO()):
        # At import, gymnasium-robotics prints a notice about the Adroit envs (unused here).
        import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)
    return gym


def make_fetch_env(env_id: str, **kwargs: Any):
    """``gymnasium.make(env_id)`` with the Gymnasium-Robotics envs registered.

    Raises :class:`CourseError` for an id that is not one of the course's Fetch v4 ids.
    """
    return _registered(env_id).make(env_id, **kwargs)


def episode_length(env_id: str) -> int:
    """The number of control steps after which an episode of ``env_id`` is truncated (50 on Fetch)."""
    return int(_registered(env_id).spec(env_id).max_episode_steps)


def observation_dims(env_id: str) -> dict[str, int]:
    """The length of each entry of ``env_id``'s observation dictionary, in the order of ``OBS_KEYS``."""
    env = make_fetch_env(env_id)
    try:
        spaces = env.observation_space.spaces
        return {key: int(spaces[key].shape[0]) for key in OBS_KEYS}
    finally:
        env.close()
