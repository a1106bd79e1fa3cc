"""The book's SAC+HER: what it remembers and how it sees.

- :class:`Normalizer`: running mean and variance of every observation key, as
  ``VecNormalize`` keeps them (epsilon 1e-8; the clip is the recipe's, 10 in
  ``VecNormalize``, 5 in the original HER code), applied when acting and when
  sampling;
- :class:`Episode`: one complete episode, as a collector hands it over;
- :class:`EpisodeReplay`: whole episodes of a fixed horizon; a minibatch is drawn
  uniformly from the transitions of complete episodes, and a fraction k/(k+1) of
  it is relabelled with :mod:`gcrl.rl.her` as it is drawn (``HerReplayBuffer``'s
  semantics), optionally part of it with goals commanded in other stored episodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gcrl.core.errors import CourseError
from gcrl.rl import her
from gcrl.rl.envs import OBS_KEYS
NORM_EPSILON = 1e-8


@dataclass(frozen=True)
class Episode:
    """One complete episode of ``T`` steps: what the agent saw before and after each step, and what it did."""

    observation: np.ndarray  # (T + 1, obs_dim)
    achieved_goal: np.ndarray  # (T + 1, goal_dim)
    desired_goal: np.ndarray  # (goal_dim,)
    action: np.ndarray  # (T, action_dim)

    def inputs(self, t: slice) -> dict[str, np.ndarray]:
        """The observation dictionaries of steps ``t``, as the normaliser and the policy read them."""
        return {"observation": self.observation[t], "achieved_goal": self.achieved_goal[t],
                "desired_goal": np.broadcast_to(self.desired_goal, self.achieved_goal[t].shape)}


class Normalizer:
    """Running mean and variance per observation key, as ``VecNormalize`` keeps them."""

    def __init__(self, dims: dict[str, int], clip: float):
        self.mean = {k: np.zeros(d) for k, d in dims.items()}
        self.var = {k: np.ones(d) for k, d in dims.items()}
        self.count = 1e-4
        self.clip = clip

    def update(self, batch: dict[str, np.ndarray]) -> None:
        """Chan et al.'s parallel update with a batch of observations (SB3's ``RunningMeanStd.update``)."""
        n = len(batch[OBS_KEYS[0]])
        total = self.count + n
        for key in OBS_KEYS:
            delta = batch[key].mean(axis=0) - self.mean[key]
            self.mean[key] = self.mean[key] + delta * n / total
            m2 = self.var[key] * self.count + batch[key].var(axis=0) * n + np.square(delta) * self.count * n / total
            self.var[key] = m2 / total
        self.count = total

    def __call__(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """The policy's input: each key normalised and clipped, concatenated in SB3's key order."""
        parts = [np.clip((observation[k] - self.mean[k]) / np.sqrt(self.var[k] + NORM_EPSILON), -self.clip, self.clip)
                 for k in OBS_KEYS]
        return np.concatenate(parts, axis=-1).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        return {"mean": dict(self.mean), "var": dict(self.var), "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean, self.var, self.count = dict(state["mean"]), dict(state["var"]), state["count"]


class EpisodeReplay:
    """Whole episodes of a fixed horizon; a minibatch is relabelled with :mod:`gcrl.rl.her` as it is drawn."""

    def __init__(self, capacity_episodes: int, horizon: int, dims: dict[str, int], action_dim: int):
        self.horizon, self.episodes = horizon, 0
        self.observation = np.zeros((capacity_episodes, horizon + 1, dims["observation"]), np.float64)
        self.achieved_goal = np.zeros((capacity_episodes, horizon + 1, dims["achieved_goal"]), np.float64)
        self.desired_goal = np.zeros((capacity_episodes, dims["desired_goal"]), np.float64)
        self.action = np.zeros((capacity_episodes, horizon, action_dim), np.float32)

    @property
    def steps(self) -> int:
        return self.episodes * self.horizon

    def add(self, episode: Episode) -> None:
        """Store one complete episode (only complete episodes are ever sampled)."""
        e = self.episodes
        if e >= len(self.desired_goal):
            raise CourseError(f"the replay buffer holds {len(self.desired_goal)} episodes and is full")
        self.observation[e], self.achieved_goal[e] = episode.observation, episode.achieved_goal
        self.desired_goal[e], self.action[e] = episode.desired_goal, episode.action
        self.episodes += 1

    def sample(self, batch_size: int, n_sampled_goal: int, strategy: str, rng: np.random.Generator,
               compute_reward: her.RewardFunction, actual_goal_fraction: float = 0.0,
               ) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """Uniform transitions of complete episodes, the first k/(k+1) of them with hindsight goals.

        Of the relabelled rows, the first ``actual_goal_fraction`` take the goal commanded in a stored episode drawn
        uniformly (:func:`gcrl.rl.her.actual_count`), the rest a ``strategy`` goal of their own episode.
        """
        if self.episodes == 0:
            raise CourseError("no complete episode to sample from yet")
        e = rng.integers(0, self.episodes, size=batch_size)
        t = rng.integers(0, self.horizon, size=batch_size)
        goals = self.desired_goal[e]
        virtual = her.relabelled_count(batch_size, n_sampled_goal)
        actual = her.actual_count(virtual, actual_goal_fraction)
        j = her.goal_indices(t[actual:virtual], self.horizon, strategy, rng)
        goals[actual:virtual] = self.achieved_goal[e[actual:virtual], j + 1]
        if actual:
            goals[:actual] = self.desired_goal[rng.integers(0, self.episodes, size=actual)]
        next_achieved = self.achieved_goal[e, t + 1]
        rewards = np.asarray(compute_reward(next_achieved, goals, None), dtype=np.float32)
        observation = {"observation": self.observation[e, t], "achieved_goal": self.achieved_goal[e, t],
                       "desired_goal": goals}
        next_observation = {"observation": self.observation[e, t + 1], "achieved_goal": next_achieved,
                            "desired_goal": goals}
        return observation, self.action[e, t], next_observation, rewards

    def state_dict(self) -> dict[str, np.ndarray]:
        n = self.episodes
        return {"observation": self.observation[:n], "achieved_goal": self.achieved_goal[:n],
                "desired_goal": self.desired_goal[:n], "action": self.action[:n]}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        n = len(state["desired_goal"])
        for key, value in state.items():
            getattr(self, key)[:n] = value
        self.episodes = n
