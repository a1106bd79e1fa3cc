"""Chapter 2's problems: rewards-to-go, GAE, the clipped surrogate, a planted episode-boundary leak."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gcrl.exercises.problem import Problem, require
from gcrl.rl.policy_gradient import gae


def _episode(length: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One stretch of an episode without symmetries: rewards of both signs and unequal sizes, values of both signs,
    ``next_values[t] = values[t + 1]`` and a bootstrap value after the last step."""
    rng = np.random.default_rng(seed)
    rewards = rng.normal(0.0, 1.0, length) * rng.choice([0.1, 1.0, 3.0], length)
    values = rng.normal(0.5, 2.0, length)
    next_values = np.append(values[1:], rng.normal(0.5, 2.0))
    return rewards, values, next_values


def _unchanged(name: str, given: np.ndarray, kept: np.ndarray) -> None:
    require(np.array_equal(given, kept), f"{name} modified its argument in place (the caller's rewards or values "
            "changed): compute into a new array")


def check_rewards_to_go(rewards_to_go: Callable[..., Any]) -> None:
    """Properties of a right answer: (1) one return per step; (2) G_t = sum_k gamma^k r_(t+k), the discount counted
    from t, for gamma in {0, 0.5, 0.98, 1} on rewards of both signs and unequal sizes (so that neither the
    undiscounted sum nor a hard-coded gamma agrees); (3) the last step's return is its own reward; (4) a one-step
    episode's return is its reward; (5) the rewards array is not modified."""
    rewards, _, _ = _episode()
    for gamma in (0.0, 0.5, 0.98, 1.0):
        given = rewards.copy()
        ours = np.asarray(rewards_to_go(given, gamma), dtype=float)
        _unchanged("rewards_to_go", given, rewards)
        require(ours.shape == rewards.shape, f"one return per step: shape {rewards.shape}, got {ours.shape}")
        direct = np.array([sum(gamma ** k * r for k, r in enumerate(rewards[t:])) for t in range(len(rewards))])
        require(np.isclose(ours[-1], rewards[-1]), f"with gamma = {gamma} the last step's return is {ours[-1]:+.4f}; "
                f"it must be the last reward alone, {rewards[-1]:+.4f}, since no step follows it")
        wrong = np.flatnonzero(~np.isclose(ours, direct))
        require(len(wrong) == 0, f"with gamma = {gamma}, {len(wrong)} of {len(rewards)} returns differ from "
                "sum_k gamma^k r_(t+k) (the discount counted from t), the first at t = "
                f"{wrong[0] if len(wrong) else 0}: {ours[wrong[0]] if len(wrong) else 0:+.4f} against "
                f"{direct[wrong[0]] if len(wrong) else 0:+.4f}")
    single = np.asarray(rewards_to_go(np.array([-0.7]), 0.9), dtype=float)
    require(single.shape == (1,) and np.isclose(single[0], -0.7), "a one-step episode's return is its only reward")


#: (gamma, lambda): lambda = 0 (the TD error), lambda = 1 (the discounted sum), gamma = 1, and values off the defaults
GAE_CASES = ((0.99, 0.95), (0.9, 0.0), (0.9, 1.0), (1.0, 0.5), (0.8, 0.7))


