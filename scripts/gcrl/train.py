"""One training entry point for every chapter: ``train(config, run_dir)``.

The update rules are Stable-Baselines3's (PPO, SAC, TD3) and sb3-contrib's
(TQC); this module adds what a course needs around them, in one place that
reads top to bottom:

1. a typed :class:`TrainConfig`, whose hyperparameters come from versioned YAML
   files (``hyperparams/<algo>.yml``, one entry per environment, in the style
   of rl-baselines3-zoo) and are validated: an unknown key or a bad value is a
   :class:`CourseError` that names it;
2. vectorised collection (``SubprocVecEnv`` when ``n_envs > 1``), with
   ``gradient_steps = -1`` for off-policy learners so that each collected
   transition still buys one gradient step;
3. evaluation every ``eval_every`` env steps on fixed held-out seeds
   (deterministic policy, success with a 95% Wilson interval), written as a
   learning curve (CSV and JSON) after every evaluation;
4. an early stop when the success rate reaches ``target_success``, so that
   time-to-success can be measured;
5. atomic checkpoints every ``checkpoint_every`` env steps (model, replay
   buffer, normalisation statistics, curve, hashes), from which an interrupted
   run resumes to the same final step count; a damaged checkpoint is a clear error;
6. TensorBoard logs, an optional progress bar, and ``metrics.json`` with provenance;
7. :func:`train_many`, which trains a grid of independent runs in worker
   processes, one torch thread each, so that a run's numbers do not depend on
   how many runs share the machine.
"""

from __future__ import annotations

import copy
import csv
import functools
import hashlib
import inspect
import io
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from gcrl.envs import FETCH_ENV_IDS, make_fetch_env
from gcrl.errors import CourseError
from gcrl.evaluate import EVAL_SEED_BASE, Evaluation, deterministic_policy, evaluate, evaluation_seeds
from gcrl.io import write_bytes_atomic, write_json_atomic
from gcrl.provenance import RunRecord

HYPERPARAMS_DIR = Path(__file__).with_name("hyperparams")
OFF_POLICY = ("sac", "td3", "tqc")
ALGORITHMS = ("ppo", *OFF_POLICY)
#: Constructor arguments the toolkit sets itself; a hyperparameter file may not.
RESERVED = {"policy", "env", "seed", "verbose", "tensorboard_log", "device", "_init_setup_model",
            "replay_buffer_class", "replay_buffer_kwargs", "rollout_buffer_class", "rollout_buffer_kwargs"}
#: Keys of a hyperparameter entry that configure the toolkit rather than the algorithm.
TOOLKIT_KEYS = {"n_envs", "normalize", "her"}
CHECKPOINT = "checkpoint"
#: Stored observations on which each evaluation estimates the policy's entropy.
ENTROPY_SAMPLES = 1_024


def algorithm_class(algo: str):
    if algo == "tqc":
        from sb3_contrib import TQC

        return TQC
    import stable_baselines3

    return {"ppo": stable_baselines3.PPO, "sac": stable_baselines3.SAC, "td3": stable_baselines3.TD3}[algo]


