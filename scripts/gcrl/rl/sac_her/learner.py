"""The book's SAC+HER as a learner of the course: its config, its run loop and its checkpoints.

The algorithm (networks, losses, the gradient step) is :mod:`gcrl.rl.sac_her.algorithm`,
the replay buffer and the observation normaliser :mod:`gcrl.rl.sac_her.replay`;
this module drives them. It is the rl-baselines3-zoo recipe of Stable-Baselines3's
``SAC`` with ``HerReplayBuffer`` and ``VecNormalize`` (``hyperparams/sac.yml``):

- observations are normalised by running statistics, updated with every
  observation the agent receives and applied when acting and when sampling;
- one gradient step per env step after ``learning_starts`` random steps;
- evaluation every ``eval_every`` env steps on fixed held-out episodes, and a
  checkpoint every ``checkpoint_every`` (agent, optimisers, normaliser, replay
  buffer and every random stream) in the run folder of :mod:`gcrl.rl.run_folder`,
  from which an interrupted run resumes exactly.

What makes it faster than the library is not the algorithm but how it computes
(see :mod:`gcrl.rl.sac_her.algorithm`) and a loop that carries none of a general
library's wrappers; ``make bench`` measures the difference on the same machine.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gcrl.core.errors import CourseError
from gcrl.core.provenance import RunRecord
from gcrl.rl import her, perturb
from gcrl.rl.envs import FETCH_ENV_IDS, episode_length, make_fetch_env, observation_dims
from gcrl.rl.evaluate import ENTROPY_SAMPLES, EVAL_SEED_BASE, Evaluation, evaluate, evaluation_seeds
from gcrl.rl.recipes import BOOK_ALGORITHM, library_default, load_hyperparams
from gcrl.rl.run_folder import Policy, RunResult, commit_checkpoint, default_run_record, record_metrics, run_metrics, \
    staging_folder, verified_checkpoint, write_curve
from gcrl.rl.sac_her.algorithm import Agent, update
from gcrl.rl.sac_her.replay import OBS_KEYS, EpisodeReplay, Normalizer

#: The recipe's values that the book's SAC+HER reads from ``sac.yml`` (SAC's library default where it has none).
RECIPE_KEYS = ("batch_size", "learning_rate", "gamma", "tau", "learning_starts")


@dataclass(frozen=True)
class SacHerConfig:
    """Everything that decides a run of the book's SAC+HER. Build one with :meth:`from_recipe`."""

    env_id: str
    total_steps: int
    n_sampled_goal: int
    goal_selection_strategy: str
    net_arch: tuple[int, ...]
    batch_size: int
    learning_rate: float
    gamma: float
    tau: float
    learning_starts: int
    seed: int = 0
    eval_every: int = 1_000
    eval_episodes: int = 50
    eval_seed: int = EVAL_SEED_BASE
    target_success: float | None = None
    checkpoint_every: int = 5_000
    # Domain randomisation of the training env (Chapter 5); evaluation stays nominal.
    observation_noise: float = 0.0
    physics_ranges: tuple[tuple[str, float, float], ...] = ()

    algo = BOOK_ALGORITHM

    def __post_init__(self) -> None:
        if self.env_id not in FETCH_ENV_IDS:
            raise CourseError(f"unknown environment {self.env_id!r}; the course uses {', '.join(FETCH_ENV_IDS)}")
        her.check_relabelling(self.goal_selection_strategy, self.n_sampled_goal)
        for name in ("total_steps", "batch_size", "eval_every", "eval_episodes", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise CourseError(f"{name} must be a positive integer, got {value!r}")
        if not self.net_arch or any(not isinstance(w, int) or w < 1 for w in self.net_arch):
            raise CourseError(f"net_arch must be a non-empty list of positive widths, got {self.net_arch!r}")
        for name, low, high in (("gamma", 0, 1), ("tau", 0, 1)):
            if not low < getattr(self, name) <= high:
                raise CourseError(f"{name} must be in (0, 1], got {getattr(self, name)!r}")
        if not self.learning_rate > 0:
            raise CourseError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if self.target_success is not None and not 0 < self.target_success <= 1:
            raise CourseError(f"target_success must be in (0, 1], got {self.target_success!r}")
        horizon = episode_length(self.env_id)
        if self.learning_starts < horizon:
            raise CourseError(f"learning_starts must be at least one episode ({horizon} steps), got "
                              f"{self.learning_starts}: only complete episodes can be relabelled")
        if not (isinstance(self.observation_noise, (int, float)) and self.observation_noise >= 0):
            raise CourseError(f"observation_noise must be a number >= 0, got {self.observation_noise!r}")
        for entry in self.physics_ranges:
            if len(entry) != 3 or entry[0] not in perturb.PHYSICS_FIELDS or not -1 < entry[1] <= entry[2]:
                raise CourseError(f"physics_ranges: each entry is (field, low, high) with field in "
                                  f"{', '.join(perturb.PHYSICS_FIELDS)} and -1 < low <= high, got {entry!r}")
        if self.checkpoint_every % horizon:
            raise CourseError(f"checkpoint_every must be a multiple of the episode length {horizon}, got "
                              f"{self.checkpoint_every}: a run is checkpointed between episodes")

    @classmethod
    def from_recipe(cls, env_id: str, **overrides: Any) -> "SacHerConfig":
        """The SAC recipe of ``hyperparams/sac.yml`` for ``env_id``, with ``overrides`` applied."""
        entry = load_hyperparams("sac", env_id)
        net_arch = entry.get("policy_kwargs", {}).get("net_arch")
        if entry.get("ent_coef", "auto") != "auto" or not entry.get("normalize", False) or not entry.get("her") \
                or not net_arch:
            raise CourseError(f"sac.yml: {env_id}: the book's SAC+HER learns its temperature, normalises "
                              "observations and relabels, and its recipe names its network (ent_coef: auto, "
                              "normalize: true, her: {...}, policy_kwargs: {net_arch: [...]})")
        recipe = {**entry["her"], "net_arch": tuple(net_arch),
                  **{key: entry.get(key, library_default("sac", key)) for key in RECIPE_KEYS}}
        return cls(env_id=env_id, **{**recipe, **overrides})

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SacHerConfig":
        """The inverse of :meth:`as_dict` (a config as recorded in ``state.json`` or a deliverable)."""
        return cls(**{**values, "net_arch": tuple(values["net_arch"]),
                      "physics_ranges": tuple(tuple(r) for r in values.get("physics_ranges", ()))})

    def train(self, run_dir: Path, run: RunRecord | None = None) -> RunResult:
        return train(self, run_dir, run)

    def cost(self) -> float:
        return float(self.total_steps) * sum(w * w for w in self.net_arch)

    def load_policy(self, run_dir: Path) -> Policy:
        agent, normalizer = load_agent(run_dir, self)
        return lambda observation: agent.act(normalizer(observation), deterministic=True)


#: What a recorded config lacks was added to :class:`SacHerConfig` later; its default is what that run used.
DEFAULTS = {f.name: f.default for f in fields(SacHerConfig) if f.default is not MISSING}


#: Fetch's action: a displacement of the gripper in x, y, z and the finger opening.
ACTION_DIM = 4


class TrainingState:
    """The state of one run: env, agent, normaliser, buffer, random streams, curve and clock."""

    def __init__(self, config: SacHerConfig):
        self.config = config
        self.env = perturb.randomised(make_fetch_env(config.env_id), config.observation_noise,
                                      config.physics_ranges, seed=config.seed)
        self.compute_reward = self.env.unwrapped.compute_reward
        spaces = self.env.observation_space.spaces
        dims = {k: int(spaces[k].shape[0]) for k in OBS_KEYS}
        action_dim = int(self.env.action_space.shape[0])
        self.horizon = episode_length(config.env_id)
        torch.manual_seed(config.seed)
        self.agent = Agent(sum(dims.values()), action_dim, config.net_arch, config.learning_rate)
        self.normalizer = Normalizer(dims)
        self.buffer = EpisodeReplay(-(-config.total_steps // self.horizon), self.horizon, dims, action_dim)
        self.rng = np.random.default_rng(config.seed)
        self.env.action_space.seed(config.seed)
        self.observation: dict[str, np.ndarray] | None
        self.observation, _ = self.env.reset(seed=config.seed)
        self.steps = 0
        self.curve: list[dict[str, Any]] = []
        self.clock = {"train_s": 0.0, "eval_s": 0.0}

    def begin_episode(self) -> None:
        self.normalizer.update(self.observation)
        self.buffer.start(self.observation)

    def env_step(self) -> None:
        """One transition: random before ``learning_starts`` (SB3's warm-up), else a sample of the policy."""
        if self.observation is None:
            self.observation, _ = self.env.reset()
            self.begin_episode()
        if self.steps < self.config.learning_starts:
            action = self.env.action_space.sample()
        else:
            action = self.agent.act(self.normalizer(self.observation), deterministic=False)
        self.observation, _, terminated, truncated, _ = self.env.step(action)
        self.buffer.add(action, self.observation)
        self.steps += 1
        if terminated or truncated:
            # The next episode starts at the next step, so a checkpoint taken here resumes exactly.
            self.observation = None
        else:
            self.normalizer.update(self.observation)

    def sample(self) -> tuple[torch.Tensor, ...]:
        c = self.config
        obs, action, next_obs, reward = self.buffer.sample(c.batch_size, c.n_sampled_goal, c.goal_selection_strategy,
                                                           self.rng, self.compute_reward)
        return (torch.from_numpy(self.normalizer(obs)), torch.from_numpy(action), torch.from_numpy(reward),
                torch.from_numpy(self.normalizer(next_obs)))

    def gradient_step(self) -> None:
        update(self.agent, *self.sample(), gamma=self.config.gamma, tau=self.config.tau)

    # evaluation -----------------------------------------------------------------------------

    def policy(self):
        return lambda observation: self.agent.act(self.normalizer(observation), deterministic=True)

    def entropy(self) -> float:
        """-E[log pi(a|s)] on a fixed-seed sample of stored observations, without touching the run's RNG."""
        n = self.buffer.episodes
        e = np.random.default_rng(0).integers(0, n, size=ENTROPY_SAMPLES)
        t = np.random.default_rng(1).integers(0, self.horizon, size=ENTROPY_SAMPLES)
        obs = {"observation": self.buffer.observation[e, t], "achieved_goal": self.buffer.achieved_goal[e, t],
               "desired_goal": self.buffer.desired_goal[e]}
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(0)
            _, log_pi = self.agent.actor(torch.from_numpy(self.normalizer(obs)))
        return float(-log_pi.mean())

    def evaluate(self, seeds: list[int], run_dir: Path) -> Evaluation:
        t0 = time.perf_counter()
        result = evaluate(self.config.env_id, self.policy(), seeds)
        self.clock["eval_s"] += time.perf_counter() - t0
        self.curve.append({"env_steps": self.steps, "train_s": round(self.clock["train_s"], 3), **result.as_dict(),
                           "ent_coef": float(self.agent.log_alpha.detach().exp()), "entropy": self.entropy()})
        write_curve(run_dir, self.curve)
        return result

    # checkpoints ----------------------------------------------------------------------------

    def save(self, run_dir: Path) -> None:
        """Everything needed to continue exactly, written beside the old checkpoint and swapped in."""
        staging = staging_folder(run_dir)
        torch.save({"agent": self.agent.state_dict(), "optimizers": self.agent.optimizer_states(),
                    "normalizer": self.normalizer.state_dict(), "rng": self.rng.bit_generator.state,
                    "action_rng": self.env.action_space.np_random.bit_generator.state,
                    "env_rng": self.env.unwrapped.np_random.bit_generator.state,
                    "perturbation_rngs": perturb.noise_states(self.env),
                    "torch_rng": torch.get_rng_state()}, staging / "agent.pt")
        np.savez(staging / "buffer.npz", **self.buffer.state_dict())
        state = {"config": self.config.as_dict(), "env_steps": self.steps, "curve": self.curve, "clock": self.clock}
        commit_checkpoint(run_dir, staging, state, ["agent.pt", "buffer.npz"])

    def restore(self, folder: Path, state: dict[str, Any]) -> None:
        saved = torch.load(folder / "agent.pt", weights_only=False)
        self.agent.load_state_dict(saved["agent"])
        self.agent.load_optimizer_states(saved["optimizers"])
        self.normalizer.load_state_dict(saved["normalizer"])
        with np.load(folder / "buffer.npz") as arrays:
            self.buffer.load_state_dict(dict(arrays))
        self.rng.bit_generator.state = saved["rng"]
        self.env.action_space.np_random.bit_generator.state = saved["action_rng"]
        self.env.unwrapped.np_random.bit_generator.state = saved["env_rng"]
        perturb.set_noise_states(self.env, saved.get("perturbation_rngs", []))  # absent before Chapter 5
        torch.set_rng_state(saved["torch_rng"])
        self.observation = None  # checkpoints fall between episodes: the next step starts one
        self.steps, self.curve, self.clock = state["env_steps"], state["curve"], state["clock"]


def load_agent(run_dir: Path, config: SacHerConfig) -> tuple[Agent, Normalizer]:
    """The trained agent and its observation statistics, for acting only."""
    found = verified_checkpoint(Path(run_dir), config, DEFAULTS)
    if found is None:
        raise CourseError(f"{run_dir} holds no checkpoint; train the run first")
    dims = {k: d for k, d in observation_dims(config.env_id).items() if k in OBS_KEYS}
    saved = torch.load(found[0] / "agent.pt", weights_only=False)
    agent = Agent(sum(dims.values()), ACTION_DIM, config.net_arch, config.learning_rate)
    agent.load_state_dict(saved["agent"])
    normalizer = Normalizer(dims)
    normalizer.load_state_dict(saved["normalizer"])
    return agent.eval(), normalizer


def train(config: SacHerConfig, run_dir: str | os.PathLike[str], run: RunRecord | None = None) -> RunResult:
    """Train, evaluating every ``eval_every`` steps and checkpointing every ``checkpoint_every``; resume if possible.

    Training time excludes evaluation and checkpoints. A finished run is read
    back, not retrained.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    run = run or default_run_record(config)
    seeds = evaluation_seeds(config.eval_episodes, config.eval_seed)
    state = TrainingState(config)
    found = verified_checkpoint(run_dir, config, DEFAULTS)
    resumed_from = None
    if found is None:
        state.begin_episode()
    else:
        state.restore(*found)
        resumed_from = state.steps

    def reached() -> bool:
        return config.target_success is not None and any(r["success_rate"] >= config.target_success for r in state.curve)

    trained = found is None
    while state.steps < config.total_steps and not reached():
        trained = True
        t0 = time.perf_counter()
        stop = min(config.total_steps, (state.steps // config.eval_every + 1) * config.eval_every,
                   (state.steps // config.checkpoint_every + 1) * config.checkpoint_every)
        while state.steps < stop:
            state.env_step()
            if state.steps > config.learning_starts:
                state.gradient_step()
        state.clock["train_s"] += time.perf_counter() - t0
        if state.steps % config.eval_every == 0 or state.steps == config.total_steps:
            state.evaluate(seeds, run_dir)
        if state.steps % config.checkpoint_every == 0 or state.steps == config.total_steps or reached():
            state.save(run_dir)
    if not state.curve or state.curve[-1]["env_steps"] != state.steps:
        state.evaluate(seeds, run_dir)
        state.save(run_dir)
        trained = True

    metrics = run_metrics(config, state.steps, state.clock, state.curve, config.target_success,
                          resumed_from, seeds, state.agent.target_entropy)
    record_metrics(run_dir, metrics, run, trained)
    state.env.close()
    return RunResult(run_dir, config, metrics, state.curve, state.policy())
