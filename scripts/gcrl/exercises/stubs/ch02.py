"""Chapter 2, problem set: your solutions. Check them with `gcrl check ch02` (or `make check CHAPTER=ch02`).

This file is yours: the course created it once and never writes to it again.
"""

import numpy as np


def rewards_to_go(rewards, gamma):
    """Problem 2.1. G_t = sum_{k >= 0} gamma^k r_{t+k} for every t of one episode (a 1-D array)."""
    raise NotImplementedError


def gae(rewards, values, next_values, gamma, lam):
    """Problem 2.2. GAE(gamma, lambda) advantages of one stretch of an episode (1-D arrays of one length):
    next_values[t] is V(s_{t+1}) (0 after a termination); nothing is added past the stretch's end."""
    raise NotImplementedError


def clipped_surrogate(ratio, advantage, clip):
    """Problem 2.3. PPO's per-sample clipped objective, to be maximised, for probability ratios `ratio`,
    advantages `advantage` (arrays of one shape) and clip range `clip` (kappa in section 1.2)."""
    raise NotImplementedError


def rollout_advantages(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Problem 2.4 (diagnosis). GAE over a rollout that holds several episodes one after another.
    terminated[t] / truncated[t] mark the last step of an episode. Run the check, read the symptom, repair."""
    deltas = rewards + gamma * next_values * (1.0 - terminated) - values
    advantages = np.zeros(len(deltas))
    running = 0.0
    for t in reversed(range(len(deltas))):
        running = deltas[t] + gamma * lam * running
        advantages[t] = running
    return advantages
