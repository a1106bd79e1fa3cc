"""The book's SAC+HER as a learner of the course: its config, its run loop and its checkpoints.

The algorithm (networks, losses, the gradient step) is :mod:`gcrl.rl.sac_her.algorithm`,
the replay buffer and the observation normaliser :mod:`gcrl.rl.sac_her.replay`,
the environments and how episodes are collected :mod:`gcrl.rl.sac_her.collector`;
this module drives them. A run is a sequence of *cycles* (the original HER
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

Evaluation runs every ``eval_every`` env steps on fixed held-out episodes, and a
checkpoint every ``checkpoint_every`` (agent, optimisers, normaliser, replay
buffer, every random stream) in the run folder of :mod:`gcrl.rl.run_folder`,
from which an interrupted run resumes exactly. Both fall on cycle boundaries.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gcrl.core.errors import CourseError
from gcrl.core.provenance import RunRecord
from gcrl.rl.envs import episode_length, make_fetch_env, observation_dims
from gcrl.rl.evaluate import ENTROPY_SAMPLES, Evaluation, evaluate, evaluation_seeds
from gcrl.rl.run_folder import RunResult, commit_checkpoint, default_run_record, record_metrics, run_metrics, \
    staging_folder, verified_checkpoint, write_curve
from gcrl.rl.sac_her.algorithm import Agent, update
from gcrl.rl.sac_her.collector import ACTION_DIM, CollectorProcess, InlineCollector, Snapshot
from gcrl.rl.sac_her.config import DEFAULTS, SacHerConfig, fixed_temperature, resolve_device
from gcrl.rl.sac_her.demonstrations import DemonstrationReplay, joined
from gcrl.rl.sac_her.replay import OBS_KEYS, EpisodeReplay, Normalizer


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


def make_agent(config: SacHerConfig) -> Agent:
    """The agent a config describes, on the CPU, its parameters drawn from torch's current stream."""
    dims = {k: d for k, d in observation_dims(config.env_id).items() if k in OBS_KEYS}
    return Agent(sum(dims.values()), ACTION_DIM, config.net_arch, config.learning_rate, fixed_temperature(config),
                 critic_layer_norm=config.critic_layer_norm)


