"""The book's SAC+HER as a learner of the course: its cycles, its checkpoints and its policy.

The algorithm (networks, losses, the gradient step) is :mod:`gcrl.rl.sac_her.algorithm`,
the replay buffer and the observation normaliser :mod:`gcrl.rl.sac_her.replay`,
the environments and how episodes are collected :mod:`gcrl.rl.sac_her.collector`;
this module drives them, as the :class:`gcrl.rl.run.Session` that the course's one
run procedure (:mod:`gcrl.rl.run`) trains; the config is :mod:`gcrl.rl.sac_her.config`.
A run is a sequence of *cycles* (the original HER
code's schedule, Andrychowicz et al. 2017):

1. ``n_envs`` environments each play ``episodes_per_cycle`` complete episodes with
   a frozen snapshot of the policy (uniform random actions until
   ``learning_starts`` env steps have been collected);
2. meanwhile the learner takes ``updates_per_cycle`` gradient steps on minibatches
   of ``batch_size`` from the episodes of earlier cycles (none before
   ``learning_starts``);
3. the cycle's episodes enter the buffer and the normaliser's statistics, and
   the next snapshot is taken from the updated agent.

The schedule fixes what every update and every episode sees, whichever of the
two finishes first, so a run is deterministic: with the same config and seed it
gives the same parameters bit for bit, whether the collector runs in a process
of its own (``collector: process``, simulation overlapping learning) or in the
learner's (``inline``). One update per collected env step with one environment
and one episode per cycle is the zoo's schedule for Reach (``sac.yml``), with
the updates of an episode taken together instead of between its steps.

The run procedure evaluates every ``eval_every`` env steps on fixed held-out
episodes and checkpoints every ``checkpoint_every`` (agent, optimisers,
normaliser, replay buffer, every random stream) in the run folder of
:mod:`gcrl.rl.run_folder`, from which an interrupted run resumes exactly. Both
fall on cycle boundaries.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gcrl.core.errors import CourseError
from gcrl.rl.envs import ACTION_DIM, OBS_KEYS, episode_length, make_fetch_env, observation_dims
from gcrl.rl.evaluate import ENTROPY_SAMPLES
from gcrl.rl.run import Schedule
from gcrl.rl.run_folder import Checkpoint, Policy, commit_checkpoint, finished_checkpoint, staging_folder
from gcrl.rl.sac_her.algorithm import Agent, Demonstrations, update
from gcrl.rl.sac_her.collector import CollectorProcess, InlineCollector, Snapshot
from gcrl.rl.sac_her.config import SacHerConfig, fixed_temperature, resolve_device
from gcrl.rl.sac_her.demonstrations import DemonstrationReplay
from gcrl.rl.sac_her.replay import EpisodeReplay, Normalizer

def compile_networks(agent: Agent, mode: str, device: torch.device) -> None:
    """Compile the agent's networks in place as ``mode`` says (``SacHerConfig.compile_mode``); ``none`` leaves them.

    ``torch.compile`` traces each network's forward pass (and so its backward
    pass) into generated kernels; ``reduce-overhead`` also records them as CUDA
    graphs, replayed with one launch each. The networks are compiled one by one,
    not the whole of :func:`update`: a single graph over the update would join
    the actor's and the critic's forward passes into one autograd node, which the
    critic's backward pass would free before the actor's could use it. Parameter
    names, and so checkpoints, are those of the eager networks.
    """
    if mode == "none":
        return
    if mode == "reduce-overhead" and device.type != "cuda":
        raise CourseError(f"compile_mode 'reduce-overhead' replays the networks as CUDA graphs and needs a CUDA "
                          f"device; this run's device is {device.type} (use compile_mode 'default' or 'none')")
    for network in (agent.actor, agent.critic, agent.critic_target):
        network.compile(mode=mode)


def acting(agent: Agent, normalizer: Normalizer) -> Policy:
    """The deterministic policy of ``agent``, observations normalised by ``normalizer``."""
    return lambda observation: agent.act(normalizer(observation), deterministic=True)


def make_agent(config: SacHerConfig) -> Agent:
    """The agent a config describes, on the CPU, its parameters drawn from torch's current stream."""
    return Agent(sum(observation_dims(config.env_id).values()), ACTION_DIM, config.net_arch, config.learning_rate,
                 fixed_temperature(config), critic_layer_norm=config.critic_layer_norm)