def check_gae(ours_gae: Callable[..., Any]) -> None:
    """Properties of a right answer, on a stretch of mixed-sign rewards and values: (1) one advantage per step;
    (2) with lambda = 0 it is the TD error delta_t; (3) with lambda = 1 the discounted sum of all later TD errors;
    (4) the last step's advantage is its own TD error (nothing past the stretch); (5) for every (gamma, lambda) of
    ``GAE_CASES`` it equals sum_l (gamma lambda)^l delta_(t+l), the course's GAE (pinned to Stable-Baselines3's);
    (6) the arguments are not modified."""
    rewards, values, next_values = _episode()
    for gamma, lam in GAE_CASES:
        given = rewards.copy(), values.copy(), next_values.copy()
        ours = np.asarray(ours_gae(*given, gamma, lam), dtype=float)
        for array, kept in zip(given, (rewards, values, next_values)):
            _unchanged("gae", array, kept)
        require(ours.shape == rewards.shape, f"one advantage per step: shape {rewards.shape}, got {ours.shape}")
        deltas = rewards + gamma * next_values - values
        called = f"with gamma = {gamma}, lambda = {lam}"
        require(np.isclose(ours[-1], deltas[-1]), f"{called} the last step's advantage is {ours[-1]:+.4f}; it must be "
                f"its own TD error delta_(T-1) = r + gamma V(s_T) - V(s_(T-1)) = {deltas[-1]:+.4f}, since the stretch "
                "ends there")
        if lam == 0.0:
            require(np.allclose(ours, deltas), f"{called} the advantages differ from the one-step TD errors delta_t "
                    f"(largest difference {np.abs(ours - deltas).max():.4f})")
        if lam == 1.0:
            tail = np.array([sum(gamma ** k * d for k, d in enumerate(deltas[t:])) for t in range(len(deltas))])
            require(np.allclose(ours, tail), f"{called} the advantages differ from the discounted sums of all later "
                    f"TD errors, sum_k gamma^k delta_(t+k) (largest difference {np.abs(ours - tail).max():.4f})")
        expected = gae(rewards, values, next_values, gamma, lam)
        wrong = np.flatnonzero(~np.isclose(ours, expected))
        require(len(wrong) == 0, f"{called}, {len(wrong)} of {len(ours)} advantages differ from "
                "sum_l (gamma lambda)^l delta_(t+l), the first at t = "
                f"{wrong[0] if len(wrong) else 0}: {ours[wrong[0]] if len(wrong) else 0:+.4f} against "
                f"{expected[wrong[0]] if len(wrong) else 0:+.4f}")


#: clip ranges: the usual 0.2 and two others
CLIPS = (0.2, 0.1, 0.35)


