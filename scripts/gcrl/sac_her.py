"""The book's SAC with hindsight relabelling, in one file that reads top to bottom.

It is the algorithm of Stable-Baselines3's ``SAC`` with ``HerReplayBuffer`` and
``VecNormalize`` (the rl-baselines3-zoo recipe in ``hyperparams/sac.yml``),
written for speed on a CPU and for reading:

- observations are normalised by running statistics, updated with every
  observation the agent receives and applied when acting and when sampling
  (``VecNormalize``: clip at 10, epsilon 1e-8);
- the replay buffer stores whole episodes, samples transitions of complete
  episodes uniformly, and relabels a fraction k/(k+1) of each minibatch with
  :mod:`gcrl.her` (``HerReplayBuffer``'s semantics);
- one gradient step per env step after ``learning_starts`` random steps. SB3
  steps the temperature, then the twin critic, then the actor; :func:`update`
  reads the temperature before any step, steps the critic, then the actor and
  the temperature together. The result is the same, because every loss uses
  the temperature from before the step and the temperature's loss reads no
  critic. The target critic follows by Polyak averaging.

What makes it faster than the library is not the algorithm: the two critics are
one batched network (one matrix product per layer for both), the optimisers are
fused, the actor's loss reads a frozen copy of the critic's weights instead of
building its gradient, and the loop carries none of a general library's
wrappers. ``make bench`` measures the difference against SB3 on the same machine.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gcrl import her, perturb
from gcrl.envs import FETCH_ENV_IDS, episode_length, make_fetch_env
from gcrl.errors import CourseError
from gcrl.evaluate import EVAL_SEED_BASE, Evaluation, evaluate, evaluation_seeds
from gcrl.io import write_json_atomic
from gcrl.provenance import RunRecord
from gcrl.train import (_write_curve, checkpoint_folder, commit_checkpoint, damaged_files, load_hyperparams,
                        run_metrics, staging_folder)

OBS_KEYS = ("achieved_goal", "desired_goal", "observation")  # SB3's CombinedExtractor order
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
CLIP_OBS, NORM_EPSILON = 10.0, 1e-8
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
#: Stored observations on which each evaluation estimates the policy's entropy (as for SB3 runs).
ENTROPY_SAMPLES = 1_024


@dataclass(frozen=True)
class SacHerConfig:
    """Everything that decides a run of the book's SAC+HER; defaults are the FetchReach recipe."""

    env_id: str
    total_steps: int
    seed: int = 0
    n_sampled_goal: int = 4
    goal_selection_strategy: str = "future"
    net_arch: tuple[int, ...] = (64, 64)
    batch_size: int = 256
    learning_rate: float = 1e-3
    gamma: float = 0.95
    tau: float = 0.005
    learning_starts: int = 1_000
    eval_every: int = 1_000
    eval_episodes: int = 50
    eval_seed: int = EVAL_SEED_BASE
    target_success: float | None = None
    checkpoint_every: int = 5_000
    # Domain randomisation of the training env (Chapter 5); evaluation stays nominal.
    observation_noise: float = 0.0
    physics_ranges: tuple[tuple[str, float, float], ...] = ()

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
        relabelling = entry.get("her") or {}
        recipe = {
            "n_sampled_goal": relabelling.get("n_sampled_goal", 4),
            "goal_selection_strategy": relabelling.get("goal_selection_strategy", "future"),
            "net_arch": tuple(entry.get("policy_kwargs", {}).get("net_arch", (256, 256))),
            **{key: entry[key] for key in ("batch_size", "learning_rate", "gamma", "tau", "learning_starts")
               if key in entry},
        }
        if entry.get("ent_coef", "auto") != "auto" or not entry.get("normalize", False):
            raise CourseError(f"sac.yml: {env_id}: the book's SAC+HER learns its temperature and normalises "
                              "observations (ent_coef: auto, normalize: true)")
        return cls(env_id=env_id, **{**recipe, **overrides})

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SacHerConfig":
        """The inverse of :meth:`as_dict` (a config as recorded in ``state.json`` or a deliverable)."""
        return cls(**{**values, "net_arch": tuple(values["net_arch"]),
                      "physics_ranges": tuple(tuple(r) for r in values.get("physics_ranges", ()))})

    def train(self, run_dir: Path, run: RunRecord) -> "SacHerResult":
        return train(self, run_dir, run)

    def result(self, run_dir: Path, metrics: dict[str, Any], curve: list[dict[str, Any]]) -> "SacHerResult":
        return SacHerResult(Path(run_dir), self, metrics, curve)


