"""Collection for the book's SAC+HER: several environments, one snapshot of the policy, whole episodes.

A run alternates *cycles*. In each, every one of ``n_envs`` environments plays
``episodes_per_cycle`` complete episodes with a frozen snapshot of the policy
(its actor's weights and the normaliser's statistics), the actions of all
environments computed in one batched forward pass. The episodes go to the
learner whole, in environment order.

A :class:`Collector` holds the environments and every random stream of
collection: each environment's own generator (its resets), its action space's
(the random warm-up), its perturbations' (domain randomisation), and one torch
generator per environment for the policy's noise. Environment ``i`` of a run
with seed ``w`` is reset first with seed ``w + i`` and then continues its own
stream, so its episodes do not depend on how many other environments run beside
it, or on whether they run in this process or another.

:class:`CollectorProcess` runs a collector in a process of its own, so that the
simulation of one cycle overlaps the learner's updates; :class:`InlineCollector`
runs it in the learner's process. Both are driven the same way (submit a
snapshot, then take the episodes), and both return the same episodes, bit for
bit: the process only decides where the work happens.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from gcrl.core.errors import CourseError
from gcrl.rl import perturb
from gcrl.rl.envs import ACTION_DIM, OBS_KEYS, episode_length, make_fetch_env, observation_dims
from gcrl.rl.sac_her.algorithm import Actor
from gcrl.rl.sac_her.replay import Episode, Normalizer
#: The policy acts on blocks of this many rows, zero-padded. A CPU matrix product may compute a row
#: differently (in its last bits) depending on how many rows there are; a fixed block size, on one
#: thread, keeps environment i's actions independent of how many environments run beside it.
BLOCK_ROWS = 16


@dataclass(frozen=True)
class Snapshot:
    """The policy a cycle is collected with: the actor's weights and the normaliser's statistics (on the CPU),
    or uniform random actions (the warm-up before ``learning_starts``)."""

    actor: dict[str, torch.Tensor] | None
    normalizer: dict[str, Any]
    random: bool


class Collector:
    """``n_envs`` environments of one run, their random streams, and a CPU copy of the actor to act with."""

    def __init__(self, env_id: str, n_envs: int, episodes_per_cycle: int, seed: int, net_arch: tuple[int, ...],
                 obs_clip: float, random_eps: float = 0.0, observation_noise: float = 0.0,
                 physics_ranges: tuple[tuple[str, float, float], ...] = ()):
        self.horizon, self.episodes_per_cycle = episode_length(env_id), episodes_per_cycle
        self.envs = [perturb.randomised(make_fetch_env(env_id), observation_noise, physics_ranges, seed=seed + i)
                     for i in range(n_envs)]
        for i, env in enumerate(self.envs):
            env.action_space.seed(seed + i)
        self.first_seeds: list[int | None] = [seed + i for i in range(n_envs)]
        self.noise = [torch.Generator().manual_seed(seed + i) for i in range(n_envs)]
        # exploration by uniform actions with probability random_eps (the original HER code's random_eps)
        self.random_eps = random_eps
        self.explore = [np.random.default_rng([seed + i, 1]) for i in range(n_envs)]
        dims = observation_dims(env_id)
        with torch.random.fork_rng(devices=[]):  # its weights come from snapshots: leave the caller's stream alone
            self.actor = Actor(sum(dims.values()), ACTION_DIM, net_arch)
        self.normalizer = Normalizer(dims, obs_clip)

    def collect(self, snapshot: Snapshot) -> list[Episode]:
        """``episodes_per_cycle`` episodes of every environment with ``snapshot``, in environment order."""
        if not snapshot.random:
            self.actor.load_state_dict(snapshot.actor)
        self.normalizer.load_state_dict(snapshot.normalizer)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the same arithmetic in the learner's process as in a process of its own
        try:
            rounds = [self._round(snapshot.random) for _ in range(self.episodes_per_cycle)]
        finally:
            torch.set_num_threads(threads)
        return [episode for i in range(len(self.envs)) for episodes in rounds for episode in [episodes[i]]]

    @torch.no_grad()
    def _act(self, observations: list[dict[str, np.ndarray]]) -> np.ndarray:
        """A sample of the policy for every environment, batched in blocks of ``BLOCK_ROWS``."""
        inputs = torch.from_numpy(self.normalizer({k: np.stack([o[k] for o in observations]) for k in OBS_KEYS}))
        noise = torch.stack([torch.randn(ACTION_DIM, generator=g) for g in self.noise])
        actions = []
        for start in range(0, len(inputs), BLOCK_ROWS):
            rows = inputs[start:start + BLOCK_ROWS]
            block = torch.zeros(BLOCK_ROWS, inputs.shape[1])
            block_noise = torch.zeros(BLOCK_ROWS, ACTION_DIM)
            block[:len(rows)], block_noise[:len(rows)] = rows, noise[start:start + BLOCK_ROWS]
            actions.append(self.actor(block, noise=block_noise)[0][:len(rows)])
        return torch.cat(actions).numpy()

    def _round(self, random: bool) -> list[Episode]:
        """One episode of every environment, stepped in lockstep."""
        n, T = len(self.envs), self.horizon
        observations = []
        for i, env in enumerate(self.envs):
            observation, _ = env.reset(seed=self.first_seeds[i])
            self.first_seeds[i] = None  # later episodes continue the environment's own stream
            observations.append(observation)
        trace = {k: [np.stack([o[k] for o in observations])] for k in ("observation", "achieved_goal")}
        desired = np.stack([o["desired_goal"] for o in observations])
        actions = []
        for _ in range(T):
            if random:
                action = np.stack([env.action_space.sample() for env in self.envs])
            else:
                action = self._act(observations)
                if self.random_eps:
                    for i, rng in enumerate(self.explore):
                        if rng.random() < self.random_eps:
                            action[i] = rng.uniform(-1.0, 1.0, ACTION_DIM)
            observations = [env.step(a)[0] for env, a in zip(self.envs, action)]
            actions.append(action)
            for key in trace:
                trace[key].append(np.stack([o[key] for o in observations]))
        stacked = {key: np.stack(values, axis=1) for key, values in trace.items()}  # (n, T + 1, dim)
        action_array = np.stack(actions, axis=1).astype(np.float32)  # (n, T, action_dim)
        return [Episode(stacked["observation"][i], stacked["achieved_goal"][i], desired[i], action_array[i])
                for i in range(n)]

    def state_dict(self) -> dict[str, Any]:
        """Every random stream of collection, at a cycle boundary (no episode is under way then)."""
        return {"env_rngs": [env.unwrapped.np_random.bit_generator.state for env in self.envs],
                "action_rngs": [env.action_space.np_random.bit_generator.state for env in self.envs],
                "perturbation_rngs": [perturb.noise_states(env) for env in self.envs],
                "noise": [g.get_state() for g in self.noise], "first_seeds": list(self.first_seeds),
                "explore": [rng.bit_generator.state for rng in self.explore]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for env, env_rng, action_rng, perturbations in zip(self.envs, state["env_rngs"], state["action_rngs"],
                                                          state["perturbation_rngs"]):
            env.unwrapped.np_random.bit_generator.state = env_rng
            env.action_space.np_random.bit_generator.state = action_rng
            perturb.set_noise_states(env, perturbations)
        for generator, noise in zip(self.noise, state["noise"]):
            generator.set_state(noise)
        for rng, explore in zip(self.explore, state["explore"]):
            rng.bit_generator.state = explore
        self.first_seeds = list(state["first_seeds"])

    def close(self) -> None:
        for env in self.envs:
            env.close()


class InlineCollector:
    """A collector in the learner's own process: the cycle is collected when its episodes are taken."""

    def __init__(self, **settings: Any):
        self.collector = Collector(**settings)
        self.pending: Snapshot | None = None  # a submitted cycle not yet played

    def submit(self, snapshot: Snapshot) -> None:
        self.pending = snapshot

    def episodes(self) -> list[Episode]:
        snapshot, self.pending = self.pending, None
        return self.collector.collect(snapshot)

    def state_dict(self) -> dict[str, Any]:
        return self.collector.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.collector.load_state_dict(state)

    def close(self) -> None:
        self.collector.close()