@dataclass(frozen=True)
class HerConfig:
    """Hindsight relabelling for an off-policy learner (Chapter 4 derives it)."""

    n_sampled_goal: int = 4
    goal_selection_strategy: str = "future"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a run: task, algorithm, budget, seed, evaluation grid, hyperparameters.

    An off-policy learner's ``buffer_size`` is capped at the run's length plus
    one step per env: the capped buffer never evicts, so it behaves identically.
    """

    env_id: str
    algo: str
    total_steps: int
    seed: int = 0
    n_envs: int = 1
    normalize: bool = False
    her: HerConfig | None = None
    hyperparams: dict[str, Any] = field(default_factory=dict)
    eval_every: int = 1_000
    eval_episodes: int = 50
    eval_seed: int = EVAL_SEED_BASE
    target_success: float | None = None
    checkpoint_every: int = 5_000
    progress_bar: bool = False

    def __post_init__(self) -> None:
        if self.algo not in ALGORITHMS:
            raise CourseError(f"unknown algorithm {self.algo!r}; choose one of {', '.join(ALGORITHMS)}")
        if self.env_id not in FETCH_ENV_IDS:
            raise CourseError(f"unknown environment {self.env_id!r}; the course uses {', '.join(FETCH_ENV_IDS)}")
        positive = {"total_steps": self.total_steps, "n_envs": self.n_envs, "eval_every": self.eval_every,
                    "eval_episodes": self.eval_episodes, "checkpoint_every": self.checkpoint_every}
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise CourseError(f"{name} must be a positive integer, got {value!r}")
        if self.target_success is not None and not 0 < self.target_success <= 1:
            raise CourseError(f"target_success must be in (0, 1], got {self.target_success!r}")
        if self.her is not None and self.algo not in OFF_POLICY:
            raise CourseError(f"hindsight relabelling needs an off-policy learner, not {self.algo}")
        check_hyperparams(self.algo, self.hyperparams, where=f"{self.algo}/{self.env_id}")
        if self.algo in OFF_POLICY:
            # A buffer that holds the whole run never evicts a transition, so a larger one changes
            # nothing but memory and the size of every checkpoint; the config records what is used.
            requested = self.hyperparams.get("buffer_size", library_default(self.algo, "buffer_size"))
            capacity = min(requested, self.total_steps + self.n_envs)
            object.__setattr__(self, "hyperparams", {**self.hyperparams, "buffer_size": capacity})

    @classmethod
    def from_file(cls, algo: str, env_id: str, **overrides: Any) -> "TrainConfig":
        """The entry for ``env_id`` in ``hyperparams/<algo>.yml``, with ``overrides`` applied.

        Overrides may be toolkit fields (``total_steps``, ``seed``, ``her``, ...) or
        algorithm hyperparameters, which replace the file's value of the same name.
        """
        entry = load_hyperparams(algo, env_id)
        toolkit = {k: entry.pop(k) for k in TOOLKIT_KEYS & set(entry)}
        if isinstance(toolkit.get("her"), dict):
            toolkit["her"] = HerConfig(**toolkit["her"])
        fields = set(cls.__dataclass_fields__)
        hyperparams = {**entry, **{k: v for k, v in overrides.items() if k not in fields}}
        settings = {**toolkit, **{k: v for k, v in overrides.items() if k in fields}}
        return cls(env_id=env_id, algo=algo, hyperparams=hyperparams, **settings)

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))

    def train(self, run_dir: Path, run: RunRecord) -> "TrainResult":
        return train(self, run_dir, run)

    def result(self, run_dir: Path, metrics: dict[str, Any], curve: list[dict[str, Any]]) -> "TrainResult":
        return TrainResult(Path(run_dir), self, metrics, curve)


_VALUE_RULES: dict[str, tuple[str, Any]] = {
    "learning_rate": ("a number > 0", lambda v: isinstance(v, (int, float)) and v > 0),
    "gamma": ("a number in (0, 1]", lambda v: isinstance(v, (int, float)) and 0 < v <= 1),
    "tau": ("a number in (0, 1]", lambda v: isinstance(v, (int, float)) and 0 < v <= 1),
    "gae_lambda": ("a number in [0, 1]", lambda v: isinstance(v, (int, float)) and 0 <= v <= 1),
    "clip_range": ("a number in (0, 1)", lambda v: isinstance(v, (int, float)) and 0 < v < 1),
    "batch_size": ("an integer >= 1", lambda v: isinstance(v, int) and v >= 1),
    "buffer_size": ("an integer >= 1", lambda v: isinstance(v, int) and v >= 1),
    "n_steps": ("an integer >= 1", lambda v: isinstance(v, int) and v >= 1),
    "n_epochs": ("an integer >= 1", lambda v: isinstance(v, int) and v >= 1),
    "learning_starts": ("an integer >= 0", lambda v: isinstance(v, int) and v >= 0),
    "gradient_steps": ("an integer >= 1, or -1", lambda v: isinstance(v, int) and (v >= 1 or v == -1)),
    "train_freq": ("an integer >= 1", lambda v: isinstance(v, int) and v >= 1),
    "ent_coef": ("a number >= 0, 'auto' or 'auto_<init>'",
                 lambda v: (isinstance(v, (int, float)) and v >= 0) or (isinstance(v, str) and v.startswith("auto"))),
    "policy_kwargs": ("a mapping", lambda v: isinstance(v, dict)),
    "n_envs": ("an integer >= 1", lambda v: isinstance(v, int) and v >= 1),
    "normalize": ("true or false", lambda v: isinstance(v, bool)),
    "her": ("a mapping with n_sampled_goal and goal_selection_strategy",
            lambda v: isinstance(v, dict) and set(v) <= {"n_sampled_goal", "goal_selection_strategy"}
            and v.get("goal_selection_strategy", "future") in ("future", "final", "episode")
            and isinstance(v.get("n_sampled_goal", 4), int) and v.get("n_sampled_goal", 4) >= 0),
}


def allowed_keys(algo: str) -> set[str]:
    return set(inspect.signature(algorithm_class(algo).__init__).parameters) - RESERVED - {"self"}


def library_default(algo: str, key: str) -> Any:
    """The default value of constructor argument ``key`` in the library's ``algo`` class."""
    return inspect.signature(algorithm_class(algo).__init__).parameters[key].default