# --- observations -------------------------------------------------------------------------


class Normalizer:
    """Running mean and variance per observation key, as ``VecNormalize`` keeps them."""

    def __init__(self, dims: dict[str, int]):
        self.mean = {k: np.zeros(d) for k, d in dims.items()}
        self.var = {k: np.ones(d) for k, d in dims.items()}
        self.count = 1e-4

    def update(self, observation: dict[str, np.ndarray]) -> None:
        """Chan et al.'s parallel update with one observation (SB3's ``RunningMeanStd``)."""
        total = self.count + 1
        for key in OBS_KEYS:
            delta = observation[key] - self.mean[key]
            self.mean[key] = self.mean[key] + delta / total
            m2 = self.var[key] * self.count + np.square(delta) * self.count / total
            self.var[key] = m2 / total
        self.count = total

    def __call__(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """The policy's input: each key normalised and clipped, concatenated in SB3's key order."""
        parts = [np.clip((observation[k] - self.mean[k]) / np.sqrt(self.var[k] + NORM_EPSILON), -CLIP_OBS, CLIP_OBS)
                 for k in OBS_KEYS]
        return np.concatenate(parts, axis=-1).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean, self.var, self.count = state["mean"], state["var"], state["count"]


# --- replay ---------------------------------------------------------------------------------


class EpisodeReplay:
    """Whole episodes of a fixed horizon; a minibatch is relabelled with :mod:`gcrl.her` as it is drawn."""

    def __init__(self, capacity_episodes: int, horizon: int, dims: dict[str, int], action_dim: int):
        self.horizon, self.episodes, self.step = horizon, 0, 0
        self.observation = np.zeros((capacity_episodes, horizon + 1, dims["observation"]), np.float64)
        self.achieved_goal = np.zeros((capacity_episodes, horizon + 1, dims["achieved_goal"]), np.float64)
        self.desired_goal = np.zeros((capacity_episodes, dims["desired_goal"]), np.float64)
        self.action = np.zeros((capacity_episodes, horizon, action_dim), np.float32)

    def start(self, observation: dict[str, np.ndarray]) -> None:
        if self.episodes >= len(self.desired_goal):
            raise CourseError(f"the replay buffer holds {len(self.desired_goal)} episodes and is full")
        e, self.step = self.episodes, 0
        self.observation[e, 0], self.achieved_goal[e, 0] = observation["observation"], observation["achieved_goal"]
        self.desired_goal[e] = observation["desired_goal"]

    def add(self, action: np.ndarray, next_observation: dict[str, np.ndarray]) -> None:
        e, t = self.episodes, self.step
        self.action[e, t] = action
        self.observation[e, t + 1] = next_observation["observation"]
        self.achieved_goal[e, t + 1] = next_observation["achieved_goal"]
        self.step += 1
        if self.step == self.horizon:
            self.episodes += 1  # only complete episodes are sampled

    def sample(self, batch_size: int, n_sampled_goal: int, strategy: str, rng: np.random.Generator,
               compute_reward: her.RewardFunction) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """Uniform transitions of complete episodes, the first k/(k+1) of them with hindsight goals."""
        if self.episodes == 0:
            raise CourseError("no complete episode to sample from yet")
        e = rng.integers(0, self.episodes, size=batch_size)
        t = rng.integers(0, self.horizon, size=batch_size)
        goals = self.desired_goal[e]
        virtual = her.relabelled_count(batch_size, n_sampled_goal)
        j = her.goal_indices(t[:virtual], self.horizon, strategy, rng)
        goals[:virtual] = self.achieved_goal[e[:virtual], j + 1]
        next_achieved = self.achieved_goal[e, t + 1]
        rewards = np.asarray(compute_reward(next_achieved, goals, None), dtype=np.float32)
        observation = {"observation": self.observation[e, t], "achieved_goal": self.achieved_goal[e, t],
                       "desired_goal": goals}
        next_observation = {"observation": self.observation[e, t + 1], "achieved_goal": next_achieved,
                            "desired_goal": goals}
        return observation, self.action[e, t], next_observation, rewards

    def state_dict(self) -> dict[str, np.ndarray]:
        n = self.episodes
        return {"observation": self.observation[:n], "achieved_goal": self.achieved_goal[:n],
                "desired_goal": self.desired_goal[:n], "action": self.action[:n]}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        n = len(state["desired_goal"])
        for key, value in state.items():
            getattr(self, key)[:n] = value
        self.episodes, self.step = n, 0


# --- networks -------------------------------------------------------------------------------


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    return nn.Sequential(*layers)


class Actor(nn.Module):
    """A tanh-squashed Gaussian policy (SB3's ``Actor`` with ``SquashedDiagGaussianDistribution``)."""

    def __init__(self, obs_dim: int, action_dim: int, net_arch: tuple[int, ...]):
        super().__init__()
        self.trunk = mlp([obs_dim, *net_arch])
        self.mu = nn.Linear(net_arch[-1], action_dim)
        self.log_std = nn.Linear(net_arch[-1], action_dim)

    def forward(self, obs: torch.Tensor, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """An action in [-1, 1] and its log-density, with the tanh change of variables."""
        latent = self.trunk(obs)
        mu, log_std = self.mu(latent), self.log_std(latent).clamp(LOG_STD_MIN, LOG_STD_MAX)
        noise = torch.zeros_like(mu) if deterministic else torch.randn_like(mu)
        u = mu + log_std.exp() * noise
        action = torch.tanh(u)
        # log N(u; mu, std) with (u - mu) / std = noise, minus log |d tanh(u) / du| (SB3's epsilon 1e-6)
        log_prob = (-0.5 * noise**2 - log_std).sum(-1) - HALF_LOG_2PI * mu.shape[-1] \
            - torch.log(1 - action**2 + 1e-6).sum(-1)
        return action, log_prob


class TwinCritic(nn.Module):
    """Two Q-networks evaluated as one: each layer is a batched matrix product over the pair."""

    def __init__(self, in_dim: int, net_arch: tuple[int, ...], members: int = 2):
        super().__init__()
        sizes = [in_dim, *net_arch, 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes, sizes[1:]):
            bound = 1 / math.sqrt(fan_in)  # nn.Linear's default initialisation, per member
            self.weights.append(nn.Parameter(torch.empty(members, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(members, 1, fan_out).uniform_(-bound, bound)))

    def forward(self, obs: torch.Tensor, action: torch.Tensor, frozen: bool = False) -> torch.Tensor:
        """Q-values of shape (members, batch); ``frozen`` reads detached weights (no critic gradient)."""
        x = torch.cat([obs, action], -1).expand(len(self.weights[0]), -1, -1)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if frozen:
                w, b = w.detach(), b.detach()
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = torch.relu(x)
        return x.squeeze(-1)


class Agent(nn.Module):
    def __init__(self, obs_dim: int, action_dim: int, config: SacHerConfig):
        super().__init__()
        self.actor = Actor(obs_dim, action_dim, config.net_arch)
        self.critic = TwinCritic(obs_dim + action_dim, config.net_arch)
        self.critic_target = TwinCritic(obs_dim + action_dim, config.net_arch)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.zeros(1))  # alpha starts at 1, SB3's "auto"
        self.target_entropy = -float(action_dim)
        # Adam acts on each parameter alone, so one optimiser over the actor and log_alpha (same
        # learning rate) is SB3's two; fused kernels update all tensors of a group at once.
        lr = config.learning_rate
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=lr, fused=True)
        self.policy_optimizer = torch.optim.Adam([*self.actor.parameters(), self.log_alpha], lr=lr, fused=True)
        self.critic_parameters = list(self.critic.parameters())
        self.target_parameters = list(self.critic_target.parameters())

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        action, _ = self.actor(torch.as_tensor(obs).unsqueeze(0), deterministic)
        return action[0].numpy()

    def optimizer_states(self) -> dict[str, Any]:
        return {name: getattr(self, name).state_dict() for name in ("critic_optimizer", "policy_optimizer")}

    def load_optimizer_states(self, states: dict[str, Any]) -> None:
        for name, state in states.items():
            getattr(self, name).load_state_dict(state)


def pairwise_min(q: torch.Tensor) -> torch.Tensor:
    """The smaller of the two critics' values (clipped double Q)."""
    return torch.minimum(q[0], q[1])


def update(agent: Agent, obs: torch.Tensor, action: torch.Tensor, reward: torch.Tensor,
           next_obs: torch.Tensor, gamma: float, tau: float) -> None:
    """One SAC gradient step: SB3's update, with its three losses in two backward passes.

    Fetch episodes end by truncation only, so no transition is terminal and the
    target bootstraps everywhere: y = r + gamma * (min_i Q'_i(s', a') - alpha * log pi(a'|s')).
    """
    alpha = agent.log_alpha.detach().exp()  # the temperature before this step's update, as in SB3
    action_pi, log_pi = agent.actor(obs)  # a ~ pi(.|s), reparameterised: differentiable in the actor

    # 1. critic: regress both Q-networks on the soft Bellman target, with a fresh next action a' ~ pi(.|s')
    with torch.no_grad():
        next_action, next_log_pi = agent.actor(next_obs)
        next_q = pairwise_min(agent.critic_target(next_obs, next_action)) - alpha * next_log_pi
        target = reward + gamma * next_q
    q = agent.critic(obs, action)
    critic_loss = 0.5 * ((q - target) ** 2).mean(1).sum()
    agent.critic_optimizer.zero_grad(set_to_none=True)
    critic_loss.backward()
    agent.critic_optimizer.step()

    # 2. actor: minimise alpha * log pi(a|s) - min_i Q_i(s, a) through a, reading the updated critic
    #    without building its gradient; temperature: descend log_alpha * (H(pi) - target entropy).
    #    The two losses share no parameter, so one backward pass serves both.
    q_pi = pairwise_min(agent.critic(obs, action_pi, frozen=True))
    actor_loss = (alpha * log_pi - q_pi).mean()
    alpha_loss = -(agent.log_alpha * (log_pi.detach() + agent.target_entropy)).mean()
    agent.policy_optimizer.zero_grad(set_to_none=True)
    (actor_loss + alpha_loss).backward()
    agent.policy_optimizer.step()

    # 3. target critic: Polyak averaging
    with torch.no_grad():
        torch._foreach_lerp_(agent.target_parameters, agent.critic_parameters, tau)


# --- the run --------------------------------------------------------------------------------


@dataclass
class SacHerResult:
    """A finished run: its folder, config, metrics and learning curve; the agent is loaded on first use."""

    run_dir: Path
    config: SacHerConfig
    metrics: dict[str, Any]
    curve: list[dict[str, Any]]
    _agent: tuple[Agent, Normalizer] | None = field(default=None, repr=False)

    def policy(self):
        """The deterministic policy, observations normalised with the run's final statistics."""
        if self._agent is None:
            self._agent = load_agent(self.run_dir, self.config)
        agent, normalizer = self._agent
        return lambda observation: agent.act(normalizer(observation), deterministic=True)


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
        self.agent = Agent(sum(dims.values()), action_dim, config)
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
        _write_curve(run_dir, self.curve)
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


def verified_checkpoint(run_dir: Path, config: SacHerConfig) -> tuple[Path, dict[str, Any]] | None:
    """The last checkpoint's folder and state, after checking it belongs to ``config`` and is intact."""
    folder = checkpoint_folder(run_dir)
    if folder is None:
        return None
    fix = f"delete {folder} to train from the start"
    try:
        state = json.loads((folder / "state.json").read_text())
    except ValueError as exc:
        raise CourseError(f"checkpoint {folder} is damaged (state.json: {exc}); {fix}") from None
    # A field the record lacks was added to the config later; its default is what that run used.
    defaults = {f.name: f.default for f in fields(SacHerConfig) if f.default is not MISSING}
    recorded = json.loads(json.dumps({**defaults, **state["config"]}))
    if recorded != config.as_dict():
        changed = sorted(k for k in {**recorded, **config.as_dict()} if recorded.get(k) != config.as_dict().get(k))
        raise CourseError(f"{folder} belongs to a different run ({', '.join(changed)} differ); "
                          f"use another run folder or {fix}")
    for name in damaged_files(folder, state)[:1]:
        raise CourseError(f"checkpoint {folder} is damaged: {name} is missing, truncated or altered; {fix}")
    return folder, state


def load_agent(run_dir: Path, config: SacHerConfig) -> tuple[Agent, Normalizer]:
    """The trained agent and its observation statistics, for acting only."""
    found = verified_checkpoint(Path(run_dir), config)
    if found is None:
        raise CourseError(f"{run_dir} holds no checkpoint; train the run first")
    env = make_fetch_env(config.env_id)
    try:
        dims = {k: int(env.observation_space.spaces[k].shape[0]) for k in OBS_KEYS}
        action_dim = int(env.action_space.shape[0])
    finally:
        env.close()
    saved = torch.load(found[0] / "agent.pt", weights_only=False)
    agent = Agent(sum(dims.values()), action_dim, config)
    agent.load_state_dict(saved["agent"])
    normalizer = Normalizer(dims)
    normalizer.load_state_dict(saved["normalizer"])
    return agent.eval(), normalizer


def train(config: SacHerConfig, run_dir: str | os.PathLike[str], run: RunRecord | None = None) -> SacHerResult:
    """Train, evaluating every ``eval_every`` steps and checkpointing every ``checkpoint_every``; resume if possible.

    Training time excludes evaluation and checkpoints. A finished run is read
    back, not retrained.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    run = run or RunRecord(profile=os.environ.get("GCRL_PROFILE", "standard"), seeds=[config.seed])
    seeds = evaluation_seeds(config.eval_episodes, config.eval_seed)
    state = TrainingState(config)
    found = verified_checkpoint(run_dir, config)
    resumed_from = None
    if found is None:
        state.begin_episode()
    else:
        state.restore(*found)
        resumed_from = state.steps

    def reached() -> bool:
        return config.target_success is not None and any(r["success_rate"] >= config.target_success for r in state.curve)

    changed = found is None
    while state.steps < config.total_steps and not reached():
        changed = True
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
        changed = True

    metrics = run_metrics(config.as_dict(), state.steps, state.clock, state.curve, config.target_success,
                          resumed_from, seeds, state.agent.target_entropy)
    if changed or not (run_dir / "metrics.json").is_file():
        write_json_atomic(run_dir / "metrics.json", {**metrics, "provenance": run.snapshot()})
    state.env.close()
    return SacHerResult(run_dir, config, metrics, state.curve, (state.agent, state.normalizer))
