"""Chapter 3: reference solutions."""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import logsumexp


def soft_value(q_values: np.ndarray, alpha: float) -> float:
    """V = alpha log sum_a exp(Q(a) / alpha), the soft maximum over a finite action set, computed stably."""
    return float(alpha * logsumexp(np.asarray(q_values, dtype=float) / alpha))


def tanh_gaussian_log_prob(mean: torch.Tensor, log_std: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """log pi(a) for a = tanh(u), u ~ N(mean, std^2), summed over action dimensions.

    log pi(a) = sum_i [log N(u_i) - log(1 - tanh(u_i)^2)], with the stable form
    log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)).
    """
    gaussian = torch.distributions.Normal(mean, log_std.exp()).log_prob(u)
    correction = 2.0 * (np.log(2.0) - u - torch.nn.functional.softplus(-2.0 * u))
    return (gaussian - correction).sum(-1)


def temperature_loss(log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """J(alpha) = E[-log_alpha (log pi(a|s) + H_target)], the log-probabilities held fixed (SB3's form)."""
    return -(log_alpha * (log_prob + target_entropy).detach()).mean()


def polyak_update(params: list[torch.Tensor], target_params: list[torch.Tensor], tau: float) -> None:
    """theta_target <- (1 - tau) theta_target + tau theta, in place (the repaired planted bug)."""
    with torch.no_grad():
        for param, target in zip(params, target_params):
            target.mul_(1.0 - tau).add_(tau * param)
