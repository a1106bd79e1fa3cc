"""Chapter 4's problems: the relabelled fraction, future goals, relabelled rewards, a planted indexing bug."""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np
from scipy.stats import chisquare, kstest

from gcrl.exercises.problem import Problem, require
from gcrl.rl.envs import make_fetch_env
from gcrl.rl.her import her_ratio, relabel_episode

HORIZON = 50


def check_relabelled_fraction(fraction: Callable[..., Any]) -> None:
    """Properties of a right answer: (1) one number; (2) k / (k + 1) for every k in ``FRACTION_KS`` (k = 0, where
    nothing is relabelled, k = 1, where half is, the paper's k = 4 and others, so that a hard-coded k, integer division
    or another closed form that agrees at one k all fail)."""
    for k in FRACTION_KS:
        value = np.asarray(fraction(k), dtype=float)
        require(value.size == 1, f"relabelled_fraction({k}) must be one number, got shape {value.shape}")
        ours = float(value.reshape(-1)[0])
        require(np.isclose(ours, her_ratio(k), rtol=1e-9, atol=1e-12), f"with k = {k} the fraction is {ours:.6g}, "
                f"not the share of relabelled copies among the stored copies of one real transition "
                f"({her_ratio(k):.6g}): count the copies and how many of them carry a substitute goal")


#: the k of Problem 4.1's check: 1 first (so that a formula dividing by k reports a value, not a ZeroDivisionError)
FRACTION_KS = (1, 4, 0, 2, 3, 8, 20)

#: draws per step t in the checks of uniformity (Problems 4.2 and 4.4): 600 per t at T = 37 and T = 50
DRAWS_PER_STEP = 600


