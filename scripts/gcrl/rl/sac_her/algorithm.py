"""The book's SAC: its networks, its losses and one gradient step, beside the equations of Chapter 3.

This is the module a reader follows; it knows nothing of environments, replay
buffers, checkpoints or run loops (:mod:`gcrl.rl.sac_her.learner` holds those).
Each loss is a function of its own, named as Chapter 3 names it
(:func:`critic_loss`, :func:`actor_loss`, :func:`temperature_loss`, and the
target's :func:`polyak` average), and :func:`update` composes them into one
gradient step: it takes a minibatch of tensors, on whatever device the agent's
parameters live, and changes the agent in place.

The algorithm is Stable-Baselines3's ``SAC`` (Haarnoja et al. 2018, with the
learned temperature of the applications paper). It differs from the library in
how it computes, not in what: the two critics are one batched network (one
matrix product per layer for both), the optimisers are fused, the actor's and
the temperature's losses share one backward pass (they share no parameter),
and the actor reads the critic's weights detached instead of building their
gradient. ``tests/test_sac_her.py`` checks each piece against SB3 and the
critic's target against Chapter 3's equation computed by hand.

Notation (Chapter 3; the book's notation page): s an observation with its goal,
a an action, pi_theta the actor, Q_psi_i the two critics and Q_psibar_i their
targets, alpha the temperature, Hbar the target entropy, beta the Polyak rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    return nn.Sequential(*layers)


class Actor(nn.Module):
    """A tanh-squashed Gaussian policy (SB3's ``Actor`` with ``SquashedDiagGaussianDistribution``)."""

    def __init__(self, obs_dim: int, action_dim: int, net_arch: tuple[int, ...]):
        super().__init__()
        self.trunk = mlp([obs_dim, *net_arch])
        self.mu = nn.Linear(net_arch[-1], action_dim)
        self.log_std = nn.Linear(net_arch[-1], action_dim)

    def forward(self, obs: torch.Tensor, deterministic: bool = False,
                noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """An action in [-1, 1] and its log-density, with the tanh change of variables (Ch. 3, §1.5).

        a = tanh(u), u = m_theta(s) + sigma_theta(s) * zeta, zeta ~ N(0, I);
        log pi(a|s) = log N(u; m, sigma^2) - sum_i log(1 - tanh^2(u_i)).
        ``noise`` gives zeta explicitly (a collector draws it from each environment's own generator).
        """
        latent = self.trunk(obs)
        mu, log_std = self.mu(latent), self.log_std(latent).clamp(LOG_STD_MIN, LOG_STD_MAX)
        if noise is None:
            noise = torch.zeros_like(mu) if deterministic else torch.randn_like(mu)
        u = mu + log_std.exp() * noise
        action = torch.tanh(u)
        # log N(u; mu, std) with (u - mu) / std = noise, minus log |d tanh(u) / du| (SB3's epsilon 1e-6)
        log_prob = (-0.5 * noise**2 - log_std).sum(-1) - HALF_LOG_2PI * mu.shape[-1] \
            - torch.log(1 - action**2 + 1e-6).sum(-1)
        return action, log_prob


class TwinCritic(nn.Module):
    """Two Q-networks evaluated as one: each layer is a batched matrix product over the pair.

    With ``layer_norm``, every hidden layer normalises its pre-activations over its units before the ReLU, with a
    learned gain and offset per member (``nn.LayerNorm``, Ba et al. 2016, placed as in mrl's critics): each
    layer's features keep a fixed scale whatever the scale of the critic's targets. Whether that buys sample
    efficiency on Push is what the recipe search measures (Ch. 4, §3.4).
    """

    def __init__(self, in_dim: int, net_arch: tuple[int, ...], members: int = 2, layer_norm: bool = False):
        super().__init__()
        sizes = [in_dim, *net_arch, 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes, sizes[1:]):
            bound = 1 / math.sqrt(fan_in)  # nn.Linear's default initialisation, per member
            self.weights.append(nn.Parameter(torch.empty(members, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(members, 1, fan_out).uniform_(-bound, bound)))
        # LayerNorm's affine parameters per member and hidden layer (gain 1, offset 0, as nn.LayerNorm starts)
        self.norm_gains = nn.ParameterList(nn.Parameter(torch.ones(members, 1, w)) for w in net_arch) \
            if layer_norm else None
        self.norm_biases = nn.ParameterList(nn.Parameter(torch.zeros(members, 1, w)) for w in net_arch) \
            if layer_norm else None

    def forward(self, obs: torch.Tensor, action: torch.Tensor, frozen: bool = False) -> torch.Tensor:
        """Q-values of shape (members, batch); ``frozen`` reads detached weights (no critic gradient)."""
        x = torch.cat([obs, action], -1).expand(len(self.weights[0]), -1, -1)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if frozen:
                w, b = w.detach(), b.detach()
            x = torch.baddbmm(b, x, w)
            if i < last:
                if self.norm_gains is not None:
                    gain, offset = self.norm_gains[i], self.norm_biases[i]
                    if frozen:
                        gain, offset = gain.detach(), offset.detach()
                    x = torch.nn.functional.layer_norm(x, x.shape[-1:]) * gain + offset
                x = torch.relu(x)
        return x.squeeze(-1)


class Agent(nn.Module):
    """The actor, the twin critic and its target copy, the temperature, and their optimisers."""

    def __init__(self, obs_dim: int, action_dim: int, net_arch: tuple[int, ...], learning_rate: float,
                 ent_coef: float | None = None, critic_layer_norm: bool = False):
        super().__init__()
        self.actor = Actor(obs_dim, action_dim, net_arch)
        self.critic = TwinCritic(obs_dim + action_dim, net_arch, layer_norm=critic_layer_norm)
        self.critic_target = TwinCritic(obs_dim + action_dim, net_arch, layer_norm=critic_layer_norm)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        # alpha starts at 1 and is learned (SB3's "auto"), or is held at ``ent_coef`` (SB3's ent_coef=<number>)
        self.learns_temperature = ent_coef is None
        self.log_alpha = nn.Parameter(torch.zeros(1) if ent_coef is None else torch.full((1,), math.log(ent_coef)),
                                      requires_grad=self.learns_temperature)
        self.target_entropy = -float(action_dim)  # Hbar = -dim A (Ch. 3, §1.6)
        # Adam acts on each parameter alone, so one optimiser over the actor and log_alpha (same
        # learning rate) is SB3's two; fused kernels update all tensors of a group at once.
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=learning_rate, fused=True)
        temperature = [self.log_alpha] if self.learns_temperature else []
        self.policy_optimizer = torch.optim.Adam([*self.actor.parameters(), *temperature], lr=learning_rate,
                                                 fused=True)

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        """The action for one normalised observation, computed where the agent's parameters live."""
        device = self.log_alpha.device
        action, _ = self.actor(torch.as_tensor(obs, device=device).unsqueeze(0), deterministic)
        return action[0].cpu().numpy()

    def optimizer_states(self) -> dict[str, Any]:
        return {name: getattr(self, name).state_dict() for name in ("critic_optimizer", "policy_optimizer")}

    def load_optimizer_states(self, states: dict[str, Any]) -> None:
        for name, state in states.items():
            getattr(self, name).load_state_dict(state)


def pairwise_min(q: torch.Tensor) -> torch.Tensor:
    """The smaller of the two critics' values (clipped double Q)."""
    return torch.minimum(q[0], q[1])


def q_filter_mask(agent: Agent, obs: torch.Tensor, demo_action: torch.Tensor, policy_action: torch.Tensor) -> torch.Tensor:
    """Nair et al.'s Q-filter: True where the critic values the demonstrated action above the actor's,
    min_i Q_psi_i(s, a_D) > min_i Q_psi_i(s, mu_theta(s)) (Ch. 7, §1.7). No gradient flows through it."""
    with torch.no_grad():
        return pairwise_min(agent.critic(obs, demo_action)) > pairwise_min(agent.critic(obs, policy_action))


def cloning_loss(agent: Agent, obs: torch.Tensor, demo_action: torch.Tensor, filtered: bool) -> torch.Tensor:
    """L_BC(theta) = 1/N_D sum_i m_i ||mu_theta(s_i) - a_D,i||^2 over N_D demonstrated transitions (Ch. 7, §1.7),
    mu_theta(s) = tanh(m_theta(s)) the actor's deterministic action, m_i the Q-filter (1 everywhere unfiltered)."""
    mean_action, _ = agent.actor(obs, deterministic=True)
    squared = ((mean_action - demo_action) ** 2).sum(-1)
    if filtered:
        squared = squared * q_filter_mask(agent, obs, demo_action, mean_action.detach())
    return squared.mean()


@dataclass(frozen=True)
class Demonstrations:
    """Demonstrated transitions that join a minibatch (learning from demonstrations, Ch. 7, §1.7).

    The critic learns from them as from the agent's own transitions; the actor's
    loss adds their cloning loss, weighted by ``bc_weight`` and Q-filtered if
    ``q_filter``. The tensors are laid out as :func:`update`'s minibatch is.
    """

    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    next_obs: torch.Tensor
    bc_weight: float
    q_filter: bool


def critic_loss(agent: Agent, obs: torch.Tensor, action: torch.Tensor, reward: torch.Tensor, next_obs: torch.Tensor,
                alpha: torch.Tensor, gamma: float, target_bounds: tuple[float, float] | None) -> torch.Tensor:
    """L_Q(psi) = sum_j 1/2 E[(Q_psi_j(s, a) - y)^2], y = r + gamma (min_i Q_psibar_i(s', a') - alpha log pi(a'|s')),
    a' ~ pi(.|s') drawn fresh (Ch. 3, §1.4).

    Fetch episodes end by truncation only, so no transition is terminal and the
    target bootstraps everywhere. ``target_bounds`` clips the target to the range
    the true value must lie in (Ch. 4: under the sparse reward, [-1/(1 - gamma), 0]
    once the entropy bonus is small).
    """
    with torch.no_grad():
        next_action, next_log_pi = agent.actor(next_obs)
        next_q = pairwise_min(agent.critic_target(next_obs, next_action)) - alpha * next_log_pi
        target = reward + gamma * next_q
        if target_bounds is not None:
            target = target.clamp(*target_bounds)
    q = agent.critic(obs, action)
    return 0.5 * ((q - target) ** 2).mean(1).sum()


def actor_loss(agent: Agent, obs: torch.Tensor, action_pi: torch.Tensor, log_pi: torch.Tensor, alpha: torch.Tensor,
               action_l2: float) -> torch.Tensor:
    """L_pi(theta) = E[alpha log pi(a|s) - min_i Q_psi_i(s, a)], through a = f_theta(zeta; s) (Ch. 3, §1.5).

    ``action_pi`` and ``log_pi`` are the reparameterised sample and its
    log-density; the critic's weights are read detached, so no critic gradient
    is built. ``action_l2`` adds the original HER code's action penalty
    lambda_a E[||a / a_max||^2 / dim A], here a_max = 1 (Ch. 4, §3.4).
    """
    q_pi = pairwise_min(agent.critic(obs, action_pi, frozen=True))
    loss = (alpha * log_pi - q_pi).mean()
    if action_l2:
        loss = loss + action_l2 * (action_pi ** 2).mean()
    return loss


def temperature_loss(agent: Agent, log_pi: torch.Tensor) -> torch.Tensor | float:
    """L(alpha) = -log alpha (log pi(a|s) + Hbar), whose gradient has the sign of H - Hbar (Ch. 3, §1.6); 0 when
    the temperature is held fixed."""
    if not agent.learns_temperature:
        return 0.0
    return -(agent.log_alpha * (log_pi.detach() + agent.target_entropy)).mean()


def polyak(agent: Agent, tau: float) -> None:
    """psibar <- beta psi + (1 - beta) psibar, with beta = tau (SB3's name) (Ch. 3, §1.4)."""
    with torch.no_grad():
        for target_parameter, parameter in zip(agent.critic_target.parameters(), agent.critic.parameters()):
            target_parameter.lerp_(parameter, tau)


def update(agent: Agent, obs: torch.Tensor, action: torch.Tensor, reward: torch.Tensor,
           next_obs: torch.Tensor, gamma: float, tau: float, target_bounds: tuple[float, float] | None = None,
           action_l2: float = 0.0, demonstrations: Demonstrations | None = None) -> None:
    """One SAC gradient step: SB3's three losses, in two backward passes, then the target critic's average.

    With ``demonstrations`` (Ch. 7), their rows join the minibatch after the
    agent's own, and the actor's loss adds lambda_BC times their cloning loss.
    """
    if demonstrations is not None:
        d = demonstrations
        obs, action, reward, next_obs = (torch.cat(pair) for pair in ((obs, d.obs), (action, d.action),
                                                                       (reward, d.reward), (next_obs, d.next_obs)))
    alpha = agent.log_alpha.detach().exp()  # the temperature before this step's update, as in SB3
    action_pi, log_pi = agent.actor(obs)  # a ~ pi_theta(.|s), reparameterised, drawn first as SB3 draws it

    # 1. the critic
    loss_q = critic_loss(agent, obs, action, reward, next_obs, alpha, gamma, target_bounds)
    agent.critic_optimizer.zero_grad(set_to_none=True)
    loss_q.backward()
    agent.critic_optimizer.step()

    # 2. the actor, reading the just-updated critic, and the temperature: the two losses share no parameter, so
    #    one backward pass serves both
    loss_pi = actor_loss(agent, obs, action_pi, log_pi, alpha, action_l2)
    if demonstrations is not None:
        # learning from demonstrations (Ch. 7, §1.7): L = L_pi + lambda_BC L_BC on the demonstrated rows
        rows = len(demonstrations.obs)
        loss_pi = loss_pi + demonstrations.bc_weight * cloning_loss(agent, obs[-rows:], action[-rows:],
                                                                    demonstrations.q_filter)
    agent.policy_optimizer.zero_grad(set_to_none=True)
    (loss_pi + temperature_loss(agent, log_pi)).backward()
    agent.policy_optimizer.step()

    # 3. the target critic
    polyak(agent, tau)
