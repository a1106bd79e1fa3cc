"""The problem sets: every reference solution passes its check, every untouched stub fails it with a clear
message, every planted bug is caught, and wrong answers (mutants) are caught too, so no check passes vacuously."""

from __future__ import annotations

import ast
import copy
import math
import shutil
from fractions import Fraction

import gymnasium as gym
import jupytext
import numpy as np
import pytest
import torch
from scipy import signal, stats

from gcrl.core.paths import Layout
from gcrl.course.runner import discover
from gcrl.exercises import CHAPTERS, check, problems
from gcrl.exercises.check import solution_path, stub_path
from gcrl.exercises.problem import load_module, run_check
from gcrl.exercises.solutions import ch01 as s01, ch02 as s02, ch04 as s04, ch05 as s05, ch06 as s06, ch07 as s07
from gcrl.exercises.solutions import ch03 as s03
from gcrl.rl.evaluate import evaluate

ALL = [p for chapter in CHAPTERS for p in problems(chapter)]


def _wald(x, n, z=1.96):
    p = x / n
    return p - z * math.sqrt(p * (1 - p) / n), p + z * math.sqrt(p * (1 - p) / n)


class _NoClip(s05.ActionNoise):
    def action(self, action):
        return np.asarray(action) + self.rng.normal(0.0, self.sigma, np.shape(action))


def _floor_wrong_seeding(env_id, episodes, seed):  # seeds the actions per episode instead of once
    return [s01.random_floor(env_id, 1, seed + i)[0] for i in range(episodes)]


# --- Chapters 0, 1, 2, 3, 5, 6: the wrong answers (MUTANTS) and correct answers in other forms (ALTERNATIVES) that need
# more than a lambda. A mutant's comment names the mistake and its family.

def _sparse_in_place(a, d, threshold=0.05):  # right rewards, but the caller's achieved goals are overwritten
    a = np.asarray(a)
    a -= d
    return -(np.linalg.norm(a, axis=-1) > threshold).astype(float)


def _dense_in_place(a, d):  # the same mistake in the repaired dense reward
    a = np.asarray(a)
    a -= d
    return -np.linalg.norm(a, axis=-1)


def _hoeffding_episodes(h, p=0.5, z=1.96):  # another method: Hoeffding's bound at the level z stands for
    alpha = 2 * (1 - stats.norm.cdf(z))
    return math.ceil(math.log(2 / alpha) / (2 * h * h))


def _agresti_coull(x, n, z=1.96):  # another interval: Agresti and Coull's adjusted Wald interval
    m = n + z * z
    p = (x + z * z / 2) / m
    half = z * math.sqrt(p * (1 - p) / m)
    return max(0.0, p - half), min(1.0, p + half)


def _floor_protocol(env_id, episodes, seed, action_seed=lambda s, i: s if i == 0 else None,
                    reset_seed=lambda s, i: s + i, step=-1, criterion=None):
    """The floor with one part of the protocol changed (a mutant) or kept (the default)."""
    env = gym.make(env_id)
    outcomes = []
    for i in range(episodes):
        if action_seed(seed, i) is not None:
            env.action_space.seed(action_seed(seed, i))
        env.reset(seed=reset_seed(seed, i))
        done, history = False, []
        while not done:
            _, _, terminated, truncated, info = env.step(env.action_space.sample())
            done = terminated or truncated
            history.append(bool(info["is_success"]))
        outcomes.append(criterion(history) if criterion else history[step])
    env.close()
    return outcomes


def _rtg_in_place(r, g):  # right returns, accumulated into the caller's rewards
    r = np.asarray(r)
    for t in reversed(range(len(r) - 1)):
        r[t] += g * r[t + 1]
    return r


def _gae_without_gamma(r, v, nv, g, l):  # the recursion discounts by lambda only
    deltas, running, out = r + g * nv - v, 0.0, np.zeros(len(r))
    for t in reversed(range(len(r))):
        running = deltas[t] + l * running
        out[t] = running
    return out


def _gae_in_place(r, v, nv, g, l):  # right advantages, the TD errors written into the caller's rewards
    r = np.asarray(r)
    r += g * nv - v
    return s02.gae(r, np.zeros_like(r), np.zeros_like(r), g, l)


def _surrogate_in_place(ratio, advantage, clip):  # right objective, the caller's ratios clipped in place
    unclipped = ratio * advantage
    np.clip(ratio, 1 - clip, 1 + clip, out=ratio)
    return np.minimum(unclipped, ratio * advantage)


def _one_late(term, trunc):  # the recursion stopped one step after each episode's end (an off-by-one)
    return np.append(np.maximum(term, trunc)[1:], 0.0)


def _rollout(r, v, nv, term, trunc, g, l, mask_next=None, stop=None):
    """GAE over a rollout with the next value masked where ``mask_next`` and the recursion stopped where ``stop``."""
    mask_next = term if mask_next is None else mask_next
    stop = np.maximum(term, trunc) if stop is None else stop
    deltas, running, out = r + g * nv * (1.0 - mask_next) - v, 0.0, np.zeros(len(r))
    for t in reversed(range(len(r))):
        running = deltas[t] + g * l * running * (1.0 - stop[t])
        out[t] = running
    return out


def _soft_value_no_scale(q, alpha):  # max-shifted, but the exponent lost its 1 / alpha
    m = float(np.max(q))
    return m + alpha * float(np.log(np.sum(np.exp(np.asarray(q) - m))))


def _boltzmann_mean_q(q, alpha):  # E_pi[Q] under the Boltzmann policy: the entropy term left out
    q = np.asarray(q, dtype=float)
    pi = np.exp((q - q.max()) / alpha)
    pi /= pi.sum()
    return float(pi @ q)


def _gaussian(m, ls, u):
    return torch.distributions.Normal(m, ls.exp()).log_prob(u)


def _log_det(u):  # log(1 - tanh(u)^2), stably
    return 2.0 * (math.log(2.0) - u - torch.nn.functional.softplus(-2.0 * u))


def _polyak_list_assign(params, target_params, tau):  # computes the update, assigns it to the list (known defect)
    with torch.no_grad():
        for i, (param, target) in enumerate(zip(params, target_params)):
            target_params[i] = (1.0 - tau) * target + tau * param


def _polyak_swapped(params, target_params, tau):  # moves the online network toward the target
    with torch.no_grad():
        for param, target in zip(params, target_params):
            param.mul_(1.0 - tau).add_(tau * target)


def _polyak_weights_swapped(params, target_params, tau):  # theta' <- tau theta' + (1 - tau) theta
    with torch.no_grad():
        for param, target in zip(params, target_params):
            target.mul_(tau).add_((1.0 - tau) * param)


def _polyak_fixed_tau(params, target_params, tau):  # tau hard-coded to SB3's default
    s03.polyak_update(params, target_params, 0.005)


def _polyak_skip_last(params, target_params, tau):  # the last tensor (the output bias) never updated
    s03.polyak_update(params[:-1], target_params[:-1], tau)


def _polyak_on_clones(params, target_params, tau):  # updates copies in place: the network never sees it
    s03.polyak_update(params, [t.detach().clone() for t in target_params], tau)


class _SharedNoise(s05.ActionNoise):  # one scalar draw added to every dimension (known defect)
    def action(self, action):
        noisy = np.asarray(action) + self.rng.normal(0.0, self.sigma)
        return np.clip(noisy, self.action_space.low, self.action_space.high).astype(self.action_space.dtype)


class _ClipUnitBox(s05.ActionNoise):  # clips to [-1, 1] whatever the action box
    def action(self, action):
        return np.clip(np.asarray(action) + self.rng.normal(0.0, self.sigma, np.shape(action)), -1.0, 1.0)


class _FixedSigma(s05.ActionNoise):  # sigma hard-coded
    def action(self, action):
        noisy = np.asarray(action) + self.rng.normal(0.0, 0.1, np.shape(action))
        return np.clip(noisy, self.action_space.low, self.action_space.high)


class _Reseeded(s05.ActionNoise):  # a generator seeded afresh at every call: one noise, repeated
    def action(self, action):
        self.rng = np.random.default_rng(0)
        return super().action(action)


class _DrawnOnce(s05.ActionNoise):  # one noise drawn at construction and added at every step
    def action(self, action):
        if not hasattr(self, "noise"):
            self.noise = self.rng.normal(0.0, self.sigma, np.shape(action))
        return np.clip(np.asarray(action) + self.noise, self.action_space.low, self.action_space.high)


class _UniformNoise(s05.ActionNoise):  # another distribution with the right variance
    def action(self, action):
        width = math.sqrt(3) * self.sigma
        noisy = np.asarray(action) + self.rng.uniform(-width, width, np.shape(action))
        return np.clip(noisy, self.action_space.low, self.action_space.high)


class _VarianceAsStd(s05.ActionNoise):  # N(0, sigma^4): sigma^2 used as the standard deviation
    def action(self, action):
        noisy = np.asarray(action) + self.rng.normal(0.0, self.sigma ** 2, np.shape(action))
        return np.clip(noisy, self.action_space.low, self.action_space.high)


class _ArmOnly(s05.ActionNoise):  # the gripper dimension (the last) left unperturbed
    def action(self, action):
        noisy = np.array(action, dtype=float)
        noisy[:-1] += self.rng.normal(0.0, self.sigma, len(noisy) - 1)
        return np.clip(noisy, self.action_space.low, self.action_space.high)


