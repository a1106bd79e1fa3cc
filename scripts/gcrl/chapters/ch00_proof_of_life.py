"""Chapter 0: the laboratory's proof of life.

Four falsifiable checks, each a function the chapter calls and a test can pin:
the accelerator (or an explicit CPU fallback), headless rendering (a real
frame, not a blank buffer), a training loop that runs, and a checkpoint whose
reloaded policy takes bit-identical deterministic actions.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gcrl.core.errors import CourseError
from gcrl.core.io import atomic_path
from gcrl.course.deliverables import declared_range
from gcrl.rl.envs import make_fetch_env
from gcrl.rl.recipes import load_hyperparams

#: A frame whose pixel standard deviation is below this, or with fewer distinct
#: colours than the next constant, is blank: a GL context that drew nothing. Both
#: are the lower ends of the ranges ``deliverables.yaml`` declares for the frame.
BLANK_STD = declared_range("ch00", "environment_report.json", "/rendering/frame/std", "all")[0]
MIN_DISTINCT_COLOURS = declared_range("ch00", "environment_report.json", "/rendering/frame/distinct_colours", "all")[0]


@dataclass(frozen=True)
class ProofOfLifeConfig:
    """The short SAC run of Chapter 0: its budget (from :mod:`gcrl.course.profiles`) and seed.

    The network and the optimiser's settings are the FetchReach recipe of
    ``hyperparams/sac.yml``; the warm-up is the budget's, because the run is
    shorter than the recipe's own.
    """

    env_steps: int
    learning_starts: int
    seed: int
    env_id: str = "FetchReach-v4"

    def recipe(self) -> dict[str, Any]:
        entry = load_hyperparams("sac", self.env_id)
        return {"net_arch": list(entry["policy_kwargs"]["net_arch"]),
                **{key: entry[key] for key in ("batch_size", "learning_rate", "gamma")}}


def probe_accelerator() -> dict[str, Any]:
    """CUDA device name and memory when present; otherwise a notice and the CPU fallback.

    The device is read by :func:`gcrl.core.provenance.device_info`, the same query
    every deliverable's provenance records.
    """
    import torch

    from gcrl.core.provenance import device_info

    device = device_info()
    cuda = device["kind"] == "cuda"
    return {
        "cuda_available": cuda,
        "device": device["name"],
        "memory_gib": device.get("memory_gib"),
        "cuda_version": device.get("cuda"),
        "torch": torch.__version__,
        "notice": "CUDA device found; networks are placed on it." if cuda
        else "No CUDA device is visible: falling back to the CPU. Every chapter runs, more slowly.",
    }


def render_frame(env_id: str, size: int, seed: int) -> np.ndarray:
    """Reset ``env_id`` with ``seed`` and return one RGB frame of ``size`` x ``size`` pixels.

    Needs a headless backend chosen first (:func:`gcrl.rl.envs.configure_rendering`).
    """
    if not os.environ.get("MUJOCO_GL"):
        raise CourseError("no rendering backend chosen: call gcrl.rl.envs.configure_rendering() before creating environments")
    env = make_fetch_env(env_id, render_mode="rgb_array", width=size, height=size)
    try:
        env.reset(seed=seed)
        frame = env.render()
    finally:
        env.close()
    if frame is None:
        raise CourseError(f"{env_id} returned no frame; is MUJOCO_GL set to a working backend?")
    return np.asarray(frame)


def frame_statistics(frame: np.ndarray) -> dict[str, Any]:
    """What makes a frame real: its shape, pixel spread and colour count."""
    flat = frame.reshape(-1, frame.shape[-1]) if frame.ndim == 3 else frame.reshape(-1, 1)
    std = float(frame.astype(np.float64).std())
    distinct = int(np.unique(flat, axis=0).shape[0])
    return {
        "height": int(frame.shape[0]),
        "width": int(frame.shape[1]),
        "channels": int(frame.shape[2]) if frame.ndim == 3 else 1,
        "dtype": str(frame.dtype),
        "std": round(std, 3),
        "distinct_colours": distinct,
        "blank": bool(std < BLANK_STD or distinct < MIN_DISTINCT_COLOURS),
    }


def save_png(frame: np.ndarray, path: Path) -> Path:
    import imageio.v3 as iio

    with atomic_path(path) as tmp:
        iio.imwrite(tmp, frame, extension=".png")
    return Path(path)


def train_sac(config: ProofOfLifeConfig, checkpoint: Path):
    """Train SAC for ``config.env_steps`` steps, save it atomically to ``checkpoint``; return (model, stats)."""
    from stable_baselines3 import SAC

    env = make_fetch_env(config.env_id)
    recipe = config.recipe()
    model = SAC(
        "MultiInputPolicy",
        env,
        learning_rate=recipe["learning_rate"],
        buffer_size=max(config.env_steps, 1_000),
        learning_starts=config.learning_starts,
        batch_size=recipe["batch_size"],
        gamma=recipe["gamma"],
        policy_kwargs={"net_arch": recipe["net_arch"]},
        seed=config.seed,
        device="auto",
        verbose=0,
    )
    t0 = time.perf_counter()
    model.learn(total_timesteps=config.env_steps, progress_bar=False)
    wall = time.perf_counter() - t0
    env.close()
    with atomic_path(checkpoint) as tmp, open(tmp, "wb") as handle:
        model.save(handle)
    stats = {
        "env_id": config.env_id,
        "algorithm": "SAC",
        "config": {**asdict(config), **recipe},
        "env_steps": int(model.num_timesteps),
        "gradient_steps": int(model._n_updates),
        "wall_time_s": round(wall, 2),
        "env_steps_per_s": round(model.num_timesteps / wall, 1),
        "device": str(model.device),
        "checkpoint": checkpoint.name,
    }
    return model, stats


def fixed_observations(env_id: str, count: int, seed: int) -> dict[str, np.ndarray]:
    """A batch of ``count`` observations from resets with seeds ``seed, seed+1, ...``."""
    env = make_fetch_env(env_id)
    try:
        observations = [env.reset(seed=seed + i)[0] for i in range(count)]
    finally:
        env.close()
    return {key: np.stack([obs[key] for obs in observations]) for key in observations[0]}


def reload_check(model, checkpoint: Path, observations: dict[str, np.ndarray]) -> dict[str, Any]:
    """Reload ``checkpoint`` and compare its deterministic actions with ``model``'s on ``observations``."""
    from stable_baselines3 import SAC

    try:
        reloaded = SAC.load(checkpoint, device=model.device)
    except Exception as exc:  # SB3 raises zipfile/pickle/torch errors for a damaged file
        raise CourseError(f"checkpoint {checkpoint} cannot be loaded ({type(exc).__name__}: {exc})") from exc
    original, _ = model.predict(observations, deterministic=True)
    restored, _ = reloaded.predict(observations, deterministic=True)
    difference = float(np.max(np.abs(original - restored)))
    return {
        "checkpoint": checkpoint.name,
        "observations_checked": int(original.shape[0]),
        "action_dim": int(original.shape[1]),
        "max_abs_action_difference": difference,
        "identical": bool(np.array_equal(original, restored)),
    }


def standard_time_text(summary: dict | None) -> str:
    """What the book says about the standard profile's running time: the last measured run, never a typed number."""
    if summary is None:
        return "No standard run of the whole book has been recorded yet."
    where = ("on this machine" if summary["source"] == "this machine" else
             f"for the reference (commit {str(summary.get('commit'))[:7]}, {summary['device']['name']}, "
             f"{summary['recorded_at'][:10]})")
    slowest = max(summary["chapters"], key=summary["chapters"].get)
    missing = summary.get("missing") or []
    scope = f", without {', '.join(missing)}, which it predates" if missing else ""
    return (f"The last standard run of the whole book recorded {where} took {summary['total_s'] / 60:.0f} minutes"
            f"{scope}, {summary['chapters'][slowest] / 60:.0f} of them in {slowest}.")
