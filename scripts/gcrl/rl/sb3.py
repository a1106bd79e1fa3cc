"""The Stable-Baselines3 learners (PPO, SAC, TD3; sb3-contrib's TQC) behind the course's learner interface.

The update rules are the libraries'; this module adds what a course needs
around them, in one place that reads top to bottom:

1. a typed :class:`TrainConfig`, whose hyperparameters come from the recipes
   (:mod:`gcrl.rl.recipes`) and are validated there;
2. vectorised collection (``SubprocVecEnv`` when ``n_envs > 1``), with
   ``gradient_steps = -1`` for off-policy learners so that each collected
   transition still buys one gradient step;
3. evaluation every ``eval_every`` env steps on fixed held-out seeds, written as
   a learning curve after every evaluation, and an early stop at
   ``target_success``;
4. atomic checkpoints every ``checkpoint_every`` env steps (model, replay
   buffer, normalisation statistics) in the run folder of
   :mod:`gcrl.rl.run_folder`, from which an interrupted run resumes;
5. TensorBoard logs, an optional progress bar, and ``metrics.json``.
"""

from __future__ import annotations

import copy
import io
import json
import os
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from gcrl.core.errors import CourseError
from gcrl.core.provenance import RunRecord
from gcrl.rl.envs import FETCH_ENV_IDS, make_fetch_env
from gcrl.rl.evaluate import ENTROPY_SAMPLES, EVAL_SEED_BASE, Evaluation, deterministic_policy, evaluate, evaluation_seeds
from gcrl.rl.recipes import OFF_POLICY, SB3_ALGORITHMS, TOOLKIT_KEYS, algorithm_class, check_hyperparams, \
    library_default, load_hyperparams
from gcrl.rl.run_folder import Policy, RunResult, commit_checkpoint, default_run_record, record_metrics, run_metrics, \
    staging_folder, verified_checkpoint, write_curve


#: The hidden layers :meth:`TrainConfig.cost` assumes when a recipe names none (SAC's default; only the order
#: in which a grid schedules its runs depends on it).
ASSUMED_WIDTHS = (256, 256)


@dataclass(frozen=True)
class HerConfig:
    """Hindsight relabelling for an off-policy learner (Chapter 4 derives it); the values come from the recipe."""

    n_sampled_goal: int
    goal_selection_strategy: str


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a run: task, algorithm, budget, seed, evaluation grid, hyperparameters.

    An off-policy learner's ``buffer_size`` is capped at the run's length plus
    one step per env: the capped buffer never evicts, so it behaves identically.
    Build one with :meth:`from_file`, which reads the recipe.
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
        if self.algo not in SB3_ALGORITHMS:
            raise CourseError(f"unknown algorithm {self.algo!r}; choose one of {', '.join(SB3_ALGORITHMS)}")
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
        """The recipe for ``env_id`` in ``hyperparams/<algo>.yml``, with ``overrides`` applied.

        Overrides may be toolkit fields (``total_steps``, ``seed``, ``her``, ...) or
        algorithm hyperparameters, which replace the file's value of the same name.
        """
        entry = load_hyperparams(algo, env_id)
        toolkit = {k: entry.pop(k) for k in TOOLKIT_KEYS & set(entry)}
        if isinstance(toolkit.get("her"), dict):
            toolkit["her"] = HerConfig(**toolkit["her"])
        own = {f.name for f in fields(cls)}
        hyperparams = {**entry, **{k: v for k, v in overrides.items() if k not in own}}
        settings = {**toolkit, **{k: v for k, v in overrides.items() if k in own}}
        return cls(env_id=env_id, algo=algo, hyperparams=hyperparams, **settings)

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))

    def train(self, run_dir: Path, run: RunRecord | None = None) -> RunResult:
        return train(self, run_dir, run)

    def cpus(self) -> int:
        return 1  # the learner's thread; SubprocVecEnv's workers mostly wait on it

    def cost(self) -> float:
        widths = self.hyperparams.get("policy_kwargs", {}).get("net_arch") or ASSUMED_WIDTHS
        if isinstance(widths, dict):  # {pi: [...], qf: [...]}
            widths = [w for layers in widths.values() for w in layers]
        return float(self.total_steps) * sum(w * w for w in widths)

    def load_policy(self, run_dir: Path) -> Policy:
        return deterministic_policy(load_trained_model(run_dir, self))