class _NoiseInPlace(s05.ActionNoise):  # the policy's own action array perturbed in place
    def action(self, action):
        action += self.rng.normal(0.0, self.sigma, np.shape(action)).astype(action.dtype)
        np.clip(action, self.action_space.low, self.action_space.high, out=action)
        return action


def _wilson(x, n, z):
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _newcombe(a, na, b, nb, z, combine, pairing="right", trials_extra=0):
    (la, ua), (lb, ub) = _wilson(a, na + trials_extra, z), _wilson(b, nb + trials_extra, z)
    pa, pb = a / na, b / nb
    if pairing == "right":
        return pa - pb - combine(pa - la, ub - pb), pa - pb + combine(ua - pa, pb - lb)
    return pa - pb - combine(pa - la, pb - lb), pa - pb + combine(ua - pa, ub - pb)


def _noisy_shared(observation, sigma, rng):  # one scalar draw added to every sensed dimension
    noisy = dict(observation)
    noisy["observation"] = observation["observation"] + rng.normal(0.0, sigma)
    return noisy


def _noisy_in_place(observation, sigma, rng):  # the caller's observation perturbed in place
    observation["observation"] += rng.normal(0.0, sigma, observation["observation"].shape)
    return dict(observation)


def _noisy_global(observation, sigma, rng):  # numpy's global generator instead of the one given
    noisy = dict(observation)
    noisy["observation"] = observation["observation"] + np.random.normal(0.0, sigma, observation["observation"].shape)
    return noisy


def _noisy_reseeded(observation, sigma, rng):  # a fresh generator each call: the same noise every time
    return s05.noisy_observation(observation, sigma, np.random.default_rng(0))


def _noisy_fixed_sigma(observation, sigma, rng):  # sigma hard-coded
    return s05.noisy_observation(observation, 0.01, rng)


def _noisy_variance(observation, sigma, rng):  # sigma^2 used as the standard deviation
    return s05.noisy_observation(observation, sigma ** 2, rng)


def _noisy_but_last(observation, sigma, rng):  # the last sensed dimension left unperturbed
    noisy = dict(observation)
    noisy["observation"] = observation["observation"].copy()
    noisy["observation"][:-1] += rng.normal(0.0, sigma, len(noisy["observation"]) - 1)
    return noisy


def _noisy_assigns_argument(observation, sigma, rng):  # writes the noisy array into the caller's dict
    observation["observation"] = observation["observation"] + rng.normal(0.0, sigma, observation["observation"].shape)
    return dict(observation)


def _iqm_cut(cut):
    def iqm(x):
        x = np.sort(np.asarray(x, dtype=float))
        k = cut(len(x))
        return float(x[k:len(x) - k].mean())
    return iqm


def _iqm_percentile(x):  # another method: the scores between the 25th and 75th percentiles, inclusive
    x = np.asarray(x, dtype=float)
    q1, q3 = np.percentile(x, [25, 75])
    return float(x[(x >= q1) & (x <= q3)].mean())


def _iqm_in_place(x):  # sorts the caller's scores
    x.sort()
    k = len(x) // 4
    return float(x[k:len(x) - k].mean())


def _iqm_over_n(x):  # the middle half summed, divided by all n
    x = np.sort(np.asarray(x, dtype=float))
    k = len(x) // 4
    return float(x[k:len(x) - k].sum() / len(x))


def _replicates(x, f, reps, seed, draw=None):
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=float)
    draw = draw or (lambda rng, n: rng.integers(0, n, n))
    return np.array([f(x[draw(rng, len(x))]) for _ in range(reps)])


def _boot(x, f, reps, seed, confidence=0.95, *, statistic=None, tail=None, draw=None, seed_of=None, reps_of=None,
          method="percentile"):
    """The percentile bootstrap with one part changed (a mutant)."""
    reps = reps if reps_of is None else reps_of
    seed = seed if seed_of is None else seed_of(seed)
    values = _replicates(x, statistic or f, reps, seed, draw)
    tail = (1 - confidence) / 2 if tail is None else tail(confidence)
    if method == "normal":
        centre, spread = float(f(np.asarray(x))), float(np.std(values, ddof=1))
        z = stats.norm.ppf(1 - tail)
        return centre - z * spread, centre + z * spread
    low, high = np.quantile(values, tail), np.quantile(values, 1 - tail)
    if method == "basic":
        centre = float(f(np.asarray(x)))
        return 2 * centre - high, 2 * centre - low
    return float(low), float(high)


def _boot_same_resample(x, f, reps, seed, confidence=0.95):  # one resample drawn, its statistic repeated reps times
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=float)
    index = rng.integers(0, len(x), len(x))
    values = np.array([f(x[index]) for _ in range(reps)])
    tail = (1 - confidence) / 2
    return float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail))


def _poi_in_place(x, y):  # sorts the caller's runs
    x.sort()
    y.sort()
    return s06.probability_of_improvement(x, y)


def _global_generators(seed):  # numpy's and torch's global generators, seeded: every run shares them
    np.random.seed(seed)
    return np.random, torch.manual_seed(seed)


def _sparse_loop(a, d, threshold=0.05):  # one pair at a time, math.dist
    a, d = np.asarray(a, dtype=float), np.asarray(d, dtype=float)
    if a.ndim == 1:
        return 0.0 if math.dist(a, d) <= threshold else -1.0
    return np.array([0.0 if math.dist(x, y) <= threshold else -1.0 for x, y in zip(a, d)])


def _episodes_by_search(h, p=0.5, z=1.96):  # bisection on n for the first n that suffices
    low, high = 1, 1
    while z * math.sqrt(p * (1 - p) / high) > h:
        high *= 2
    while low < high:
        middle = (low + high) // 2
        low, high = (middle + 1, high) if z * math.sqrt(p * (1 - p) / middle) > h else (low, middle)
    return low


def _episodes_by_counting(h, p=0.5, z=1.96):  # the first n that suffices, counted up
    n = 1
    while z * math.sqrt(p * (1 - p) / n) > h:
        n += 1
    return n


def _wilson_roots(x, n, z=1.96):  # the two roots of (1 + z^2/n) p^2 - (2 p_hat + z^2/n) p + p_hat^2 = 0
    p = x / n
    roots = np.sort(np.roots([1 + z * z / n, -(2 * p + z * z / n), p * p]).real)
    return float(roots[0]), float(roots[1])


def _wilson_by_bisection(x, n, z=1.96):  # the ends of the set of p that the score test does not reject
    p_hat = x / n
    rejects = lambda p: abs(p_hat - p) > z * math.sqrt(p * (1 - p) / n)  # noqa: E731

    def edge(inside, outside):
        for _ in range(200):
            middle = (inside + outside) / 2
            inside, outside = (inside, middle) if rejects(middle) else (middle, outside)
        return inside
    return (0.0 if not rejects(0.0) else edge(p_hat, 0.0)), (1.0 if not rejects(1.0) else edge(p_hat, 1.0))


def _floor_with_own_stream(env_id, episodes, seed):  # numpy's default_rng(seed): the stream Box.sample draws from
    env = gym.make(env_id)
    rng, box = np.random.default_rng(seed), env.action_space
    outcomes = []
    for i in range(episodes):
        env.reset(seed=seed + i)
        for _ in range(env.spec.max_episode_steps):
            _, _, terminated, truncated, info = env.step(rng.uniform(box.low, box.high, box.shape).astype(box.dtype))
            if terminated or truncated:
                break
        outcomes.append(info["is_success"] == 1.0)
    env.close()
    return outcomes


def _floor_from_course(env_id, episodes, seed):  # the course's evaluator, with a seeded action space of its own
    space = gym.make(env_id).action_space
    space.seed(seed)
    return [c == "1" for c in evaluate(env_id, lambda _o: space.sample(), [seed + i for i in range(episodes)]).outcomes]


def _rtg_matrix(r, g):  # G = D r with D[t, k] = gamma^(k - t) for k >= t
    r = np.asarray(r, dtype=float)
    t = np.arange(len(r))
    return np.triu(np.power(float(g), np.clip(t[None, :] - t[:, None], 0, None))) @ r


def _rtg_filter(r, g):  # a linear filter run backwards: y_t = r_t + gamma y_(t+1)
    return signal.lfilter([1.0], [1.0, -g], np.asarray(r, dtype=float)[::-1])[::-1]


def _gae_matrix(r, v, nv, g, l):  # A = D delta with D[t, k] = (gamma lambda)^(k - t) for k >= t
    return _rtg_matrix(np.asarray(r) + g * np.asarray(nv) - np.asarray(v), g * l)


def _gae_filter(r, v, nv, g, l):
    return _rtg_filter(np.asarray(r) + g * np.asarray(nv) - np.asarray(v), g * l)


def _surrogate_by_sign(ratio, advantage, clip):  # A > 0: min(r, 1 + eps) A; A < 0: max(r, 1 - eps) A
    ratio, advantage = np.asarray(ratio), np.asarray(advantage)
    return np.where(advantage >= 0, np.minimum(ratio, 1 + clip), np.maximum(ratio, 1 - clip)) * advantage


def _surrogate_loop(ratio, advantage, clip):
    return [min(r * a, min(max(r, 1 - clip), 1 + clip) * a) for r, a in zip(ratio, advantage)]


