"""Chapter 3's problems: the soft value, the tanh-Gaussian log-density, the temperature loss, a frozen target."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from gcrl.exercises.problem import Problem, require


def _soft(q: np.ndarray, alpha: float) -> float:
    """alpha log sum_a exp(Q(a) / alpha), computed stably."""
    m = float(np.max(q))
    return m + alpha * float(np.log(np.sum(np.exp((np.asarray(q) - m) / alpha))))


def _number(output: Any, called: str) -> float:
    value = np.asarray(output, dtype=float)
    require(value.size == 1, f"{called} must return one number (the soft value of the state), got shape {value.shape}")
    return float(value.reshape(-1)[0])


#: (Q values, alpha): unequal values of both signs, a set of seven, alpha below, at and above the Q's spread
SOFT_CASES = ((np.array([1.0, 2.0, 0.5, -1.0]), 0.1), (np.array([1.0, 2.0, 0.5, -1.0]), 1.0),
              (np.array([1.0, 2.0, 0.5, -1.0]), 5.0),
              (np.array([-3.2, 0.4, 0.41, 2.5, -0.7, 1.9, 0.0]), 0.37))


def check_soft_value(soft_value: Callable[..., Any]) -> None:
    """Properties of a right answer: (1) one number; (2) V = alpha log sum_a exp(Q(a) / alpha), the maximum of
    E_pi[Q] + alpha H(pi), for every (Q, alpha) of ``SOFT_CASES``; (3) V -> max_a Q as alpha -> 0; (4) with all Q
    equal to c, V = c + alpha log |A| (alpha = 2, |A| = 5); (5) finite and exact (to 1e-6) for Q / alpha = +-100000,
    where exp overflows (large Q) or underflows to 0 (large negative Q); (6) the Q values are not modified."""
    for q, alpha in SOFT_CASES:
        given = q.copy()
        ours = _number(soft_value(given, alpha), "soft_value")
        require(np.array_equal(given, q), "soft_value modified the Q values in place")
        expected = _soft(q, alpha)
        require(np.isclose(ours, expected, rtol=1e-9, atol=1e-9), f"with alpha = {alpha} and Q = {q.tolist()} the "
                f"value is {ours:.6f}; the maximum over policies of E_pi[Q] + alpha H(pi) is {expected:.6f}")
    q = SOFT_CASES[0][0]
    near = _number(soft_value(q, 1e-3), "soft_value")
    require(abs(near - q.max()) < 1e-2, f"with alpha = 0.001 the value is {near:.4f}; as alpha -> 0 it must tend to "
            f"max_a Q(a) = {q.max():.4f}")
    equal = _number(soft_value(np.full(5, 3.0), 2.0), "soft_value")
    require(np.isclose(equal, 3.0 + 2.0 * np.log(5)), f"with five equal action values 3 and alpha = 2 the value is "
            f"{equal:.6f}; it is Q + alpha log |A| = {3.0 + 2.0 * np.log(5):.6f} (the uniform policy's entropy)")
    for q in (np.array([1000.0, 999.0]), np.array([-1000.0, -1001.0])):
        big = _number(soft_value(q, 0.01), "soft_value")
        require(np.isfinite(big) and abs(big - q.max()) < 1e-6, f"for Q = {q.tolist()} and alpha = 0.01 (Q / alpha "
                f"= {q[0] / 0.01:+.0f}) the value is {big}; it is {_soft(q, 0.01):.6f}: exp(Q / alpha) "
                f"{'overflows' if q[0] > 0 else 'underflows to 0'} unless the maximum is subtracted first "
                "(log-sum-exp)")


def _exact_log_prob(mean: torch.Tensor, log_std: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """log pi(tanh(u)) in double precision, with the exact correction log(1 - tanh(u)^2) = 2 (log 2 - |u|
    - log(1 + exp(-2 |u|)))."""
    m, s, x = mean.double(), log_std.double().exp(), u.double()
    correction = 2.0 * (np.log(2.0) - x.abs() - torch.log1p(torch.exp(-2.0 * x.abs())))
    return (torch.distributions.Normal(m, s).log_prob(x) - correction).sum(-1)


def _squashed_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """64 samples of 4 dimensions: u drawn from N(mean, std^2), then 8 rows with some |u| in {6, 9, 20}, of both
    signs, where 1 - tanh(u)^2 is below 1e-4 and float32's tanh(u) rounds to 1."""
    generator = torch.Generator().manual_seed(0)
    mean = torch.randn(64, 4, generator=generator)
    log_std = torch.randn(64, 4, generator=generator) * 0.5
    u = mean + log_std.exp() * torch.randn(64, 4, generator=generator)
    u[56:, 0] = torch.tensor([6.0, -6.0, 9.0, -9.0, 20.0, -20.0, 6.0, -20.0])
    u[60:, 2] = torch.tensor([-9.0, 20.0, 6.0, -6.0])
    return mean, log_std, u


