"""The book's SAC+HER: equal to SB3's pieces where it claims to be, to Chapter 3's equations, resumable exactly.

The behaviour it shares with every learner of the course (damaged and foreign checkpoints refused, a finished
run read back, metrics.json, a killed run resumed) is tested for both learners at once in ``test_learners.py``.
"""

from __future__ import annotations

import copy
import json
import os
import shutil

import numpy as np
import pytest
import torch

from gcrl.core.errors import CourseError
from gcrl.rl.sac_her import algorithm, replay
from gcrl.rl.sac_her.config import SacHerConfig
from gcrl.rl.envs import OBS_KEYS
from gcrl.rl.learners import read_back, train
from gcrl.rl.sac_her.learner import TrainingState, compile_networks

TINY = dict(total_steps=300, learning_starts=100, batch_size=32, net_arch=(16, 16), eval_every=100,
            eval_episodes=2, checkpoint_every=100, n_envs=1, episodes_per_cycle=1, updates_per_cycle=50,
            collector="inline")


def tiny(env_id: str = "FetchReach-v4", **overrides) -> SacHerConfig:
    return SacHerConfig.from_recipe(env_id, **{**TINY, **overrides})


def test_reach_recipe_is_the_zoo_entry_with_one_update_per_env_step():
    """sac_her.yml's Reach recipe is sac.yml's (the library peer's), and its schedule is one update per step."""
    from gcrl.rl.recipes import load_hyperparams

    config = SacHerConfig.from_recipe("FetchReach-v4", total_steps=1000)
    zoo = load_hyperparams("sac", "FetchReach-v4")
    assert (config.net_arch, config.batch_size, config.learning_rate, config.gamma, config.learning_starts,
            config.n_sampled_goal, config.goal_selection_strategy) == (
        tuple(zoo["policy_kwargs"]["net_arch"]), zoo["batch_size"], zoo["learning_rate"], zoo["gamma"],
        zoo["learning_starts"], zoo["her"]["n_sampled_goal"], zoo["her"]["goal_selection_strategy"])
    assert config.tau == 0.005 and config.obs_clip == 10.0 and not config.target_clip  # SB3's defaults
    assert config.updates_per_cycle == config.cycle_steps == 50


def test_push_recipe_states_its_schedule():
    push = SacHerConfig.from_recipe("FetchPush-v4", total_steps=10_000)
    assert push.cycle_steps == push.n_envs * push.episodes_per_cycle * 50
    assert push.target_clip and push.collector == "process"


@pytest.mark.parametrize("change,message", [
    (dict(learning_starts=10), "learning_starts must be at least one episode \\(50 steps\\)"),
    (dict(checkpoint_every=120), "checkpoint_every must be a multiple of a cycle's 50 env steps"),
    (dict(eval_every=300, n_envs=4), "eval_every must be a multiple of a cycle's 200 env steps"),
    (dict(goal_selection_strategy="past"), "unknown goal selection strategy"),
    (dict(n_sampled_goal=-2), "n_sampled_goal"),
    (dict(env_id="FetchReach-v1"), "sac_her.yml has no entry for .FetchReach-v1."),
    (dict(gamma=1.5), "gamma must be in"),
    (dict(net_arch=()), "net_arch"),
    (dict(n_envs=0), "n_envs must be a positive integer"),
    (dict(updates_per_cycle=1.5), "updates_per_cycle must be a positive integer"),
    (dict(torch_threads=0), "torch_threads must be a positive integer"),
    (dict(obs_clip=0), "obs_clip must be a number > 0"),
    (dict(target_clip="yes"), "target_clip must be true or false"),
    (dict(device="tpu"), "unknown device 'tpu'; choose one of auto, cpu, cuda"),
    (dict(collector="thread"), "unknown collector 'thread'; choose one of process, inline"),
    (dict(compile_mode="max"), "unknown compile_mode 'max'; choose one of none, default, reduce-overhead"),
    (dict(observation_noise=-0.1), "observation_noise"),
    (dict(physics_ranges=(("gravity", 0.0, 1.0),)), "physics_ranges"),
    (dict(physics_ranges=(("object_mass", 1.0, 0.5),)), "physics_ranges"),
])
def test_bad_config_is_a_clear_error(change, message):
    with pytest.raises(CourseError, match=message):
        SacHerConfig.from_recipe(**{"env_id": "FetchReach-v4", **TINY, **change})


