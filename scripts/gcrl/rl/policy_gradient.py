"""Chapter 2's estimators, computed exactly where a test can check them.

Two objects of Chapter 2 are pinned here by computation rather than by prose:

- the policy gradient of the *discounted* objective
  J(theta) = E[sum_t gamma^t r_{t+1}]. On a tabular MDP small enough to
  enumerate every trajectory, the expectation of an estimator is a finite sum,
  so the estimator the chapter derives, E[sum_t gamma^t grad log pi(a_t|s_t) G_t],
  can be compared with a finite-difference gradient of J, and so can the
  estimator that PPO and Stable-Baselines3 use, which drops gamma^t;
- generalised advantage estimation over one stretch of an episode, with the
  bootstrap at a truncation, in the form Stable-Baselines3's
  ``RolloutBuffer.compute_returns_and_advantage`` computes it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from gcrl.core.errors import CourseError


@dataclass(frozen=True)
class TabularMDP:
    """A finite-horizon MDP with a softmax policy pi(a|s) = exp(theta[s, a]) / sum_b exp(theta[s, b]).

    ``transition[s, a, s']`` and ``reward[s, a, s']`` (the reward r_{t+1} of the
    step from s to s' under a), ``initial[s]``, ``horizon`` steps, discount ``gamma``.
    """

    transition: np.ndarray
    reward: np.ndarray
    initial: np.ndarray
    horizon: int
    gamma: float

    def __post_init__(self) -> None:
        states, actions, _ = self.transition.shape
        if self.reward.shape != self.transition.shape or self.initial.shape != (states,):
            raise CourseError("TabularMDP: transition and reward must be (S, A, S) and initial (S,)")
        if not np.allclose(self.transition.sum(-1), 1) or not np.isclose(self.initial.sum(), 1):
            raise CourseError("TabularMDP: transition rows and the initial distribution must sum to 1")
        if self.horizon < 1 or not 0 <= self.gamma <= 1:
            raise CourseError("TabularMDP: horizon must be >= 1 and gamma in [0, 1]")

    @classmethod
    def random(cls, states: int, actions: int, horizon: int, gamma: float, seed: int) -> "TabularMDP":
        rng = np.random.default_rng(seed)
        transition = rng.dirichlet(np.ones(states), size=(states, actions))
        return cls(transition, rng.normal(size=(states, actions, states)), rng.dirichlet(np.ones(states)),
                   horizon, gamma)


def softmax_policy(theta: np.ndarray) -> np.ndarray:
    z = np.exp(theta - theta.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _trajectories(mdp: TabularMDP, theta: np.ndarray):
    """Every trajectory (s_0, a_0, s_1, ..., s_T) with its probability under ``theta``."""
    states, actions, _ = mdp.transition.shape
    pi = softmax_policy(theta)
    for s0 in range(states):
        for steps in itertools.product(range(actions), range(states), repeat=mdp.horizon):
            probability, s, path = mdp.initial[s0], s0, []
            for a, s_next in zip(steps[::2], steps[1::2]):
                probability *= pi[s, a] * mdp.transition[s, a, s_next]
                path.append((s, a, s_next))
                s = s_next
            if probability > 0:
                yield probability, path


def objective(mdp: TabularMDP, theta: np.ndarray) -> float:
    """J(theta) = E[sum_{t=0}^{T-1} gamma^t r_{t+1}], by enumeration."""
    return float(sum(p * sum(mdp.gamma**t * mdp.reward[s, a, s2] for t, (s, a, s2) in enumerate(path))
                     for p, path in _trajectories(mdp, theta)))


def score_function_gradient(mdp: TabularMDP, theta: np.ndarray, discount_weight: bool = True) -> np.ndarray:
    """The exact expectation of sum_t w_t grad log pi(a_t|s_t) G_t, with G_t the discounted reward-to-go.

    ``discount_weight=True`` takes w_t = gamma^t, the gradient of the discounted
    objective; ``False`` takes w_t = 1, what PPO and SB3 estimate.
    """
    pi = softmax_policy(theta)
    gradient = np.zeros_like(theta, dtype=float)
    for p, path in _trajectories(mdp, theta):
        rewards = [mdp.reward[s, a, s2] for s, a, s2 in path]
        for t, (s, a, _) in enumerate(path):
            to_go = sum(mdp.gamma**k * r for k, r in enumerate(rewards[t:]))
            grad_log = -pi[s].copy()  # d log softmax(theta[s])[a] / d theta[s, :] = onehot(a) - pi[s]
            grad_log[a] += 1
            gradient[s] += p * (mdp.gamma**t if discount_weight else 1.0) * grad_log * to_go
    return gradient


def finite_difference_gradient(mdp: TabularMDP, theta: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """Central differences of :func:`objective`, one parameter at a time."""
    gradient = np.zeros_like(theta, dtype=float)
    for index in np.ndindex(theta.shape):
        plus, minus = theta.astype(float), theta.astype(float)
        plus[index] += step
        minus[index] -= step
        gradient[index] = (objective(mdp, plus) - objective(mdp, minus)) / (2 * step)
    return gradient


def gradient_check(states: int = 3, actions: int = 2, horizon: int = 4, gamma: float = 0.5,
                   seed: int = 0) -> dict[str, float]:
    """The two estimators against finite differences on a random tabular MDP and a random policy.

    Errors are relative: ||estimate - finite difference|| / ||finite difference||.
    """
    mdp = TabularMDP.random(states, actions, horizon, gamma, seed)
    theta = np.random.default_rng(seed + 1).normal(size=(states, actions))
    reference = finite_difference_gradient(mdp, theta)
    scale = float(np.linalg.norm(reference))

    def error(estimate: np.ndarray) -> float:
        return float(np.linalg.norm(estimate - reference)) / scale

    return {"states": states, "actions": actions, "horizon": horizon, "gamma": gamma,
            "trajectories": sum(1 for _ in _trajectories(mdp, theta)),
            "gradient_norm": scale,
            "relative_error_discounted": error(score_function_gradient(mdp, theta, discount_weight=True)),
            "relative_error_undiscounted": error(score_function_gradient(mdp, theta, discount_weight=False))}


def gae(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """GAE(gamma, lambda) advantages of one stretch of an episode, computed backwards.

    ``next_values[t]`` is V(s_{t+1}): the critic's value of the next state, which
    at a truncation is still bootstrapped (the episode was cut off, not ended);
    pass 0 only for a true termination. delta_t = r_{t+1} + gamma V(s_{t+1}) - V(s_t)
    and A_t = delta_t + gamma lambda A_{t+1}, with A_T = 0 past the stretch's end.
    """
    rewards, values, next_values = (np.asarray(x, dtype=float) for x in (rewards, values, next_values))
    if not rewards.shape == values.shape == next_values.shape or rewards.ndim != 1:
        raise CourseError("gae: rewards, values and next_values must be 1-D arrays of one length")
    deltas = rewards + gamma * next_values - values
    advantages = np.zeros_like(deltas)
    running = 0.0
    for t in reversed(range(len(deltas))):
        running = deltas[t] + gamma * lam * running
        advantages[t] = running
    return advantages