def check_hyperparams(algo: str, values: dict[str, Any], where: str, toolkit_keys: bool = False) -> None:
    """Raise :class:`CourseError` for a key the algorithm does not take or a value out of its domain."""
    known = allowed_keys(algo) | (TOOLKIT_KEYS if toolkit_keys else set())
    unknown = sorted(set(values) - known)
    if unknown:
        raise CourseError(f"{where}: unknown hyperparameter {', '.join(map(repr, unknown))} for {algo.upper()}; "
                          f"known: {', '.join(sorted(known))}")
    for key, value in values.items():
        rule = _VALUE_RULES.get(key)
        if rule and not rule[1](value):
            raise CourseError(f"{where}: {key} must be {rule[0]}, got {value!r}")


def load_hyperparams(algo: str, env_id: str) -> dict[str, Any]:
    """The validated entry for ``env_id`` in ``hyperparams/<algo>.yml``."""
    path = HYPERPARAMS_DIR / f"{algo}.yml"
    if not path.is_file():
        raise CourseError(f"no hyperparameter file for {algo!r} ({path}); choose one of {', '.join(ALGORITHMS)}")
    try:
        table = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise CourseError(f"{path.name} is not valid YAML: {exc}") from None
    if env_id not in table:
        raise CourseError(f"{path.name} has no entry for {env_id!r}; it has {', '.join(table) or 'none'}")
    entry = dict(table[env_id] or {})
    check_hyperparams(algo, entry, where=f"{path.name}: {env_id}", toolkit_keys=True)
    return entry


@dataclass
class TrainResult:
    """A finished run: its folder, config, metrics and learning curve; the model is loaded on first use."""

    run_dir: Path
    config: TrainConfig
    metrics: dict[str, Any]
    curve: list[dict[str, Any]]

    @functools.cached_property
    def model(self):
        return load_trained_model(self.run_dir, self.config)

    def policy(self):
        """The deterministic policy, observations normalised as in training."""
        return deterministic_policy(self.model)


def _make_env(config: TrainConfig):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize

    venv = make_vec_env(
        lambda: make_fetch_env(config.env_id), n_envs=config.n_envs, seed=config.seed,
        vec_env_cls=SubprocVecEnv if config.n_envs > 1 else DummyVecEnv,
    )
    return VecNormalize(venv, norm_obs=True, norm_reward=False, gamma=config.hyperparams.get("gamma", 0.99)) \
        if config.normalize else venv