def check_tanh_gaussian_log_prob(log_prob: Callable[..., Any]) -> None:
    """Properties of a right answer: (1) one log-density per sample, summed over the action dimensions; (2) it is
    log N(u; mean, std^2) - log(1 - tanh(u)^2) summed, to 1e-3 + 1e-5 |log pi|, on samples drawn from the Gaussian
    and on samples with |u| in {6, 9, 20} (where 1 - tanh(u)^2 computed in float32 is inaccurate or 0), so the
    correction must be the exact one, not log(1 - tanh(u)^2 + eps); (3) finite; (4) differentiable in mean and
    log_std, with the gradient of the exact density (the actor's loss is differentiated through it)."""
    mean, log_std, u = _squashed_batch()
    mean.requires_grad_(True)
    log_std.requires_grad_(True)
    ours = torch.as_tensor(log_prob(mean, log_std, u))
    require(tuple(ours.shape) == (64,), f"one log-density per sample (summed over action dimensions): shape (64,), "
            f"got {tuple(ours.shape)}")
    expected = _exact_log_prob(mean, log_std, u)
    values = ours.detach().double()
    infinite = ~torch.isfinite(values)
    if bool(infinite.any()):
        require(False, f"{int(infinite.sum())} of 64 log-densities are not finite, at samples whose largest |u| is "
                f"{float(u[infinite].abs().max()):.0f}: where tanh(u) rounds to 1, log(1 - tanh(u)^2) is -inf")
    error = (values - expected.detach()).abs()
    bad = error > 1e-3 + 1e-5 * expected.detach().abs()
    if bool(bad.any()):
        largest = u.abs().max(-1).values
        i = int(torch.argmax(error))
        small = largest <= 2.0
        gaussian = torch.distributions.Normal(mean.double(), log_std.double().exp()).log_prob(u.double()).sum(-1)
        if torch.allclose(values, gaussian.detach(), atol=1e-4):
            found = "; they equal log N(u; mean, std^2) summed, the Gaussian's density of u, not that of a = tanh(u)"
        else:
            found = ""
        require(False, f"{int(bad.sum())} of 64 log-densities differ from log N(u) - log(1 - tanh(u)^2) summed over "
                f"dimensions: by up to {float(error[i]):.3g} (sample {i}, largest |u| {float(largest[i]):.1f}); on the "
                f"{int(small.sum())} samples with every |u| <= 2 by up to {float(error[small].max()):.3g}, on those "
                f"with some |u| >= 6 by up to {float(error[largest >= 6].max()):.3g}{found}")
    require(ours.requires_grad, "the log-density carries no gradient to mean and log_std (its requires_grad is "
            "False); the actor's loss is differentiated through it")
    grads = torch.autograd.grad(ours.sum(), (mean, log_std), allow_unused=True)
    right = torch.autograd.grad(expected.sum(), (mean, log_std))
    for name, g, r in zip(("mean", "log_std"), grads, right):
        require(g is not None and torch.allclose(g.double(), r.double(), atol=1e-3), "the gradient of the "
                f"log-density in {name} differs from the exact density's (largest difference "
                f"{float((g.double() - r.double()).abs().max()) if g is not None else float('inf'):.3g})")


#: (log alpha, target entropy, mean log pi of the batch): entropy below and above the target, alpha below and above 1,
#: the target -dim(A) = -4 of the Fetch arm and two others
TEMPERATURE_CASES = ((0.3, -4.0, 7.5), (0.3, -4.0, 1.5), (-1.2, -2.5, 5.0), (-1.2, -6.0, 3.0))