def _surrogate_data(seed: int = 0, count: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Ratios in [0.3, 1.8] (inside and beyond either end of the clip range) and advantages of both signs and unequal
    sizes, mixed within one call, with ratio 1 and advantage 0 among them."""
    rng = np.random.default_rng(seed)
    ratio = rng.uniform(0.3, 1.8, count)
    advantage = rng.normal(0.0, 1.0, count) * rng.choice([0.2, 1.0, 4.0], count)
    ratio[:3], advantage[3:5] = 1.0, 0.0
    return ratio, advantage


def check_clipped_surrogate(surrogate: Callable[..., Any]) -> None:
    """Properties of a right answer, sample by sample, with positive and negative advantages mixed in one call and
    the clip range eps in ``CLIPS``: (1) one value per sample; (2) inside [1 - eps, 1 + eps] the objective is r A;
    (3) on the improving side beyond the range (A > 0 and r > 1 + eps, or A < 0 and r < 1 - eps) it is flat at the
    clipped value clip(r) A; (4) on the other side it keeps r A (the minimum of the two: a pessimistic bound);
    (5) the arguments are not modified."""
    ratio, advantage = _surrogate_data()
    for eps in CLIPS:
        given = ratio.copy(), advantage.copy()
        ours = np.asarray(surrogate(*given, eps), dtype=float)
        require(np.array_equal(given[0], ratio) and np.array_equal(given[1], advantage), "clipped_surrogate "
                "modified its arguments in place")
        require(ours.shape == ratio.shape, f"one objective value per sample: shape {ratio.shape}, got {ours.shape}")
        unclipped, clipped = ratio * advantage, np.clip(ratio, 1 - eps, 1 + eps) * advantage
        inside = np.abs(ratio - 1) <= eps
        improving = ((advantage > 0) & (ratio > 1 + eps)) | ((advantage < 0) & (ratio < 1 - eps))
        regions = (("inside [1 - eps, 1 + eps]", inside, unclipped, "r A, the unclipped surrogate"),
                   ("beyond the clip range on the side that would raise the objective", improving, clipped,
                    "clip(r, 1 - eps, 1 + eps) A, flat in r: no gradient pushes the ratio further"),
                   ("beyond the clip range on the side where the new policy is worse", ~inside & ~improving,
                    unclipped, "r A, the smaller of the two (a pessimistic bound)"))
        for where, mask, expected, what in regions:
            wrong = np.flatnonzero(mask & ~np.isclose(ours, expected))
            if len(wrong):
                i = wrong[0]
                require(False, f"with eps = {eps}, {len(wrong)} samples {where} are wrong, e.g. r = {ratio[i]:.3f}, "
                        f"A = {advantage[i]:+.3f} gave {ours[i]:+.4f}, where the objective is {expected[i]:+.4f}: "
                        f"{what}")


def check_rollout_advantages(advantages: Callable[..., Any]) -> None:
    """Properties of the repaired function, on a rollout of three episodes (steps 0-4 terminated, 5-9 truncated,
    10-15 cut by the rollout's end), with gamma and lambda varied: (1) one advantage per step; (2) the advantages
    of an episode do not change when only a later episode's rewards change; (3) a terminated step does not
    bootstrap: its next value is ignored, even when it is not zero; (4) a truncated step still bootstraps from
    V(s_(t+1)), only the recursion stops there; (5) each episode's advantages equal GAE on that episode alone
    (the last one bootstrapping from the rollout's last next value); (6) the arguments are not modified."""
    rewards, values, next_values = _episode(16, seed=1)
    terminated, truncated = np.zeros(16), np.zeros(16)
    terminated[4], truncated[9] = 1.0, 1.0
    masked = next_values.copy()
    masked[4] = 0.0  # what a terminated step bootstraps from: nothing (next_values[4] is the reset state's value)
    for gamma, lam in ((0.99, 0.95), (0.9, 0.5)):
        arguments = (rewards, values, next_values, terminated, truncated)
        given = tuple(a.copy() for a in arguments)
        first = np.asarray(advantages(*given, gamma, lam), dtype=float)
        require(all(np.array_equal(a, b) for a, b in zip(given, arguments)), "rollout_advantages modified its "
                "arguments in place")
        require(first.shape == rewards.shape, f"one advantage per step: shape {rewards.shape}, got {first.shape}")
        changed = rewards.copy()
        changed[5:] -= 10.0
        second = np.asarray(advantages(changed, values, next_values, terminated, truncated, gamma, lam), dtype=float)
        require(np.allclose(first[:5], second[:5]), "symptom: the advantages of episode 1's steps change when only "
                f"the rewards of later episodes change (step 4: {first[4]:+.3f} then {second[4]:+.3f}); the "
                "recursion carries one episode's TD errors into the one before it")
        later = rewards.copy()
        later[10:] -= 10.0
        third = np.asarray(advantages(later, values, next_values, terminated, truncated, gamma, lam), dtype=float)
        require(np.allclose(first[5:10], third[5:10]), "the advantages of episode 2 (steps 5-9, truncated at step 9) "
                f"change when only episode 3's rewards change (step 9: {first[9]:+.3f} then {third[9]:+.3f}): the "
                "recursion must stop at a truncation too")
        delta_end, used = rewards[4] - values[4], rewards[4] + gamma * next_values[4] - values[4]
        require(np.isclose(first[4], delta_end), f"with gamma = {gamma}, lambda = {lam} the terminated step 4's "
                f"advantage is {first[4]:+.4f}; with no next state it must be r - V(s) = {delta_end:+.4f}"
                + (f" (yours equals r + gamma next_values[4] - V(s): next_values[4] = {next_values[4]:+.2f} is the "
                   "next episode's and must be ignored)" if np.isclose(first[4], used) else ""))
        delta_cut = rewards[9] + gamma * next_values[9] - values[9]
        require(np.isclose(first[9], delta_cut), f"with gamma = {gamma}, lambda = {lam} the truncated step 9's "
                f"advantage is {first[9]:+.4f}; it must be r + gamma V(s_(t+1)) - V(s) = {delta_cut:+.4f}"
                + (", and yours equals r - V(s): the episode was cut, not ended, so it still bootstraps"
                   if np.isclose(first[9], rewards[9] - values[9]) else ""))
        for name, part in (("episode 1 (steps 0-4)", slice(0, 5)), ("episode 2 (steps 5-9)", slice(5, 10)),
                           ("episode 3 (steps 10-15)", slice(10, 16))):
            alone = gae(rewards[part], values[part], masked[part], gamma, lam)
            require(np.allclose(first[part], alone), f"with gamma = {gamma}, lambda = {lam} the advantages of {name} "
                    f"differ from GAE computed on that episode alone (largest difference "
                    f"{np.abs(first[part] - alone).max():.4f})")


PROBLEMS = (
    Problem("ch02", 1, "derivation", "the discounted rewards-to-go", "rewards_to_go", check_rewards_to_go),
    Problem("ch02", 2, "implementation", "generalised advantage estimation", "gae", check_gae),
    Problem("ch02", 3, "implementation", "PPO's clipped surrogate", "clipped_surrogate", check_clipped_surrogate),
    Problem("ch02", 4, "diagnosis", "advantages that leak across episodes", "rollout_advantages",
            check_rollout_advantages),
)
