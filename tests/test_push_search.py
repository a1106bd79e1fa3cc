"""What the Push search measures: seed sets, goals actually commanded, layer-normalised critics, the action penalty,
the second round's runs on several seeds, and the GPU probe's CPU path.

The two scripts (``scripts/push_recipe_search.py``, ``scripts/gpu_probe.py``) are not package modules; they are
loaded from their files.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gcrl.core.errors import CourseError
from gcrl.core.paths import REPO_ROOT
from gcrl.rl import her
from gcrl.rl.sac_her import algorithm, replay
from gcrl.rl.sac_her.config import SacHerConfig

HORIZON = 50
PUSH_DIMS = {"observation": 25, "achieved_goal": 3, "desired_goal": 3}


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small networks on one thread: two threads on a busy two-core machine can make a step 100 times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def search():
    return _load_script("push_recipe_search")


@pytest.fixture(scope="module")
def probe():
    return _load_script("gpu_probe")


@pytest.fixture(scope="module")
def push_env():
    from gcrl.rl.envs import make_fetch_env

    env = make_fetch_env("FetchPush-v4")
    yield env
    env.close()


# 2. goals actually commanded in stored episodes ------------------------------------------------------------------

N_EPISODES = 20


@pytest.fixture(scope="module")
def planted_replay():
    """20 Push episodes whose every goal says where it came from.

    Desired goals lie on the table where Push commands them (z = 0.42), one per episode; achieved goals lie at the
    object's resting height (z = 0.4247), distinct for every (episode, step), so no achieved goal is a desired one.
    The observation's first two entries are the episode and the step, so a sampled row names its own transition.
    Distances between the two kinds straddle Push's 5 cm threshold, so relabelled rewards are both 0 and -1.
    """
    buffer = replay.EpisodeReplay(N_EPISODES, HORIZON, PUSH_DIMS, 4)
    steps = np.arange(HORIZON + 1)
    for e in range(N_EPISODES):
        observation = np.zeros((HORIZON + 1, PUSH_DIMS["observation"]))
        observation[:, 0], observation[:, 1] = e, steps
        achieved = np.stack([1.25 + 0.004 * steps, np.full(HORIZON + 1, 0.70 + 0.005 * e),
                             np.full(HORIZON + 1, 0.4247)], axis=1)
        desired = np.array([1.25 + 0.01 * e, 0.75, 0.42])
        action = np.full((HORIZON, 4), e / N_EPISODES, np.float32)
        buffer.add(replay.Episode(observation, achieved, desired, action))
    sources: dict[tuple[float, ...], tuple] = {tuple(buffer.desired_goal[e]): ("desired", e) for e in range(N_EPISODES)}
    for e in range(N_EPISODES):
        for s in steps:
            sources[tuple(buffer.achieved_goal[e, s])] = ("achieved", e, int(s))
    assert len(sources) == N_EPISODES * (HORIZON + 2), "every planted goal must be distinct"
    return buffer, sources


def _decode(buffer, sources, batch):
    """Per row: its own episode and time, and where its goal came from."""
    obs, action, next_obs, rewards = batch
    e, t = obs["observation"][:, 0].astype(int), obs["observation"][:, 1].astype(int)
    assert np.array_equal(next_obs["observation"][:, 1], t + 1) and np.array_equal(next_obs["observation"][:, 0], e)
    assert np.array_equal(action, buffer.action[e, t])
    assert np.array_equal(obs["desired_goal"], next_obs["desired_goal"])
    assert np.array_equal(next_obs["achieved_goal"], buffer.achieved_goal[e, t + 1])
    return e, t, [sources[tuple(g)] for g in obs["desired_goal"]]


def test_actual_count_rounds_down_and_refuses_fractions_outside_0_1():
    assert her.actual_count(16_000, 0.5) == 8_000
    assert her.actual_count(7, 0.5) == 3 and her.actual_count(409, 0.25) == 102
    assert her.actual_count(10, 0.0) == 0 and her.actual_count(10, 1.0) == 10
    for bad in (1.5, -0.1):
        with pytest.raises(CourseError, match=rf"actual_goal_fraction must lie in \[0, 1\], got {bad}"):
            her.actual_count(10, bad)


def test_actual_rows_come_first_then_future_rows_then_the_episodes_own_goals(planted_replay, push_env):
    buffer, sources = planted_replay
    batch = buffer.sample(20_000, 4, "future", np.random.default_rng(0), push_env.unwrapped.compute_reward, 0.5)
    relabelled = her.relabelled_count(20_000, 4)
    actual = her.actual_count(relabelled, 0.5)
    assert (relabelled, actual) == (16_000, 8_000)
    e, t, source = _decode(buffer, sources, batch)
    # rows [0, actual): the desired goal of a stored episode, drawn apart from the row's own episode
    assert all(s[0] == "desired" for s in source[:actual])
    drawn = np.array([s[1] for s in source[:actual]])
    assert 0.03 < np.mean(drawn == e[:actual]) < 0.07  # 1 in 20 by chance, not always the row's own episode
    # rows [actual, relabelled): a future achieved goal of the row's own episode, next_achieved_goal[j], j >= t
    future = source[actual:relabelled]
    assert all(s[0] == "achieved" for s in future)
    assert np.array_equal([s[1] for s in future], e[actual:relabelled])
    index = np.array([s[2] for s in future]) - 1  # j: the goal is achieved_goal[j + 1]
    assert np.all(index >= t[actual:relabelled]) and np.all(index <= HORIZON - 1)
    assert np.any(index == t[actual:relabelled]) and np.any(index == HORIZON - 1)
    # the rest: not relabelled, their own episode's goal
    assert np.array_equal(batch[0]["desired_goal"][relabelled:], buffer.desired_goal[e[relabelled:]])

    # all relabelled rows actual; none at all
    batch = buffer.sample(1_000, 4, "future", np.random.default_rng(1), push_env.unwrapped.compute_reward, 1.0)
    _, _, source = _decode(buffer, sources, batch)
    assert all(s[0] == "desired" for s in source[:800])
    _, _, source = _decode(buffer, sources, buffer.sample(1_000, 1, "future", np.random.default_rng(1),
                                                          push_env.unwrapped.compute_reward, 0.25))
    assert [s[0] for s in source[:125]] == ["desired"] * 125 and all(s[0] == "achieved" for s in source[125:500])


def test_actual_goals_come_from_uniformly_drawn_episodes_independent_of_the_row(planted_replay, push_env):
    """Chi-square tests of the episodes whose desired goals the actual rows take.

    Power, stated: with 20,000 draws over 20 episodes (19 degrees of freedom) and a test at the 0.001 level, a draw
    that gives one episode 1.3 times the others' weight is rejected with probability > 0.999 (non-central
    chi-square, computed below), and an off-by-one draw that never picks the last stored episode always is; both are
    simulated at the same size and must be rejected. The rng is seeded, so the test is deterministic.
    """
    from scipy import stats

    buffer, sources = planted_replay
    batch = buffer.sample(50_000, 4, "future", np.random.default_rng(3), push_env.unwrapped.compute_reward, 0.5)
    actual = her.actual_count(her.relabelled_count(50_000, 4), 0.5)
    assert actual == 20_000
    e, _, source = _decode(buffer, sources, batch)
    drawn = np.array([s[1] for s in source[:actual]])
    counts = np.bincount(drawn, minlength=N_EPISODES)
    assert stats.chisquare(counts).pvalue > 1e-3
    # independent of the row's own episode: the 20 x 20 table of (own, drawn) has no structure
    table = np.zeros((N_EPISODES, N_EPISODES))
    np.add.at(table, (e[:actual], drawn), 1)
    assert stats.chi2_contingency(table).pvalue > 1e-3

    critical = stats.chi2.isf(1e-3, N_EPISODES - 1)
    weights = np.ones(N_EPISODES)
    weights[0] = 1.3
    p = weights / weights.sum()
    noncentrality = actual * np.sum((p - 1 / N_EPISODES) ** 2 / (1 / N_EPISODES))
    assert stats.ncx2.sf(critical, N_EPISODES - 1, noncentrality) > 0.999
    rng = np.random.default_rng(4)
    biased = np.bincount(rng.choice(N_EPISODES, size=actual, p=p), minlength=N_EPISODES)
    off_by_one = np.bincount(rng.integers(0, N_EPISODES - 1, size=actual), minlength=N_EPISODES)
    assert stats.chisquare(biased).pvalue < 1e-3 and stats.chisquare(off_by_one).pvalue < 1e-3
    # the contingency test catches a draw that is uniform overall but tied to the row's episode
    tied = np.zeros((N_EPISODES, N_EPISODES))
    np.add.at(tied, (e[:actual], np.where(rng.random(actual) < 0.3, (e[:actual] + 1) % N_EPISODES, drawn)), 1)
    assert stats.chi2_contingency(tied).pvalue < 1e-3


def test_rewards_are_the_envs_reward_for_the_next_achieved_goal_and_the_new_goal(planted_replay, push_env):
    buffer, sources = planted_replay
    compute_reward = push_env.unwrapped.compute_reward
    obs, _, next_obs, rewards = batch = buffer.sample(4_000, 4, "future", np.random.default_rng(5), compute_reward,
                                                      0.5)
    e, t, _ = _decode(buffer, sources, batch)
    goals = obs["desired_goal"]
    by_hand = -(np.linalg.norm(buffer.achieved_goal[e, t + 1] - goals, axis=-1)
                > push_env.unwrapped.distance_threshold).astype(np.float32)
    assert push_env.unwrapped.distance_threshold == 0.05
    assert rewards.dtype == np.float32
    assert np.array_equal(rewards, by_hand)
    assert np.array_equal(rewards, compute_reward(next_obs["achieved_goal"], goals, None).astype(np.float32))
    actual = her.actual_count(her.relabelled_count(4_000, 4), 0.5)
    assert set(rewards[:actual].tolist()) == {0.0, -1.0}  # the planted distances straddle the threshold
    # not the reward of the goal the episode was collected for, nor of the current achieved goal
    assert not np.array_equal(rewards[:actual], -(np.linalg.norm(
        buffer.achieved_goal[e, t + 1] - buffer.desired_goal[e], axis=-1)[:actual] > 0.05).astype(np.float32))
    assert not np.array_equal(rewards, -(np.linalg.norm(buffer.achieved_goal[e, t] - goals, axis=-1) > 0.05)
                              .astype(np.float32))


def _old_sample(buffer, batch_size, n_sampled_goal, strategy, rng, compute_reward):
    """EpisodeReplay.sample before actual goals (commit 3604d88), restated."""
    e = rng.integers(0, buffer.episodes, size=batch_size)
    t = rng.integers(0, buffer.horizon, size=batch_size)
    goals = buffer.desired_goal[e]
    virtual = her.relabelled_count(batch_size, n_sampled_goal)
    j = her.goal_indices(t[:virtual], buffer.horizon, strategy, rng)
    goals[:virtual] = buffer.achieved_goal[e[:virtual], j + 1]
    next_achieved = buffer.achieved_goal[e, t + 1]
    rewards = np.asarray(compute_reward(next_achieved, goals, None), dtype=np.float32)
    return ({"observation": buffer.observation[e, t], "achieved_goal": buffer.achieved_goal[e, t],
             "desired_goal": goals}, buffer.action[e, t],
            {"observation": buffer.observation[e, t + 1], "achieved_goal": next_achieved, "desired_goal": goals},
            rewards)


def _flat(batch):
    obs, action, next_obs, rewards = batch
    return [*(obs[k] for k in sorted(obs)), action, *(next_obs[k] for k in sorted(next_obs)), rewards]


@pytest.mark.parametrize("strategy,k", [("future", 4), ("final", 2), ("episode", 1), ("future", 0)])
def test_fraction_zero_is_the_old_sample_bit_for_bit(planted_replay, push_env, strategy, k):
    buffer, _ = planted_replay
    compute_reward = push_env.unwrapped.compute_reward
    rngs = [np.random.default_rng(11) for _ in range(4)]
    batches = [buffer.sample(777, k, strategy, rngs[0], compute_reward),
               buffer.sample(777, k, strategy, rngs[1], compute_reward, 0.0),
               buffer.sample(777, k, strategy, rngs[2], compute_reward, actual_goal_fraction=0),
               _old_sample(buffer, 777, k, strategy, rngs[3], compute_reward)]
    reference = _flat(batches[-1])
    for batch in batches[:-1]:
        for got, want in zip(_flat(batch), reference, strict=True):
            assert got.dtype == want.dtype and np.array_equal(got, want)
    states = [r.bit_generator.state for r in rngs]
    assert all(s == states[0] for s in states)  # no extra draw: the next minibatch is the old one too


def test_bad_actual_goal_fraction_and_action_penalty_are_clear_errors():
    for value in (1.5, -0.5, True, "0.5"):
        with pytest.raises(CourseError, match=r"actual_goal_fraction must be a number in \[0, 1\], got "):
            SacHerConfig.from_recipe("FetchPush-v4", total_steps=10_000, actual_goal_fraction=value)
    with pytest.raises(CourseError, match=r"actual_goal_fraction needs relabelling \(n_sampled_goal > 0\): it is a "
                                          "share of the relabelled rows"):
        SacHerConfig.from_recipe("FetchPush-v4", total_steps=10_000, actual_goal_fraction=0.5, n_sampled_goal=0)
    for value in (-1, True, "1"):
        with pytest.raises(CourseError, match=f"action_l2 must be a number >= 0, got {value!r}"):
            SacHerConfig.from_recipe("FetchPush-v4", total_steps=10_000, action_l2=value)
    with pytest.raises(CourseError, match="critic_layer_norm must be true or false, got 'yes'"):
        SacHerConfig.from_recipe("FetchPush-v4", total_steps=10_000, critic_layer_norm="yes")
    config = SacHerConfig.from_recipe("FetchPush-v4", total_steps=10_000, actual_goal_fraction=1, action_l2=0.5,
                                      critic_layer_norm=True)
    assert SacHerConfig.from_dict(json.loads(json.dumps(config.as_dict()))) == config
    default = SacHerConfig.from_recipe("FetchPush-v4", total_steps=10_000)
    assert (default.critic_layer_norm, default.action_l2, default.actual_goal_fraction) == (False, 0.0, 0.0)


# 3. layer-normalised critics -------------------------------------------------------------------------------------

def _reference_member(critic: algorithm.TwinCritic, member: int) -> torch.nn.Sequential:
    """Member ``member`` of the twin critic as torch.nn layers, its weights copied (stored as (members, in, out))."""
    layers: list[torch.nn.Module] = []
    last = len(critic.weights) - 1
    for i, (w, b) in enumerate(zip(critic.weights, critic.biases)):
        linear = torch.nn.Linear(w.shape[1], w.shape[2])
        with torch.no_grad():
            linear.weight.copy_(w[member].T)
            linear.bias.copy_(b[member, 0])
        layers.append(linear)
        if i < last:
            norm = torch.nn.LayerNorm(w.shape[2])
            with torch.no_grad():
                norm.weight.copy_(critic.norm_gains[i][member, 0])
                norm.bias.copy_(critic.norm_biases[i][member, 0])
            layers += [norm, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers)


def test_layer_normalised_critic_is_linear_layernorm_relu_per_member():
    torch.manual_seed(0)
    critic = algorithm.TwinCritic(20, (32, 24), layer_norm=True)
    assert all(torch.equal(g, torch.ones_like(g)) for g in critic.norm_gains)  # as nn.LayerNorm starts
    assert all(torch.equal(b, torch.zeros_like(b)) for b in critic.norm_biases)
    assert [tuple(g.shape) for g in critic.norm_gains] == [(2, 1, 32), (2, 1, 24)]
    with torch.no_grad():  # gains and offsets other than the initial ones, different per member
        for p in [*critic.norm_gains, *critic.norm_biases]:
            p.add_(0.5 * torch.randn_like(p))
    obs, action = 3 * torch.randn(64, 16) + 1, torch.rand(64, 4) * 2 - 1
    q = critic(obs, action)
    assert q.shape == (2, 64)
    x = torch.cat([obs, action], -1)
    for member in range(2):
        torch.testing.assert_close(q[member], _reference_member(critic, member)(x).squeeze(-1), rtol=1e-5,
                                   atol=1e-5)
    plain = algorithm.TwinCritic(20, (32, 24))
    plain.load_state_dict({k: v for k, v in critic.state_dict().items() if "norm" not in k})
    assert not torch.allclose(plain(obs, action), q)  # the normalisation changes what it computes


def test_without_layer_norm_the_checkpoint_keys_are_unchanged():
    plain = algorithm.TwinCritic(20, (32, 32))
    assert plain.norm_gains is None and plain.norm_biases is None
    assert set(plain.state_dict()) == {f"{kind}.{i}" for kind in ("weights", "biases") for i in range(3)}
    agent = algorithm.Agent(16, 4, (16, 16), 1e-3)
    actor = {f"actor.{name}.{p}" for name in ("trunk.0", "trunk.2", "mu", "log_std") for p in ("weight", "bias")}
    critics = {f"{c}.{kind}.{i}" for c in ("critic", "critic_target") for kind in ("weights", "biases")
               for i in range(3)}
    assert set(agent.state_dict()) == actor | critics | {"log_alpha"}  # the keys of checkpoints saved before
    algorithm.Agent(16, 4, (16, 16), 1e-3, critic_layer_norm=False).load_state_dict(agent.state_dict())
    normed = algorithm.Agent(16, 4, (16, 16), 1e-3, critic_layer_norm=True)
    assert set(normed.state_dict()) - set(agent.state_dict()) == {
        f"{c}.{kind}.{i}" for c in ("critic", "critic_target") for kind in ("norm_gains", "norm_biases")
        for i in range(2)}
    with pytest.raises(RuntimeError, match="Missing key"):  # a plain checkpoint never half-loads a normed agent
        normed.load_state_dict(agent.state_dict())


def test_frozen_critic_gives_no_gradient_to_its_norm_parameters():
    torch.manual_seed(0)
    critic = algorithm.TwinCritic(20, (32, 32), layer_norm=True)
    obs, action = torch.randn(16, 16), torch.rand(16, 4, requires_grad=True)
    critic(obs, action, frozen=True).sum().backward()
    assert all(p.grad is None for p in critic.parameters())
    assert action.grad is not None and action.grad.abs().sum() > 0  # the actor's gradient still flows
    critic(obs, action).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in [*critic.norm_gains, *critic.norm_biases])


def test_an_update_trains_the_norm_parameters_and_polyak_averages_them(minibatch):
    torch.manual_seed(0)
    agent = algorithm.Agent(16, 4, (16, 16), 1e-3, critic_layer_norm=True)
    assert list(agent.critic_optimizer.param_groups[0]["params"]) == list(agent.critic.parameters())
    norms = lambda critic: [*critic.norm_gains, *critic.norm_biases]  # noqa: E731
    before = [p.detach().clone() for p in norms(agent.critic_target)]
    algorithm.update(agent, *minibatch(), gamma=0.98, tau=0.05)
    for online, target, start in zip(norms(agent.critic), norms(agent.critic_target), before, strict=True):
        assert not torch.equal(online, start)  # the critic's optimiser trains them
        torch.testing.assert_close(target, torch.lerp(start, online.detach(), 0.05))  # the target follows


# 4. the action penalty -------------------------------------------------------------------------------------------

def test_action_penalty_adds_its_weight_times_the_mean_squared_action_to_the_actors_gradient(minibatch):
    """grad L_pi(w) - grad L_pi(0) = grad of w * mean over batch and action dims of a^2, with a the reparameterised
    action of the step, computed by hand; the penalty is a term of the actor's named loss alone."""
    weight = 0.7
    torch.manual_seed(0)
    agent = algorithm.Agent(16, 4, (16, 16), 1e-3)
    obs = minibatch()[0]
    torch.manual_seed(123)
    action_pi, log_pi = agent.actor(obs)
    alpha = agent.log_alpha.detach().exp()
    parameters = list(agent.actor.parameters())
    grads = {w: torch.autograd.grad(algorithm.actor_loss(agent, obs, action_pi, log_pi, alpha, w), parameters,
                                    retain_graph=True) for w in (0.0, weight)}
    torch.manual_seed(123)
    noise = torch.randn(len(obs), 4)
    latent = agent.actor.trunk(obs)
    u = agent.actor.mu(latent) + agent.actor.log_std(latent).clamp(-20, 2).exp() * noise
    penalty = weight * (torch.tanh(u) ** 2).mean()
    expected = torch.autograd.grad(penalty, parameters)
    assert max(float(e.abs().max()) for e in expected) > 1e-3  # the check has something to see
    for with_penalty, without, want in zip(grads[weight], grads[0.0], expected, strict=True):
        torch.testing.assert_close(with_penalty - without, want, rtol=1e-4, atol=1e-6)