def _uniformity_defect(t: np.ndarray, j: np.ndarray, horizon: int, seed: int) -> str | None:
    """What departs from ``j`` uniform on ``{t, ..., horizon - 1}`` independently per transition, or None.

    Three tests, each failing a right answer with probability < 1e-5 (together < 1e-4), with 600 draws per t at
    T = 37 and T = 50 (powers computed from the normal approximation, confirmed by simulated runs; scratch scripts,
    not kept):
    (a) the counts of j = t and of j = T - 1, pooled over all t, each against sum_i 1 / (T - t_i), a z-test at
    5 standard deviations. Rounding a continuous draw on [t, T - 1] halves P(j = t) and P(j = T - 1) below t = T - 1:
    it moves the count of j = t by 17 standard deviations (T = 37; 18 at T = 50), detected with probability
    > 1 - 1e-20 (300 of 300 simulated runs); a deficit of 15% at every t is detected with probability 0.993 (0.997 at
    T = 50), an excess of 15% with 0.986 (0.993). Offsets clipped to the episode's end move the count of j = T - 1
    by over 100 standard deviations, max(t, j') with j' uniform on the episode by over 200, j' mod (T - t) by 9.
    (b) a chi-square test of the counts of j at t = 0, T / 3 and 2 T / 3, p < 1e-5, and (c) a Kolmogorov-Smirnov
    test, p < 1e-5, of (j - t + V) / (T - t), V uniform on [0, 1), which is uniform on [0, 1) under the null, pooled
    over all t: together they detect a distortion that leaves both ends right, P(j - t = r) proportional to
    1 + 0.2 sin(2 pi r / (T - t - 1)), in 200 of 200 simulated runs at T = 37 and at T = 50.
    """
    r, n = j - t, horizon - t
    p = 1.0 / n
    expected, sd = float(p.sum()), float(np.sqrt((p * (1 - p)).sum()))
    ends = [(abs(int(hit.sum()) - expected) / sd, name, int(hit.sum()))
            for name, hit in (("j = t", r == 0), (f"j = T - 1 = {horizon - 1}", r == n - 1))]
    z, name, observed = max(ends)
    if z > 5:
        return (f"over {len(t)} transitions (every t in {{0, ..., {horizon - 1}}}, horizon T = {horizon}) {name} "
                f"was drawn {observed} times ({observed / len(t):.0%} of the draws); draws uniform on "
                f"{{t, ..., T - 1}} give {expected:.0f} +- {sd:.0f} ({(observed - expected) / sd:+.1f} standard "
                "deviations)")
    for step in (0, horizon // 3, 2 * horizon // 3):
        counts = np.bincount(r[t == step], minlength=horizon - step)
        if chisquare(counts).pvalue < 1e-5:
            return (f"for t = {step} (horizon T = {horizon}) the step j is not uniform on {{{step}, ..., "
                    f"{horizon - 1}}} (chi-square test, p < 1e-5: the most frequent j, {step + int(counts.argmax())}, "
                    f"takes {counts.max() / counts.sum():.1%} of the draws, against {1 / (horizon - step):.1%})")
    u = (r + np.random.default_rng(seed).random(len(r))) / n
    test = kstest(u, "uniform")
    if test.pvalue < 1e-5:
        return (f"pooled over all t (horizon T = {horizon}), the relative position (j - t) / (T - t) of the draws is "
                f"not uniform (Kolmogorov-Smirnov distance {test.statistic:.3f}, p < 1e-5)")
    return None


def _steps(horizon: int, seed: int) -> np.ndarray:
    """Every step of an episode, ``DRAWS_PER_STEP`` times, shuffled; the second half repeats the first's order."""
    half = np.random.default_rng(seed).permutation(np.repeat(np.arange(horizon), DRAWS_PER_STEP // 2))
    return np.concatenate([half, half])


def _independence_defect(t: np.ndarray, j: np.ndarray, horizon: int, seed: int) -> str | None:
    """Draws that are not independent across transitions: the correlation of (j - t + V) / (T - t) between neighbours
    in the array, and between transition i and i + N / 2 (which have the same t), beyond 5 / sqrt(N) (5 standard
    errors: a right answer fails with probability < 1e-6); a generator's draws reused for the second half correlate
    with coefficient 1."""
    u = (j - t + np.random.default_rng(seed).random(len(t))) / (horizon - t)
    half = len(t) // 2
    for what, a, b in (("neighbouring transitions", u[:-1], u[1:]),
                       (f"transitions i and i + {half} (same t)", u[:half], u[half:])):
        c = float(np.corrcoef(a, b)[0, 1])
        if abs(c) > 5 / np.sqrt(len(a)):
            return (f"the draws of {what} are correlated (coefficient {c:+.3f} over {len(a)} pairs; independent draws "
                    f"give 0 +- {1 / np.sqrt(len(a)):.3f}): each transition needs a draw of its own")
    return None


def _integer_indices(output: Any, t: np.ndarray, called: str) -> np.ndarray:
    j = np.asarray(output)
    require(j.shape == t.shape, f"{called} on {len(t)} transitions must give one index per transition: shape "
            f"{t.shape}, got {j.shape}")
    require(np.issubdtype(j.dtype, np.integer), f"{called} returned {j.dtype} indices: indices are integers")
    return j


def check_future_goal_indices(future: Callable[..., Any]) -> None:
    """Properties of a right answer: (1) one integer index per transition; (2) t <= j < T, for the horizon T given
    (37 and 50, and 1, where j = 0); (3) j uniform on {t, ..., T - 1} for every t, j = t included, tested with the
    power stated at ``_uniformity_defect``; (4) independent across transitions (``_independence_defect``); (5) drawn
    from the generator given: two generators of one seed give the same indices, of two seeds different ones, and the
    generator advances (two calls on it differ); (6) the caller's t is not modified."""
    for horizon, seed in ((37, 1), (HORIZON, 2)):
        t = _steps(horizon, seed)
        given = t.copy()
        called = f"future_goal_indices(t, {horizon}, rng)"
        j = _integer_indices(future(given, horizon, np.random.default_rng(seed + 10)), t, called)
        require(np.array_equal(given, t), "future_goal_indices modified the caller's t in place")
        early, late = int(np.sum(j < t)), int(np.sum(j >= horizon))
        if early:
            require(False, f"{called}: {early} of {len(t)} indices j are below their transition's t (e.g. t = "
                    f"{t[j < t][0]}, j = {j[j < t][0]}): `future` draws j >= t")
        if late:
            require(False, f"{called}: {late} of {len(t)} indices are >= the horizon {horizon} (e.g. t = "
                    f"{t[j >= horizon][0]}, j = {j[j >= horizon][0]}): past the episode's end")
        defect = _uniformity_defect(t, j, horizon, seed) or _independence_defect(t, j, horizon, seed)
        require(defect is None, f"{called}: {defect}")
    one = _integer_indices(future(np.zeros(3, dtype=np.int64), 1, np.random.default_rng(0)), np.zeros(3), "with "
                           "horizon 1, future_goal_indices")
    require(np.array_equal(one, np.zeros(3)), f"with horizon 1 (t = 0 only) the indices are {one.tolist()}: the only "
            "step in {t, ..., T - 1} is 0")
    t = _steps(HORIZON, 3)[:200]
    first, second = (np.asarray(future(t.copy(), HORIZON, np.random.default_rng(7))) for _ in range(2))
    require(np.array_equal(first, second), "two generators made with seed 7 gave different indices: draw from the "
            "generator rng given, and from nothing else")
    require(not np.array_equal(first, np.asarray(future(t.copy(), HORIZON, np.random.default_rng(8)))),
            "generators of seeds 7 and 8 gave the same indices: the draws must come from the generator rng given")
    rng = np.random.default_rng(7)
    require(not np.array_equal(np.asarray(future(t.copy(), HORIZON, rng)), np.asarray(future(t.copy(), HORIZON, rng))),
            "two calls on one generator gave the same indices: draw from rng itself (not a copy), so that it advances")


def _off_axis_episode(threshold: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An 'episode' of next achieved goals, and transitions t with goal indices j >= t whose goals lie at Euclidean
    distances ``RADII`` x ``threshold`` from next_achieved_goals[t], along (1, 2, -2)/3 and random directions, so that
    the L1, L-infinity and squared distances decide otherwise near the threshold; rows are shuffled in the episode."""
    rng = np.random.default_rng(seed)
    directions = np.vstack([np.array([1.0, 2.0, -2.0]) / 3.0, rng.normal(size=(3, 3))])
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    offsets = np.array([r * threshold * u for u in directions for r in RADII])
    anchors = rng.uniform([1.05, 0.4, 0.42], [1.55, 1.1, 0.9], size=(len(offsets), 3))
    rows = rng.permutation(2 * len(offsets))
    a, b = rows[:len(offsets)], rows[len(offsets):]
    goals = np.empty((2 * len(offsets), 3))
    goals[a], goals[b] = anchors, anchors + offsets
    t, j = np.minimum(a, b), np.maximum(a, b)
    same = rng.choice(len(goals), 4, replace=False)  # a transition relabelled with its own next achieved goal
    return goals, np.concatenate([t, same]), np.concatenate([j, same])


#: distances, as a fraction of the threshold: 1% and 4% either side of it, 20% either side, well inside and beyond
RADII = (0.3, 0.55, 0.8, 0.96, 0.99, 1.01, 1.04, 1.2, 2.0, 8.0)


@functools.lru_cache(maxsize=1)
def _push_reference() -> tuple[np.ndarray, Any]:
    """A FetchPush-v4 episode's next achieved goals (the object made to travel, so that rewards differ) and the course's
    own `future` relabelling of it (k = 4), rewarded by the environment's compute_reward."""
    env = make_fetch_env("FetchPush-v4")
    env.action_space.seed(0)
    env.reset(seed=0)
    achieved = []
    for _ in range(HORIZON):
        observation, *_ = env.step(env.action_space.sample())
        achieved.append(observation["achieved_goal"])
    achieved = np.array(achieved)
    achieved[25:] += np.linspace(0, 0.2, HORIZON - 25)[:, None]
    reference = relabel_episode(achieved, "future", 4, np.random.default_rng(1), env.unwrapped.compute_reward)
    env.close()
    return achieved, reference


def _goals_and_rewards(output: Any, count: int, called: str) -> tuple[np.ndarray, np.ndarray]:
    require(isinstance(output, (tuple, list)) and len(output) == 2, f"{called} must return (goals, rewards)")
    goals, rewards = (np.asarray(x, dtype=float) for x in output)
    require(goals.shape == (count, 3), f"{called} on {count} transitions must give one goal per transition: shape "
            f"({count}, 3), got {goals.shape}")
    require(rewards.shape == (count,), f"{called} on {count} transitions must give one reward per transition: shape "
            f"({count},), got {rewards.shape}")
    return goals, rewards


def check_relabel(relabel: Callable[..., Any]) -> None:
    """Properties of a right answer: (1) one goal per transition, g' = next_achieved_goals[j], and one reward; (2) the
    reward is 0 when the Euclidean distance between next_achieved_goals[t] (the state transition t reached) and g' is
    at most the threshold (exactly the threshold included: 0) and -1 beyond it, per transition, on pairs 1% either
    side of the threshold where other distances decide otherwise; (3) ``threshold`` honoured (0.1 and 0.02 besides
    the default 0.05); (4) j = t gives 0; (5) on a real FetchPush-v4 episode relabelled by the course's `future`
    strategy, equal to the environment's compute_reward; (6) the arguments are not modified."""
    for threshold, seed in ((None, 0), (0.1, 1), (0.02, 2)):
        value = 0.05 if threshold is None else threshold
        episode, t, j = _off_axis_episode(value, seed)
        kept = episode.copy(), t.copy(), j.copy()
        args = (episode, t, j) if threshold is None else (episode, t, j, threshold)
        called = "relabel(next_achieved_goals, t, j" + ("" if threshold is None else f", threshold={threshold}") + ")"
        goals, rewards = _goals_and_rewards(relabel(*args), len(t), called)
        require(all(np.array_equal(a, b) for a, b in zip((episode, t, j), kept)), "relabel modified its arguments in "
                "place: the caller's next_achieved_goals, t and j must stay as they were")
        wrong = np.flatnonzero(~np.all(np.isclose(goals, episode[j], rtol=0.0, atol=1e-6), axis=1))
        if len(wrong):
            require(False, f"{called}: {len(wrong)} of {len(t)} goals are not row j of next_achieved_goals (e.g. "
                    f"transition {t[wrong[0]]} with j = {j[wrong[0]]}): the substitute goal of j is the goal achieved "
                    "after transition j, next_achieved_goals[j]")
        distance = np.linalg.norm(episode[t] - episode[j], axis=-1)
        right = -(distance > value).astype(float)
        wrong = np.flatnonzero(rewards != right)
        if len(wrong):
            i = wrong[0]
            gap = np.abs(episode[t[i]] - episode[j[i]])
            candidates = {"the L-infinity distance (the largest coordinate gap)": _gaps(episode, t, j).max(-1),
                          "the L1 distance (the sum of the coordinate gaps)": _gaps(episode, t, j).sum(-1),
                          "the squared distance": (_gaps(episode, t, j) ** 2).sum(-1),
                          "next_achieved_goals[t - 1], the goal achieved before transition t":
                              np.linalg.norm(episode[t - 1] - episode[j], axis=-1)}
            rules = {name: -(d > value).astype(float) for name, d in candidates.items()}
            if threshold is not None:
                rules["the Euclidean distance against 0.05, not the threshold given"] = -(distance > 0.05).astype(float)
            matched = [name for name, r in rules.items() if np.array_equal(rewards, r)]
            require(False, f"{called}: {len(wrong)} of {len(t)} rewards are wrong; e.g. transition {t[i]} with j = "
                    f"{j[i]}, at Euclidean distance {distance[i]:.5f} from its goal (largest coordinate gap "
                    f"{gap.max():.5f}, sum of gaps {gap.sum():.5f}), got {rewards[i] + 0.0:g} instead of "
                    f"{right[i] + 0.0:g}" + (f"; your rewards equal, transition by transition, those of {matched[0]}"
                                             if len(matched) == 1 else "")
                    + ": the reward is -1 when the Euclidean distance from next_achieved_goals[t] to the goal exceeds "
                    "the threshold, 0 otherwise")
    on = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.05, 0.0, 0.0]])
    _, at = _goals_and_rewards(relabel(on, np.array([0, 1]), np.array([2, 2])), 2, "relabel")
    require(np.array_equal(at, [0.0, 0.0]), f"goals exactly 0.05 away got rewards {at.tolist()}: a distance equal to "
            "the threshold is a success (0); only distances strictly beyond it cost -1")
    achieved, reference = _push_reference()
    goals, rewards = _goals_and_rewards(relabel(achieved.copy(), reference.t.copy(), reference.goal_index.copy()),
                                        len(reference.t), "relabel")
    require(np.allclose(goals, reference.goals), "on a real FetchPush-v4 episode the goals are not "
            "next_achieved_goals[j]")
    differ = int(np.sum(rewards != reference.rewards))
    require(differ == 0, f"on a real FetchPush-v4 episode relabelled with `future` (k = 4), {differ} of "
            f"{len(rewards)} rewards differ from the environment's compute_reward")
    own = rewards[reference.goal_index == reference.t]
    require(bool(np.all(own == 0)), "a transition relabelled with its own next achieved goal (j = t) must be "
            "rewarded 0")


def _gaps(episode: np.ndarray, t: np.ndarray, j: np.ndarray) -> np.ndarray:
    """The coordinate gaps between the next achieved goal of transitions t and their goals."""
    return np.abs(episode[t] - episode[j])


def _buffer(episodes: int, horizon: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Next achieved goals of a flat buffer of whole episodes (distinct rows: a goal names the row it was read from)
    and each transition's episode start."""
    achieved = np.random.default_rng(seed).normal(size=(episodes * horizon, 3))
    return achieved, np.repeat(np.arange(episodes), horizon) * horizon


def _rows(goals: np.ndarray, achieved: np.ndarray) -> np.ndarray:
    """The row of ``achieved`` each goal was read from (-1 if none)."""
    source = {row.tobytes(): i for i, row in enumerate(achieved)}
    return np.array([source.get(np.ascontiguousarray(g, dtype=achieved.dtype).tobytes(), -1) for g in goals])


def check_sample_future_goals(sample: Callable[..., Any]) -> None:
    """`future` goals from a flat buffer. Properties of the repaired function: (1) every transition of the buffer can
    be sampled, the last episode's too (no index past the buffer's end); (2) one goal per transition, each a row of
    next_achieved_goals: the goal achieved after a step j in {t, ..., T - 1} of the transition's own episode;
    (3) j uniform on those steps for every t, j = t included (with 800 draws per t at T = 50, at least the power
    stated at ``_uniformity_defect``), and independent across transitions (at T = 20, 600 draws per t); (4) for the
    horizon given (50 and 20); (5) drawn from the generator given (one seed, one draw; two seeds, two; the generator
    advances); (6) the arguments are not modified. Each defect found is reported with what was measured."""
    episodes = 6
    achieved, start = _buffer(episodes, HORIZON, 0)
    defects = []
    last = np.repeat(np.arange((episodes - 1) * HORIZON, episodes * HORIZON), 20)  # the last episode's transitions
    try:
        goals = np.asarray(sample(achieved, start, HORIZON, last, np.random.default_rng(1)))
    except IndexError:
        defects.append("for transitions of the last episode the index read runs past the buffer's end (IndexError)")
    else:
        j = _rows(goals.reshape(len(last), -1), achieved) if goals.shape == (len(last), 3) else None
        if j is not None and not np.all((j >= last) & (j < start[last] + HORIZON)):
            share = np.mean((j < last) | (j >= start[last] + HORIZON))
            defects.append(f"for the last episode's transitions {share:.0%} of the goals are not the goal achieved "
                           "after a step j in {t, ..., T - 1} of that episode")
    inner = np.repeat(np.arange((episodes - 1) * HORIZON), 160)  # the other episodes: every read stays in the buffer
    kept = achieved.copy(), start.copy(), inner.copy()
    goals = np.asarray(sample(achieved, start, HORIZON, inner, np.random.default_rng(2)))
    require(all(np.array_equal(a, b) for a, b in zip((achieved, start, inner), kept)), "sample_future_goals modified "
            "its arguments in place: the caller's buffer, starts and indices must stay as they were")
    require(goals.shape == (len(inner), 3), f"one goal per transition: shape {(len(inner), 3)}, got {goals.shape}")
    j = _rows(goals, achieved)
    require(bool(np.all(j >= 0)), "every goal must be a row of next_achieved_goals, the goal achieved after some "
            "transition")
    t = inner - start[inner]  # the transition's step within its episode
    outside = (j < inner) | (j >= start[inner] + HORIZON)
    if outside.any():
        late = t >= HORIZON // 2
        defects.append(f"of the goals drawn for the first {episodes - 1} episodes' transitions (where no read leaves "
                       f"the buffer), {outside.mean():.0%} are not the goal achieved after a step j in "
                       f"{{t, ..., T - 1}} of the transition's own episode ({outside[~late].mean():.0%} for "
                       f"t < {HORIZON // 2}, "
                       f"{outside[late].mean():.0%} for t >= {HORIZON // 2}), so they are not `future` draws")
    else:
        defect = _uniformity_defect(t, j - start[inner], HORIZON, 3)
        if defect:
            defects.append(defect)
    require(not defects, "symptom: " + "; and ".join(defects))
    _check_other_horizon(sample)
    _check_generator(sample)


def _check_other_horizon(sample: Callable[..., Any]) -> None:
    """A buffer of 7 episodes of 20 steps, every transition sampled: goals from the own episode's remaining steps,
    uniform and independent."""
    horizon, episodes = 20, 7
    achieved, start = _buffer(episodes, horizon, 4)
    steps = _steps(horizon, 5)
    index = (np.arange(len(steps)) % episodes) * horizon + steps  # every episode, the last one included
    try:
        goals = np.asarray(sample(achieved, start, horizon, index, np.random.default_rng(6)))
    except IndexError:
        require(False, f"symptom: in a buffer of {episodes} episodes of horizon {horizon} (every transition sampled, "
                "the last episode's too) an index read runs past the buffer's end (IndexError)")
    require(goals.shape == (len(index), 3), f"with horizon {horizon}: one goal per transition, shape "
            f"{(len(index), 3)}, got {goals.shape}")
    j = _rows(goals, achieved)
    outside = (j < index) | (j >= start[index] + horizon)
    require(not outside.any(), f"symptom: in a buffer of episodes of horizon {horizon}, {outside.mean():.0%} of the "
            "goals are not the goal achieved after a step j in {t, ..., T - 1} of the transition's own episode (the "
            "horizon is an argument)")
    defect = _uniformity_defect(steps, j - start[index], horizon, 7) or _independence_defect(steps, j - start[index],
                                                                                           horizon, 7)
    require(defect is None, f"symptom: {defect}")


def _check_generator(sample: Callable[..., Any]) -> None:
    achieved, start = _buffer(3, HORIZON, 8)
    index = np.arange(3 * HORIZON)
    first, second = (np.asarray(sample(achieved, start, HORIZON, index, np.random.default_rng(7))) for _ in range(2))
    require(np.array_equal(first, second), "symptom: two generators made with seed 7 gave different goals: draw "
            "from the generator rng given, and from nothing else")
    require(not np.array_equal(first, np.asarray(sample(achieved, start, HORIZON, index, np.random.default_rng(8)))),
            "symptom: generators of seeds 7 and 8 gave the same goals: the draws must come from the generator given")
    rng = np.random.default_rng(7)
    require(not np.array_equal(np.asarray(sample(achieved, start, HORIZON, index, rng)),
                               np.asarray(sample(achieved, start, HORIZON, index, rng))),
            "symptom: two calls on one generator gave the same goals: draw from rng itself (not a copy), so that it "
            "advances")


PROBLEMS = (
    Problem("ch04", 1, "derivation", "the relabelled fraction k/(k+1)", "relabelled_fraction",
            check_relabelled_fraction),
    Problem("ch04", 2, "implementation", "the `future` strategy's indices", "future_goal_indices",
            check_future_goal_indices),
    Problem("ch04", 3, "implementation", "relabelled goals and their rewards", "relabel", check_relabel),
    Problem("ch04", 4, "diagnosis", "`future` goals from a flat buffer of episodes", "sample_future_goals",
            check_sample_future_goals),
)