def _rollout_by_episode(r, v, nv, term, trunc, g, l):  # cut the rollout into episodes, GAE on each
    out, start = np.zeros(len(r)), 0
    nv = np.where(term > 0, 0.0, nv)
    for end in [t + 1 for t in range(len(r)) if term[t] or trunc[t]] + [len(r)]:
        if end > start:
            out[start:end] = s02.gae(r[start:end], v[start:end], nv[start:end], g, l)
        start = end
    return out


def _rollout_masks(r, v, nv, term, trunc, g, l):  # Stable-Baselines3's bookkeeping: a mask of the steps that go on
    go_on = 1.0 - np.maximum(term, trunc)
    deltas = r + g * nv * (1.0 - term) - v
    out, last = np.zeros(len(r)), 0.0
    for t in range(len(r) - 1, -1, -1):
        last = deltas[t] + g * l * go_on[t] * last
        out[t] = last
    return out


def _soft_value_policy(q, alpha):  # E_pi[Q] + alpha H(pi) at the Boltzmann policy, pi computed stably
    q = np.asarray(q, dtype=float)
    logits = (q - q.max()) / alpha
    log_pi = logits - np.log(np.sum(np.exp(logits)))
    pi = np.exp(log_pi)
    return float(pi @ q - alpha * np.sum(pi * log_pi))


def _tanh_log_prob_transform(m, ls, u):  # torch's TanhTransform: its log |da/du| is the stable softplus form
    transform = torch.distributions.transforms.TanhTransform()
    return (_gaussian(m, ls, u) - transform.log_abs_det_jacobian(u, torch.tanh(u))).sum(-1)


def _tanh_log_prob_by_hand(m, ls, u):  # the Gaussian density written out; log(1 - tanh^2) = -2 log cosh u
    z = (u - m) / ls.exp()
    log_cosh = torch.logaddexp(u, -u) - math.log(2.0)
    return (-0.5 * z ** 2 - ls - 0.5 * math.log(2 * math.pi) + 2.0 * log_cosh).sum(-1)


class _NoiseFromRandomState(s05.ActionNoise):  # numpy's legacy generator, seeded once
    def __init__(self, env, sigma, seed=0):
        super().__init__(env, sigma, seed)
        self.legacy = np.random.RandomState(seed)

    def action(self, action):
        noisy = np.asarray(action) + self.sigma * self.legacy.standard_normal(np.shape(action))
        return np.minimum(np.maximum(noisy, self.action_space.low), self.action_space.high)


class _NoiseFromTorch(s05.ActionNoise):  # torch's generator, seeded once
    def __init__(self, env, sigma, seed=0):
        super().__init__(env, sigma, seed)
        self.generator = torch.Generator().manual_seed(seed)

    def action(self, action):
        noise = torch.normal(0.0, float(self.sigma), size=np.shape(action), generator=self.generator)
        return np.clip(np.asarray(action) + noise.numpy(), self.action_space.low, self.action_space.high)


def _newcombe_roots(a, na, b, nb, z=1.96):  # each Wilson interval as the roots of its quadratic
    (la, ua), (lb, ub) = _wilson_roots(a, na, z), _wilson_roots(b, nb, z)
    d = a / na - b / nb
    return (d - math.sqrt((a / na - la) ** 2 + (ub - b / nb) ** 2),
            d + math.sqrt((ua - a / na) ** 2 + (b / nb - lb) ** 2))


def _newcombe_scipy(a, na, b, nb, z=1.96):  # scipy's Wilson intervals, at the confidence z stands for
    level = 2 * stats.norm.cdf(z) - 1
    (la, ua), (lb, ub) = (stats.binomtest(k, n).proportion_ci(level, method="wilson") for k, n in ((a, na), (b, nb)))
    d = a / na - b / nb
    return d - math.hypot(a / na - la, ub - b / nb), d + math.hypot(ua - a / na, b / nb - lb)


def _noisy_deepcopy(observation, sigma, rng):
    noisy = copy.deepcopy(observation)
    noisy["observation"] += sigma * rng.standard_normal(noisy["observation"].shape)
    return noisy


def _noisy_with_achieved(observation, sigma, rng):  # the measured achieved goal perturbed too (Chapter 5 allows it)
    return {key: value + rng.normal(0.0, sigma, value.shape) if key != "desired_goal" else value.copy()
            for key, value in observation.items()}


def _iqm_loop(x):
    values = sorted(float(v) for v in x)
    k = len(values) // 4
    middle = values[k:len(values) - k]
    return sum(middle) / len(middle)


def _boot_choice(x, f, reps, seed, confidence=0.95):  # resample the values themselves, one row per replicate
    rng = np.random.default_rng(seed)
    draws = rng.choice(np.asarray(x, dtype=float), size=(reps, len(x)), replace=True)
    values = np.apply_along_axis(f, 1, draws)
    return tuple(np.percentile(values, [50 * (1 - confidence), 50 * (1 + confidence)]))


def _boot_lower(x, f, reps, seed, confidence=0.95):  # a loop, and the order statistic below each quantile
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=float)
    values = [f(x[rng.integers(0, len(x), size=len(x))]) for _ in range(reps)]
    tail = (1 - confidence) / 2
    return (float(np.quantile(values, tail, method="lower")), float(np.quantile(values, 1 - tail, method="higher")))


def _poi_loops(x, y):
    return sum((a > b) + 0.5 * (a == b) for a in x for b in y) / (len(x) * len(y))


def _poi_ranks(x, y):  # U from the rank sum of x in the pooled sample (ties: average ranks)
    ranks = stats.rankdata(np.concatenate([x, y]))
    n, m = len(x), len(y)
    return float((ranks[:n].sum() - n * (n + 1) / 2) / (n * m))


def _poi_scipy(x, y):
    return float(stats.mannwhitneyu(x, y).statistic / (len(x) * len(y)))


def _generators_spawned(seed):  # one seed sequence, spawned for both libraries
    numpy_child, torch_child = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(numpy_child), torch.Generator().manual_seed(int(torch_child.generate_state(1)[0]))


def _polyak_lerp(params, target_params, tau):  # theta' + tau (theta - theta'), in place
    with torch.no_grad():
        for param, target in zip(params, target_params):
            target.lerp_(param, tau)


def _polyak_data(params, target_params, tau):  # the older idiom: rebind each parameter's .data
    for param, target in zip(params, target_params):
        target.data = (1.0 - tau) * target.data + tau * param.data


def _polyak_copy(params, target_params, tau):  # compute the new value, copy it into the tensor
    with torch.no_grad():
        for param, target in zip(params, target_params):
            target.copy_((1.0 - tau) * target + tau * param)


# --- Chapters 4 and 7: the wrong answers and correct answers in other forms that need more than a lambda. A mutant's
# comment names the mistake and its family.

def _future_rounded(t, h, rng):  # a continuous draw on [t, T - 1], rounded: the ends half as likely (known defect)
    return np.round(rng.uniform(t, h - 1)).astype(int)


def _future_shared(t, h, rng):  # one uniform number shared by every transition
    t = np.asarray(t)
    return (t + rng.random() * (h - t)).astype(int)


