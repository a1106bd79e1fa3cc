"""Chapter 7: reference solutions."""

from __future__ import annotations

import numpy as np
import torch


def cloning_regret_bound(departure: np.ndarray) -> float:
    """The union-bound on J(cloned) - J(expert): sum_i (T - i) e_i for per-step departure rates e_0..e_{T-1}."""
    e = np.asarray(departure, dtype=float)
    horizon = len(e)
    return float(np.sum((horizon - np.arange(horizon)) * e))


def q_filter(q_demo: torch.Tensor, q_policy: torch.Tensor) -> torch.Tensor:
    """Rows whose demonstrated action the critic prefers: min_i Q_i(s, a_D) > min_i Q_i(s, mu(s)), both sides valued
    by the minimum over the critics that the actor's loss maximises.

    ``q_demo`` and ``q_policy`` have shape (critics, batch); the mask has shape (batch,).
    """
    return q_demo.min(dim=0).values > q_policy.min(dim=0).values


def cloning_loss(policy_action: torch.Tensor, demo_action: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(1 / B_D) sum_i m_i ||mu(s_i) - a_i||^2 over the B_D demonstration rows."""
    squared = ((policy_action - demo_action) ** 2).sum(-1)
    return (mask.float() * squared).mean()


def dagger_aggregate(dataset: list[tuple[np.ndarray, np.ndarray]], visited: np.ndarray,
                     expert) -> list[tuple[np.ndarray, np.ndarray]]:
    """One DAgger round's data: every earlier pair kept, the learner's visited states added with the expert's
    labels (the repaired planted bug)."""
    return dataset + [(s, expert(s)) for s in visited]
