"""Recording a policy on a Fetch task and showing the recording in the book.

A recording is an H.264 MP4 (yuv420p, so browsers play it) written by the
ffmpeg binary that the ``imageio-ffmpeg`` wheel ships. The book embeds it as a
data URI, so the rendered page needs no file beside it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gcrl.core.io import atomic_path
from gcrl.rl.envs import make_fetch_env
from gcrl.rl.evaluate import Policy

def control_fps(env_id: str) -> int:
    """Frames per second that play an episode in real time: one frame per control step."""
    env = make_fetch_env(env_id)
    try:
        return round(1.0 / env.unwrapped.dt)
    finally:
        env.close()


def record_episodes(env_id: str, policy: Policy, seeds: list[int], size: int,
                    wrap: Callable[[Any], Any] | None = None) -> tuple[list[np.ndarray], list[bool]]:
    """Roll ``policy`` out for one full episode per seed; return the frames and each episode's final success.

    ``wrap`` puts a perturbation (:mod:`gcrl.rl.perturb`) between the policy and the environment.
    """
    env = make_fetch_env(env_id, render_mode="rgb_array", width=size, height=size)
    if wrap is not None:
        env = wrap(env)
    frames: list[np.ndarray] = []
    successes: list[bool] = []
    try:
        for seed in seeds:
            observation, _ = env.reset(seed=seed)
            frames.append(env.render())
            done, info = False, {}
            while not done:
                observation, _, terminated, truncated, info = env.step(policy(observation))
                frames.append(env.render())
                done = terminated or truncated
            successes.append(bool(info.get("is_success", False)))
    finally:
        env.close()
    return frames, successes


def write_mp4(frames: list[np.ndarray], path: Path, fps: int) -> Path:
    """Write ``frames`` as a browser-playable MP4 (H.264, yuv420p), atomically."""
    import imageio.v2 as imageio

    with atomic_path(path) as tmp:
        imageio.mimwrite(tmp, frames, format="FFMPEG", fps=fps, codec="libx264",
                         pixelformat="yuv420p", macro_block_size=8)
    return Path(path)


def video_html(path: Path, caption: str = "") -> Any:
    """An HTML5 ``<video>`` element with the MP4 embedded, for a notebook output."""
    from IPython.display import HTML

    data = base64.b64encode(Path(path).read_bytes()).decode()
    label = f'<figcaption>{caption}</figcaption>' if caption else ""
    return HTML(
        f'<figure class="gcrl-video"><video controls loop muted playsinline preload="auto" width="100%" '
        f'style="max-width:420px" src="data:video/mp4;base64,{data}"></video>{label}</figure>'
    )