class TrainingState:
    """The state of one run: agent, normaliser, buffer, collector, random streams, curve and clock."""

    def __init__(self, config: SacHerConfig):
        self.config = config
        self.device = resolve_device(config.device)
        self.horizon = episode_length(config.env_id)
        dims = {k: d for k, d in observation_dims(config.env_id).items() if k in OBS_KEYS}
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
        self.curve: list[dict[str, Any]] = []
        self.clock = {"train_s": 0.0, "eval_s": 0.0}
        self.updates = 0

    @property
    def steps(self) -> int:
        return self.buffer.steps

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
        """A minibatch as tensors on the agent's device; with demonstrations, their ``demo_batch_size`` rows last."""
        c = self.config
        batch = self.buffer.sample(c.batch_size, c.n_sampled_goal, c.goal_selection_strategy, self.rng,
                                   self.compute_reward, c.actual_goal_fraction)
        if self.demos is not None:
            batch = joined(batch, self.demos.sample(c.demo_batch_size, c.n_sampled_goal, c.goal_selection_strategy,
                                                    self.rng, self.compute_reward, c.actual_goal_fraction))
        obs, action, next_obs, reward = batch
        return tuple(torch.from_numpy(x).to(self.device, non_blocking=True)
                     for x in (self.normalizer(obs), action, reward, self.normalizer(next_obs)))

    def gradient_step(self) -> None:
        c = self.config
        update(self.agent, *self.sample(), gamma=c.gamma, tau=c.tau, target_bounds=self.target_bounds,
               demo_rows=c.demo_batch_size if self.demos is not None else 0, bc_weight=c.bc_weight,
               q_filter=c.q_filter, action_l2=c.action_l2)
        self.updates += 1

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
            noise = torch.randn(ENTROPY_SAMPLES, ACTION_DIM).to(self.device)
            _, log_pi = self.agent.actor(torch.from_numpy(self.normalizer(obs)).to(self.device), noise=noise)
        return float(-log_pi.mean())

    def evaluate(self, seeds: list[int], run_dir: Path) -> Evaluation:
        t0 = time.perf_counter()
        result = evaluate(self.config.env_id, self.policy(), seeds)
        self.clock["eval_s"] += time.perf_counter() - t0
        self.curve.append({"env_steps": self.steps, "train_s": round(self.clock["train_s"], 3), **result.as_dict(),
                           "updates": self.updates, "ent_coef": float(self.agent.log_alpha.detach().exp()),
                           "entropy": self.entropy()})
        write_curve(run_dir, self.curve)
        return result

    # checkpoints ----------------------------------------------------------------------------

    def save(self, run_dir: Path, collector_state: dict[str, Any]) -> None:
        """Everything needed to continue exactly, written beside the old checkpoint and swapped in."""
        staging = staging_folder(run_dir)
        torch.save({"agent": self.agent.state_dict(), "optimizers": self.agent.optimizer_states(),
                    "normalizer": self.normalizer.state_dict(), "rng": self.rng.bit_generator.state,
                    "collector": collector_state, "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state() if self.device.type == "cuda" else None},
                   staging / "agent.pt")
        np.savez(staging / "buffer.npz", **self.buffer.state_dict())
        state = {"config": self.config.as_dict(), "env_steps": self.steps, "updates": self.updates,
                 "curve": self.curve, "clock": self.clock}
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
        self.updates, self.curve, self.clock = state["updates"], state["curve"], state["clock"]
        if self.steps != state["env_steps"]:
            raise CourseError(f"checkpoint {folder} is damaged: its buffer holds {self.steps} env steps, its state "
                              f"{state['env_steps']}; delete {folder} to train from the start")

    def close(self) -> None:
        self.collector.close()
        self.reward_env.close()


def load_agent(run_dir: Path, config: SacHerConfig) -> tuple[Agent, Normalizer]:
    """The trained agent and its observation statistics, for acting only (on the CPU)."""
    found = verified_checkpoint(Path(run_dir), config, DEFAULTS)
    if found is None:
        raise CourseError(f"{run_dir} holds no checkpoint; train the run first")
    dims = {k: d for k, d in observation_dims(config.env_id).items() if k in OBS_KEYS}
    saved = torch.load(found[0] / "agent.pt", weights_only=False, map_location="cpu")
    agent = make_agent(config)
    agent.load_state_dict(saved["agent"])
    normalizer = Normalizer(dims, config.obs_clip)
    normalizer.load_state_dict(saved["normalizer"])
    return agent.eval(), normalizer


def train(config: SacHerConfig, run_dir: str | os.PathLike[str], run: RunRecord | None = None) -> RunResult:
    """Train, evaluating every ``eval_every`` steps and checkpointing every ``checkpoint_every``; resume if possible.

    Training time excludes evaluation and checkpoints, which overlap the next
    cycle's collection when the collector has a process of its own. A finished
    run is read back, not retrained.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    run = run or default_run_record(config)
    seeds = evaluation_seeds(config.eval_episodes, config.eval_seed)
    found = verified_checkpoint(run_dir, config, DEFAULTS)
    threads = torch.get_num_threads()
    torch.set_num_threads(config.torch_threads)
    state = TrainingState(config)
    try:
        resumed_from = None
        if found is not None:
            state.restore(*found)
            resumed_from = state.steps

        def reached() -> bool:
            return config.target_success is not None and any(r["success_rate"] >= config.target_success
                                                             for r in state.curve)

        trained = found is None
        if state.steps < config.total_steps and not reached():
            state.collector.submit(state.snapshot())
        while state.steps < config.total_steps and not reached():
            trained = True
            t0 = time.perf_counter()
            state.learn()  # updates on cycles < c while the collector plays cycle c
            state.receive()
            state.clock["train_s"] += time.perf_counter() - t0
            last = state.steps >= config.total_steps
            evaluate_now = state.steps % config.eval_every == 0 or last
            save_now = state.steps % config.checkpoint_every == 0 or last
            # an evaluation can stop the run (target_success), so its checkpoint needs the streams too
            collector_state = state.collector.state_dict() if save_now or evaluate_now else None
            if not last:
                state.collector.submit(state.snapshot())  # the next cycle is played while this one is judged
            if evaluate_now:
                state.evaluate(seeds, run_dir)
            if save_now or reached():
                state.save(run_dir, collector_state)
        if not state.curve or state.curve[-1]["env_steps"] != state.steps:
            state.evaluate(seeds, run_dir)
            state.save(run_dir, state.collector.state_dict())
            trained = True
        metrics = run_metrics(config, state.steps, state.clock, state.curve, config.target_success,
                              resumed_from, seeds, state.agent.target_entropy)
        record_metrics(run_dir, metrics, run, trained)
        return RunResult(run_dir, config, metrics, state.curve, state.policy())
    finally:
        state.close()
        torch.set_num_threads(threads)
