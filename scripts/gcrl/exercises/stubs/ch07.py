"""Chapter 7, problem set: your solutions. Check them with `gcrl check ch07` (or `make check CHAPTER=ch07`).

This file is yours: the course created it once and never writes to it again.
"""

import numpy as np
import torch


def cloning_regret_bound(departure):
    """Problem 7.1. The union bound on J(cloned) - J(expert) from the per-step departure probabilities
    e_0, ..., e_{T-1} on the expert's states (a 1-D array), before it is relaxed to T^2 e_bar."""
    raise NotImplementedError


def q_filter(q_demo, q_policy):
    """Problem 7.2. The Q-filter's mask (a bool tensor of shape (batch,)) from the twin critics' values of
    the demonstrated actions and of the actor's actions, each of shape (critics, batch)."""
    raise NotImplementedError


def cloning_loss(policy_action, demo_action, mask):
    """Problem 7.3. The Q-filtered cloning loss on B_D demonstration rows (actions of shape (B_D, action_dim),
    mask of shape (B_D,)): a scalar tensor."""
    raise NotImplementedError


def dagger_aggregate(dataset, visited, expert):
    """Problem 7.4 (diagnosis). One DAgger round's training set from the previous one (a list of
    (state, action) pairs), the states the learner visited this round and the expert (a function of a state).
    Run the check, read the symptom, repair this code."""
    return [(s, expert(s)) for s in visited]
