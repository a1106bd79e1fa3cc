"""Imitation: behaviour cloning of an expert into the book's actor, and DAgger (Chapter 7).

Behaviour cloning fits the deterministic action of the book's SAC actor
(:class:`gcrl.rl.sac_her.algorithm.Actor`, ``a = tanh(m_theta(s))``) to the
expert's actions on the expert's own states, by least squares:

    L_BC(theta) = (1/N) sum_i || tanh(m_theta(s_i)) - a*_i ||^2 ,

the loss Nair et al. (2018) add to the actor's in learning from
demonstrations. The input ``s`` is the observation and the goal, normalised
with statistics of the demonstrations and clipped, as the book's learner
normalises what its actor sees (:class:`gcrl.rl.sac_her.replay.Normalizer`).

DAgger (Ross, Gordon and Bagnell 2011) collects the states the *learner*
visits, labels them with the expert's action, aggregates them with everything
labelled before and fits a new policy on the aggregate (follow the leader);
round 1 rolls out the expert itself, so it is behaviour cloning on the same
number of episodes. It needs an expert whose action is a function of the
observation alone, i.e. a stateless one (:mod:`gcrl.rl.experts`).

Every fit is reproducible from its seed: the initialisation, the minibatch
order and the environments' reset seeds are all drawn from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gcrl.core.errors import CourseError
from gcrl.rl.envs import ACTION_DIM, make_fetch_env
from gcrl.rl.experts import make_expert, rollout
from gcrl.rl.sac_her.algorithm import Actor
from gcrl.rl.sac_her.replay import Episode, Normalizer


@dataclass(frozen=True)
class CloneConfig:
    """How a policy is fitted to labelled states."""

    net_arch: tuple[int, ...] = (256, 256, 256)
    epochs: int = 40
    batch_size: int = 256
    learning_rate: float = 1e-3
    obs_clip: float = 5.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.net_arch or any(not isinstance(w, int) or w < 1 for w in self.net_arch):
            raise CourseError(f"net_arch must be a non-empty tuple of positive widths, got {self.net_arch!r}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise CourseError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not self.learning_rate > 0:
            raise CourseError(f"learning_rate must be positive, got {self.learning_rate!r}")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "net_arch": list(self.net_arch)}


@dataclass
class Labelled:
    """States (the observation dictionaries' three arrays, stacked) and the expert's action at each."""

    observation: np.ndarray
    achieved_goal: np.ndarray
    desired_goal: np.ndarray
    action: np.ndarray

    @classmethod
    def from_episodes(cls, episodes: list[Episode], labels: list[np.ndarray] | None = None) -> "Labelled":
        """Every step of ``episodes`` with the action taken there, or with ``labels`` (an expert's) if given."""
        if not episodes:
            raise CourseError("no demonstrations: cloning needs at least one episode")
        steps = [slice(0, len(e.action)) for e in episodes]
        inputs = [e.inputs(t) for e, t in zip(episodes, steps)]
        return cls(np.concatenate([x["observation"] for x in inputs]),
                   np.concatenate([x["achieved_goal"] for x in inputs]),
                   np.concatenate([x["desired_goal"] for x in inputs]),
                   np.concatenate(labels if labels is not None else [e.action for e in episodes]).astype(np.float32))

    def __len__(self) -> int:
        return len(self.action)

    def __add__(self, other: "Labelled") -> "Labelled":
        return Labelled(*(np.concatenate([getattr(self, k), getattr(other, k)])
                          for k in ("observation", "achieved_goal", "desired_goal", "action")))

    def inputs(self) -> dict[str, np.ndarray]:
        return {"observation": self.observation, "achieved_goal": self.achieved_goal,
                "desired_goal": self.desired_goal}


class ClonedPolicy:
    """A fitted actor and the normalisation it was fitted with; called on an observation dict, it acts."""

    def __init__(self, actor: Actor, normalizer: Normalizer):
        self.actor, self.normalizer = actor, normalizer

    @torch.no_grad()
    def __call__(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        x = torch.from_numpy(self.normalizer(observation))
        action, _ = self.actor(x.unsqueeze(0), deterministic=True)
        return action[0].numpy()

    def save(self, path: Path) -> None:
        torch.save({"actor": self.actor.state_dict(), "normalizer": self.normalizer.state_dict(),
                    "net_arch": [layer.out_features for layer in self.actor.trunk if hasattr(layer, "out_features")],
                    "clip": self.normalizer.clip}, path)

    @classmethod
    def load(cls, path: Path) -> "ClonedPolicy":
        saved = torch.load(path, weights_only=False)
        dims = {k: len(v) for k, v in saved["normalizer"]["mean"].items()}
        actor = Actor(sum(dims.values()), ACTION_DIM, tuple(saved["net_arch"]))
        actor.load_state_dict(saved["actor"])
        normalizer = Normalizer(dims, saved["clip"])
        normalizer.load_state_dict(saved["normalizer"])
        return cls(actor.eval(), normalizer)


def bc_loss(actor: Actor, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """L_BC = mean_i || tanh(m_theta(s_i)) - a*_i ||^2 : the squared error of the deterministic action."""
    predicted, _ = actor(inputs, deterministic=True)
    return ((predicted - actions) ** 2).sum(-1).mean()


def fit(data: Labelled, config: CloneConfig) -> tuple[ClonedPolicy, list[float]]:
    """Fit a new actor to ``data`` by minibatch Adam on L_BC; returns the policy and the loss of each epoch.

    The normalisation is the data's own; the initialisation and the minibatch order come from ``config.seed``.
    """
    if len(data) == 0:
        raise CourseError("no labelled states to fit")
    generator = torch.Generator().manual_seed(config.seed)
    dims = {"achieved_goal": data.achieved_goal.shape[1], "desired_goal": data.desired_goal.shape[1],
            "observation": data.observation.shape[1]}
    normalizer = Normalizer(dims, config.obs_clip)
    normalizer.update(data.inputs())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        actor = Actor(sum(dims.values()), ACTION_DIM, config.net_arch)
    policy = ClonedPolicy(actor, normalizer)
    inputs = torch.from_numpy(normalizer(data.inputs()))
    actions = torch.from_numpy(data.action)
    optimizer = torch.optim.Adam(policy.actor.parameters(), lr=config.learning_rate)
    losses = []
    policy.actor.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(data), generator=generator)
        total = 0.0
        for start in range(0, len(data), config.batch_size):
            batch = order[start:start + config.batch_size]
            loss = bc_loss(policy.actor, inputs[batch], actions[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        losses.append(total / len(data))
    policy.actor.eval()
    return policy, losses


def clone(episodes: list[Episode], config: CloneConfig) -> tuple[ClonedPolicy, list[float]]:
    """Behaviour cloning: fit the actor to the actions of the expert's episodes."""
    return fit(Labelled.from_episodes(episodes), config)


def training_loss(policy: ClonedPolicy, data: Labelled) -> float:
    """L_BC of ``policy`` on ``data``, with the policy's own normalisation."""
    with torch.no_grad():
        return float(bc_loss(policy.actor, torch.from_numpy(policy.normalizer(data.inputs())),
                             torch.from_numpy(data.action)))


@dataclass(frozen=True)
class DaggerRound:
    """One round of DAgger: who acted, how many states the expert has labelled so far, the fitted policy's loss."""

    round: int
    acting: str  # "expert" (round 1) or "learner"
    labels: int
    rollout_success: float  # success of the episodes collected this round, under the policy that acted
    final_loss: float


def dagger(env_id: str, rounds: int, episodes_per_round: int, config: CloneConfig, seed_base: int,
           on_round: Callable[[ClonedPolicy, DaggerRound], None] | None = None) -> tuple[ClonedPolicy, list[DaggerRound]]:
    """DAgger with beta = 1 in round 1 and 0 afterwards (Ross et al. 2011, §3): ``rounds`` x ``episodes_per_round``
    episodes, every visited state labelled by the expert, a new policy fitted on the aggregate after every round;
    reset seeds ``seed_base, seed_base + 1, ...``.

    ``on_round(policy, record)`` is called after every round's fit (to evaluate the policy of each round).
    """
    if rounds < 1 or episodes_per_round < 1:
        raise CourseError(f"DAgger needs rounds >= 1 and episodes_per_round >= 1, got {rounds} and {episodes_per_round}")
    expert = make_expert(env_id)
    if not expert.stateless:
        raise CourseError(f"DAgger needs an expert that can label any state; {env_id}'s expert acts on internal "
                          "state absent from the observation")
    env = make_fetch_env(env_id)
    data: Labelled | None = None
    policy: ClonedPolicy | None = None
    history = []
    seed = seed_base
    try:
        for r in range(1, rounds + 1):
            acting = expert if policy is None else policy
            collected = []
            for _ in range(episodes_per_round):
                collected.append(rollout(env, acting, seed, expert=expert))
                seed += 1
            batch = Labelled.from_episodes([c.episode for c, _ in collected], [labels for _, labels in collected])
            data = batch if data is None else data + batch
            policy, losses = fit(data, replace(config, seed=config.seed + r - 1))
            history.append(DaggerRound(r, "expert" if acting is expert else "learner", len(data),
                                       float(np.mean([c.success for c, _ in collected])), losses[-1]))
            if on_round is not None:
                on_round(policy, history[-1])
    finally:
        env.close()
    return policy, history

