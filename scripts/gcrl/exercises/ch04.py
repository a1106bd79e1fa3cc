"""Chapter 4's problems: the relabelled fraction, future goals, relabelled rewards, a planted goal leak."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from scipy.stats import chisquare

from gcrl.exercises.problem import Failed, Problem, require
from gcrl.rl.envs import make_fetch_env
from gcrl.rl.her import her_ratio, relabel_episode

HORIZON = 50


def check_relabelled_fraction(fraction: Callable[..., Any]) -> None:
    for k in (0, 1, 4, 8):
        ours = float(fraction(k))
        require(np.isclose(ours, her_ratio(k)), f"with k = {k} the fraction is {ours:.4f}: count the stored copies of "
                "one real transition and how many of them carry a substitute goal")


def check_future_goal_indices(future: Callable[..., Any]) -> None:
    rng = np.random.default_rng(0)
    t = np.repeat(np.arange(HORIZON), 400)
    j = np.asarray(future(t, HORIZON, rng))
    require(j.shape == t.shape, f"one index per transition: shape {t.shape}, got {j.shape}")
    require(np.issubdtype(j.dtype, np.integer), "indices are integers")
    require(bool(np.all(j >= t)), "some substitute goals come from the past: `future` draws j >= t")
    require(bool(np.all(j < HORIZON)), f"some indices are >= the horizon {HORIZON}: past the episode's end")
    require(bool(np.any(j == t)), "j = t never occurs: the achieved goal right after transition t (the state it "
            "reached) is a future goal too, and the one that always pays")
    for start in (0, 30):
        counts = np.bincount(j[t == start] - start, minlength=HORIZON - start)
        require(chisquare(counts).pvalue > 1e-3, f"for t = {start} the indices are not uniform on "
                f"{{{start}, ..., {HORIZON - 1}}} (chi-square test)")


def _push_episode(seed: int = 0) -> np.ndarray:
    env = make_fetch_env("FetchPush-v4")
    env.action_space.seed(seed)
    env.reset(seed=seed)
    achieved = []
    for _ in range(HORIZON):
        observation, *_ = env.step(env.action_space.sample())
        achieved.append(observation["achieved_goal"])
    env.close()
    achieved = np.array(achieved)
    achieved[25:] += np.linspace(0, 0.2, HORIZON - 25)[:, None]  # make the object travel, so rewards differ
    return achieved


def check_relabel(relabel: Callable[..., Any]) -> None:
    achieved = _push_episode()
    env = make_fetch_env("FetchPush-v4")
    reference = relabel_episode(achieved, "future", 4, np.random.default_rng(1), env.unwrapped.compute_reward)
    env.close()
    goals, rewards = (np.asarray(x) for x in relabel(achieved, reference.t, reference.goal_index))
    require(goals.shape == reference.goals.shape, f"one goal per transition: shape {reference.goals.shape}, got "
            f"{goals.shape}")
    require(np.allclose(goals, reference.goals), "the substitute goal of transition t with index j is the achieved "
            "goal after transition j, next_achieved_goals[j]")
    require(rewards.shape == reference.rewards.shape and np.array_equal(rewards, reference.rewards),
            f"{int(np.sum(rewards != reference.rewards))} rewards differ from FetchPush-v4's compute_reward: the "
            "reward is recomputed from the state reached by transition t and the substitute goal")
    require(bool(np.all(rewards[reference.goal_index == reference.t] == 0)), "a transition relabelled with its own "
            "next achieved goal must be rewarded 0")


def check_sample_future_goals(sample: Callable[..., Any]) -> None:
    episodes = 6
    rng = np.random.default_rng(0)
    achieved = rng.normal(size=(episodes * HORIZON, 3))
    episode = np.repeat(np.arange(episodes), HORIZON)
    start = episode * HORIZON
    index = rng.integers(0, episodes * HORIZON, size=4000)
    try:
        goals = np.asarray(sample(achieved, start, HORIZON, index, np.random.default_rng(1)))
    except IndexError:
        raise Failed("symptom: indexing past the end of the buffer (IndexError) for transitions near the end "
                             "of the last episode: the offset is not bounded by the transition's own episode") from None
    source = {tuple(row): i for i, row in enumerate(achieved)}
    found = np.array([source.get(tuple(g), -1) for g in goals])
    require(bool(np.all(found >= 0)), "every goal must be an achieved goal stored in the buffer")
    foreign = float(np.mean(episode[found] != episode[index]))
    require(foreign == 0.0, f"symptom: {foreign:.0%} of the substitute goals are achieved goals of another episode: "
            "a goal that episode's start state says nothing about, rewarded as if this episode had reached it")
    require(bool(np.all(found >= index)), "some substitute goals come from before the transition: `future` only")


PROBLEMS = (
    Problem("ch04", 1, "derivation", "the relabelled fraction k/(k+1)", "relabelled_fraction",
            check_relabelled_fraction),
    Problem("ch04", 2, "implementation", "the `future` strategy's indices", "future_goal_indices",
            check_future_goal_indices),
    Problem("ch04", 3, "implementation", "relabelled goals and their rewards", "relabel", check_relabel),
    Problem("ch04", 4, "diagnosis", "a relabelling that leaks other episodes' goals", "sample_future_goals",
            check_sample_future_goals),
)