def test_an_unknown_recipe_key_is_a_clear_error(tmp_path, monkeypatch):
    from gcrl.rl import recipes

    (tmp_path / "sac_her.yml").write_text("FetchReach-v4: {net_arch: [8], batch_sise: 4}\n")
    monkeypatch.setattr(recipes, "HYPERPARAMS_DIR", tmp_path)
    with pytest.raises(CourseError, match="sac_her.yml: FetchReach-v4: unknown key 'batch_sise'"):
        SacHerConfig.from_recipe("FetchReach-v4", total_steps=100)


def test_cuda_requested_without_cuda_is_one_clear_error():
    from gcrl.rl.sac_her.config import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    if torch.cuda.is_available():
        assert resolve_device("auto") == resolve_device("cuda") == torch.device("cuda")
    else:
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(CourseError, match="device 'cuda' was requested, but torch .* finds no CUDA device; "
                                              "use device 'cpu' or 'auto'"):
            resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; this machine has none")
def test_a_cuda_run_trains_and_its_policy_reloads_on_the_cpu(tmp_path):
    config = tiny(device="cuda")
    result = train(config, tmp_path)
    assert result.metrics["env_steps"] == 300
    from gcrl.rl.sac_her.learner import load_agent

    agent, _ = load_agent(tmp_path, config)
    assert next(agent.parameters()).device.type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_graphs_where_auto_finds_no_cuda_are_one_clear_error():
    from gcrl.rl.sac_her.learner import compile_networks

    agent = algorithm.Agent(16, 4, (16, 16), 1e-3)
    with pytest.raises(CourseError, match="needs a CUDA device; this run's device is cpu"):
        compile_networks(agent, "reduce-overhead", torch.device("cpu"))


@pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None,
                    reason="torch.compile's CPU backend needs a C++ compiler; this machine has none")