def _build_model(config: TrainConfig, env, run_dir: Path):
    kwargs = copy.deepcopy(config.hyperparams)  # SB3 mutates policy_kwargs in place
    if config.algo in OFF_POLICY and config.n_envs > 1:
        kwargs.setdefault("gradient_steps", -1)  # one gradient step per collected transition
    if config.her is not None:
        from stable_baselines3 import HerReplayBuffer

        kwargs["replay_buffer_class"] = HerReplayBuffer
        kwargs["replay_buffer_kwargs"] = asdict(config.her)
    return algorithm_class(config.algo)(
        "MultiInputPolicy", env, seed=config.seed, verbose=0, tensorboard_log=str(run_dir / "tensorboard"), **kwargs
    )


# --- checkpoints -------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def staging_folder(run_dir: Path) -> Path:
    """An empty folder beside the checkpoint, into which the next checkpoint is written."""
    staging = run_dir / f".{CHECKPOINT}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def commit_checkpoint(run_dir: Path, staging: Path, state: dict[str, Any], files: list[str]) -> Path:
    """Record each staged file's SHA-256 in ``state.json``, then swap the complete folder in for the last checkpoint."""
    state = {**state, "files": {name: _sha256(staging / name) for name in files}}
    (staging / "state.json").write_text(json.dumps(state, indent=1))
    target, previous = run_dir / CHECKPOINT, run_dir / f".{CHECKPOINT}.previous"
    shutil.rmtree(previous, ignore_errors=True)
    if target.exists():
        os.replace(target, previous)
    os.replace(staging, target)
    shutil.rmtree(previous, ignore_errors=True)
    return target


def save_checkpoint(model, run_dir: Path, config: TrainConfig, curve: list[dict[str, Any]], clock: dict[str, float]) -> Path:
    """Write model, replay buffer and normalisation statistics to a new folder, then swap it in.

    The folder is complete before it replaces the previous checkpoint, and
    ``state.json`` records each file's SHA-256, so a truncated file is detected on load.
    """
    staging = staging_folder(run_dir)
    buffer = io.BytesIO()
    model.save(buffer)
    (staging / "model.zip").write_bytes(buffer.getvalue())
    files = ["model.zip"]
    if config.algo in OFF_POLICY:
        model.save_replay_buffer(staging / "replay_buffer.pkl")
        files.append("replay_buffer.pkl")
    if config.normalize:
        model.get_env().save(str(staging / "vecnormalize.pkl"))
        files.append("vecnormalize.pkl")
    state = {"config": config.as_dict(), "num_timesteps": int(model.num_timesteps), "curve": curve, "clock": clock}
    return commit_checkpoint(run_dir, staging, state, files)


def checkpoint_folder(run_dir: Path) -> Path | None:
    """The last complete checkpoint folder of a run (the previous one if a swap was interrupted)."""
    for folder in (run_dir / CHECKPOINT, run_dir / f".{CHECKPOINT}.previous"):
        if (folder / "state.json").is_file():
            return folder
    return None


def damaged_files(folder: Path, state: dict[str, Any]) -> list[str]:
    """The files of a checkpoint that are missing or whose SHA-256 differs from ``state.json``."""
    return [name for name, digest in state["files"].items()
            if not (folder / name).is_file() or _sha256(folder / name) != digest]


