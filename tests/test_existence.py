"""Chapter 7: the scripted experts, behaviour cloning, DAgger and the Newcombe interval."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from gcrl.chapters import ch01_anatomy as ch01
from gcrl.chapters import ch07_existence as ch07
from gcrl.core.errors import CourseError
from gcrl.course.deliverables import declarations
from gcrl.course.profiles import budget
from gcrl.rl import experts, her, imitation
from gcrl.rl.envs import make_fetch_env
from gcrl.rl.evaluate import evaluation_seeds, newcombe_interval
from gcrl.rl.sac_her.algorithm import Actor
from gcrl.rl.sac_her.replay import Episode

TINY = imitation.CloneConfig(net_arch=(32, 32), epochs=3, batch_size=64)


@pytest.mark.parametrize("env_id, at_least", [("FetchReach-v4", 10), ("FetchPush-v4", 9),
                                              ("FetchPickAndPlace-v4", 9)])
def test_the_experts_reach_their_declared_success_on_held_out_seeds(env_id, at_least):
    rollouts = experts.expert_rollouts(env_id, evaluation_seeds(10))
    assert sum(r.success for r in rollouts) >= at_least
    assert all((r.failure is None) == r.success for r in rollouts)


def test_the_slide_expert_succeeds_on_some_episodes_and_names_why_the_others_fail():
    rollouts = experts.expert_rollouts("FetchSlide-v4", evaluation_seeds(10))
    assert 3 <= sum(r.success for r in rollouts) <= 9
    assert {r.failure for r in rollouts if not r.success} <= set(experts.FAILURES["FetchSlide-v4"])


def test_an_expert_is_deterministic_given_the_seed():
    for env_id in ("FetchPush-v4", "FetchSlide-v4"):
        a, b = (experts.expert_rollouts(env_id, [5, 6]) for _ in range(2))
        for x, y in zip(a, b):
            assert np.array_equal(x.episode.action, y.episode.action)
            assert np.array_equal(x.episode.observation, y.episode.observation)


def test_the_experts_read_the_observation_where_chapter_one_says_its_parts_are():
    env = make_fetch_env("FetchPickAndPlace-v4")
    groups = [label["group"] for label in ch01.observation_labels(env)]
    env.close()
    for part, group in [(experts.GRIP, "grip_pos"), (experts.OBJECT, "object_pos"), (experts.FINGERS, "gripper_state"),
                        (experts.OBJECT_VELP, "object_velp"), (experts.GRIP_VELP, "grip_velp")]:
        assert set(groups[part]) == {group}


def test_bad_input_is_one_clear_error():
    with pytest.raises(CourseError, match="no scripted expert for 'FetchPushDense-v4'"):
        experts.make_expert("FetchPushDense-v4")
    with pytest.raises(CourseError, match="at least one seed"):
        experts.expert_rollouts("FetchPush-v4", [])
    with pytest.raises(CourseError, match="no demonstrations"):
        imitation.Labelled.from_episodes([])
    with pytest.raises(CourseError, match="non-empty tuple of positive widths"):
        imitation.CloneConfig(net_arch=())
    with pytest.raises(CourseError, match="epochs must be a positive"):
        imitation.CloneConfig(epochs=0)
    smoke = budget("ch07", "smoke")
    with pytest.raises(CourseError, match="width grid is empty"):
        ch07.plan(dataclasses.replace(smoke, widths=()), 0, None)
    with pytest.raises(CourseError, match="demonstrations must list positive"):
        ch07.plan(dataclasses.replace(smoke, demonstrations=(0, 4)), 0, None)
    with pytest.raises(CourseError, match="an expert that can label any state; FetchSlide-v4's expert acts on internal state"):
        imitation.dagger("FetchSlide-v4", 2, 1, TINY, seed_base=0)
    with pytest.raises(CourseError, match="rounds >= 1"):
        imitation.dagger("FetchPush-v4", 0, 1, TINY, seed_base=0)


def planted(env_id: str, object_path: np.ndarray, fingers: float = 0.0) -> Episode:
    """An episode whose object follows ``object_path`` (T + 1 positions), the grip resting beside it."""
    steps = len(object_path)
    observation = np.zeros((steps, 25))
    observation[:, experts.OBJECT] = object_path
    observation[:, experts.GRIP] = object_path + np.array([0.1, 0.0, 0.0])
    observation[:, experts.FINGERS] = fingers / 2
    return Episode(observation, object_path.copy(), np.array([1.4, 0.9, 0.42]), np.zeros((steps - 1, 4)))


def test_failures_are_counted_under_the_cause_the_trajectory_shows():
    start = np.array([1.3, 0.7, 0.42])
    still = np.repeat(start[None], 51, axis=0)
    fallen = still.copy()
    fallen[30:, 2] = 0.02
    moved = still + np.linspace(0, 1, 51)[:, None] * np.array([0.05, 0.0, 0.0])
    assert experts.failure_cause("FetchPush-v4", planted("FetchPush-v4", fallen)) == "block off the table"
    assert experts.failure_cause("FetchPush-v4", planted("FetchPush-v4", still)) == "block never moved"
    assert experts.failure_cause("FetchPush-v4", planted("FetchPush-v4", moved)) == "pushed off the line or short"
    assert experts.failure_cause("FetchPickAndPlace-v4", planted("FetchPickAndPlace-v4", moved)) == "grasp missed"
    short = still + np.linspace(0, 1, 51)[:, None] * np.array([0.05, 0.1, 0.0])  # towards the goal, not there
    assert experts.failure_cause("FetchSlide-v4", planted("FetchSlide-v4", short)) == "stopped short"
    past = still + np.linspace(0, 1, 51)[:, None] * np.array([0.2, 0.4, 0.0])
    assert experts.failure_cause("FetchSlide-v4", planted("FetchSlide-v4", past)) == "slid past"


def test_the_bc_loss_is_the_squared_error_of_the_deterministic_action():
    torch.manual_seed(0)
    actor = Actor(6, 4, (8,))
    inputs = torch.randn(5, 6)
    expert = torch.rand(5, 4) * 2 - 1
    by_hand = ((torch.tanh(actor.mu(actor.trunk(inputs))) - expert) ** 2).sum(-1).mean()
    assert torch.allclose(imitation.bc_loss(actor, inputs, expert), by_hand)
    own, _ = actor(inputs, deterministic=True)
    assert float(imitation.bc_loss(actor, inputs, own.detach()).detach()) == 0.0


def test_cloning_reproduces_from_its_seed_fits_its_data_and_reloads_to_the_same_actions(tmp_path):
    demos = [r.episode for r in experts.expert_rollouts("FetchReach-v4", [0, 1])]
    config = dataclasses.replace(TINY, epochs=150)
    a, losses = imitation.clone(demos, config)
    b, _ = imitation.clone(demos, config)
    c, _ = imitation.clone(demos, dataclasses.replace(config, seed=1))
    params = [torch.cat([p.flatten() for p in x.actor.parameters()]) for x in (a, b, c)]
    assert torch.equal(params[0], params[1]) and not torch.equal(params[0], params[2])
    assert losses[-1] < 0.05 * losses[0]  # two episodes are memorised
    data = imitation.Labelled.from_episodes(demos)
    assert imitation.training_loss(a, data) == pytest.approx(losses[-1], rel=0.5)
    a.save(tmp_path / "policy.pt")
    again = imitation.ClonedPolicy.load(tmp_path / "policy.pt")
    for t in range(0, 50, 7):
        observation = {k: v[t] for k, v in demos[0].inputs(slice(0, 50)).items()}
        assert np.array_equal(a(observation), again(observation))


def test_dagger_labels_the_learners_own_states_with_the_expert_and_aggregates_them():
    seen = []
    policy, rounds = imitation.dagger("FetchPush-v4", 2, 2, TINY, seed_base=7,
                                      on_round=lambda p, record: seen.append(record))
    assert [r.acting for r in rounds] == ["expert", "learner"] and seen == rounds
    assert [r.labels for r in rounds] == [100, 200]
    # the labels of a learner's episode are the expert's actions at the states the learner visited
    env = make_fetch_env("FetchPush-v4")
    expert = experts.make_expert("FetchPush-v4")
    rollout, labels = experts.rollout(env, policy, 9, expert=expert)
    env.close()
    states = rollout.episode.inputs(slice(0, 50))
    relabelled = np.array([expert({k: v[t] for k, v in states.items()}) for t in range(50)], dtype=np.float32)
    assert np.array_equal(labels, relabelled) and not np.array_equal(labels, rollout.episode.action)


def test_demonstrations_relabel_with_chapter_fours_functions():
    env = make_fetch_env("FetchPush-v4")
    demo = experts.expert_rollouts("FetchPush-v4", [0])[0].episode
    out = her.relabel_episode(demo.achieved_goal[1:], "future", 4, np.random.default_rng(0), env.unwrapped.compute_reward)
    env.close()
    assert len(out.t) == 4 * 50 and set(np.unique(out.rewards)) <= {-1.0, 0.0}
    assert (out.rewards[out.goal_index == out.t] == 0.0).all()  # a goal achieved at that very step is a success


def test_the_newcombe_interval_reproduces_newcombes_published_examples():
    # Newcombe (1998), Table II, method 10: 56/70 - 48/80, 9/10 - 3/10, 5/56 - 0/29
    for (a, n, b, m), expected in [((56, 70, 48, 80), (0.0524, 0.3339)), ((9, 10, 3, 10), (0.1705, 0.8090)),
                                    ((5, 56, 0, 29), (-0.0381, 0.1926))]:
        assert newcombe_interval(a, n, b, m) == pytest.approx(expected, abs=1e-4)
    with pytest.raises(ValueError):
        newcombe_interval(0, 0, 1, 2)


def test_the_smallest_width_is_the_first_that_reaches_the_bar():
    expert = {"success_rate": 1.0}
    curve = [{"width": 16, "success_rate": 0.5}, {"width": 64, "success_rate": 0.92}, {"width": 256, "success_rate": 0.99}]
    assert ch07.smallest_width(curve, expert)["width"] == 64
    assert ch07.smallest_width(curve[:1], expert)["width"] is None


def test_the_declared_claims_are_the_chapters():
    metrics = declarations()["ch07"]["files"]["existence_results.json"]["metrics"]
    for env_id in ("FetchPush-v4", "FetchPickAndPlace-v4"):
        assert metrics[f"/experts/{env_id}/success_rate"]["standard"][0] == ch07.EXPERT_TARGET


def test_the_readings_follow_the_numbers():
    low = {"ci95_low": 0.5, "ci95_high": 0.7}
    high = [{"ci95_low": 0.9, "ci95_high": 1.0}, {"ci95_low": 0.95, "ci95_high": 1.0}]
    assert "below" in ch07.interval_against(low, high) and "above" in ch07.interval_against(high[0], [low])
    assert "overlaps" in ch07.interval_against({"ci95_low": 0.6, "ci95_high": 0.92}, high)
    found = {"FetchPush-v4": {"smallest": {"width": 64}}}
    missing = {"FetchSlide-v4": {"smallest": {"width": None}}}
    assert "existence in a bounded class" in ch07.width_reading(found) and "not shown" not in ch07.width_reading(found)
    assert ch07.width_reading(missing).startswith("On Slide no width of the grid reached it")
    row = {"dagger": 0.99, "bc": 0.9, "difference": 0.09, "demonstrations": 1000, "labels": 50000, "episodes": 100}
    assert "DAgger is better" in ch07.difference_text({**row, "ci95_low": 0.03, "ci95_high": 0.16})
    assert "not distinguishable" in ch07.difference_text({**row, "ci95_low": -0.01, "ci95_high": 0.16})
    assert "cloning is better" in ch07.difference_text({**row, "ci95_low": -0.2, "ci95_high": -0.01})