def check_temperature_loss(temperature_loss: Callable[..., Any]) -> None:
    """Properties of a right answer, on batches of unequal log-probabilities: (1) a scalar tensor; (2) a descent step
    raises log alpha when the entropy estimate -mean(log pi) is below the target and lowers it above; (3) the
    gradient in log alpha is -(mean(log pi) + H_target) (Stable-Baselines3's form) or alpha times it (the form with
    alpha in the loss): the batch mean, the target it is given; (4) no gradient reaches log pi (the policy is not
    moved by this loss)."""
    for log_alpha_value, target, mean_log_prob in TEMPERATURE_CASES:
        generator = torch.Generator().manual_seed(int(10 * mean_log_prob))
        values = mean_log_prob + torch.randn(32, generator=generator)
        values += mean_log_prob - values.mean()  # the batch mean is exactly mean_log_prob
        log_alpha = torch.full((1,), log_alpha_value, requires_grad=True)
        log_prob = values.clone().requires_grad_(True)
        loss = temperature_loss(log_alpha, log_prob, target)
        require(torch.is_tensor(loss) and loss.numel() == 1, "the loss is a scalar tensor")
        require(loss.requires_grad, "the loss carries no gradient to log_alpha: it must depend on log_alpha")
        loss.backward()
        require(log_alpha.grad is not None, "log_alpha received no gradient from the loss")
        gradient = float(log_alpha.grad)
        step = -gradient  # a gradient-descent step moves log_alpha by -grad
        entropy = -mean_log_prob
        below = entropy < target
        require(step * (1.0 if below else -1.0) > 0, f"with entropy {entropy:+.2f} {'below' if below else 'above'} "
                f"the target {target:+.2f}, a descent step must {'raise' if below else 'lower'} the temperature; "
                f"the gradient in log alpha is {gradient:+.4f}")
        require(log_prob.grad is None or float(log_prob.grad.abs().sum()) == 0.0,
                "the loss sends a gradient to log pi: the temperature loss must not move the policy (hold log pi "
                "fixed, detached)")
        plain, scaled = -(mean_log_prob + target), -np.exp(log_alpha_value) * (mean_log_prob + target)
        require(min(abs(gradient - plain), abs(gradient - scaled)) < 1e-4, f"with log alpha = {log_alpha_value}, "
                f"target {target:+.2f} and mean log pi = {mean_log_prob:+.2f} over the batch, the gradient in log "
                f"alpha is {gradient:+.4f}; it is -(mean log pi + H_target) = {plain:+.4f}, or alpha times it, "
                f"{scaled:+.4f}, with alpha in the loss")


def _critic(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))


def _parameters(network: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in network.parameters()]


def check_polyak_update(polyak_update: Callable[..., Any]) -> None:
    """Properties of the repaired function, read from the target network's own parameters (each call is given fresh
    lists of ``network.parameters()``, as a training loop does): (1) the target moves: after n updates its gap to the
    online network has shrunk by (1 - tau)^n; (2) one update gives exactly (1 - tau) theta' + tau theta for every
    parameter (all four tensors, so skipping one is seen), for tau = 0.05 and tau = 0.3; (3) the online network is
    not changed."""
    online, target = _critic(0), _critic(1)
    start, fixed = _parameters(target), _parameters(online)
    tau = 0.05
    for _ in range(100):
        polyak_update(list(online.parameters()), list(target.parameters()), tau)
    now = _parameters(target)
    moved = max(float((t - s).abs().max()) for t, s in zip(now, start))
    require(moved > 1e-3, f"symptom: after 100 soft updates with tau = {tau} the target network's parameters have not "
            f"moved (largest change {moved:.1e}); its Bellman targets stay those of the initial network")
    require(all(torch.equal(a, b) for a, b in zip(_parameters(online), fixed)), "the online network's parameters "
            "changed: the soft update moves the target toward the online network, never the reverse")
    for t, s, o in zip(now, start, fixed):
        expected = o + (1 - tau) ** 100 * (s - o)
        require(torch.allclose(t, expected, atol=1e-5), "after 100 updates with tau = 0.05 the gap to the online "
                f"network must have shrunk by (1 - tau)^100 = {(1 - tau) ** 100:.4f}; the target's largest deviation "
                f"from that is {float((t - expected).abs().max()):.2e}")
    for tau in (0.05, 0.3):
        online, target = _critic(2), _critic(3)
        before, fixed = _parameters(target), _parameters(online)
        polyak_update(list(online.parameters()), list(target.parameters()), tau)
        for k, (t, s, o) in enumerate(zip(_parameters(target), before, fixed)):
            expected = (1 - tau) * s + tau * o
            require(torch.allclose(t, expected, atol=1e-6), f"after one update with tau = {tau}, parameter {k} of "
                    f"{len(before)} of the target network deviates from (1 - tau) theta' + tau theta by up to "
                    f"{float((t - expected).abs().max()):.2e} (it moved {float((t - s).abs().max()):.2e})")


PROBLEMS = (
    Problem("ch03", 1, "derivation", "the soft value of a finite action set", "soft_value", check_soft_value),
    Problem("ch03", 2, "implementation", "the log-density of a squashed Gaussian", "tanh_gaussian_log_prob",
            check_tanh_gaussian_log_prob),
    Problem("ch03", 3, "implementation", "the temperature loss", "temperature_loss", check_temperature_loss),
    Problem("ch03", 4, "diagnosis", "a target network that never moves", "polyak_update", check_polyak_update),
)
