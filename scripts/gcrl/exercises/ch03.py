"""Chapter 3's problems: the soft value, the tanh-Gaussian log-density, the temperature loss, a frozen target."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from gcrl.exercises.problem import Problem, require


def check_soft_value(soft_value: Callable[..., Any]) -> None:
    q = np.array([1.0, 2.0, 0.5, -1.0])
    for alpha in (0.1, 1.0, 5.0):
        ours = float(soft_value(q, alpha))
        direct = alpha * np.log(np.sum(np.exp(q / alpha)))
        require(np.isclose(ours, direct), f"with alpha = {alpha} the value differs from the maximum of "
                "E_pi[Q] + alpha H(pi): maximise over pi with a Lagrange multiplier for sum pi = 1")
    require(abs(float(soft_value(q, 1e-3)) - q.max()) < 1e-2, "as alpha -> 0 the soft value must tend to max_a Q(a)")
    require(np.isclose(float(soft_value(np.full(4, 3.0), 1.0)), 3.0 + np.log(4)),
            "with equal action values the soft value is Q + alpha log |A| (the uniform policy's entropy)")
    big = float(soft_value(np.array([1000.0, 999.0]), 0.01))
    require(np.isfinite(big) and abs(big - 1000.0) < 1e-3, "for Q / alpha = 100000 the value overflowed or lost its "
            "precision: subtract the maximum before exponentiating (log-sum-exp)")


def check_tanh_gaussian_log_prob(log_prob: Callable[..., Any]) -> None:
    torch.manual_seed(0)
    mean, log_std = torch.randn(64, 4), torch.randn(64, 4) * 0.5
    u = mean + log_std.exp() * torch.randn(64, 4)
    ours = torch.as_tensor(log_prob(mean, log_std, u))
    require(tuple(ours.shape) == (64,), f"one log-density per sample (summed over action dimensions): shape (64,), "
            f"got {tuple(ours.shape)}")
    m, s, x = mean.double(), log_std.double().exp(), u.double()  # the change of variables, in double precision
    expected = (torch.distributions.Normal(m, s).log_prob(x) - torch.log1p(-torch.tanh(x) ** 2)).sum(-1)
    require(torch.allclose(ours.double(), expected, atol=1e-3), "the density differs from that of tanh(u): the change of "
            "variables subtracts log |da/du| = log(1 - tanh(u)^2) per dimension")
    far = torch.as_tensor(log_prob(torch.zeros(1, 1), torch.zeros(1, 1), torch.full((1, 1), 20.0)))
    require(bool(torch.isfinite(far).all()), "at u = 20, tanh(u) rounds to 1 and log(1 - tanh(u)^2) is -inf: use "
            "the identity log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))")


def check_temperature_loss(temperature_loss: Callable[..., Any]) -> None:
    target = -4.0
    for log_prob_value, direction in ((8.0, 1.0), (0.0, -1.0)):  # entropy -8 below target: alpha must rise
        log_alpha = torch.full((1,), 0.3, requires_grad=True)
        log_prob = torch.full((32,), log_prob_value, requires_grad=True)
        loss = temperature_loss(log_alpha, log_prob, target)
        require(torch.is_tensor(loss) and loss.numel() == 1, "the loss is a scalar tensor")
        loss.backward()
        step = -float(log_alpha.grad)  # a gradient-descent step moves log_alpha by -grad
        entropy = -log_prob_value
        require(step * direction > 0, f"with entropy {entropy:+.0f} {'below' if direction > 0 else 'above'} the "
                f"target {target:+.0f}, a descent step must {'raise' if direction > 0 else 'lower'} the temperature")
        require(log_prob.grad is None or float(log_prob.grad.abs().sum()) == 0.0,
                "the temperature loss must not move the policy: hold log pi fixed (detach it)")
    log_alpha = torch.zeros(1, requires_grad=True)
    temperature_loss(log_alpha, torch.full((8,), 6.0), target).backward()
    require(np.isclose(float(log_alpha.grad), -(6.0 + target)), "d J / d log_alpha must be -(log pi + H_target) "
            "averaged over the batch")


def check_polyak_update(polyak_update: Callable[..., Any]) -> None:
    torch.manual_seed(0)
    online = [torch.randn(5, 3), torch.randn(3)]
    target = [torch.randn(5, 3), torch.randn(3)]
    start = [t.clone() for t in target]
    tau = 0.05
    for _ in range(100):
        polyak_update(online, target, tau)
    moved = max(float((t - s).abs().max()) for t, s in zip(target, start))
    require(moved > 1e-3, f"symptom: after 100 soft updates with tau = {tau} the target critic has not moved "
            f"(largest change {moved:.1e}); its Bellman targets stay those of the initial network")
    for t, s, o in zip(target, start, online):
        expected = o + (1 - tau) ** 100 * (s - o)
        require(torch.allclose(t, expected, atol=1e-5), "after n updates the gap to the online network must have "
                "shrunk by (1 - tau)^n: theta' <- (1 - tau) theta' + tau theta")


PROBLEMS = (
    Problem("ch03", 1, "derivation", "the soft value of a finite action set", "soft_value", check_soft_value),
    Problem("ch03", 2, "implementation", "the log-density of a squashed Gaussian", "tanh_gaussian_log_prob",
            check_tanh_gaussian_log_prob),
    Problem("ch03", 3, "implementation", "the temperature loss", "temperature_loss", check_temperature_loss),
    Problem("ch03", 4, "diagnosis", "a target network that never moves", "polyak_update", check_polyak_update),
)