def test_the_compiled_update_computes_the_eager_one(minibatch, monkeypatch):
    """compile_mode 'default' changes how a step runs, not what it computes: three steps from one state agree.

    Inductor draws its random numbers with its own generator unless told to fall back to torch's, so the
    comparison makes it fall back; kernels may still sum in another order, hence a tolerance, not equality.
    """
    import torch._inductor.config as inductor

    from gcrl.rl.sac_her.learner import compile_networks

    monkeypatch.setattr(inductor, "fallback_random", True)
    torch.manual_seed(0)
    eager = algorithm.Agent(16, 4, (16, 16), 1e-3)
    compiled, start = copy.deepcopy(eager), copy.deepcopy(eager.state_dict())
    compile_networks(compiled, "default", torch.device("cpu"))
    for seed in range(3):
        batch = minibatch(seed=seed)
        torch.manual_seed(100 + seed)
        algorithm.update(eager, *batch, gamma=0.98, tau=0.05, target_bounds=(-50.0, 0.0))
        torch.manual_seed(100 + seed)
        algorithm.update(compiled, *batch, gamma=0.98, tau=0.05, target_bounds=(-50.0, 0.0))
    assert max(float((eager.state_dict()[k] - v).abs().max()) for k, v in start.items()) > 1e-4  # they did something
    assert list(compiled.state_dict()) == list(start)  # a checkpoint of either loads into the other
    for a, b in zip(eager.state_dict().values(), compiled.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; this machine has none")
@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_a_cuda_run_with_a_compiled_update_trains_and_its_policy_reloads(tmp_path, mode):
    from gcrl.rl.sac_her.learner import load_agent

    config = tiny(device="cuda", compile_mode=mode)
    result = train(config, tmp_path)
    assert result.metrics["env_steps"] == 300 and result.metrics["config"]["compile_mode"] == mode
    agent, _ = load_agent(tmp_path, config)
    assert all(torch.isfinite(p).all() for p in agent.parameters())


def test_normalizer_matches_vecnormalize():
    """Same running statistics and the same clipped, normalised input as SB3's VecNormalize."""
    from stable_baselines3.common.running_mean_std import RunningMeanStd

    rng = np.random.default_rng(0)
    dims = {"achieved_goal": 3, "desired_goal": 3, "observation": 10}
    ours = replay.Normalizer(dims, clip=10.0)
    theirs = {k: RunningMeanStd(shape=(d,)) for k, d in dims.items()}
    for size in (1, 50, 7, 200):  # single observations and whole cycles, as the learner feeds it
        obs = {k: rng.normal(2.0, 3.0, (size, d)) for k, d in dims.items()}
        ours.update(obs)
        for k in dims:
            theirs[k].update(obs[k])
    for k in dims:
        np.testing.assert_allclose(ours.mean[k], theirs[k].mean, rtol=1e-12)
        np.testing.assert_allclose(ours.var[k], theirs[k].var, rtol=1e-12)
    probe = {k: rng.normal(2.0, 30.0, (5, d)) for k, d in dims.items()}
    expected = np.concatenate([np.clip((probe[k] - theirs[k].mean) / np.sqrt(theirs[k].var + 1e-8), -10, 10)
                               for k in OBS_KEYS], axis=-1)
    np.testing.assert_allclose(ours(probe), expected.astype(np.float32), rtol=1e-6)
    assert np.abs(ours(probe)).max() == pytest.approx(10.0)  # the clip is reached and applied
    assert np.abs(replay.Normalizer(dims, clip=5.0)(probe)).max() == pytest.approx(5.0)


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


def test_update_moves_the_temperature_as_its_gradient_says(minibatch):
    torch.manual_seed(0)
    agent = algorithm.Agent(16, 4, (16, 16), 1e-3)
    # a fresh Gaussian policy has entropy well above the target -4, so alpha must fall
    before = agent.log_alpha.item()
    algorithm.update(agent, *minibatch(), gamma=0.95, tau=0.005)
    assert agent.log_alpha.item() < before
    # with a target entropy above any reachable entropy, alpha must rise
    agent.target_entropy = 50.0
    before = agent.log_alpha.item()
    algorithm.update(agent, *minibatch(seed=1), gamma=0.95, tau=0.005)
    assert agent.log_alpha.item() > before


def test_update_fits_the_critic_and_tracks_the_target(minibatch):
    torch.manual_seed(0)
    agent = algorithm.Agent(16, 4, (16, 16), 1e-3)
    batch = minibatch()
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
    gap = [float((t - o).detach().abs().max()) for t, o in zip(agent.critic_target.parameters(), agent.critic.parameters())]
    assert all(g > 0 for g in gap)


class _GradientOnly:
    """Stands in for the critic's optimiser: keeps the gradient ``update`` computed, changes nothing."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        pass

    def step(self) -> None:
        pass


def test_critic_regresses_on_the_soft_bellman_backup_of_chapter_3(minibatch):
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
    obs, action, reward, next_obs = minibatch()
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


def _random_episode(env, seed: int) -> tuple[replay.Episode, list[float]]:
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    trace, actions, rewards = [obs], [], []
    for _ in range(50):
        action = env.action_space.sample()
        obs, reward, *_ = env.step(action)
        trace.append(obs)
        actions.append(action)
        rewards.append(reward)
    return replay.Episode(np.stack([o["observation"] for o in trace]), np.stack([o["achieved_goal"] for o in trace]),
                          trace[0]["desired_goal"], np.stack(actions).astype(np.float32)), rewards


def test_replay_samples_complete_episodes_and_relabels_k_over_k_plus_1():
    from gcrl.rl.envs import make_fetch_env

    env = make_fetch_env("FetchReach-v4")
    dims = {k: env.observation_space[k].shape[0] for k in OBS_KEYS}
    buffer = replay.EpisodeReplay(3, 50, dims, 4)
    episode, rewards = _random_episode(env, 0)
    buffer.add(episode)
    assert buffer.episodes == 1 and buffer.steps == 50
    compute = env.unwrapped.compute_reward
    real, _, real_next, real_rewards = buffer.sample(400, 0, "future", np.random.default_rng(0), compute)
    assert np.all(real["desired_goal"] == buffer.desired_goal[0])
    assert set(real_rewards.tolist()) <= set(rewards)
    o, _, n, r = buffer.sample(500, 4, "future", np.random.default_rng(0), compute)
    relabelled = ~np.all(o["desired_goal"] == buffer.desired_goal[0], axis=1)
    assert relabelled[:400].mean() > 0.95 and not relabelled[400:].any()
    assert np.array_equal(r, compute(n["achieved_goal"], o["desired_goal"], None).astype(np.float32))
    assert (r[:400] == 0).mean() > (r[400:] == 0).mean()
    buffer.add(_random_episode(env, 1)[0])
    buffer.add(_random_episode(env, 2)[0])
    with pytest.raises(CourseError, match="the replay buffer holds 3 episodes and is full"):
        buffer.add(episode)
    env.close()


def test_target_clipping_bounds_the_critics_regression_target(minibatch):
    """With target_bounds (-1/(1-gamma), 0) the critic regresses on clamp(y), by the same hand computation."""
    torch.manual_seed(0)
    agent = algorithm.Agent(16, 4, (16, 16), 1e-3)
    with torch.no_grad():
        for p in agent.critic_target.parameters():
            p.mul_(40.0)  # target values far outside [-1/(1-gamma), 0]
    obs, action, reward, next_obs = minibatch()
    gamma, bounds = 0.98, (-50.0, 0.0)
    torch.manual_seed(7)
    _ = torch.randn(len(obs), 4)
    with torch.no_grad():
        next_action, next_log_pi = agent.actor(next_obs)
        alpha = agent.log_alpha.exp()
        raw = reward + gamma * (torch.minimum(*agent.critic_target(next_obs, next_action)) - alpha * next_log_pi)
    assert raw.max() > 0 or raw.min() < -50, "the test needs targets outside the bounds"
    expected_loss = 0.5 * sum(((agent.critic(obs, action)[i] - raw.clamp(*bounds)) ** 2).mean() for i in range(2))
    expected = torch.autograd.grad(expected_loss, list(agent.critic.parameters()))
    agent.critic_optimizer = _GradientOnly()
    torch.manual_seed(7)
    algorithm.update(agent, obs, action, reward, next_obs, gamma=gamma, tau=0.005, target_bounds=bounds)
    for got, want in zip(agent.critic.parameters(), expected):
        torch.testing.assert_close(got.grad, want, rtol=1e-4, atol=1e-5)


def test_cuda_graphs_need_a_cuda_device():
    """compile_mode 'reduce-overhead' is refused where the run's device resolves to the CPU (device 'cpu', or
    'auto' on a machine without CUDA), before anything is compiled."""
    from gcrl.rl.sac_her.learner import make_agent

    with pytest.raises(CourseError, match="compile_mode 'reduce-overhead' replays the networks as CUDA graphs and "
                                          "needs a CUDA device; this run's device is cpu"):
        compile_networks(make_agent(tiny()), "reduce-overhead", torch.device("cpu"))


@pytest.mark.parametrize("randomisation", [{}, {"observation_noise": 0.01,
                                                 "physics_ranges": (("joint_damping", 0.0, 3.0),)},
                                            {"critic_layer_norm": True, "actual_goal_fraction": 0.5, "action_l2": 1.0}],
                         ids=["nominal", "domain-randomised", "push-search-options"])
def test_resumed_run_equals_uninterrupted_run(tmp_path, monkeypatch, randomisation):
    config = tiny(**randomisation)
    straight = train(config, tmp_path / "straight")

    calls = {"n": 0}
    original = TrainingState.gradient_step

    def interrupted(self):
        calls["n"] += 1
        if self.steps == 150:
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
    reloaded = read_back(result.run_dir, config, result.metrics, result.curve).policy()
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


def test_domain_randomised_collection_perturbs_the_env_it_learns_in_and_not_the_evaluation():
    from gcrl.rl.sac_her.collector import Collector, Snapshot

    settings = dict(env_id="FetchPush-v4", n_envs=1, episodes_per_cycle=1, seed=0, net_arch=(16,), obs_clip=5.0)
    randomised = Collector(**settings, observation_noise=0.01, physics_ranges=(("object_mass", 1.0, 1.0),))
    nominal = Collector(**settings)
    random = Snapshot(actor=None, normalizer=nominal.normalizer.state_dict(), random=True)
    (noisy,), (clean,) = randomised.collect(random), nominal.collect(random)
    mass = lambda collector: collector.envs[0].unwrapped.model.body_mass[-1]  # noqa: E731
    assert mass(randomised) == pytest.approx(2 * mass(nominal))  # the mass doubles at every reset
    assert not np.array_equal(noisy.observation[0], clean.observation[0])
    assert np.abs(noisy.observation[0] - clean.observation[0]).max() < 0.1  # the learner saw noise
    np.testing.assert_array_equal(noisy.desired_goal, clean.desired_goal)
    randomised.close()
    nominal.close()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_the_cli_refuses_a_missing_device_and_a_malformed_setting_in_one_line(cli, tmp_path):
    base = ("train", "--algo", "sac+her", "--env", "FetchReach-v4", "--steps", "100", "--run-dir", str(tmp_path))
    for extra, message in ((("--device", "cuda"), "device 'cuda' was requested, but torch"),
                           (("--device", "tpu"), "unknown device 'tpu'"),
                           (("--set", "n_envs"), "--set takes KEY=VALUE"),
                           (("--set", "colour=red"), "unknown setting 'colour' for sac+her; known:")):
        done = cli(*base, *extra)
        assert done.returncode != 0 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
