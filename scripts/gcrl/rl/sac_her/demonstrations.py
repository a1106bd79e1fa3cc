"""Learning from demonstrations for the book's SAC+HER (Nair et al. 2018; Chapter 7, section 1.7).

At the start of a run the task's scripted expert (:mod:`gcrl.rl.experts`) plays
``demo_episodes`` episodes from the reset seeds ``DEMO_SEED_BASE``,
``DEMO_SEED_BASE + 1``, ... (far from the training environments' seeds and the
held-out evaluation seeds). They are stored whole in a replay of their own, and
every gradient step draws ``demo_batch_size`` transitions from it beside the
``batch_size`` drawn from the agent's own episodes, relabelled as they are drawn
by the same functions (:mod:`gcrl.rl.her`), with the same k and strategy: a
demonstration that reached its goal also teaches the goals it passed through,
with the caveat of Chapter 4, section 1.3 (a goal drawn from the episode's own
future depends on how the episode turned out).
The critic learns from both; the actor's loss adds the behaviour-cloning term of
:func:`gcrl.rl.sac_her.algorithm.cloning_loss` on the demonstration rows.

The buffer is a function of the task and the number of episodes alone (the
expert is deterministic), so a checkpoint does not store it: a resumed run plays
the same episodes again.
"""

from __future__ import annotations

import numpy as np

from gcrl.core.errors import CourseError
from gcrl.rl import her
from gcrl.rl.envs import ACTION_DIM, episode_length, observation_dims
from gcrl.rl.experts import expert_rollouts
from gcrl.rl.sac_her.replay import EpisodeReplay

DEMO_SEED_BASE = 500_000


class DemonstrationReplay:
    """The expert's episodes of one task, sampled and relabelled as the agent's own are."""

    def __init__(self, env_id: str, episodes: int):
        if episodes < 1:
            raise CourseError(f"a demonstration buffer needs at least one episode, got {episodes}")
        rollouts = expert_rollouts(env_id, list(range(DEMO_SEED_BASE, DEMO_SEED_BASE + episodes)))
        self.replay = EpisodeReplay(episodes, episode_length(env_id), observation_dims(env_id), ACTION_DIM)
        for rollout in rollouts:
            self.replay.add(rollout.episode)
        #: how many of the demonstrations reached their own goal (the expert is not perfect on every task)
        self.successes = sum(r.success for r in rollouts)

    def observations(self) -> dict[str, np.ndarray]:
        """Every observation the expert acted on, as the normaliser's statistics take them."""
        r, T = self.replay, self.replay.horizon
        n = r.episodes
        return {"observation": r.observation[:n, :T].reshape(n * T, -1),
                "achieved_goal": r.achieved_goal[:n, :T].reshape(n * T, -1),
                "desired_goal": np.repeat(r.desired_goal[:n], T, axis=0)}

    def sample(self, batch_size: int, n_sampled_goal: int, strategy: str, rng: np.random.Generator,
               compute_reward: her.RewardFunction, actual_goal_fraction: float = 0.0):
        """``batch_size`` demonstrated transitions, k/(k+1) of them relabelled (:meth:`EpisodeReplay.sample`)."""
        return self.replay.sample(batch_size, n_sampled_goal, strategy, rng, compute_reward, actual_goal_fraction)

