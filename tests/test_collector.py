"""Collection for the book's SAC+HER: several environments give exactly the episodes of as many single ones,
a collector process gives exactly what an inline collector gives, and a re-run gives the same parameters."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from gcrl.core.errors import CourseError
from gcrl.rl.sac_her.algorithm import Actor
from gcrl.rl.sac_her.collector import Collector, CollectorProcess, InlineCollector, Snapshot
from gcrl.rl.sac_her.config import SacHerConfig
from gcrl.rl.learners import train
from gcrl.rl.sac_her.learner import load_agent
from gcrl.rl.sac_her.replay import Normalizer

SETTINGS = dict(env_id="FetchPush-v4", episodes_per_cycle=2, net_arch=(32, 32), obs_clip=5.0)
DIMS = {"achieved_goal": 3, "desired_goal": 3, "observation": 25}


def _snapshot(random: bool) -> Snapshot:
    torch.manual_seed(3)
    actor = Actor(31, 4, (32, 32))
    normalizer = Normalizer(DIMS, 5.0)
    normalizer.update({k: np.random.default_rng(0).normal(0.5, 0.2, (100, d)) for k, d in DIMS.items()})
    return Snapshot(actor=None if random else actor.state_dict(), normalizer=normalizer.state_dict(), random=random)


def _same(a, b) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f))
               for f in ("observation", "achieved_goal", "desired_goal", "action"))


@pytest.mark.parametrize("random", [True, False], ids=["warm-up", "policy"])
def test_n_environments_give_the_episodes_of_n_single_environments(random):
    """Environment i of a run with seed w is environment 0 of a run with seed w + i, cycle after cycle."""
    together = Collector(n_envs=3, seed=10, **SETTINGS)
    alone = [Collector(n_envs=1, seed=10 + i, **SETTINGS) for i in range(3)]
    snapshot = _snapshot(random)
    for _ in range(2):
        episodes = together.collect(snapshot)
        assert len(episodes) == 3 * SETTINGS["episodes_per_cycle"]
        expected = [e for collector in alone for e in collector.collect(snapshot)]  # environment-major
        assert all(_same(a, b) for a, b in zip(episodes, expected))
    assert not _same(episodes[0], episodes[2]), "the environments play different episodes"
    for collector in (together, *alone):
        collector.close()


def test_a_collector_process_returns_what_an_inline_collector_returns():
    inline, process = InlineCollector(n_envs=2, seed=0, **SETTINGS), CollectorProcess(n_envs=2, seed=0, **SETTINGS)
    try:
        for random in (True, False):
            for collector in (inline, process):
                collector.submit(_snapshot(random))
            assert all(_same(a, b) for a, b in zip(inline.episodes(), process.episodes()))
        state = process.state_dict()
        inline.load_state_dict(state)
        for collector in (inline, process):
            collector.submit(_snapshot(False))
        assert all(_same(a, b) for a, b in zip(inline.episodes(), process.episodes()))
    finally:
        inline.close()
        process.close()


def _digest(run_dir, config: SacHerConfig) -> str:
    agent, _ = load_agent(run_dir, config)
    digest = hashlib.sha256()
    for tensor in agent.state_dict().values():
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def test_several_environments_train_deterministically_in_a_process_or_inline(tmp_path):
    """The deterministic mode: same config and seed, the same parameters bit for bit, wherever collection runs."""
    settings = dict(total_steps=600, learning_starts=200, batch_size=32, net_arch=(16, 16), eval_every=200,
                    eval_episodes=2, checkpoint_every=200, n_envs=2, episodes_per_cycle=2, updates_per_cycle=30,
                    device="cpu")
    digests = []
    for name, collector, processes in (("inline", "inline", 1), ("process", "process", 1), ("again", "process", 1),
                                       ("split", "process", 2)):
        config = SacHerConfig.from_recipe("FetchPush-v4", collector=collector, collector_processes=processes,
                                          **settings)
        result = train(config, tmp_path / name)
        assert result.metrics["env_steps"] == 600 and result.curve[-1]["updates"] == 2 * 30
        digests.append(_digest(tmp_path / name, config))
    assert digests[0] == digests[1] == digests[2] == digests[3]


def test_environments_split_over_processes_give_one_collectors_episodes_and_streams():
    inline = InlineCollector(n_envs=3, seed=4, **SETTINGS)
    split = CollectorProcess(processes=2, n_envs=3, seed=4, **SETTINGS)  # groups of 2 and 1 environments
    try:
        for random in (True, False):
            for collector in (inline, split):
                collector.submit(_snapshot(random))
            a, b = inline.episodes(), split.episodes()
            assert len(a) == len(b) == 3 * SETTINGS["episodes_per_cycle"] and all(map(_same, a, b))
        assert inline.state_dict().keys() == split.state_dict().keys()
        split.load_state_dict(inline.state_dict())  # a checkpoint of one layout resumes in another
        for collector in (inline, split):
            collector.submit(_snapshot(False))
        assert all(map(_same, inline.episodes(), split.episodes()))
    finally:
        inline.close()
        split.close()
    with pytest.raises(CourseError, match="collector_processes must be an integer from 1 to n_envs \\(8\\), got 9"):
        SacHerConfig.from_recipe("FetchPush-v4", total_steps=800, collector="process", collector_processes=9)
    with pytest.raises(CourseError, match="needs collector 'process'"):
        SacHerConfig.from_recipe("FetchPush-v4", total_steps=800, collector="inline", collector_processes=2)