def test_action_penalty_shrinks_the_policys_actions(minibatch):
    sizes = {}
    batches = [minibatch(seed=s) for s in range(5)]
    for w in (0.0, 1.0):
        torch.manual_seed(0)
        agent = algorithm.Agent(16, 4, (16, 16), 1e-3, ent_coef=0.05)
        torch.manual_seed(1)
        for step in range(50):
            algorithm.update(agent, *batches[step % 5], gamma=0.98, tau=0.05, action_l2=w)
        with torch.no_grad():
            sizes[w] = float(agent.actor(torch.cat([b[0] for b in batches]), deterministic=True)[0].abs().mean())
    assert sizes[1.0] < 0.8 * sizes[0.0], sizes


def test_the_learner_passes_the_new_settings_and_reloads_a_layer_normalised_run(tmp_path, monkeypatch):
    """A tiny run asks for layer norm, the penalty and actual goals: every update and every minibatch gets them,
    and its checkpoint reloads into a layer-normalised agent that acts as the trained one did."""
    from gcrl.rl import learners
    from gcrl.rl.sac_her import learner

    seen = {"update": set(), "sample": set()}
    original_update, original_sample = learner.update, replay.EpisodeReplay.sample

    def spy_update(*args, **kwargs):
        seen["update"].add(kwargs.get("action_l2"))
        return original_update(*args, **kwargs)

    def spy_sample(self, *args, **kwargs):
        seen["sample"].add(args[5] if len(args) > 5 else kwargs.get("actual_goal_fraction", 0.0))
        return original_sample(self, *args, **kwargs)

    monkeypatch.setattr(learner, "update", spy_update)
    monkeypatch.setattr(replay.EpisodeReplay, "sample", spy_sample)
    config = SacHerConfig.from_recipe(
        "FetchReach-v4", total_steps=200, learning_starts=100, batch_size=32, net_arch=(16, 16), eval_every=100,
        eval_episodes=2, checkpoint_every=100, n_envs=1, episodes_per_cycle=1, updates_per_cycle=20,
        collector="inline", critic_layer_norm=True, action_l2=0.3, actual_goal_fraction=0.5)
    result = learners.train(config, tmp_path / "run")
    assert seen == {"update": {0.3}, "sample": {0.5}}
    agent, _ = learner.load_agent(tmp_path / "run", config)
    assert agent.critic.norm_gains is not None
    assert not all(torch.equal(g, torch.ones_like(g)) for g in agent.critic.norm_gains)  # trained, then saved
    live, reloaded = result.policy(), learners.load_policy(config, tmp_path / "run")
    from gcrl.rl.envs import make_fetch_env

    env = make_fetch_env("FetchReach-v4")
    obs, _ = env.reset(seed=5)
    for _ in range(5):
        assert np.array_equal(live(obs), reloaded(obs))
        obs, *_ = env.step(live(obs))
    env.close()