#: What a recorded config lacks was added to :class:`TrainConfig` later; its default is what that run used.
DEFAULTS = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}


def make_env(config: TrainConfig):
    """The vectorised, optionally normalised training environment of ``config``."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize

    venv = make_vec_env(
        lambda: make_fetch_env(config.env_id), n_envs=config.n_envs, seed=config.seed,
        vec_env_cls=SubprocVecEnv if config.n_envs > 1 else DummyVecEnv,
    )
    return VecNormalize(venv, norm_obs=True, norm_reward=False, gamma=config.hyperparams.get("gamma", 0.99)) \
        if config.normalize else venv


def build_model(config: TrainConfig, env, run_dir: Path):
    """A fresh library model of ``config`` on ``env``, logging to ``run_dir/tensorboard``."""
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


# --- checkpoints -------------------------------------------------------------------------------


def save_checkpoint(model, run_dir: Path, config: TrainConfig, curve: list[dict[str, Any]], clock: dict[str, float]) -> Path:
    """Write model, replay buffer and normalisation statistics to a new folder, then swap it in."""
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
    state = {"config": config.as_dict(), "env_steps": int(model.num_timesteps), "curve": curve, "clock": clock}
    return commit_checkpoint(run_dir, staging, state, files)


def load_checkpoint(run_dir: Path, config: TrainConfig):
    """Rebuild env, model and replay buffer from the last checkpoint, to resume; ``None`` when there is none."""
    found = verified_checkpoint(run_dir, config, DEFAULTS)
    if found is None:
        return None
    folder, state = found
    env = make_env(config)
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

    found = verified_checkpoint(Path(run_dir), config, DEFAULTS)
    if found is None:
        raise CourseError(f"{run_dir} holds no checkpoint; train the run first")
    folder, _ = found
    env = DummyVecEnv([lambda: make_fetch_env(config.env_id)])
    if config.normalize:
        env = VecNormalize.load(str(folder / "vecnormalize.pkl"), env)
        env.training = False
    return algorithm_class(config.algo).load(folder / "model.zip", env=env)


# --- what each evaluation also records -----------------------------------------------------------


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


def entropy_coefficient(model) -> float | None:
    """The temperature alpha of an entropy-regularised learner, learned or fixed; ``None`` for the others."""
    log_ent_coef = getattr(model, "log_ent_coef", None)
    if log_ent_coef is not None:
        return float(log_ent_coef.exp().item())
    ent_coef = getattr(model, "ent_coef_tensor", None)
    return float(ent_coef.item()) if ent_coef is not None else None


# --- the run -----------------------------------------------------------------------------------


def train(config: TrainConfig, run_dir: str | os.PathLike[str], run: RunRecord | None = None) -> RunResult:
    """Train, evaluate, checkpoint and resume; return the metrics, the learning curve and the policy."""
    from stable_baselines3.common.callbacks import BaseCallback

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    run = run or default_run_record(config)
    seeds = evaluation_seeds(config.eval_episodes, config.eval_seed)

    resumed = load_checkpoint(run_dir, config)
    if resumed is None:
        model = build_model(config, make_env(config), run_dir)
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
               **result.as_dict(), "ent_coef": entropy_coefficient(model), "entropy": policy_entropy(model)}
        curve.append(row)
        write_curve(run_dir, curve)
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
    trained = resumed is None
    if remaining > 0 and not reached:
        model.learn(remaining, callback=Schedule(), reset_num_timesteps=resumed is None,
                    progress_bar=config.progress_bar, tb_log_name=config.algo)
        trained = True
    if not curve or curve[-1]["env_steps"] != model.num_timesteps:
        evaluate_now()
        trained = True
    if trained:
        save_checkpoint(model, run_dir, config, curve, clock)

    target_entropy = float(model.target_entropy) if hasattr(model, "target_entropy") else None
    metrics = run_metrics(config, int(model.num_timesteps), clock, curve, config.target_success,
                          resumed_from, seeds, target_entropy)
    record_metrics(run_dir, metrics, run, trained)
    return RunResult(run_dir, config, metrics, curve, deterministic_policy(model))
