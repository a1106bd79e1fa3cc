"""Chapter 7's problems: the cloning bound, the Q-filter, the filtered cloning loss, a planted DAgger bug."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from gcrl.exercises.problem import Problem, require


def check_cloning_regret_bound(bound: Callable[..., Any]) -> None:
    rng = np.random.default_rng(0)
    for horizon in (1, 5, 50):
        e = rng.uniform(0, 0.05, horizon)
        ours = float(bound(e))
        expected = float(np.sum((horizon - np.arange(horizon)) * e))
        require(ours <= horizon ** 2 * e.mean() + 1e-12, f"for T = {horizon} the bound {ours:.4f} exceeds T^2 e_bar "
                f"= {horizon ** 2 * e.mean():.4f}, which it must imply")
        require(np.isclose(ours, expected), f"for T = {horizon} the bound is {ours:.4f}: a departure at step i can "
                "cost at every later step it influences; count those steps")
    early, late = np.zeros(10), np.zeros(10)
    early[0], late[9] = 0.1, 0.1
    require(float(bound(early)) > float(bound(late)), "a departure at the first step must cost more than one at the "
            "last: it has more steps in which to compound")


def check_q_filter(q_filter: Callable[..., Any]) -> None:
    q_demo = torch.tensor([[1.0, -2.0, 0.0, 3.0], [0.5, -1.0, 2.0, -1.0]])
    q_policy = torch.tensor([[0.0, -1.5, 1.0, 0.0], [2.0, -3.0, 1.0, 0.0]])
    mask = torch.as_tensor(q_filter(q_demo, q_policy))
    require(tuple(mask.shape) == (4,), f"one verdict per row: shape (4,), got {tuple(mask.shape)}")
    expected = torch.tensor([True, True, False, False])
    require(torch.equal(mask.bool(), expected), f"mask {mask.tolist()} keeps the wrong rows: value each side by the "
            "minimum over the critics, the function the actor's loss maximises (not their mean or the first alone), "
            "so that the filter agrees with the actor's own objective")
    require(not bool(torch.as_tensor(q_filter(q_policy, q_policy)).any()), "a demonstration the critic values "
            "exactly as the actor's own action must be rejected (the comparison is strict)")


def check_cloning_loss(loss_fn: Callable[..., Any]) -> None:
    torch.manual_seed(0)
    policy_action = torch.randn(6, 4, requires_grad=True)
    demo_action = torch.randn(6, 4)
    mask = torch.tensor([True, False, True, True, False, False])
    loss = loss_fn(policy_action, demo_action, mask)
    require(torch.is_tensor(loss) and loss.numel() == 1, "the loss is a scalar tensor")
    expected = ((policy_action - demo_action) ** 2).sum(-1)[mask].sum() / 6
    require(torch.isclose(loss, expected), f"loss {loss.item():.4f}, expected {expected.item():.4f}: sum the squared "
            "errors over action dimensions, keep the filtered rows, and divide by all B_D rows (not the kept ones)")
    loss.backward()
    rejected = policy_action.grad[~mask]
    require(float(rejected.abs().sum()) == 0.0, "rows the filter rejected must give no gradient to the actor")


def check_dagger_aggregate(aggregate: Callable[..., Any]) -> None:
    def expert(state):
        return -np.asarray(state)

    dataset = [(np.array([1.0]), np.array([-1.0])), (np.array([2.0]), np.array([-2.0]))]
    visited = np.array([[3.0], [4.0]])
    new = aggregate(list(dataset), visited, expert)
    require(len(new) == 4, f"symptom: after this round the training set holds {len(new)} pairs, only this round's "
            "states; the earlier rounds' data is gone, so each round trains on one policy's states alone")
    for s, a in new:
        require(np.allclose(a, expert(s)), "every state is labelled with the expert's action for it")
    require(any(np.allclose(s, [1.0]) for s, _ in new), "the earlier rounds' pairs must be kept")


PROBLEMS = (
    Problem("ch07", 1, "derivation", "the union bound on cloning's regret", "cloning_regret_bound",
            check_cloning_regret_bound),
    Problem("ch07", 2, "implementation", "the Q-filter", "q_filter", check_q_filter),
    Problem("ch07", 3, "implementation", "the Q-filtered cloning loss", "cloning_loss", check_cloning_loss),
    Problem("ch07", 4, "diagnosis", "a DAgger that forgets", "dagger_aggregate", check_dagger_aggregate),
)
