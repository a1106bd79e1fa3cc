"""The Stable-Baselines3 learners (PPO, SAC, TD3; sb3-contrib's TQC) behind the course's learner interface.

The update rules are the libraries'; this module adds what a course needs
around them, in one place that reads top to bottom:

1. a typed :class:`TrainConfig`, whose hyperparameters come from the recipes
   (:mod:`gcrl.rl.recipes`) and are validated there;
2. vectorised collection (``SubprocVecEnv`` when ``n_envs > 1``), with
   ``gradient_steps = -1`` for off-policy learners so that each collected
   transition still buys one gradient step;
3. atomic checkpoints (model, replay buffer, normalisation statistics) in the
   run folder of :mod:`gcrl.rl.run_folder`, from which an interrupted run resumes;
4. the :class:`Sb3Session` that the course's one run procedure (:mod:`gcrl.rl.run`)
   trains: the library's ``learn()`` calls the procedure's schedule back after
   every env step, which evaluates, checkpoints and stops the run on its grid;
5. TensorBoard logs and an optional progress bar.
"""

from __future__ import annotations

import copy
import io
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from gcrl.core.errors import CourseError
from gcrl.rl.envs import FETCH_ENV_IDS, make_fetch_env
from gcrl.rl.evaluate import ENTROPY_SAMPLES, EVAL_SEED_BASE, deterministic_policy
from gcrl.rl.recipes import OFF_POLICY, POSITIVE, RUN_RULES, SB3_ALGORITHMS, TOOLKIT_KEYS, algorithm_class, \
    check_hyperparams, check_rules, library_default, load_hyperparams
from gcrl.rl.run import Schedule
from gcrl.rl.run_folder import Checkpoint, Policy, commit_checkpoint, finished_checkpoint, staging_folder


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
        check_rules({f.name: getattr(self, f.name) for f in fields(self)}, {**RUN_RULES, "n_envs": POSITIVE})
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

    def cpus(self) -> int:
        return 1  # the learner's thread; SubprocVecEnv's workers mostly wait on it

    def cost(self) -> float:
        widths = self.hyperparams.get("policy_kwargs", {}).get("net_arch") or ASSUMED_WIDTHS
        if isinstance(widths, dict):  # {pi: [...], qf: [...]}
            widths = [w for layers in widths.values() for w in layers]
        return float(self.total_steps) * sum(w * w for w in widths)


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


def save_checkpoint(model, run_dir: Path, config: TrainConfig, progress: dict[str, Any]) -> Path:
    """Write model, replay buffer and normalisation statistics to a new folder, then swap it in; ``progress``
    (the curve and the clock) joins ``state.json``."""
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
    state = {"config": config.as_dict(), "env_steps": int(model.num_timesteps), **progress}
    return commit_checkpoint(run_dir, staging, state, files)


def load_checkpoint(run_dir: Path, config: TrainConfig, found: Checkpoint):
    """Rebuild env, model and replay buffer from the checkpoint ``found``, to resume."""
    folder, _ = found
    env = make_env(config)
    if config.normalize:
        from stable_baselines3.common.vec_env import VecNormalize

        env = VecNormalize.load(str(folder / "vecnormalize.pkl"), env.venv)
    model = algorithm_class(config.algo).load(folder / "model.zip", env=env,
                                              tensorboard_log=str(run_dir / "tensorboard"))
    if config.algo in OFF_POLICY:
        model.load_replay_buffer(folder / "replay_buffer.pkl")
    return model


def load_trained_model(run_dir: Path, config: TrainConfig):
    """The model of a finished run, for acting only: one in-process env, frozen normalisation, no replay buffer."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    folder, _ = finished_checkpoint(run_dir, config)
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


def load_policy(config: TrainConfig, run_dir: Path) -> Policy:
    """The deterministic policy of a finished run."""
    return deterministic_policy(load_trained_model(run_dir, config))


# --- the run -----------------------------------------------------------------------------------


class Sb3Session:
    """A library model in training: a :class:`gcrl.rl.run.Session` whose training is the library's ``learn()``."""

    def __init__(self, config: TrainConfig, run_dir: Path, found: Checkpoint | None):
        self.config, self.run_dir, self.resumed = config, run_dir, found is not None
        self.model = load_checkpoint(run_dir, config, found) if found is not None else \
            build_model(config, make_env(config), run_dir)
        self.target_entropy = float(self.model.target_entropy) if hasattr(self.model, "target_entropy") else None

    @property
    def steps(self) -> int:
        return int(self.model.num_timesteps)

    def train(self, schedule: Schedule) -> None:
        """The library's ``learn()`` over the rest of the budget, the schedule called back after every env step."""
        from stable_baselines3.common.callbacks import BaseCallback

        class OnTheGrid(BaseCallback):
            def _on_step(self) -> bool:
                return schedule.passed(int(self.model.num_timesteps))

        self.model.learn(self.config.total_steps - self.steps, callback=OnTheGrid(), reset_num_timesteps=not self.resumed,
                         progress_bar=self.config.progress_bar, tb_log_name=self.config.algo)

    def save(self, run_dir: Path, progress: dict[str, Any]) -> None:
        save_checkpoint(self.model, run_dir, self.config, progress)

    def policy(self) -> Policy:
        return deterministic_policy(self.model)

    def diagnostics(self) -> dict[str, Any]:
        return {"ent_coef": entropy_coefficient(self.model), "entropy": policy_entropy(self.model)}

    def close(self) -> None:
        self.model.get_env().close()


def open_session(config: TrainConfig, run_dir: Path, found: Checkpoint | None) -> Sb3Session:
    """A library model afresh, or resumed from the checkpoint ``found`` (the run procedure's :data:`Opener`)."""
    return Sb3Session(config, run_dir, found)