def _verified_checkpoint(run_dir: Path, config: TrainConfig) -> tuple[Path, dict[str, Any]] | None:
    """The last checkpoint's folder and state, after checking it belongs to ``config`` and is intact."""
    folder = checkpoint_folder(run_dir)
    if folder is None:
        return None
    damaged = f"checkpoint {folder} is damaged"
    fix = f"delete {folder} to train from the start"
    try:
        state = json.loads((folder / "state.json").read_text())
    except ValueError as exc:
        raise CourseError(f"{damaged} (state.json: {exc}); {fix}") from None
    saved = state["config"]
    for key in ("env_id", "algo", "seed", "total_steps", "n_envs", "normalize", "her", "hyperparams"):
        if saved.get(key) != config.as_dict().get(key):
            raise CourseError(f"{folder} belongs to a different run ({key}: {saved.get(key)!r} there, "
                              f"{config.as_dict().get(key)!r} now); use another run folder or {fix}")
    for name in damaged_files(folder, state)[:1]:
        raise CourseError(f"{damaged}: {name} is missing, truncated or altered; {fix}")
    return folder, state


def load_checkpoint(run_dir: Path, config: TrainConfig):
    """Rebuild env, model and replay buffer from the last checkpoint, to resume; ``None`` when there is none."""
    found = _verified_checkpoint(run_dir, config)
    if found is None:
        return None
    folder, state = found
    env = _make_env(config)
    if config.normalize:
        from stable_baselines3.common.vec_env import VecNormalize

        env = VecNormalize.load(str(folder / "vecnormalize.pkl"), env.venv)
    model = algorithm_class(config.algo).load(folder / "model.zip", env=env,
                                              tensorboard_log=str(run_dir / "tensorboard"))
    if config.algo in OFF_POLICY:
        model.load_replay_buffer(folder / "replay_buffer.pkl")
    return model, state


