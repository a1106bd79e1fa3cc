"""Chapter 4, problem set: your solutions. Check them with `gcrl check ch04` (or `make check CHAPTER=ch04`).

This file is yours: the course created it once and never writes to it again.
"""

import numpy as np


def relabelled_fraction(k):
    """Problem 4.1. The fraction of stored transitions that carry a substitute goal when every real
    transition is stored once with its own goal and k times with substitutes."""
    raise NotImplementedError


def future_goal_indices(t, horizon, rng):
    """Problem 4.2. The `future` strategy: for transitions at times t (an integer array, 0 <= t < horizon),
    indices j such that the substitute goal is next_achieved_goals[j], drawn with the numpy Generator rng."""
    raise NotImplementedError


def relabel(next_achieved_goals, t, j, threshold=0.05):
    """Problem 4.3. For transitions t of one episode (next_achieved_goals has shape (T, 3)) and goal indices j,
    return (goals, rewards): the substitute goals and the sparse rewards they give those transitions."""
    raise NotImplementedError


def sample_future_goals(next_achieved_goals, episode_start, horizon, index, rng):
    """Problem 4.4 (diagnosis). Future substitute goals for transitions `index` of a flat buffer of whole
    episodes of length `horizon`; episode_start[i] is the first index of transition i's episode.
    Run the check, read the symptom, repair this code."""
    return next_achieved_goals[index + rng.integers(0, horizon, size=np.shape(index))]
