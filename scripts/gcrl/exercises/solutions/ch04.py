"""Chapter 4: reference solutions."""

from __future__ import annotations

import numpy as np


def relabelled_fraction(k: int) -> float:
    """With k substitute goals per real transition, k of every k + 1 stored transitions are relabelled."""
    return k / (k + 1)


def future_goal_indices(t: np.ndarray, horizon: int, rng: np.random.Generator) -> np.ndarray:
    """For transitions at times t, j uniform on {t, ..., horizon - 1}: the goal is next_achieved_goal[j]."""
    return rng.integers(np.asarray(t), horizon)


def relabel(next_achieved_goals: np.ndarray, t: np.ndarray, j: np.ndarray,
            threshold: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Substitute goals g = ag_{j+1} for transitions t, and their rewards -(||ag_{t+1} - g|| > threshold)."""
    goals = next_achieved_goals[j]
    distance = np.linalg.norm(next_achieved_goals[t] - goals, axis=-1)
    return goals, -(distance > threshold).astype(np.float32)


def sample_future_goals(next_achieved_goals: np.ndarray, episode_start: np.ndarray, horizon: int,
                        index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Future goals for transitions ``index`` of a flat buffer of whole episodes (the repaired planted bug).

    The offset is drawn within the transition's own episode: j in [index, start + horizon).
    """
    end = episode_start[index] + horizon
    return next_achieved_goals[rng.integers(index, end)]
