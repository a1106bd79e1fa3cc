"""The book's SAC+HER: equal to SB3's pieces where it claims to be, to Chapter 3's equations, resumable exactly.

The behaviour it shares with every learner of the course (damaged and foreign checkpoints refused, a finished
run read back, metrics.json, a killed run resumed) is tested for both learners at once in ``test_learners.py``.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from gcrl.core.errors import CourseError
from gcrl.rl.run_folder import RunResult
from gcrl.rl.sac_her import algorithm, replay
from gcrl.rl.sac_her.learner import SacHerConfig, TrainingState, train

TINY = dict(total_steps=300, learning_starts=100, batch_size=32, net_arch=(16, 16), eval_every=100,
            eval_episodes=2, checkpoint_every=100)


def tiny(env_id: str = "FetchReach-v4", **overrides) -> SacHerConfig:
    return SacHerConfig.from_recipe(env_id, **{**TINY, **overrides})


def test_recipe_is_the_zoo_entry():
    config = SacHerConfig.from_recipe("FetchReach-v4", total_steps=1000)
    assert (config.net_arch, config.batch_size, config.learning_rate, config.gamma, config.learning_starts,
            config.n_sampled_goal, config.goal_selection_strategy) == ((64, 64), 256, 1e-3, 0.95, 1000, 4, "future")
    push = SacHerConfig.from_recipe("FetchPush-v4", total_steps=1000)
    assert (push.net_arch, push.batch_size, push.tau) == ((256, 256, 256), 512, 0.05)


@pytest.mark.parametrize("change,message", [
    (dict(learning_starts=10), "learning_starts must be at least one episode"),
    (dict(checkpoint_every=120), "checkpoint_every must be a multiple of the episode length 50"),
    (dict(goal_selection_strategy="past"), "unknown goal selection strategy"),
    (dict(n_sampled_goal=-2), "n_sampled_goal"),
    (dict(env_id="FetchReach-v1"), "sac.yml has no entry for .FetchReach-v1."),
    (dict(gamma=1.5), "gamma must be in"),
    (dict(net_arch=()), "net_arch"),
    (dict(observation_noise=-0.1), "observation_noise"),
    (dict(physics_ranges=(("gravity", 0.0, 1.0),)), "physics_ranges"),
    (dict(physics_ranges=(("object_mass", 1.0, 0.5),)), "physics_ranges"),
])
def test_bad_config_is_a_clear_error(change, message):
    with pytest.raises(CourseError, match=message):
        SacHerConfig.from_recipe(**{"env_id": "FetchReach-v4", **TINY, **change})


def test_normalizer_matches_vecnormalize():
    """Same running statistics and the same clipped, normalised input as SB3's VecNormalize."""
    from stable_baselines3.common.running_mean_std import RunningMeanStd

    rng = np.random.default_rng(0)
    dims = {"achieved_goal": 3, "desired_goal": 3, "observation": 10}
    ours = replay.Normalizer(dims)
    theirs = {k: RunningMeanStd(shape=(d,)) for k, d in dims.items()}
    for _ in range(200):
        obs = {k: rng.normal(2.0, 3.0, d) for k, d in dims.items()}
        ours.update(obs)
        for k in dims:
            theirs[k].update(obs[k][None])
    probe = {k: rng.normal(2.0, 30.0, (5, d)) for k, d in dims.items()}
    expected = np.concatenate([np.clip((probe[k] - theirs[k].mean) / np.sqrt(theirs[k].var + 1e-8), -10, 10)
                               for k in replay.OBS_KEYS], axis=-1)
    np.testing.assert_allclose(ours(probe), expected.astype(np.float32), rtol=1e-6)
    assert np.abs(ours(probe)).max() == pytest.approx(10.0)  # the clip is reached and applied


def test_actor_log_prob_matches_sb3_squashed_gaussian():
    from stable_baselines3.common.distributions import SquashedDiagGaussianDistribution

    torch.manual_seed(0)
    actor = algorithm.Actor(16, 4, (32, 32))
    obs = torch.randn(64, 16)
    torch.manual_seed(1)
    action, log_prob = actor(obs)
    latent = actor.trunk(obs)
    mean, log_std = actor.mu(latent), actor.log_std(latent).clamp(-20, 2)
    distribution = SquashedDiagGaussianDistribution(4).proba_distribution(mean, log_std)
    torch.testing.assert_close(log_prob, distribution.log_prob(action), rtol=1e-4, atol=1e-4)
    deterministic, _ = actor(obs, deterministic=True)
    torch.testing.assert_close(deterministic, torch.tanh(mean))


def test_twin_critic_is_two_q_networks():
    """The batched critic computes exactly what two separate MLPs with its weights compute."""
    torch.manual_seed(0)
    critic = algorithm.TwinCritic(20, (32, 32))
    obs, action = torch.randn(8, 16), torch.randn(8, 4)
    q = critic(obs, action)
    x = torch.cat([obs, action], -1)
    for member in range(2):
        h = x
        for i, (w, b) in enumerate(zip(critic.weights, critic.biases)):
            h = h @ w[member] + b[member]
            h = torch.relu(h) if i < len(critic.weights) - 1 else h
        torch.testing.assert_close(q[member], h.squeeze(-1))
    assert not torch.equal(q[0], q[1])  # independently initialised


