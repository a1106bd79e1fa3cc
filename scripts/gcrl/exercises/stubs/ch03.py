"""Chapter 3, problem set: your solutions. Check them with `gcrl check ch03` (or `make check CHAPTER=ch03`).

This file is yours: the course created it once and never writes to it again.
"""

import numpy as np
import torch


def soft_value(q_values, alpha):
    """Problem 3.1. The soft value V = max over policies of E_pi[Q] + alpha H(pi) of one state with a finite
    action set whose action values are `q_values` (a float). It must not overflow for large Q / alpha."""
    raise NotImplementedError


def tanh_gaussian_log_prob(mean, log_std, u):
    """Problem 3.2. log pi(a) of the action a = tanh(u), u ~ N(mean, exp(log_std)^2) per dimension,
    summed over the last (action) dimension. Torch tensors in, a tensor out, differentiable in mean and
    log_std; exact (no epsilon added) and finite for large |u|, where tanh(u) rounds to 1."""
    raise NotImplementedError


def temperature_loss(log_alpha, log_prob, target_entropy):
    """Problem 3.3. The loss whose gradient step on log_alpha tunes SAC's temperature toward the target
    entropy (a scalar tensor; log_prob is a batch of log pi(a|s) of sampled actions)."""
    raise NotImplementedError


def polyak_update(params, target_params, tau):
    """Problem 3.4 (diagnosis). The soft update of the target critic, in place. With it the target critic
    never moves and training stalls. Run the check, read the symptom, repair this code."""
    with torch.no_grad():
        for param, target in zip(params, target_params):
            target = (1.0 - tau) * target + tau * param
