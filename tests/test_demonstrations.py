"""Learning from demonstrations in the book's SAC+HER (Chapter 7, §1.7): the Q-filter, the cloning loss, the
demonstration buffer and its relabelling, and runs that reproduce."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gcrl.core.errors import CourseError
from gcrl.rl import her
from gcrl.rl.envs import make_fetch_env, observation_dims
from gcrl.rl.learners import train
from gcrl.rl.sac_her import algorithm
from gcrl.rl.sac_her.config import SacHerConfig
from gcrl.rl.sac_her.demonstrations import DEMO_SEED_BASE, DemonstrationReplay
from gcrl.rl.sac_her.learner import TrainingState

PNP = "FetchPickAndPlace-v4"
DIMS = observation_dims(PNP)
TINY = dict(total_steps=200, learning_starts=100, batch_size=32, net_arch=(16, 16), eval_every=100,
            eval_episodes=2, checkpoint_every=100, n_envs=1, episodes_per_cycle=1, updates_per_cycle=20,
            collector="inline", demo_episodes=3, demo_batch_size=8)


@pytest.fixture(scope="module")
def demos() -> DemonstrationReplay:
    return DemonstrationReplay(PNP, 3)


def planted_agent(seed: int = 0) -> algorithm.Agent:
    torch.manual_seed(seed)
    return algorithm.Agent(sum(DIMS.values()), 4, (16, 16), 1e-3)


def test_the_q_filter_applies_the_cloning_loss_only_where_the_critic_prefers_the_demonstration():
    agent = planted_agent()
    obs, demo_action = torch.randn(64, sum(DIMS.values())), torch.rand(64, 4) * 2 - 1
    mean_action, _ = agent.actor(obs, deterministic=True)
    q_demo = algorithm.pairwise_min(agent.critic(obs, demo_action))
    q_actor = algorithm.pairwise_min(agent.critic(obs, mean_action))
    mask = algorithm.q_filter_mask(agent, obs, demo_action, mean_action.detach())
    assert torch.equal(mask, q_demo > q_actor)
    assert 0 < int(mask.sum()) < 64, "a random critic prefers the demonstration on some states, not all"

    # the loss is the masked mean of the squared errors, over all N_D rows
    by_hand = (((mean_action - demo_action) ** 2).sum(-1) * mask).sum() / 64
    assert torch.allclose(algorithm.cloning_loss(agent, obs, demo_action, filtered=True), by_hand)
    unfiltered = ((mean_action - demo_action) ** 2).sum(-1).mean()
    assert torch.allclose(algorithm.cloning_loss(agent, obs, demo_action, filtered=False), unfiltered)

    # where the critic prefers the actor's action, the cloning loss pulls the actor nowhere
    rejected = ~mask
    agent.zero_grad()
    algorithm.cloning_loss(agent, obs[rejected], demo_action[rejected], filtered=True).backward()
    assert all(p.grad is None or not p.grad.any() for p in agent.actor.parameters())
    agent.zero_grad()
    algorithm.cloning_loss(agent, obs[mask], demo_action[mask], filtered=True).backward()
    assert any(p.grad is not None and p.grad.any() for p in agent.actor.parameters())
    assert all(p.grad is None for p in agent.critic.parameters()), "the filter reads the critic, never trains it"


def test_demonstrations_join_the_critic_s_minibatch_and_move_the_actor_toward_them():
    obs, action = torch.randn(40, sum(DIMS.values())), torch.rand(40, 4) * 2 - 1
    reward, next_obs = -torch.ones(40), torch.randn(40, sum(DIMS.values()))

    def demonstrated(rows: int, q_filter: bool = False) -> algorithm.Demonstrations:
        return algorithm.Demonstrations(obs[-rows:], action[-rows:], reward[-rows:], next_obs[-rows:],
                                        bc_weight=1000.0, q_filter=q_filter)

    # one step on 32 own rows and 8 demonstrated ones: the critic's step is plain SAC's on all 40, the actor's not
    plain, joined = planted_agent(), planted_agent()
    torch.manual_seed(1)
    algorithm.update(plain, obs, action, reward, next_obs, gamma=0.98, tau=0.05)
    torch.manual_seed(1)
    algorithm.update(joined, obs[:-8], action[:-8], reward[:-8], next_obs[:-8], gamma=0.98, tau=0.05,
                     demonstrations=demonstrated(8))
    assert all(torch.equal(a, b) for a, b in zip(plain.critic.parameters(), joined.critic.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(plain.actor.parameters(), joined.actor.parameters()))

    # the same 100 steps with and without the cloning term on the last 8 rows: only the first imitates them
    cloning, sac = planted_agent(), planted_agent()
    for _ in range(100):
        algorithm.update(cloning, obs[:-8], action[:-8], reward[:-8], next_obs[:-8], gamma=0.98, tau=0.05,
                         demonstrations=demonstrated(8))
        algorithm.update(sac, obs, action, reward, next_obs, gamma=0.98, tau=0.05)
    with torch.no_grad():
        imitated, ignored = (float(algorithm.cloning_loss(a, obs[-8:], action[-8:], filtered=False))
                             for a in (cloning, sac))
    assert imitated < 0.25 * ignored, (imitated, ignored)


def test_the_demonstrations_are_the_experts_episodes_and_deterministic(demos):
    again = DemonstrationReplay(PNP, 3)
    assert all(np.array_equal(a, b) for a, b in zip(demos.replay.state_dict().values(),
                                                    again.replay.state_dict().values()))
    from gcrl.rl.experts import expert_rollouts

    first = expert_rollouts(PNP, [DEMO_SEED_BASE])[0].episode
    assert np.array_equal(demos.replay.action[0], first.action)
    assert demos.successes == 3, "the PickAndPlace expert succeeds on these seeds"
    seen = demos.observations()
    assert {k: v.shape for k, v in seen.items()} == {k: (3 * 50, d) for k, d in DIMS.items()}


def test_the_demonstration_buffer_is_relabelled_by_chapter_4s_functions(demos):
    env = make_fetch_env(PNP)
    reward = env.unwrapped.compute_reward
    rng = np.random.default_rng(3)
    obs, action, next_obs, rewards = demos.sample(200, 4, "future", rng, reward)
    virtual = her.relabelled_count(200, 4)
    # every relabelled goal is an achieved goal of the same demonstration, the reward recomputed for it
    achieved = demos.replay.achieved_goal[:3].reshape(-1, 3)
    assert all(np.isclose(achieved, g).all(-1).any() for g in obs["desired_goal"][:virtual])
    np.testing.assert_array_equal(rewards, reward(next_obs["achieved_goal"], obs["desired_goal"], None))
    # the same draw as the agent's own buffer makes from the same episodes with the same generator
    again = demos.replay.sample(200, 4, "future", np.random.default_rng(3), reward)
    np.testing.assert_array_equal(again[1], action)
    env.close()


def test_a_run_with_demonstrations_reproduces_bit_for_bit(tmp_path):
    config = SacHerConfig.from_recipe(PNP, **TINY)
    first = train(config, tmp_path / "a")
    second = train(config, tmp_path / "b")
    timeless = [[{k: v for k, v in row.items() if k != "train_s"} for row in r.curve] for r in (first, second)]
    assert timeless[0] == timeless[1]
    state = TrainingState(config)
    try:
        assert state.demos is not None and state.normalizer.count > 3 * 50, "the normaliser has seen the demos"
    finally:
        state.close()
    a = torch.load(tmp_path / "a" / "checkpoint" / "agent.pt", weights_only=False)["agent"]
    b = torch.load(tmp_path / "b" / "checkpoint" / "agent.pt", weights_only=False)["agent"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("change,message", [
    (dict(demo_episodes=-1), "demo_episodes must be an integer >= 0"),
    (dict(demo_batch_size=0), "demo_batch_size must be a positive integer"),
    (dict(bc_weight=0), "bc_weight must be a number > 0"),
    (dict(q_filter="yes"), "q_filter must be true or false"),
    (dict(env_id="FetchPushDense-v4"), "demo_episodes needs a scripted expert, and FetchPushDense-v4 has none"),
])
def test_bad_demonstration_settings_are_clear_errors(change, message):
    with pytest.raises(CourseError, match=message):
        SacHerConfig.from_recipe(**{"env_id": PNP, **TINY, **change})


def test_a_demonstration_buffer_of_no_episodes_is_a_clear_error():
    with pytest.raises(CourseError, match="at least one episode"):
        DemonstrationReplay(PNP, 0)