# 5. the search's second round ------------------------------------------------------------------------------------

def test_seeded_config_refuses_a_reporting_seed_and_applies_the_candidate(search, tmp_path):
    with pytest.raises(CourseError, match="1000 is a reporting seed"):
        search.seeded_config("recipe", 1000, 1600, 800, 2, {})
    with pytest.raises(CourseError, match="seed 500 is in neither seed set"):
        search.seeded_config("recipe", 500, 1600, 800, 2, {})
    with pytest.raises(CourseError, match="1001 is a reporting seed"):
        search.run_seeded(["recipe"], [0, 1001], tmp_path, 1600, 800, 2, 1, None, {})
    assert not (tmp_path / "logs").exists()  # refused before anything started
    config = search.seeded_config("ln_actual_l2", 3, 1600, 800, 2, {"collector": "inline"})
    assert (config.seed, config.total_steps, config.eval_every, config.checkpoint_every, config.eval_episodes) == \
        (3, 1600, 800, 800, 2)
    assert (config.critic_layer_norm, config.actual_goal_fraction, config.action_l2) == (True, 0.5, 1.0)
    assert (config.net_arch, config.batch_size, config.n_envs, config.random_eps, config.collector) == \
        ((128, 128, 128), 512, 8, 0.3, "inline")


def test_train_command_passes_every_setting(search):
    from gcrl.course.cli import build_parser, setting_value

    config = search.seeded_config("ln_actual_l2", 2, 1600, 800, 2, {"collector": "inline"})
    command = search.train_command(config, Path("/runs/ln_actual_l2/seed2"))
    assert command[:3] == [sys.executable, "-m", "gcrl.course.cli"]
    args = build_parser().parse_args(command[3:])
    assert (args.command, args.algo, args.env, args.steps, args.seed, args.run_dir) == \
        ("train", "sac+her", "FetchPush-v4", 1600, 2, "/runs/ln_actual_l2/seed2")
    settings = [s.partition("=") for s in args.set]
    assert all(sep for _, sep, _ in settings)
    passed = {key: json.loads(value) for key, _, value in settings}
    expected = {k: v for k, v in config.as_dict().items() if k not in ("env_id", "total_steps", "seed")}
    assert passed == expected
    # the CLI reads the values back (JSON first, else YAML): the same values
    assert {key: setting_value(value) for key, _, value in settings} == expected


