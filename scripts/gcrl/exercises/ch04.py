"""Chapter 4's problems: the relabelled fraction, future goals, relabelled rewards, a planted indexing bug."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from scipy.stats import chisquare

from gcrl.exercises.problem import Problem, require
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
    """`future` goals from a flat buffer: every goal of transition t is the achieved goal after some j drawn uniformly
    from {t, ..., T - 1} of t's own episode. Each defect found is reported with what was measured."""
    episodes = 6
    rng = np.random.default_rng(0)
    achieved = rng.normal(size=(episodes * HORIZON, 3))  # distinct rows: a goal names the row it was read from
    start = np.repeat(np.arange(episodes), HORIZON) * HORIZON
    defects = []
    last = np.repeat(np.arange((episodes - 1) * HORIZON, episodes * HORIZON), 20)  # the last episode's transitions
    try:
        sample(achieved, start, HORIZON, last, np.random.default_rng(1))
    except IndexError:
        defects.append("for transitions of the last episode the index read runs past the buffer's end (IndexError)")
    inner = np.repeat(np.arange((episodes - 1) * HORIZON), 160)  # the other episodes: every read stays in the buffer
    goals = np.asarray(sample(achieved, start, HORIZON, inner, np.random.default_rng(2)))
    require(goals.shape == (len(inner), 3), f"one goal per transition: shape {(len(inner), 3)}, got {goals.shape}")
    source = {tuple(row): i for i, row in enumerate(achieved)}
    j = np.array([source.get(tuple(g), -1) for g in goals])
    require(bool(np.all(j >= 0)), "every goal must be a row of next_achieved_goals, the goal achieved after some "
            "transition")
    t = inner - start[inner]  # the transition's step within its episode
    outside = (j < inner) | (j >= start[inner] + HORIZON)
    if outside.any():
        late = t >= HORIZON // 2
        defects.append(f"of the goals drawn for the first {episodes - 1} episodes' transitions (where no read leaves the "
                       f"buffer), {outside.mean():.0%} are not the goal achieved after a step j in {{t, ..., T - 1}} of "
                       f"the transition's own episode ({outside[~late].mean():.0%} for t < {HORIZON // 2}, "
                       f"{outside[late].mean():.0%} for t >= {HORIZON // 2}), so they are not `future` draws")
    else:
        for step in (0, 25, 40):
            counts = np.bincount(j[t == step] - inner[t == step], minlength=HORIZON - step)
            if chisquare(counts).pvalue < 1e-5:  # three tests: a correct draw fails one about once in 30,000
                defects.append(f"for t = {step} the step j is not uniform on {{{step}, ..., {HORIZON - 1}}} "
                               f"(chi-square test; the most frequent j takes {counts.max() / counts.sum():.0%} of "
                               "the draws)")
                break
    require(not defects, "symptom: " + "; and ".join(defects))


PROBLEMS = (
    Problem("ch04", 1, "derivation", "the relabelled fraction k/(k+1)", "relabelled_fraction",
            check_relabelled_fraction),
    Problem("ch04", 2, "implementation", "the `future` strategy's indices", "future_goal_indices",
            check_future_goal_indices),
    Problem("ch04", 3, "implementation", "relabelled goals and their rewards", "relabel", check_relabel),
    Problem("ch04", 4, "diagnosis", "`future` goals from a flat buffer of episodes", "sample_future_goals",
            check_sample_future_goals),
)