def load_trained_model(run_dir: Path, config: TrainConfig):
    """The model of a finished run, for acting only: one in-process env, frozen normalisation, no replay buffer."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    found = _verified_checkpoint(Path(run_dir), config)
    if found is None:
        raise CourseError(f"{run_dir} holds no checkpoint; train the run first")
    folder, _ = found
    env = DummyVecEnv([lambda: make_fetch_env(config.env_id)])
    if config.normalize:
        env = VecNormalize.load(str(folder / "vecnormalize.pkl"), env)
        env.training = False
    return algorithm_class(config.algo).load(folder / "model.zip", env=env)


# --- the run -------------------------------------------------------------------------------


def _write_curve(run_dir: Path, curve: list[dict[str, Any]]) -> None:
    write_json_atomic(run_dir / "curve.json", curve)
    if curve:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(curve[0]))
        writer.writeheader()
        writer.writerows(curve)
        write_bytes_atomic(run_dir / "curve.csv", text.getvalue().encode())


def policy_entropy(model, samples: int = ENTROPY_SAMPLES) -> float | None:
    """A Monte Carlo estimate of the policy's entropy, -E[log pi(a|s)], on stored observations.

    The observations are a fixed-seed sample of the replay buffer, normalised as
    the policy sees them, and the actions are drawn from a fixed torch seed, so
    the estimate is a function of the policy and the buffer alone; torch's
    random state is restored afterwards, so the estimate does not perturb
    training. ``None`` for a learner without a stochastic actor (PPO has no
    replay buffer here, TD3 a deterministic actor).
    """
    import torch

    actor, buffer = getattr(model, "actor", None), getattr(model, "replay_buffer", None)
    if actor is None or not hasattr(actor, "action_log_prob") or buffer is None or buffer.size() == 0:
        return None
    stored = buffer.size() * buffer.n_envs
    index = np.random.default_rng(0).integers(0, stored, size=min(samples, stored))
    observations = {key: value.reshape(-1, *value.shape[2:])[index] for key, value in buffer.observations.items()}
    normalizer = model.get_vec_normalize_env()
    if normalizer is not None:
        observations = normalizer.normalize_obs(observations)
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))), torch.no_grad():
        torch.manual_seed(0)
        tensors, _ = model.policy.obs_to_tensor(observations)
        _, log_prob = actor.action_log_prob(tensors)
    return float(-log_prob.mean().item())


def _entropy_coefficient(model) -> float | None:
    log_ent_coef = getattr(model, "log_ent_coef", None)
    if log_ent_coef is not None:
        return float(log_ent_coef.exp().item())
    ent_coef = getattr(model, "ent_coef_tensor", None)
    return float(ent_coef.item()) if ent_coef is not None else None


def train(config: TrainConfig, run_dir: str | os.PathLike[str], run: RunRecord | None = None) -> TrainResult:
    """Train, evaluate, checkpoint and resume; return the model, its metrics and its learning curve."""
    from stable_baselines3.common.callbacks import BaseCallback

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    run = run or RunRecord(profile=os.environ.get("GCRL_PROFILE", "standard"), seeds=[config.seed])
    seeds = evaluation_seeds(config.eval_episodes, config.eval_seed)

    resumed = load_checkpoint(run_dir, config)
    if resumed is None:
        model = _build_model(config, _make_env(config), run_dir)
        curve: list[dict[str, Any]] = []
        clock = {"train_s": 0.0, "eval_s": 0.0}
        resumed_from = None
    else:
        model, state = resumed
        curve, clock, resumed_from = state["curve"], state["clock"], int(model.num_timesteps)

    def evaluate_now() -> Evaluation:
        t0 = time.perf_counter()
        result = evaluate(config.env_id, deterministic_policy(model), seeds)
        clock["eval_s"] += time.perf_counter() - t0
        row = {"env_steps": int(model.num_timesteps), "train_s": round(clock["train_s"], 3),
               **result.as_dict(), "ent_coef": _entropy_coefficient(model), "entropy": policy_entropy(model)}
        curve.append(row)
        _write_curve(run_dir, curve)
        return result

    class Schedule(BaseCallback):
        """Evaluation, early stop and checkpoints on the env-step grid; training time excludes them."""

        def _on_training_start(self) -> None:
            self.next_eval = (self.model.num_timesteps // config.eval_every + 1) * config.eval_every
            self.next_checkpoint = (self.model.num_timesteps // config.checkpoint_every + 1) * config.checkpoint_every
            self.t0 = time.perf_counter()

        def _on_step(self) -> bool:
            steps = self.model.num_timesteps
            if steps >= config.total_steps:
                # The library still updates on the last rollout after this call; the final
                # evaluation and checkpoint follow learn(), so they describe the final model.
                return True
            keep_going = True
            if steps >= self.next_eval or steps >= self.next_checkpoint:
                clock["train_s"] += time.perf_counter() - self.t0
                if steps >= self.next_eval:
                    self.next_eval += config.eval_every * ((steps - self.next_eval) // config.eval_every + 1)
                    result = evaluate_now()
                    keep_going = config.target_success is None or result.success_rate < config.target_success
                if steps >= self.next_checkpoint:
                    self.next_checkpoint += config.checkpoint_every * ((steps - self.next_checkpoint) // config.checkpoint_every + 1)
                    save_checkpoint(self.model, run_dir, config, curve, clock)
                self.t0 = time.perf_counter()
            return keep_going

        def _on_training_end(self) -> None:
            clock["train_s"] += time.perf_counter() - self.t0

    reached = config.target_success is not None and any(r["success_rate"] >= config.target_success for r in curve)
    remaining = config.total_steps - model.num_timesteps
    changed = resumed is None
    if remaining > 0 and not reached:
        model.learn(remaining, callback=Schedule(), reset_num_timesteps=resumed is None,
                    progress_bar=config.progress_bar, tb_log_name=config.algo)
        changed = True
    if not curve or curve[-1]["env_steps"] != model.num_timesteps:
        evaluate_now()
        changed = True
    if changed:
        save_checkpoint(model, run_dir, config, curve, clock)

    target_entropy = float(model.target_entropy) if hasattr(model, "target_entropy") else None
    metrics = run_metrics(config.as_dict(), int(model.num_timesteps), clock, curve, config.target_success,
                          resumed_from, seeds, target_entropy)
    write_json_atomic(run_dir / "metrics.json", {**metrics, "provenance": run.snapshot()})
    result = TrainResult(run_dir, config, metrics, curve)
    result.__dict__["model"] = model  # already in memory; TrainResult.model would otherwise load it
    return result


def run_metrics(config: dict[str, Any], env_steps: int, clock: dict[str, float], curve: list[dict[str, Any]],
                target_success: float | None, resumed_from: int | None, seeds: list[int],
                target_entropy: float | None) -> dict[str, Any]:
    """``metrics.json`` of a run (SB3's or the book's): budget, time, final and best success, time to target."""
    target_row = next((r for r in curve if target_success and r["success_rate"] >= target_success), None)
    final = curve[-1]
    return {
        "config": config,
        "env_steps": env_steps,
        "train_time_s": round(clock["train_s"], 2),
        "eval_time_s": round(clock["eval_s"], 2),
        "env_steps_per_s": round(env_steps / max(clock["train_s"], 1e-9), 1),
        "final": {k: final[k] for k in ("episodes", "successes", "success_rate", "ci95_low", "ci95_high",
                                        "mean_final_distance")},
        "best_success_rate": max(r["success_rate"] for r in curve),
        "time_to_target": None if target_row is None else
        {"env_steps": target_row["env_steps"], "train_s": target_row["train_s"]},
        "evaluations": len(curve),
        "resumed_from": resumed_from,
        "eval_seeds": [seeds[0], seeds[-1]],
        "target_entropy": target_entropy,
    }


def train_in_worker(config, run_dir: Path, run: RunRecord) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    import torch

    torch.set_num_threads(1)
    result = config.train(run_dir, run)
    return result.metrics, result.curve


def default_workers() -> int:
    """One worker per CPU core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def expected_cost(config) -> float:
    """A run's relative cost for scheduling: env steps times the squared width of its networks."""
    hyperparams = getattr(config, "hyperparams", {})
    widths = getattr(config, "net_arch", None) or hyperparams.get("policy_kwargs", {}).get("net_arch") or [64, 64]
    if isinstance(widths, dict):  # {pi: [...], qf: [...]}
        widths = [w for layers in widths.values() for w in layers]
    return float(config.total_steps) * sum(w * w for w in widths)