class TrainingState:
    """The state of one run (agent, normaliser, buffer, collector, random streams): a :class:`gcrl.rl.run.Session`.

    It holds torch to the config's ``torch_threads`` until it is closed.
    """

    def __init__(self, config: SacHerConfig):
        self.config = config
        self.threads = torch.get_num_threads()
        torch.set_num_threads(config.torch_threads)
        self.device = resolve_device(config.device)
        self.horizon = episode_length(config.env_id)
        dims = observation_dims(config.env_id)
        # the learner's copy of the environment only computes rewards for relabelled goals
        self.reward_env = make_fetch_env(config.env_id)
        self.compute_reward = self.reward_env.unwrapped.compute_reward
        torch.manual_seed(config.seed)
        self.agent = make_agent(config).to(self.device)
        compile_networks(self.agent, config.compile_mode, self.device)
        self.normalizer = Normalizer(dims, config.obs_clip)
        # learning from demonstrations (Ch. 7): the expert's episodes, which the normaliser sees as the agent's own
        self.demos = DemonstrationReplay(config.env_id, config.demo_episodes) \
            if config.demo_episodes else None
        if self.demos is not None:
            self.normalizer.update(self.demos.observations())
        self.buffer = EpisodeReplay(-(-config.total_steps // self.horizon), self.horizon, dims, ACTION_DIM)
        self.rng = np.random.default_rng(config.seed)
        self.target_bounds = (-1.0 / (1.0 - config.gamma), 0.0) if config.target_clip else None
        collector = (functools.partial(CollectorProcess, processes=config.collector_processes)
                     if config.collector == "process" else InlineCollector)
        self.collector = collector(env_id=config.env_id, n_envs=config.n_envs,
                                   episodes_per_cycle=config.episodes_per_cycle, seed=config.seed,
                                   net_arch=config.net_arch, obs_clip=config.obs_clip, random_eps=config.random_eps,
                                   observation_noise=config.observation_noise, physics_ranges=config.physics_ranges)
        self.updates = 0
        self.target_entropy = self.agent.target_entropy
        #: the collector's streams at the last cycle boundary the schedule acts on (see :meth:`train`)
        self.collector_state: dict[str, Any] | None = None

    @property
    def steps(self) -> int:
        return self.buffer.steps

    def train(self, schedule: Schedule) -> None:
        """Cycles until the budget is spent or the schedule stops the run.

        The collector plays cycle c while the learner updates on the episodes of
        cycles before c; a checkpoint holds the collector's streams as they are
        at the cycle boundary, before the next cycle is submitted.
        """
        self.collector.submit(self.snapshot())
        while True:
            self.learn()
            self.receive()
            last = self.steps >= self.config.total_steps
            self.collector_state = self.collector.state_dict() if schedule.due(self.steps) else None
            if not last:
                self.collector.submit(self.snapshot())  # the next cycle is played while this one is judged
            if not schedule.passed(self.steps) or last:
                return

    # one cycle ----------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The policy the next cycle is collected with: a CPU copy, so later updates do not reach it."""
        random = self.steps < self.config.learning_starts
        actor = None if random else {k: v.detach().to("cpu", copy=True) for k, v in self.agent.actor.state_dict().items()}
        return Snapshot(actor=actor, normalizer=self.normalizer.state_dict(), random=random)

    def learn(self) -> None:
        """The cycle's gradient steps, on the episodes of earlier cycles."""
        if self.steps < self.config.learning_starts:
            return
        for _ in range(self.config.updates_per_cycle):
            self.gradient_step()

    def receive(self) -> None:
        """The cycle's episodes into the buffer, and their observations into the normaliser's statistics."""
        episodes = self.collector.episodes()
        for episode in episodes:
            self.buffer.add(episode)
        seen = slice(0, self.horizon)  # what the agent saw and acted on: the final observation is not
        self.normalizer.update({k: np.concatenate([e.inputs(seen)[k] for e in episodes]) for k in OBS_KEYS})

    def collect(self) -> None:
        """One cycle of collection with the current snapshot and no gradient step (a probe, a profile)."""
        self.collector.submit(self.snapshot())
        self.receive()

    def sample(self) -> tuple[torch.Tensor, ...]:
        """A minibatch of the agent's own transitions, as :func:`update` takes it: tensors on the agent's device."""
        c = self.config
        return self.tensors(self.buffer.sample(c.batch_size, c.n_sampled_goal, c.goal_selection_strategy, self.rng,
                                               self.compute_reward, c.actual_goal_fraction))

    def sample_demonstrations(self) -> Demonstrations | None:
        """``demo_batch_size`` demonstrated transitions to join the minibatch (Ch. 7); ``None`` without them."""
        if self.demos is None:
            return None
        c = self.config
        batch = self.demos.sample(c.demo_batch_size, c.n_sampled_goal, c.goal_selection_strategy, self.rng,
                                  self.compute_reward, c.actual_goal_fraction)
        return Demonstrations(*self.tensors(batch), bc_weight=c.bc_weight, q_filter=c.q_filter)

    def tensors(self, batch: tuple) -> tuple[torch.Tensor, ...]:
        """(obs, action, reward, next_obs), the observations normalised, on the agent's device."""
        obs, action, next_obs, reward = batch
        return tuple(torch.from_numpy(x).to(self.device, non_blocking=True)
                     for x in (self.normalizer(obs), action, reward, self.normalizer(next_obs)))

    def gradient_step(self) -> None:
        c = self.config
        # the agent's minibatch is drawn before the demonstrations', from the same generator
        update(self.agent, *self.sample(), gamma=c.gamma, tau=c.tau, target_bounds=self.target_bounds,
               action_l2=c.action_l2, demonstrations=self.sample_demonstrations())
        self.updates += 1

    # evaluation -----------------------------------------------------------------------------

    def policy(self) -> Policy:
        return acting(self.agent, self.normalizer)

    def entropy(self) -> float:
        """-E[log pi(a|s)] on a fixed-seed sample of stored observations, without touching the run's RNG."""
        n = self.buffer.episodes
        e = np.random.default_rng(0).integers(0, n, size=ENTROPY_SAMPLES)
        t = np.random.default_rng(1).integers(0, self.horizon, size=ENTROPY_SAMPLES)
        obs = {"observation": self.buffer.observation[e, t], "achieved_goal": self.buffer.achieved_goal[e, t],
               "desired_goal": self.buffer.desired_goal[e]}
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(0)
            noise = torch.randn(ENTROPY_SAMPLES, ACTION_DIM).to(self.device)
            _, log_pi = self.agent.actor(torch.from_numpy(self.normalizer(obs)).to(self.device), noise=noise)
        return float(-log_pi.mean())

    def diagnostics(self) -> dict[str, Any]:
        return {"updates": self.updates, "ent_coef": float(self.agent.log_alpha.detach().exp()),
                "entropy": self.entropy()}

    # checkpoints ----------------------------------------------------------------------------

    def save(self, run_dir: Path, progress: dict[str, Any]) -> None:
        """Everything needed to continue exactly, written beside the old checkpoint and swapped in."""
        collector_state = self.collector_state if self.collector_state is not None else self.collector.state_dict()
        staging = staging_folder(run_dir)
        torch.save({"agent": self.agent.state_dict(), "optimizers": self.agent.optimizer_states(),
                    "normalizer": self.normalizer.state_dict(), "rng": self.rng.bit_generator.state,
                    "collector": collector_state, "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state() if self.device.type == "cuda" else None},
                   staging / "agent.pt")
        np.savez(staging / "buffer.npz", **self.buffer.state_dict())
        state = {"config": self.config.as_dict(), "env_steps": self.steps, "updates": self.updates, **progress}
        commit_checkpoint(run_dir, staging, state, ["agent.pt", "buffer.npz"])

    def restore(self, folder: Path, state: dict[str, Any]) -> None:
        saved = torch.load(folder / "agent.pt", weights_only=False, map_location=self.device)
        self.agent.load_state_dict(saved["agent"])
        self.agent.load_optimizer_states(saved["optimizers"])
        self.normalizer.load_state_dict(saved["normalizer"])
        with np.load(folder / "buffer.npz") as arrays:
            self.buffer.load_state_dict(dict(arrays))
        self.rng.bit_generator.state = saved["rng"]
        self.collector.load_state_dict(saved["collector"])
        torch.set_rng_state(saved["torch_rng"])
        if saved["cuda_rng"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(saved["cuda_rng"])
        self.updates = state["updates"]
        if self.steps != state["env_steps"]:
            raise CourseError(f"checkpoint {folder} is damaged: its buffer holds {self.steps} env steps, its state "
                              f"{state['env_steps']}; delete {folder} to train from the start")

    def close(self) -> None:
        self.collector.close()
        self.reward_env.close()
        torch.set_num_threads(self.threads)


def open_session(config: SacHerConfig, run_dir: Path, found: Checkpoint | None) -> TrainingState:
    """A run's state, afresh or resumed from the checkpoint ``found`` (the run procedure's :data:`Opener`)."""
    state = TrainingState(config)
    if found is not None:
        try:
            state.restore(*found)
        except BaseException:
            state.close()
            raise
    return state


def load_agent(run_dir: Path, config: SacHerConfig) -> tuple[Agent, Normalizer]:
    """The trained agent and its observation statistics, for acting only (on the CPU)."""
    folder, _ = finished_checkpoint(run_dir, config)
    saved = torch.load(folder / "agent.pt", weights_only=False, map_location="cpu")
    agent = make_agent(config)
    agent.load_state_dict(saved["agent"])
    normalizer = Normalizer(observation_dims(config.env_id), config.obs_clip)
    normalizer.load_state_dict(saved["normalizer"])
    return agent.eval(), normalizer


def load_policy(config: SacHerConfig, run_dir: Path) -> Policy:
    """The deterministic policy of a finished run, observations normalised with its final statistics."""
    return acting(*load_agent(run_dir, config))