def _future_reused(t, h, rng):  # one set of uniform numbers reused for the second half of the batch
    t = np.asarray(t)
    u = rng.random((len(t) + 1) // 2)
    return (t + np.concatenate([u, u])[:len(t)] * (h - t)).astype(int)


def _future_in_place(t, h, rng):  # right draws, written into the caller's t
    t += rng.integers(0, h - t)
    return t


def _future_modulo(t, h, rng):  # an offset on the whole episode taken modulo the remaining steps: small ones favoured
    t = np.asarray(t)
    return t + rng.integers(0, h, size=t.shape) % (h - t)


def _future_loop(t, h, rng):  # one draw per transition from the steps that remain
    return np.array([rng.choice(np.arange(x, h)) for x in t])


def _relabel_before(ag, t, j, threshold=0.05):  # the reward from the goal achieved before transition t (off by one)
    return ag[j], -(np.linalg.norm(ag[np.asarray(t) - 1] - ag[j], axis=-1) > threshold).astype(float)


def _relabel_rule(rule):
    """The right goals, the reward decided by ``rule(difference, threshold)`` (a mutant)."""
    return lambda ag, t, j, threshold=0.05: (ag[j], -rule(ag[t] - ag[j], threshold).astype(float))


def _relabel_loop(ag, t, j, threshold=0.05):  # one transition at a time, math.dist
    return (np.array([ag[k] for k in j]),
            np.array([0.0 if math.dist(ag[a], ag[b]) <= threshold else -1.0 for a, b in zip(t, j)]))


def _relabel_torch(ag, t, j, threshold=0.05):  # torch, in float64, with torch.cdist's pairwise distance per row
    a = torch.as_tensor(ag, dtype=torch.float64)
    goals = a[torch.as_tensor(j)]
    distance = torch.cdist(a[torch.as_tensor(t)][:, None, :], goals[:, None, :]).reshape(-1)
    return goals.numpy(), torch.where(distance > threshold, -1.0, 0.0).numpy()


def _sample_clipped_to_episode(ag, s, h, i, rng):  # offsets clipped to the episode's end: 51% on its last step
    return ag[np.minimum(i + rng.integers(0, h, size=np.shape(i)), s[i] + h - 1)]


def _sample_rounded(ag, s, h, i, rng):  # a continuous draw on [i, end - 1], rounded
    return ag[np.round(rng.uniform(i, s[i] + h - 1)).astype(int)]


def _sample_from_copy(ag, s, h, i, rng):  # draws from a copy: the caller's generator never advances
    return ag[copy.deepcopy(rng).integers(i, s[i] + h)]


def _sample_loop(ag, s, h, i, rng):
    return np.array([ag[rng.integers(k, s[k] + h)] for k in i])


def _sample_by_step(ag, s, h, i, rng):  # the step t = i - start; j = start + t + an offset on the T - t steps left
    t = np.asarray(i) - s[i]
    return ag[s[i] + t + np.floor(rng.random(np.shape(i)) * (h - t)).astype(int)]


def _bound_in_place(e):  # right sum, the weights multiplied into the caller's rates
    e = np.asarray(e)
    e *= len(e) - np.arange(len(e))
    return float(e.sum())


def _bound_independent(e):  # another method: the probability of a departure by step t for independent steps
    e = np.asarray(e, dtype=float)
    return float(np.sum(1 - np.cumprod(1 - e)))


def _dagger_into_caller(dataset, visited, expert):  # extends the caller's list in place, returns nothing
    dataset.extend((s, expert(s)) for s in visited)


def _dagger_in_place(dataset, visited, expert):  # extends the list it is given and returns it
    dataset.extend((s, expert(s)) for s in visited)
    return dataset


#: problem label -> wrong implementations its check must reject (the diagnosis problems' stubs are their bugs)
MUTANTS = {
    "ch00.1": [lambda a, d, threshold=0.05: -(np.linalg.norm(np.asarray(a) - d, axis=-1) >= threshold).astype(float) + 0,
               lambda a, d, threshold=0.05: (np.linalg.norm(np.asarray(a) - d, axis=-1) > threshold).astype(float),
               lambda a, d, threshold=0.05: -1.0 * (np.linalg.norm(np.asarray(a) - d) > threshold)
               * np.ones(len(np.atleast_2d(a))),  # one norm over the whole batch
               lambda a, d, threshold=0.05: -(np.abs(np.asarray(a) - d).max(-1) > threshold).astype(float),  # L-inf
               lambda a, d, threshold=0.05: -(np.abs(np.asarray(a) - d).sum(-1) > threshold).astype(float),  # L1
               lambda a, d, threshold=0.05: -1.0 * (np.linalg.norm(np.asarray(a) - d, axis=-1) > 0.05),  # default
               lambda a, d, threshold=0.05: -1.0 * (np.linalg.norm((np.asarray(a) - d)[..., :2], axis=-1) > threshold),
               lambda a, d, threshold=0.05: -1.0 * (((np.asarray(a) - d) ** 2).sum(-1) > threshold),  # squared distance
               lambda a, d, threshold=0.05: -1.0 * (np.linalg.norm(np.asarray(a) - d, axis=-1) / 3 ** 0.5 > threshold),
               lambda a, d, threshold=0.05: -1.0 * (np.linalg.norm(np.asarray(a) - d, axis=0) > threshold),  # axis 0
               _sparse_in_place],
    "ch00.3": [lambda a, d: -np.linalg.norm(np.asarray(a) - d, axis=-1) ** 2,  # squared distance
               lambda a, d: -np.abs(np.asarray(a) - d).sum(-1),  # L1
               lambda a, d: -np.abs(np.asarray(a) - d).max(-1),  # L-infinity
               lambda a, d: -(np.linalg.norm(np.asarray(a) - d, axis=-1) - 0.05),  # distance beyond the threshold
               lambda a, d: -np.linalg.norm(np.asarray(a) - d),  # one norm over the whole batch
               lambda a, d: -np.linalg.norm((np.asarray(a) - d)[..., :2], axis=-1),  # the height dropped
               _dense_in_place],
    "ch00.2": [lambda h, p=0.5, z=1.96: round(z * z * p * (1 - p) / h ** 2),
               lambda h, p=0.5, z=1.96: math.ceil(z * z / (4 * h * h)),
               lambda h, p=0.5, z=1.96: math.ceil(1.96 ** 2 * p * (1 - p) / h ** 2),  # z hard-coded
               lambda h, p=0.5, z=1.96: math.ceil(z * z * p * (1 - p) / h ** 2) + 1,  # one too many
               lambda h, p=0.5, z=1.96: int(z * z * p * (1 - p) / h ** 2),  # truncated: one too few
               lambda h, p=0.5, z=1.96: np.ceil(z * z * p * (1 - p) / h ** 2),  # a float
               lambda h, p=0.5, z=1.96: math.ceil(z * z * p * (1 - p) / (2 * h) ** 2),  # h taken as the full width
               _hoeffding_episodes],
    "ch01.1": [_wald, lambda x, n, z=1.96: (max(0.0, _wald(x, n)[0]), min(1.0, _wald(x, n)[1])),
               lambda x, n, z=1.96: s01.wilson_interval(x, n),  # z hard-coded
               lambda x, n, z=1.96: s01.wilson_interval(x, n + 1, z),  # one trial too many
               _agresti_coull,
               lambda x, n, z=1.96: tuple(stats.binomtest(x, n).proportion_ci(2 * stats.norm.cdf(z) - 1)),  # exact
               lambda x, n, z=1.96: tuple(stats.binomtest(x, n).proportion_ci(2 * stats.norm.cdf(z) - 1, "wilsoncc"))],
    "ch01.2": [lambda env_id, episodes, seed: [False] * episodes, _floor_wrong_seeding,
               lambda e, n, s: _floor_protocol(e, n, s, action_seed=lambda s, i: 0 if i == 0 else None),  # seed 0
               lambda e, n, s: _floor_protocol(e, n, s, reset_seed=lambda s, i: s + i + 1),  # reset seeds off by one
               lambda e, n, s: _floor_protocol(e, n, s, criterion=any),  # success at any step
               lambda e, n, s: _floor_protocol(e, n, s, action_seed=lambda s, i: s),  # one action stream, repeated
               lambda e, n, s: _floor_protocol(e, n, s, reset_seed=lambda s, i: s if i == 0 else None)],  # one seeded
    "ch01.3": [lambda v: bool(v[0]),  # the first step
               lambda v: bool(v[-2]),  # the step before the last
               lambda v: float(np.mean(v)) > 0.5,  # most steps
               lambda v: bool(min(v))],  # every step
    "ch02.1": [lambda r, g: np.cumsum(r[::-1])[::-1] * 1.0,
               lambda r, g: np.array([sum(g ** (k + t) * x for k, x in enumerate(r[t:])) for t in range(len(r))]),
               lambda r, g: s02.rewards_to_go(r, 0.99),  # gamma hard-coded
               lambda r, g: np.append(s02.rewards_to_go(r, g)[1:], 0.0),  # from t + 1: the own reward left out
               lambda r, g: (s02.rewards_to_go(r, g) - s02.rewards_to_go(r, g).mean()) / s02.rewards_to_go(r, g).std(),
               lambda r, g: np.array([sum(g ** (t - k) * r[k] for k in range(t + 1)) for t in range(len(r))]),  # past
               _rtg_in_place],
    "ch02.2": [lambda r, v, nv, g, l: r + g * nv - v,
               lambda r, v, nv, g, l: s02.gae(r, v, nv, g, 1.0),
               lambda r, v, nv, g, l: s02.gae(r, v, nv, 0.99, l),  # gamma hard-coded
               lambda r, v, nv, g, l: s02.gae(r, v, nv, g, 0.95),  # lambda hard-coded
               _gae_without_gamma,
               lambda r, v, nv, g, l: s02.gae(r, v, np.append(np.asarray(v)[1:], 0.0), g, l),  # no bootstrap at the end
               lambda r, v, nv, g, l: (lambda a: (a - a.mean()) / a.std())(s02.gae(r, v, nv, g, l)),  # standardised
               lambda r, v, nv, g, l: s02.gae(r, v, nv, g, l) + v,  # the returns, not the advantages
               _gae_in_place],
    "ch02.3": [lambda ratio, a, c: np.clip(ratio, 1 - c, 1 + c) * a,
               lambda ratio, a, c: np.maximum(ratio * a, np.clip(ratio, 1 - c, 1 + c) * a),
               lambda ratio, a, c: s02.clipped_surrogate(ratio, a, 0.2),  # clip hard-coded
               lambda ratio, a, c: (np.minimum(ratio, 1 + c) if np.mean(a) > 0 else np.maximum(ratio, 1 - c)) * a,
               lambda ratio, a, c: np.mean(s02.clipped_surrogate(ratio, a, c)),  # the batch's mean
               lambda ratio, a, c: -s02.clipped_surrogate(ratio, a, c),  # the loss, not the objective
               lambda ratio, a, c: np.minimum(ratio * a, np.clip(ratio, 1 / (1 + c), 1 + c) * a),  # another range
               _surrogate_in_place],
    "ch02.4": [lambda r, v, nv, te, tr, g, l: _rollout(r, v, nv, te, tr, g, l, stop=te),  # stops at terminations only
               lambda r, v, nv, te, tr, g, l: _rollout(r, v, nv, te, tr, g, l, mask_next=np.maximum(te, tr)),
               lambda r, v, nv, te, tr, g, l: _rollout(r, v, nv, te, tr, g, l, mask_next=np.zeros_like(te)),
               lambda r, v, nv, te, tr, g, l: _rollout(r, v, nv, te, tr, g, l, stop=_one_late(te, tr)),
               lambda r, v, nv, te, tr, g, l: _rollout(r, v, nv, te, tr, 0.99, l),  # gamma hard-coded
               lambda r, v, nv, te, tr, g, l: _rollout(r, v, nv, te, tr, g, 0.95)],  # lambda hard-coded
    "ch03.1": [lambda q, alpha: float(np.max(q)),
               lambda q, alpha: float(alpha * np.log(np.sum(np.exp(np.asarray(q) / alpha)))),  # overflows
               lambda q, alpha: s03.soft_value(q, 1.0),  # alpha hard-coded
               lambda q, alpha: s03.soft_value(q, alpha) - alpha * math.log(len(q)),  # log-mean-exp
               _soft_value_no_scale,
               _boltzmann_mean_q,
               lambda q, alpha: s03.soft_value(np.asarray(q)[:-1], alpha),  # the last action left out
               lambda q, alpha: s03.soft_value(np.asarray(q) - np.max(q), alpha)],  # the maximum not added back
    "ch03.2": [lambda m, ls, u: torch.distributions.Normal(m, ls.exp()).log_prob(u).sum(-1),
               lambda m, ls, u: (torch.distributions.Normal(m, ls.exp()).log_prob(u)
                                 - torch.log(1 - torch.tanh(u) ** 2)).sum(-1),
               lambda m, ls, u: (_gaussian(m, ls, u) - torch.log(1 - torch.tanh(u) ** 2 + 1e-6)).sum(-1),  # SB3's
               lambda m, ls, u: (_gaussian(m, ls, u) - torch.log((1 - torch.tanh(u) ** 2).clamp(min=1e-6))).sum(-1),
               lambda m, ls, u: (_gaussian(m, ls, u) - _log_det(u)).sum(0),  # over the batch, not the dimensions
               lambda m, ls, u: s03.tanh_gaussian_log_prob(m, ls, u) / u.shape[-1],  # averaged over dimensions
               lambda m, ls, u: (_gaussian(m, ls, u) + _log_det(u)).sum(-1),  # the correction added
               lambda m, ls, u: s03.tanh_gaussian_log_prob(m, 2 * ls, u),  # the variance taken for the std
               lambda m, ls, u: s03.tanh_gaussian_log_prob(m[..., :-1], ls[..., :-1], u[..., :-1]),  # a dimension lost
               lambda m, ls, u: s03.tanh_gaussian_log_prob(m, ls, u).detach()],  # no gradient
    "ch03.3": [lambda la, lp, t: (la * (lp + t).detach()).mean(),
               lambda la, lp, t: -(la * (lp + t)).mean(),
               lambda la, lp, t: s03.temperature_loss(la, lp, -4.0),  # the target hard-coded to -dim(A)
               lambda la, lp, t: -(la * (lp - t).detach()).mean(),  # the target's sign
               lambda la, lp, t: -(la * (lp + t).detach()).sum(),  # the batch summed
               lambda la, lp, t: -(la * (lp[0] + t).detach()).mean(),  # the first sample only
               lambda la, lp, t: s03.temperature_loss(la.detach(), lp, t)],  # log alpha detached
    "ch03.4": [_polyak_list_assign, _polyak_swapped, _polyak_weights_swapped, _polyak_fixed_tau, _polyak_skip_last,
               lambda params, targets, tau: [t.data.copy_(p) for p, t in zip(params, targets)],  # a hard update
               _polyak_on_clones],
    "ch04.1": [lambda k: 1 / (k + 1), lambda k: k / (k + 2),
               lambda k: 0.8,  # the paper's k = 4 hard-coded
               lambda k: (k - 1) / k if k else 0.0,  # one copy too few (off by one)
               lambda k: k // (k + 1),  # integer division
               lambda k: round(k / (k + 1), 2),  # rounded to two digits
               lambda k: 1 - 0.5 ** k],  # another closed form that agrees at k = 0 and 1
    "ch04.2": [lambda t, h, rng: rng.integers(np.asarray(t) + 1, h + 1) - 0,  # {t + 1, ..., T}: off by one
               lambda t, h, rng: rng.integers(0, h, size=np.shape(t)),  # the `episode` strategy
               lambda t, h, rng: np.minimum(rng.integers(np.asarray(t), h + 5), h - 1),  # clipped to the end
               _future_rounded,
               lambda t, h, rng: np.floor(rng.uniform(t, h)),  # right draws, as floats
               lambda t, h, rng: rng.integers(t, 50),  # the horizon hard-coded
               lambda t, h, rng: np.minimum(rng.integers(np.asarray(t) + 1, h + 1), h - 1),  # no j = t, clipped
               lambda t, h, rng: rng.integers(t, h - 1),  # j = T - 1 excluded (off by one)
               lambda t, h, rng: np.minimum(rng.integers(t, h - 1 + (np.asarray(t) == h - 1)), h - 1),  # the same
               _future_shared, _future_reused,
               lambda t, h, rng: np.random.randint(t, h),  # numpy's global generator, not the one given
               lambda t, h, rng: copy.deepcopy(rng).integers(t, h),  # a copy of the generator: it never advances
               lambda t, h, rng: np.random.default_rng(0).integers(t, h),  # a generator of its own
               _future_in_place, _future_modulo,
               lambda t, h, rng: np.maximum(t, rng.integers(0, h, size=np.shape(t))),  # episode draws clipped to t
               lambda t, h, rng: np.minimum(np.round(rng.uniform(t, h)).astype(int), h - 1)],  # rounded, clipped
    "ch04.3": [lambda ag, t, j, threshold=0.05: (ag[t], np.zeros(len(t), dtype=np.float32)),
               lambda ag, t, j, threshold=0.05: s04.relabel(ag, t, np.maximum(np.asarray(j) - 1, 0), threshold),
               lambda ag, t, j, threshold=0.05: s04.relabel(ag, t, j),  # the threshold hard-coded
               _relabel_before,
               lambda ag, t, j, threshold=0.05: (ag[np.minimum(np.asarray(j) + 1, len(ag) - 1)],  # after j + 1
                                                 s04.relabel(ag, t, j, threshold)[1]),
               _relabel_rule(lambda d, e: np.linalg.norm(d, axis=-1) >= e),  # a distance of exactly e fails
               _relabel_rule(lambda d, e: np.abs(d).max(-1) > e),  # L-infinity
               _relabel_rule(lambda d, e: np.abs(d).sum(-1) > e),  # L1
               _relabel_rule(lambda d, e: (d ** 2).sum(-1) > e),  # the squared distance against e
               _relabel_rule(lambda d, e: -(np.linalg.norm(d, axis=-1) <= e)),  # 1 on success, 0 otherwise
               lambda ag, t, j, threshold=0.05: (ag[j], -np.linalg.norm(ag[t] - ag[j], axis=-1)),  # the dense reward
               _relabel_rule(lambda d, e: np.linalg.norm(d, axis=0) > e),  # the norm over the batch's axis
               _relabel_rule(lambda d, e: np.linalg.norm(d[:, :2], axis=-1) > e)],  # the height dropped
    "ch04.4": [lambda ag, s, h, i, rng: ag[s[i] + (i - s[i] + rng.integers(0, h, size=np.shape(i))) % h],  # wraps
               _sample_clipped_to_episode,
               lambda ag, s, h, i, rng: ag[i],  # j = t only
               _sample_rounded,
               lambda ag, s, h, i, rng: ag[rng.integers(i, s[i] + 50)],  # the horizon hard-coded
               lambda ag, s, h, i, rng: ag[rng.integers(np.minimum(i + 1, s[i] + h - 1), s[i] + h)],  # no j = t
               lambda ag, s, h, i, rng: ag[rng.integers(i, s[i] + h - 1 + (i == s[i] + h - 1))],  # T - 1 excluded
               lambda ag, s, h, i, rng: ag[np.minimum(rng.integers(i, i + h), len(ag) - 1)],  # clipped to the buffer
               lambda ag, s, h, i, rng: ag[rng.integers(s[i], s[i] + h)],  # the `episode` strategy
               _sample_from_copy,
               lambda ag, s, h, i, rng: ag[np.random.randint(i, s[i] + h)],  # numpy's global generator
               lambda ag, s, h, i, rng: ag[(i + rng.random() * (s[i] + h - i)).astype(int)]],  # one draw shared
    "ch05.1": [_NoClip, lambda env, sigma, seed=0: s05.ActionNoise(env, sigma, None), _SharedNoise, _ClipUnitBox,
               _FixedSigma, _Reseeded, _DrawnOnce, _UniformNoise, _VarianceAsStd, _ArmOnly, _NoiseInPlace],
    "ch05.2": [lambda a, na, b, nb, z=1.96: (a / na - b / nb - 0.1, a / na - b / nb + 0.1),
               lambda a, na, b, nb, z=1.96: (a / na - b / nb - math.hypot(*(_wald(a, na)[0] - a / na, _wald(b, nb)[1] - b / nb)),
                                             a / na - b / nb + 0.05),
               lambda a, na, b, nb, z=1.96: s05.newcombe_interval(a, na, b, nb),  # z hard-coded
               lambda a, na, b, nb, z=1.96: _newcombe(a, na, b, nb, z, math.hypot, pairing="wrong"),  # l_a with l_b
               lambda a, na, b, nb, z=1.96: _newcombe(a, na, b, nb, z, lambda u, v: u + v),  # added, not in quadrature
               lambda a, na, b, nb, z=1.96: _newcombe(a, na, b, nb, z, math.hypot, trials_extra=1),  # n + 1 trials
               lambda a, na, b, nb, z=1.96: (lambda d, s: (d - z * s, d + z * s))(  # Wald's difference interval
                   a / na - b / nb, math.sqrt(a / na * (1 - a / na) / na + b / nb * (1 - b / nb) / nb))],
    "ch05.3": [_noisy_shared, _noisy_in_place, _noisy_global, _noisy_reseeded, _noisy_fixed_sigma, _noisy_variance,
               _noisy_but_last, _noisy_assigns_argument],
    "ch06.1": [lambda x: float(np.mean(x)), lambda x: float(np.median(x)),
               _iqm_cut(lambda n: round(n / 4)), _iqm_cut(lambda n: math.ceil(n / 4)), _iqm_percentile, _iqm_in_place,
               _iqm_over_n, lambda x: float(np.sort(x)[len(x) // 4:].mean())],  # the lowest quarter only
    "ch06.2": [lambda x, f, reps, seed, confidence=0.95: (float(f(x)) - 0.01, float(f(x)) + 0.01),
               lambda x, f, reps, seed, confidence=0.95: s06.bootstrap_interval(x, f, reps, seed + 1, confidence)
               if reps > 1000 else (0.0, 0.1),
               lambda x, f, reps, seed, confidence=0.95: _boot(x, f, reps, seed, confidence, statistic=np.mean),
               lambda x, f, reps, seed, confidence=0.95: _boot(x, f, reps, seed, confidence, tail=lambda c: 1 - c),
               lambda x, f, reps, seed, confidence=0.95: _boot(x, f, reps, seed, confidence, method="normal"),
               lambda x, f, reps, seed, confidence=0.95: _boot(x, f, reps, seed, confidence, method="basic"),
               lambda x, f, reps, seed, confidence=0.95: _boot(x, f, reps, seed, confidence, reps_of=1000),
               lambda x, f, reps, seed, confidence=0.95: _boot(x, f, reps, seed),  # confidence hard-coded
               lambda x, f, reps, seed, confidence=0.95: _boot(x, f, reps, seed, confidence,
                                                               draw=lambda rng, n: rng.integers(0, n - 1, n)),
               lambda x, f, reps, seed, confidence=0.95: _boot(x, f, reps, seed, confidence,
                                                               draw=lambda rng, n: rng.permutation(n)),
               lambda x, f, reps, seed, confidence=0.95: _boot(x, f, reps, seed, confidence,
                                                               draw=lambda rng, n: rng.integers(0, n, n - 1)),
               _boot_same_resample,
               lambda x, f, reps, seed, confidence=0.95: _boot(x, f, reps, seed, confidence, seed_of=lambda s: None),
               lambda x, f, reps, seed, confidence=0.95: _boot(x, f, reps, seed, confidence, seed_of=lambda s: 0)],
    "ch06.3": [lambda x, y: float(np.mean(np.asarray(x)[:, None] > np.asarray(y)[None, :])),
               lambda x, y: float(np.mean(x) > np.mean(y)),
               lambda x, y: float(np.mean(np.asarray(x)[:, None] >= np.asarray(y)[None, :])),  # ties as wins
               lambda x, y: s06.probability_of_improvement(y, x),  # the pairs compared the other way round
               lambda x, y: float(np.mean([(a > b) + 0.5 * (a == b) for a, b in zip(x, y)])),  # run i with run i
               lambda x, y: s06.probability_of_improvement(x, y) * len(y) / len(x),  # divided by n^2
               _poi_in_place,
               lambda x, y: s06.probability_of_improvement(x[1:], y)],  # the first run dropped
    "ch06.4": [lambda seed: (np.random.default_rng(seed), torch.Generator().manual_seed(0)),  # torch's seed fixed
               lambda seed: (np.random.default_rng(0), torch.Generator().manual_seed(seed)),  # numpy's seed fixed
               _global_generators,
               lambda seed: (np.random.default_rng(seed or None), torch.Generator().manual_seed(seed)),  # 0 unseeded
               lambda seed: (np.random.default_rng(seed), torch.Generator())],  # torch's default seed
    "ch07.1": [lambda e: len(e) ** 2 * float(np.mean(e)), lambda e: float(np.sum(e)),
               lambda e: float(np.sum((len(e) - np.arange(len(e)) - 1) * e)),  # T - i - 1: off by one
               lambda e: float(np.sum((len(e) - np.arange(len(e)) + 1) * e)),  # T - i + 1: off by one
               lambda e: float(np.sum((np.arange(len(e)) + 1) * np.asarray(e))),  # the weights reversed
               lambda e: float(len(e) * np.sum(e)),  # T sum e: the relaxation
               lambda e: float(np.mean(np.cumsum(e))),  # divided by T
               lambda e: float(np.sum(np.cumsum(e)[:-1])),  # the last step's term lost
               lambda e: float(np.sum((50 - np.arange(len(e))) * np.asarray(e))),  # T hard-coded
               _bound_in_place, _bound_independent,
               lambda e: np.cumsum(np.cumsum(e))],  # the partial sums, not one number
    "ch07.2": [lambda qd, qp: qd.mean(0) > qp.mean(0), lambda qd, qp: qd[0] > qp[0],
               lambda qd, qp: qd.min(0).values >= qp.min(0).values,  # not strict
               lambda qd, qp: qd.max(0).values > qp.max(0).values,
               lambda qd, qp: qd[1] > qp[1],  # the second critic alone
               lambda qd, qp: (qd > qp).all(0),  # another method: both critics prefer the demonstration
               lambda qd, qp: (qd > qp).any(0),  # either critic prefers it
               lambda qd, qp: qd.min(0).values > qp.mean(0),  # each side valued otherwise
               lambda qd, qp: (qd.min(0).values > qp.min(0).values).float(),  # not a boolean mask
               lambda qd, qp: qd.min(1).values > qp.min(1).values,  # the minimum over the batch's axis
               lambda qd, qp: qd.min(0).values < qp.min(0).values,  # the comparison reversed
               lambda qd, qp: qd.sub_(qp).min(0).values > 0,  # the caller's values overwritten
               lambda qd, qp: qd.sum(0) > qp.sum(0)],
    "ch07.3": [lambda pa, da, m: ((pa - da) ** 2).sum(-1)[m].mean(),  # divided by the kept rows
               lambda pa, da, m: ((pa - da) ** 2).sum(-1).mean(),  # the mask ignored
               lambda pa, da, m: ((pa - da) ** 2).mean(-1)[m].sum() / len(m),  # the mean over dimensions
               lambda pa, da, m: s07.cloning_loss(pa, da, m).detach(),  # no gradient reaches the actor
               lambda pa, da, m: ((pa - da).norm(dim=-1) * m).mean(),  # the norm, not its square
               lambda pa, da, m: (((pa - da) ** 2).sum(-1) * m).sum(),  # not divided
               lambda pa, da, m: (((pa - da) ** 2) * m[:, None]).mean(),  # divided by B_D x dim
               lambda pa, da, m: torch.nn.functional.mse_loss(pa[m], da[m]) if m.any() else pa.sum() * 0,
               lambda pa, da, m: s07.cloning_loss(pa, da, ~m),  # the mask inverted
               lambda pa, da, m: ((pa - da).sum(-1) ** 2 * m).mean(),  # squared after summing the dimensions
               lambda pa, da, m: 0.5 * s07.cloning_loss(pa, da, m),  # a 1/2 in front
               lambda pa, da, m: s07.cloning_loss(pa, da, m.flip(0)),  # the mask's rows reversed
               lambda pa, da, m: s07.cloning_loss(pa, da, m).item(),  # a float, not a tensor
               lambda pa, da, m: (((pa - da) ** 2).sum(-1) * m).sum() / max(int(m.sum()), 1)],  # by the kept rows
    "ch07.4": [lambda d, v, ex: [(ex(s), s) for s in v] + d,  # (action, state) pairs (known)
               lambda d, v, ex: d[1:] + [(s, ex(s)) for s in v],  # the oldest pair dropped
               lambda d, v, ex: d + [(s, ex(s)) for s in v[:-1]],  # the last state visited dropped
               lambda d, v, ex: d + [(s, ex(v[0])) for s in v],  # one label shared by every state
               lambda d, v, ex: d + list(zip(v, [ex(s) for s in np.roll(v, 1, 0)])),  # labels off by one
               _dagger_into_caller,
               lambda d, v, ex: d[-len(v):] + [(s, ex(s)) for s in v],  # only one round's worth kept
               lambda d, v, ex: d + [(v, ex(v))],  # one pair holding the whole round
               lambda d, v, ex: d + [(s, ex(s)) for s in v] + [(s, ex(s)) for s in v[:1]],  # a state added twice
               lambda d, v, ex: [(a, s) for s, a in d] + [(s, ex(s)) for s in v]],  # the kept pairs swapped
}


#: problem label -> correct implementations in another form than the reference solution's, which its check must pass
#: (for a diagnosis problem: its repaired form)
ALTERNATIVES = {
    "ch00.1": [_sparse_loop,
               lambda a, d, threshold=0.05: -(np.einsum("...i,...i->...", np.asarray(a) - d, np.asarray(a) - d)
                                              > threshold ** 2).astype(np.float32),  # squared, against threshold^2
               lambda a, d, threshold=0.05: np.where(np.sqrt(np.sum((np.asarray(a) - d) ** 2, axis=-1)) <= threshold,
                                                     0.0, -1.0)],
    "ch00.2": [_episodes_by_search, _episodes_by_counting,
               lambda h, p=0.5, z=1.96: int(np.ceil((z / h) ** 2 * p * (1 - p)))],
    "ch00.3": [lambda a, d: -np.sqrt(np.sum((np.asarray(a) - np.asarray(d)) ** 2, axis=-1)),
               lambda a, d: -np.hypot.reduce(np.asarray(a) - np.asarray(d), axis=-1),
               lambda a, d: -np.array([math.dist(x, y) for x, y in zip(np.atleast_2d(a), np.atleast_2d(d))]
                                      ).reshape(np.shape(a)[:-1])],
    "ch01.1": [_wilson_roots, _wilson_by_bisection],
    "ch01.2": [_floor_with_own_stream, _floor_from_course],
    "ch01.3": [lambda v: float(np.asarray(v, dtype=float)[-1]) > 0.5,
               lambda v: [bool(x) for x in v][len(v) - 1]],
    "ch02.1": [_rtg_matrix, _rtg_filter],
    "ch02.2": [_gae_matrix, _gae_filter],
    "ch02.3": [_surrogate_by_sign, _surrogate_loop,
               lambda r, a, c: torch.min(torch.as_tensor(r) * torch.as_tensor(a),
                                         torch.clamp(torch.as_tensor(r), 1 - c, 1 + c) * torch.as_tensor(a)).numpy()],
    "ch02.4": [_rollout_by_episode, _rollout_masks],
    "ch03.1": [_soft_value_policy,
               lambda q, alpha: alpha * float(np.logaddexp.reduce(np.asarray(q, dtype=float) / alpha)),
               lambda q, alpha: float(alpha * torch.logsumexp(torch.as_tensor(q, dtype=torch.float64) / alpha, 0))],
    "ch03.2": [_tanh_log_prob_transform, _tanh_log_prob_by_hand,
               lambda m, ls, u: (_gaussian(m, ls, u) - 2.0 * (math.log(2.0) - u.abs()
                                                              - torch.nn.functional.softplus(-2.0 * u.abs()))).sum(-1)],
    "ch03.3": [lambda la, lp, t: -(la.exp() * (lp + t).detach()).mean(),  # alpha in the loss
               lambda la, lp, t: la.squeeze() * (-lp.detach().mean() - t)],  # log alpha (entropy - target)
    "ch03.4": [_polyak_lerp, _polyak_data, _polyak_copy],
    "ch05.1": [_NoiseFromRandomState, _NoiseFromTorch],
    "ch05.2": [_newcombe_roots, _newcombe_scipy],
    "ch05.3": [_noisy_deepcopy, _noisy_with_achieved],
    "ch06.1": [_iqm_loop, lambda x: float(stats.trim_mean(x, 0.25))],
    "ch06.2": [_boot_choice, _boot_lower],
    "ch06.3": [_poi_loops, _poi_ranks, _poi_scipy],
    "ch06.4": [_generators_spawned,
               lambda seed: (np.random.Generator(np.random.PCG64(seed)), torch.Generator().manual_seed(seed)),
               lambda seed: (np.random.RandomState(seed), torch.Generator().manual_seed(seed))],
    "ch04.1": [lambda k: 1 - 1 / (k + 1), lambda k: float(Fraction(k, k + 1)),
               lambda k: sum(copy > 0 for copy in range(k + 1)) / (k + 1)],  # count the relabelled copies
    "ch04.2": [lambda t, h, rng: (np.asarray(t) + rng.random(np.shape(t)) * (h - np.asarray(t))).astype(np.int64),
               _future_loop,
               lambda t, h, rng: np.floor(rng.uniform(t, h)).astype(int),
               lambda t, h, rng: np.asarray(t) + rng.integers(0, h - np.asarray(t))],
    "ch04.3": [_relabel_loop, _relabel_torch,
               lambda ag, t, j, threshold=0.05: (np.take(ag, j, axis=0), np.where(  # squared, against threshold^2
                   np.einsum("ij,ij->i", ag[t] - ag[j], ag[t] - ag[j]) > threshold ** 2, -1.0, 0.0))],
    "ch04.4": [lambda ag, s, h, i, rng: ag[i + rng.integers(0, s[i] + h - i)], _sample_loop, _sample_by_step,
               lambda ag, s, h, i, rng: ag[rng.integers(i, i - i % h + h)]],  # episodes lie at multiples of T
    "ch07.1": [lambda e: float(np.cumsum(e).sum()), lambda e: float(np.dot(np.arange(len(e), 0, -1), e)),
               lambda e: sum(sum(e[:t]) for t in range(1, len(e) + 1)),  # the double sum, as derived
               lambda e: float(len(e) * np.sum(e) - np.sum(np.arange(len(e)) * e))],
    "ch07.2": [lambda qd, qp: torch.minimum(qd[0], qd[1]) > torch.minimum(qp[0], qp[1]),
               lambda qd, qp: torch.as_tensor(np.min(qd.numpy(), 0) > np.min(qp.numpy(), 0)),
               lambda qd, qp: -(-qd).max(0).values > qp.amin(0),
               lambda qd, qp: torch.tensor([min(a.tolist()) > min(b.tolist()) for a, b in zip(qd.T, qp.T)])],
    "ch07.3": [lambda pa, da, m: torch.nn.functional.mse_loss(pa * m[:, None], da * m[:, None], reduction="sum")
               / len(m),
               lambda pa, da, m: torch.where(m, ((pa - da) ** 2).sum(-1), torch.zeros(())).sum() / m.shape[0],
               lambda pa, da, m: torch.einsum("bi,bi,b->", pa - da, pa - da, m.to(pa.dtype)) / len(m),
               lambda pa, da, m: sum(((pa[i] - da[i]) ** 2).sum() for i in range(len(m)) if m[i]) / len(m)
               + 0 * pa.sum()],  # a loop over the kept rows
    "ch07.4": [lambda d, v, ex: list(d) + list(zip(v, map(ex, v))), _dagger_in_place,
               lambda d, v, ex: [*d, *((s.copy(), ex(s)) for s in v)],
               lambda d, v, ex: [(s, ex(s)) for s in v] + [(s, ex(s)) for s, _ in d]],  # the old states relabelled
}


@pytest.mark.parametrize("label", sorted(ALTERNATIVES))
def test_correct_answers_in_other_forms_pass(label):
    problem = next(p for p in ALL if p.label == label)
    assert len(ALTERNATIVES[label]) >= 2, label
    for i, alternative in enumerate(ALTERNATIVES[label]):
        outcome = run_check(problem, alternative, "alternative")
        assert outcome.passed, f"alternative {i} of {label}: {outcome.message}"


def _hint(label, implementation):
    outcome = run_check(next(p for p in ALL if p.label == label), implementation, "mutant")
    assert not outcome.passed and outcome.message.startswith("hint:"), outcome.message
    return outcome.message


def test_hints_state_the_measured_property_not_an_unestablished_cause():
    # Stable-Baselines3's log(1 - tanh(u)^2 + 1e-6) has the change of variables; its hint measures where it is off
    sb3 = _hint("ch03.2", MUTANTS["ch03.2"][2])
    assert "|u| <= 2 by up to" in sb3 and "some |u| >= 6 by up to" in sb3 and "Gaussian's density of u" not in sb3
    assert "Gaussian's density of u" in _hint("ch03.2", MUTANTS["ch03.2"][0])  # measured: equal to log N(u)
    # a generator re-seeded at every call repeats one noise: reported as such, not as a wrong scale
    reseeded = _hint("ch05.1", _Reseeded)
    assert "the same on all" in reseeded and "standard deviation" not in reseeded
    assert "correlation 1.00" in _hint("ch05.1", _SharedNoise) and "correlation 1.00" in _hint("ch05.3", _noisy_shared)
    # norms: named only where the rewards match them pair by pair
    assert "L-infinity" in _hint("ch00.1", MUTANTS["ch00.1"][3]) and "L1" in _hint("ch00.1", MUTANTS["ch00.1"][4])
    assert "L1" not in _hint("ch00.1", MUTANTS["ch00.1"][2])  # all -1: no norm singled out
    # the temperature's hint prints the entropy it measured, never "-0"
    assert "-0 " not in _hint("ch03.3", MUTANTS["ch03.3"][0])


def test_every_chapter_has_a_problem_set_of_three_to_six_mixing_the_kinds():
    for chapter in CHAPTERS:
        found = problems(chapter)
        assert 3 <= len(found) <= 6, chapter
        assert [p.number for p in found] == list(range(1, len(found) + 1))
        assert {"implementation", "diagnosis"} <= {p.kind for p in found} or {"derivation", "diagnosis"} <= {
            p.kind for p in found}, chapter
    assert {"derivation", "implementation", "diagnosis"} == {p.kind for p in ALL}
    assert sum(p.kind == "diagnosis" for p in ALL) == len(CHAPTERS), "one planted bug per chapter"


@pytest.mark.parametrize("problem", ALL, ids=lambda p: p.label)
def test_the_reference_solution_passes(problem):
    module = load_module(solution_path(problem.chapter))
    outcome = run_check(problem, getattr(module, problem.function), "solution")
    assert outcome.passed, outcome.message


@pytest.mark.parametrize("problem", ALL, ids=lambda p: p.label)
def test_the_untouched_stub_fails_clearly(problem):
    module = load_module(stub_path(problem.chapter))
    outcome = run_check(problem, getattr(module, problem.function), "ch.py")
    assert not outcome.passed
    if problem.kind == "diagnosis":  # the planted bug is caught, and the reader is shown a symptom
        assert outcome.message.startswith("hint: symptom:"), outcome.message
    else:
        assert "not attempted yet" in outcome.message and problem.function in outcome.message


@pytest.mark.parametrize("label", sorted(MUTANTS))
def test_wrong_answers_are_caught(label):
    problem = next(p for p in ALL if p.label == label)
    for i, mutant in enumerate(MUTANTS[label]):
        outcome = run_check(problem, mutant, "mutant")
        assert not outcome.passed, f"mutant {i} of {label} passed"
        assert outcome.message.startswith(("hint:", f"{problem.function} raised")), outcome.message


def _other_episodes_goal(ag, start, horizon, index, rng):  # HER's `random` idea: a goal of a stored episode, any one
    episode = rng.integers(0, len(ag) // horizon, size=np.shape(index))
    return ag[episode * horizon + rng.integers(0, horizon, size=np.shape(index))]


def test_problem_4_4_names_the_planted_codes_real_defects_and_no_false_cause():
    problem = next(p for p in ALL if p.label == "ch04.4")
    planted = run_check(problem, load_module(stub_path("ch04")).sample_future_goals, "ch.py")
    assert not planted.passed
    assert "runs past the buffer's end (IndexError)" in planted.message  # defect 1: indexing past the buffer
    assert "are not the goal achieved after a step j in {t, ..., T - 1}" in planted.message  # defect 2: not `future`
    assert "(24% for t < 25, 74% for t >= 25)" in planted.message  # measured: leaving the episode grows with t
    # a goal from another stored episode is a valid relabelling (HER's `random`), only not a `future` draw: the hint
    # says which property failed and never calls it a bias or unreachable
    for wrong in (_other_episodes_goal,
                  lambda ag, s, h, i, rng: ag[s[i] + (i - s[i] + rng.integers(0, h, size=np.shape(i))) % h],  # wraps
                  lambda ag, s, h, i, rng: ag[np.minimum(i + rng.integers(0, h, size=np.shape(i)), s[i] + h - 1)],
                  lambda ag, s, h, i, rng: ag[i]):  # clipped at the episode's end; j = t only
        outcome = run_check(problem, wrong, "mutant")
        assert not outcome.passed and outcome.message.startswith("hint: symptom:"), outcome.message
        assert "IndexError" not in outcome.message and "bias" not in outcome.message
        assert any(measured in outcome.message for measured in ("not `future` draws", "is not uniform on",
                                                                   "draws uniform on {t, ..., T - 1} give"))
    assert run_check(problem, s04.sample_future_goals, "solution").passed


def test_chapters_4_and_7_hints_report_what_was_measured():
    # offsets clipped to the episode's end: the share of goals on its last step, measured against uniform draws
    clipped = _hint("ch04.4", _sample_clipped_to_episode)
    assert "j = T - 1 = 49 was drawn" in clipped and "51% of the draws" in clipped and "standard deviations" in clipped
    # a rounded continuous draw: an end drawn half as often, not a generic failure of a chi-square test
    rounded = _hint("ch04.2", _future_rounded)
    assert "was drawn" in rounded and "standard deviations" in rounded and "chi-square" not in rounded
    assert "correlated" in _hint("ch04.2", _future_reused)
    assert "two calls on one generator gave the same" in _hint("ch04.2", MUTANTS["ch04.2"][12])
    # the reward rule is named only where the rewards match it transition by transition
    assert "L-infinity" in _hint("ch04.3", MUTANTS["ch04.3"][6]) and "goal achieved before transition t" in _hint(
        "ch04.3", _relabel_before)
    assert "equal, transition by transition" not in _hint("ch04.3", MUTANTS["ch04.3"][10])  # the dense reward
    # swapped DAgger pairs: the shapes measured (the expert maps 3 coordinates to 2, so no symmetry hides them)
    assert "shapes ((2,), (3,))" in _hint("ch07.4", MUTANTS["ch07.4"][0])
    forgets = _hint("ch07.4", load_module(stub_path("ch07")).dagger_aggregate)
    assert "holds 5 pairs, and of the 4 pairs it was given only 0 are in it" in forgets


def test_every_problem_that_is_not_a_planted_bug_has_mutants():
    assert {p.label for p in ALL if p.kind != "diagnosis"} <= set(MUTANTS) <= {p.label for p in ALL}


def test_stubs_and_solutions_define_the_same_functions():
    for chapter in CHAPTERS:
        for path in (stub_path(chapter), solution_path(chapter)):
            names = {node.name for node in ast.parse(path.read_text()).body
                     if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_")}
            assert {p.function for p in problems(chapter)} == names, path


def test_the_checker_creates_the_stub_once_and_never_overwrites_the_readers_file(tmp_path, cli):
    first = cli("check", "ch04", "--folder", str(tmp_path))
    assert first.returncode == 1
    assert "just created from the stub" in first.stdout and "0 of 4 problems pass" in first.stdout
    mine = tmp_path / "ch04.py"
    assert mine.read_text() == stub_path("ch04").read_text()
    shutil.copyfile(solution_path("ch04"), mine)
    second = cli("check", "ch04", "--folder", str(tmp_path))
    assert second.returncode == 0, second.stdout
    assert "just created" not in second.stdout and "4 of 4 problems pass" in second.stdout
    assert mine.read_text() == solution_path("ch04").read_text()


def test_a_partly_solved_file_is_graded_per_problem(tmp_path):
    text = stub_path("ch04").read_text().replace(
        'substitutes."""\n    raise NotImplementedError', 'substitutes."""\n    return k / (k + 1)')
    (tmp_path / "ch04.py").write_text(text)
    report = check("ch04", folder=tmp_path)
    assert [o.passed for o in report.outcomes] == [True, False, False, False], report.text()


def test_bad_input_is_one_clear_line(tmp_path, cli):
    unknown = cli("check", "ch42")
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and "ch00, ch01" in unknown.stderr
    (tmp_path / "ch02.py").write_text("def gae(:\n")
    broken = cli("check", "ch02", "--folder", str(tmp_path))
    assert broken.returncode == 2 and "does not import: SyntaxError" in broken.stderr
    assert f"({tmp_path / 'ch02.py'}, line 1)" in broken.stderr, broken.stderr  # the reader's file and line
    (tmp_path / "ch05.py").write_text("import numpy as np\n\nX = np.zeros(2).reshape(3)\n")
    failing = cli("check", "ch05", "--folder", str(tmp_path))
    assert failing.returncode == 2 and "does not import: ValueError" in failing.stderr
    assert f"({tmp_path / 'ch05.py'}, line 3)" in failing.stderr, failing.stderr  # not a line of importlib or numpy
    (tmp_path / "ch06.py").write_text("import not_a_module_of_this_course\n")
    missing = cli("check", "ch06", "--folder", str(tmp_path))
    assert "ModuleNotFoundError" in missing.stderr and f"({tmp_path / 'ch06.py'}, line 1)" in missing.stderr
    (tmp_path / "ch03.py").write_text("def soft_value(q, alpha):\n    return 1 / 0\n")
    raising = check("ch03", folder=tmp_path)
    assert "soft_value raised ZeroDivisionError" in raising.outcomes[0].message
    assert "defines no function tanh_gaussian_log_prob" in raising.outcomes[1].message


def test_the_reference_flag_checks_the_courses_solutions(cli):
    done = cli("check", "--reference", "ch00", "ch07")
    assert done.returncode == 0 and "3 of 3 problems pass" in done.stdout and "4 of 4 problems pass" in done.stdout


@pytest.mark.parametrize("chapter", discover(Layout()), ids=lambda c: c.chapter_id)
def test_each_chapter_ends_with_its_problem_set_and_its_check(chapter):
    notebook = jupytext.read(chapter.source)
    headings = [line for c in notebook.cells if c.cell_type == "markdown" for line in c.source.splitlines()
                if line.startswith("## ")]
    assert "Problems" in headings[-1], headings[-1]
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    for problem in problems(chapter.chapter_id):
        assert f"**Problem {int(chapter.chapter_id[2:])}.{problem.number} ({problem.kind})" in text, problem.label
        assert f"`{problem.function}(" in text or f"`{problem.function}`" in text, (problem.label, "the statement names the function to write")
    assert text.count("{dropdown}") >= len(problems(chapter.chapter_id)), "a worked solution per problem"
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    assert f'check("{chapter.chapter_id}")' in code[-1], "the last cell checks the reader's file"