def train_many(jobs: list[tuple[Any, Path]], run: RunRecord, workers: int | None = None) -> list[Any]:
    """Train independent runs, ``workers`` at a time, each in its own process with one torch thread.

    A job is a config and its run folder; the config is a :class:`TrainConfig`
    (Stable-Baselines3) or a :class:`gcrl.sac_her.SacHerConfig` (the book's
    SAC+HER), and it knows how to train itself and to wrap its result.

    The course's networks are small: a second torch thread speeds one run up a
    little, while two multi-threaded runs on the same cores slow each other down
    badly, so a grid runs fastest as parallel single-threaded runs. Every run
    trains in a fresh process with one thread whatever ``workers`` is, so its
    numbers do not depend on it. Models are loaded back on first use
    (:attr:`TrainResult.model`).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from gcrl import progress

    workers = max(1, min(workers or default_workers(), len(jobs)))
    context = multiprocessing.get_context("spawn")
    # Longest runs first, so that no core idles while one long run finishes alone at the end.
    order = sorted(range(len(jobs)), key=lambda i: -expected_cost(jobs[i][0]))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {i: pool.submit(train_in_worker, jobs[i][0], Path(jobs[i][1]), run) for i in order}
        progress.report("training runs", 0, len(jobs))
        for done, _ in enumerate(as_completed(futures.values()), start=1):
            progress.report("training runs", done, len(jobs))
        outcomes = [futures[i].result() for i in range(len(jobs))]
    return [config.result(Path(run_dir), metrics, curve) for (config, run_dir), (metrics, curve) in zip(jobs, outcomes)]
