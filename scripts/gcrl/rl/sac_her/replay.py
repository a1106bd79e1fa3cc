"""The book's SAC+HER: what it remembers and how it sees.

- :class:`Normalizer`: running mean and variance of every observation key, as
  ``VecNormalize`` keeps them (clip at 10, epsilon 1e-8), applied when acting
  and when sampling;
- :class:`EpisodeReplay`: whole episodes of a fixed horizon; a minibatch is drawn
  uniformly from the transitions of complete episodes, and a fraction k/(k+1) of
  it is relabelled with :mod:`gcrl.rl.her` as it is drawn (``HerReplayBuffer``'s
  semantics).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gcrl.core.errors import CourseError
from gcrl.rl import her

OBS_KEYS = ("achieved_goal", "desired_goal", "observation")  # SB3's CombinedExtractor order
CLIP_OBS, NORM_EPSILON = 10.0, 1e-8


class Normalizer:
    """Running mean and variance per observation key, as ``VecNormalize`` keeps them."""

    def __init__(self, dims: dict[str, int]):
        self.mean = {k: np.zeros(d) for k, d in dims.items()}
        self.var = {k: np.ones(d) for k, d in dims.items()}
        self.count = 1e-4

    def update(self, observation: dict[str, np.ndarray]) -> None:
        """Chan et al.'s parallel update with one observation (SB3's ``RunningMeanStd``)."""
        total = self.count + 1
        for key in OBS_KEYS:
            delta = observation[key] - self.mean[key]
            self.mean[key] = self.mean[key] + delta / total
            m2 = self.var[key] * self.count + np.square(delta) * self.count / total
            self.var[key] = m2 / total
        self.count = total

    def __call__(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """The policy's input: each key normalised and clipped, concatenated in SB3's key order."""
        parts = [np.clip((observation[k] - self.mean[k]) / np.sqrt(self.var[k] + NORM_EPSILON), -CLIP_OBS, CLIP_OBS)
                 for k in OBS_KEYS]
        return np.concatenate(parts, axis=-1).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean, self.var, self.count = state["mean"], state["var"], state["count"]


class EpisodeReplay:
    """Whole episodes of a fixed horizon; a minibatch is relabelled with :mod:`gcrl.rl.her` as it is drawn."""

    def __init__(self, capacity_episodes: int, horizon: int, dims: dict[str, int], action_dim: int):
        self.horizon, self.episodes, self.step = horizon, 0, 0
        self.observation = np.zeros((capacity_episodes, horizon + 1, dims["observation"]), np.float64)
        self.achieved_goal = np.zeros((capacity_episodes, horizon + 1, dims["achieved_goal"]), np.float64)
        self.desired_goal = np.zeros((capacity_episodes, dims["desired_goal"]), np.float64)
        self.action = np.zeros((capacity_episodes, horizon, action_dim), np.float32)

    def start(self, observation: dict[str, np.ndarray]) -> None:
        if self.episodes >= len(self.desired_goal):
            raise CourseError(f"the replay buffer holds {len(self.desired_goal)} episodes and is full")
        e, self.step = self.episodes, 0
        self.observation[e, 0], self.achieved_goal[e, 0] = observation["observation"], observation["achieved_goal"]
        self.desired_goal[e] = observation["desired_goal"]

    def add(self, action: np.ndarray, next_observation: dict[str, np.ndarray]) -> None:
        e, t = self.episodes, self.step
        self.action[e, t] = action
        self.observation[e, t + 1] = next_observation["observation"]
        self.achieved_goal[e, t + 1] = next_observation["achieved_goal"]
        self.step += 1
        if self.step == self.horizon:
            self.episodes += 1  # only complete episodes are sampled

    def sample(self, batch_size: int, n_sampled_goal: int, strategy: str, rng: np.random.Generator,
               compute_reward: her.RewardFunction) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """Uniform transitions of complete episodes, the first k/(k+1) of them with hindsight goals."""
        if self.episodes == 0:
            raise CourseError("no complete episode to sample from yet")
        e = rng.integers(0, self.episodes, size=batch_size)
        t = rng.integers(0, self.horizon, size=batch_size)
        goals = self.desired_goal[e]
        virtual = her.relabelled_count(batch_size, n_sampled_goal)
        j = her.goal_indices(t[:virtual], self.horizon, strategy, rng)
        goals[:virtual] = self.achieved_goal[e[:virtual], j + 1]
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
        self.episodes, self.step = n, 0