def _batch(agent, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    obs, next_obs = torch.randn(size, 16, generator=g), torch.randn(size, 16, generator=g)
    action = torch.rand(size, 4, generator=g) * 2 - 1
    reward = -(torch.rand(size, generator=g) > 0.3).float()
    return obs, action, reward, next_obs


def test_update_moves_the_temperature_as_its_gradient_says():
    torch.manual_seed(0)
    agent = algorithm.Agent(16, 4, (16, 16), 1e-3)
    # a fresh Gaussian policy has entropy well above the target -4, so alpha must fall
    before = agent.log_alpha.item()
    algorithm.update(agent, *_batch(agent), gamma=0.95, tau=0.005)
    assert agent.log_alpha.item() < before
    # with a target entropy above any reachable entropy, alpha must rise
    agent.target_entropy = 50.0
    before = agent.log_alpha.item()
    algorithm.update(agent, *_batch(agent, seed=1), gamma=0.95, tau=0.005)
    assert agent.log_alpha.item() > before


def test_update_fits_the_critic_and_tracks_the_target():
    torch.manual_seed(0)
    agent = algorithm.Agent(16, 4, (16, 16), 1e-3)
    batch = _batch(agent)
    target_before = [p.clone() for p in agent.critic_target.parameters()]

    def td_error() -> float:
        obs, action, reward, next_obs = batch
        with torch.no_grad():
            return float(((agent.critic(obs, action) - reward) ** 2).mean())

    first = td_error()
    for _ in range(200):
        algorithm.update(agent, *batch, gamma=0.0, tau=0.005)  # gamma 0: the target is the reward itself
    assert td_error() < 0.1 * first
    moved = [float((p - q).abs().max()) for p, q in zip(agent.critic_target.parameters(), target_before)]
    assert all(m > 0 for m in moved)
    # Polyak averaging: after n steps the target has moved only part of the way to the online critic
    gap = [float((t - o).abs().max()) for t, o in zip(agent.critic_target.parameters(), agent.critic.parameters())]
    assert all(g > 0 for g in gap)


class _GradientOnly:
    """Stands in for the critic's optimiser: keeps the gradient ``update`` computed, changes nothing."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        pass

    def step(self) -> None:
        pass


def test_critic_regresses_on_the_soft_bellman_backup_of_chapter_3():
    """y = r + gamma (min_i Qbar_i(s', a') - alpha log pi(a'|s')), a' ~ pi(.|s') fresh, computed by hand.

    The hand computation follows Chapter 3's equations term by term (the squashed
    Gaussian's density by the change of variables, the smaller target critic, no
    termination); the critic's gradient after ``update`` must be the gradient of
    (1/2) sum_i mean_batch (Q_i(s, a) - y)^2 for that y.
    """
    torch.manual_seed(0)
    agent = algorithm.Agent(16, 4, (16, 16), 1e-3)
    with torch.no_grad():  # targets different from the online critics, and a temperature other than 1
        for p in agent.critic_target.parameters():
            p.add_(0.1 * torch.randn_like(p))
        agent.log_alpha.fill_(-1.3)
    obs, action, reward, next_obs = _batch(agent)
    gamma, alpha = 0.9, float(np.exp(-1.3))

    # the noise update() draws: first for a ~ pi(.|s) (the actor's loss), then for a' ~ pi(.|s')
    torch.manual_seed(123)
    _ = torch.randn(len(obs), 4)
    noise = torch.randn(len(obs), 4)
    with torch.no_grad():
        latent = agent.actor.trunk(next_obs)
        mean, log_std = agent.actor.mu(latent), agent.actor.log_std(latent).clamp(-20, 2)
        u = mean + log_std.exp() * noise
        next_action = torch.tanh(u)
        gaussian = torch.distributions.Normal(mean, log_std.exp()).log_prob(u).sum(-1)
        log_pi = gaussian - torch.log(1 - torch.tanh(u) ** 2).sum(-1)

        def q_target(i: int) -> torch.Tensor:
            x = torch.cat([next_obs, next_action], -1)
            layers = list(zip(agent.critic_target.weights, agent.critic_target.biases))
            for depth, (w, b) in enumerate(layers):
                x = x @ w[i] + b[i][0]
                x = torch.relu(x) if depth < len(layers) - 1 else x
            return x[:, 0]

        y = reward + gamma * (torch.minimum(q_target(0), q_target(1)) - alpha * log_pi)

    expected_loss = 0.5 * sum(((agent.critic(obs, action)[i] - y) ** 2).mean() for i in range(2))
    expected = torch.autograd.grad(expected_loss, list(agent.critic.parameters()))
    agent.critic_optimizer = _GradientOnly()
    torch.manual_seed(123)
    algorithm.update(agent, obs, action, reward, next_obs, gamma=gamma, tau=0.005)
    for got, want in zip(agent.critic.parameters(), expected):
        torch.testing.assert_close(got.grad, want, rtol=1e-3, atol=1e-4)  # SB3 adds 1e-6 inside the log


def test_replay_samples_complete_episodes_and_relabels_k_over_k_plus_1():
    from gcrl.rl.envs import make_fetch_env

    env = make_fetch_env("FetchReach-v4")
    dims = {k: env.observation_space[k].shape[0] for k in replay.OBS_KEYS}
    buffer = replay.EpisodeReplay(3, 50, dims, 4)
    obs, _ = env.reset(seed=0)
    env.action_space.seed(0)
    buffer.start(obs)
    rewards = []
    for _ in range(50):
        action = env.action_space.sample()
        obs, reward, *_ = env.step(action)
        buffer.add(action, obs)
        rewards.append(reward)
    assert buffer.episodes == 1
    compute = env.unwrapped.compute_reward
    real, _, real_next, real_rewards = buffer.sample(400, 0, "future", np.random.default_rng(0), compute)
    assert np.all(real["desired_goal"] == buffer.desired_goal[0])
    assert set(real_rewards.tolist()) <= set(rewards)
    o, _, n, r = buffer.sample(500, 4, "future", np.random.default_rng(0), compute)
    relabelled = ~np.all(o["desired_goal"] == buffer.desired_goal[0], axis=1)
    assert relabelled[:400].mean() > 0.95 and not relabelled[400:].any()
    assert np.array_equal(r, compute(n["achieved_goal"], o["desired_goal"], None).astype(np.float32))
    assert (r[:400] == 0).mean() > (r[400:] == 0).mean()
    env.close()


@pytest.mark.parametrize("randomisation", [{}, {"observation_noise": 0.01,
                                                 "physics_ranges": (("joint_damping", 0.0, 3.0),)}],
                         ids=["nominal", "domain-randomised"])
def test_resumed_run_equals_uninterrupted_run(tmp_path, monkeypatch, randomisation):
    config = tiny(**randomisation)
    straight = train(config, tmp_path / "straight")

    calls = {"n": 0}
    original = TrainingState.gradient_step

    def interrupted(self):
        calls["n"] += 1
        if self.steps == 170:
            raise KeyboardInterrupt  # between the checkpoints at 100 and 200
        original(self)

    monkeypatch.setattr(TrainingState, "gradient_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed")
    monkeypatch.setattr(TrainingState, "gradient_step", original)
    resumed = train(config, tmp_path / "resumed")
    assert resumed.metrics["resumed_from"] == 100
    keys = ("env_steps", "successes", "mean_final_distance", "ent_coef", "entropy")
    assert [[row[k] for k in keys] for row in resumed.curve] == [[row[k] for k in keys] for row in straight.curve]


def test_finished_run_reloads_to_identical_actions(tmp_path):
    config = tiny(total_steps=150)
    result = train(config, tmp_path / "run")
    live = result.policy()
    reloaded = RunResult(result.run_dir, config, result.metrics, result.curve).policy()
    from gcrl.rl.envs import make_fetch_env

    env = make_fetch_env("FetchReach-v4")
    obs, _ = env.reset(seed=5)
    for _ in range(20):
        a, b = live(obs), reloaded(obs)
        assert np.array_equal(a, b)
        obs, *_ = env.step(a)
    env.close()


def test_config_round_trips_through_its_record():
    config = tiny("FetchPush-v4", observation_noise=0.02,
                  physics_ranges=(("contact_friction", -0.5, 0.5), ("object_mass", 0.0, 1.0)))
    assert SacHerConfig.from_dict(json.loads(json.dumps(config.as_dict()))) == config


def test_domain_randomised_training_perturbs_the_env_it_learns_in_and_not_the_evaluation():
    config = tiny("FetchPush-v4", observation_noise=0.01, physics_ranges=(("object_mass", 1.0, 1.0),))
    state = TrainingState(config)
    mass = state.env.unwrapped.model.body_mass[-1]
    state.begin_episode()
    for _ in range(60):
        state.env_step()  # the second episode starts at step 51: the mass doubles at every reset
    nominal = TrainingState(dataclasses.replace(config, observation_noise=0.0, physics_ranges=()))
    assert state.env.unwrapped.model.body_mass[-1] == pytest.approx(2 * nominal.env.unwrapped.model.body_mass[-1])
    assert mass == pytest.approx(2 * nominal.env.unwrapped.model.body_mass[-1])
    stored = state.buffer.observation[0, 0]
    clean = nominal.observation["observation"]
    assert not np.array_equal(stored, clean) and np.abs(stored - clean).max() < 0.1  # the learner saw noise
    np.testing.assert_array_equal(state.buffer.desired_goal[0], nominal.observation["desired_goal"])