def _serve(connection, settings: dict[str, Any]) -> None:
    """The collector process: one torch thread, and a command at a time from the learner."""
    torch.set_num_threads(1)
    collector = Collector(**settings)
    try:
        while True:
            command, argument = connection.recv()
            if command == "collect":
                connection.send(collector.collect(argument))
            elif command == "state":
                connection.send(collector.state_dict())
            elif command == "load":
                collector.load_state_dict(argument)
                connection.send(None)
            else:
                break
    finally:
        collector.close()
        connection.close()


class CollectorProcess:
    """Collectors in processes of their own: a submitted cycle is simulated while the learner updates.

    ``processes`` splits the environments into that many contiguous groups, one
    process each, for machines where simulation, not learning, is the bottleneck.
    Environment ``i`` keeps seed ``w + i`` and its own streams whichever group it
    is in, and each group's episodes come back in environment order, so the
    episodes (and a run's parameters) do not depend on the split.
    """

    def __init__(self, processes: int = 1, **settings: Any):
        n_envs = settings["n_envs"]  # 1 <= processes <= n_envs: the config's rule (collector_processes)
        context = multiprocessing.get_context("spawn")
        self.sizes = [n_envs // processes + (g < n_envs % processes) for g in range(processes)]
        self.connections, self.processes = [], []
        offset = 0
        for size in self.sizes:
            connection, child = context.Pipe()
            group = {**settings, "n_envs": size, "seed": settings["seed"] + offset}
            process = context.Process(target=_serve, args=(child, group), daemon=True)
            process.start()
            child.close()
            self.connections.append(connection)
            self.processes.append(process)
            offset += size
        self.pending = False  # a submitted cycle whose episodes have not been taken

    def submit(self, snapshot: Snapshot) -> None:
        for connection in self.connections:
            connection.send(("collect", snapshot))
        self.pending = True

    def episodes(self) -> list[Episode]:
        episodes = [episode for connection, process in zip(self.connections, self.processes)
                    for episode in self._receive(connection, process)]
        self.pending = False
        return episodes

    @staticmethod
    def _receive(connection, process) -> Any:
        try:
            return connection.recv()
        except EOFError:
            raise CourseError(f"a collector process stopped (exit code {process.exitcode}); "
                              "see its traceback above") from None

    def state_dict(self) -> dict[str, Any]:
        """The groups' streams joined in environment order: the same as one collector's, whatever the split."""
        for connection in self.connections:
            connection.send(("state", None))
        states = [self._receive(c, p) for c, p in zip(self.connections, self.processes)]
        return {key: [entry for state in states for entry in state[key]] for key in states[0]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        offset = 0
        for connection, size in zip(self.connections, self.sizes):
            connection.send(("load", {key: value[offset:offset + size] for key, value in state.items()}))
            offset += size
        for connection, process in zip(self.connections, self.processes):
            self._receive(connection, process)

    def close(self) -> None:
        if self.pending and all(p.is_alive() for p in self.processes):  # a run that stops early: take its cycle
            self.episodes()
        for connection, process in zip(self.connections, self.processes):
            if process.is_alive():
                connection.send(("close", None))
                process.join(timeout=30)
            connection.close()