def test_train_command_round_trips_a_small_learning_rate(search):
    """json.dumps writes 5e-05 with no dot, which YAML 1.1 reads as a string: the CLI reads JSON first."""
    from gcrl.course.cli import setting_value
    from gcrl.rl.learners import make_config

    config = search.seeded_config("recipe", 0, 1600, 800, 2, {"learning_rate": 5e-5})
    command = search.train_command(config, Path("/runs/x"))
    settings = dict(s.partition("=")[::2] for s in command[command.index("--set"):] if s != "--set")
    overrides = {key: setting_value(value) for key, value in settings.items()}
    rebuilt = make_config("sac+her", "FetchPush-v4", total_steps=1600, seed=0, **overrides)
    assert rebuilt.as_dict() == config.as_dict() and rebuilt.learning_rate == 5e-5  # as a checkpoint compares them


def _curve(points, episodes=100):
    """Evaluation rows as the learner writes them (curve.json), ``episodes`` episodes each."""
    return [{"env_steps": s, "train_s": s / 1000, "episodes": episodes, "successes": round(r * episodes),
             "success_rate": r, "ci95_low": max(0.0, r - 0.1), "ci95_high": min(1.0, r + 0.1),
             "outcomes": "1" * round(r * episodes) + "0" * (episodes - round(r * episodes)), "updates": s // 20}
            for s, r in points]


def test_candidate_line_counts_the_seeds_that_reached_and_takes_medians_over_them(search):
    config = search.seeded_config("recipe", 0, 300_000, 20_000, 50, {})
    curves = {0: _curve([(100_000, 0.3), (140_000, 0.55), (200_000, 0.92), (300_000, 0.95)]),
              1: _curve([(100_000, 0.6), (260_000, 0.9), (300_000, 0.97)]),
              2: _curve([(120_000, 0.51), (240_000, 0.85)])}  # stopped by the deadline before its budget
    lines = {seed: search.seed_line(config, curve) for seed, curve in curves.items()}
    assert [lines[s]["finished"] for s in (0, 1, 2)] == [True, True, False]
    assert lines[0]["to_90"] == {"env_steps": 200_000, "train_s": 200.0} and lines[2]["to_90"] is None
    assert lines[2]["last"]["env_steps"] == 240_000 and lines[1]["best_success_rate"] == 0.97
    line = search.candidate_line("recipe", lines)
    assert line["seeds"] == [0, 1, 2]
    assert line["to_90"] == {"reached": 2, "of": 3, "median_env_steps": 230_000,
                             "env_steps": {"0": 200_000, "1": 260_000, "2": None}}
    assert line["to_50"] == {"reached": 3, "of": 3, "median_env_steps": 120_000,
                             "env_steps": {"0": 140_000, "1": 100_000, "2": 120_000}}
    assert line["median_last_success"] == 0.95
    empty = search.seed_line(config, [])
    assert (empty["evaluations"], empty["finished"], empty["to_90"], empty["last"]) == (0, False, None, None)
    none = search.candidate_line("recipe", {0: empty})
    assert none["to_90"] == {"reached": 0, "of": 1, "median_env_steps": None, "env_steps": {"0": None}}
    assert none["median_last_success"] is None


def test_a_tiny_seeded_round_trains_its_run_and_writes_search_json(search, tmp_path):
    summary = search.run_seeded(["recipe"], [0], tmp_path, total_steps=1600, eval_every=800, eval_episodes=2,
                                parallel=1, deadline_min=None, overrides={"collector": "inline"})
    assert json.loads((tmp_path / "search.json").read_text()) == json.loads(json.dumps(summary))
    protocol = summary["protocol"]
    assert (protocol["seeds"], protocol["seed_set"], protocol["budget_steps"], protocol["collector"]) == \
        ([0], "selection", 1600, "inline")
    assert summary["provenance"]["seeds"] == [0] and summary["provenance"]["profile"] == "push-search-samples"
    run = summary["runs"]["recipe"]["0"]
    assert [r["env_steps"] for r in run["curve"]] == [800, 1600]
    assert run["finished"] and run["evaluations"] == 2
    assert summary["candidates"]["recipe"]["to_90"]["of"] == 1
    # the command trained exactly the config the search records it as
    state = json.loads((tmp_path / "recipe" / "seed0" / "checkpoint" / "state.json").read_text())
    wanted = search.seeded_config("recipe", 0, 1600, 800, 2, {"collector": "inline"})
    assert SacHerConfig.from_dict(state["config"]) == wanted
    assert (tmp_path / "logs" / "recipe-seed0.log").is_file()


def test_the_deadline_stops_the_runs_and_records_them_unfinished(search, tmp_path):
    start = time.monotonic()
    summary = search.run_seeded(["recipe"], [0], tmp_path, total_steps=400_000, eval_every=800, eval_episodes=2,
                                parallel=1, deadline_min=0.25, overrides={"collector": "inline"})
    elapsed = time.monotonic() - start
    assert 15 <= elapsed < 60, elapsed
    run = summary["runs"]["recipe"]["0"]
    assert run["finished"] is False
    assert summary["protocol"]["deadline_min"] == 0.25 and summary["protocol"]["budget_steps"] == 400_000
    assert json.loads((tmp_path / "search.json").read_text())["runs"]["recipe"]["0"]["finished"] is False
    if run["curve"]:  # what it reached before the deadline, short of the budget
        assert run["last"]["env_steps"] == run["curve"][-1]["env_steps"] < 400_000


# 6. the GPU probe's CPU path -------------------------------------------------------------------------------------

def test_reduce_overhead_is_measured_on_cuda_only(probe):
    modes = ["none", "default", "reduce-overhead"]
    assert list(probe.cases(["cpu"], modes, probe.TINY_SIZES)) == [("tiny", "cpu", "none"), ("tiny", "cpu", "default")]
    both = list(probe.cases(["cpu", "cuda"], modes, probe.SIZES))
    assert ("recipe", "cuda", "reduce-overhead") in both and ("large", "cuda", "reduce-overhead") in both
    assert not [c for c in both if c[1] == "cpu" and c[2] == "reduce-overhead"]
    assert len(both) == 2 * (2 + 3)


def test_the_tiny_probe_records_a_gradient_step_case_and_a_push_run(tmp_path):
    done = subprocess.run([sys.executable, "scripts/gpu_probe.py", "--tiny", "--out", str(tmp_path),
                           "--compile-modes", "none", "--push-s", "15", "--devices", "cpu"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((tmp_path / "gpu_probe.json").read_text())
    (case,) = record["gradient_steps"]
    assert (case["size"], case["device"], case["compile_mode"], case["net_arch"], case["batch_size"]) == \
        ("tiny", "cpu", "none", [16, 16], 32)
    assert "error" not in case and case["ms_per_step"] > 0 and case["steps_timed"] == 10
    (push,) = record["push"]
    assert "error" not in push, push.get("error")
    assert (push["device"], push["seed"], push["seed_set"]) == ("cpu", 1000, "reporting")
    assert push["summary"]["evaluations"] >= 1 and push["summary"]["wall_s"] >= 15
    assert [r["env_steps"] for r in push["curve"]][:1] == [200]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert record["provenance"]["profile"] == "gpu-probe"
    if head.returncode == 0:
        assert record["provenance"]["commit"] == head.stdout.strip()
    assert record["probe"]["tiny"] and record["probe"]["compile_modes"] == ["none"]


def test_provenance_outside_a_checkout_reads_the_commit_the_tree_was_copied_from(monkeypatch):
    from gcrl.core import provenance

    monkeypatch.setattr(provenance, "_git", lambda *args: None)
    monkeypatch.setenv("GCRL_SOURCE_COMMIT", " 8b6ceeb5 \n")
    assert provenance.git_state() == ("8b6ceeb5", None)
    monkeypatch.delenv("GCRL_SOURCE_COMMIT")
    assert provenance.git_state() == ("unknown", None)
