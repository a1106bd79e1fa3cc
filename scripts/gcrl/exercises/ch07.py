"""Chapter 7's problems: the cloning bound, the Q-filter, the filtered cloning loss, a planted DAgger bug."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from gcrl.exercises.problem import Problem, require


def _union_bound(e: np.ndarray) -> float:
    """sum_i (T - i) e_i: a departure at step i counted at each of the T - i steps t = i + 1, ..., T it precedes."""
    return float(np.sum((len(e) - np.arange(len(e))) * e))


def check_cloning_regret_bound(bound: Callable[..., Any]) -> None:
    """Properties of a right answer: (1) one number; (2) sum_i (T - i) e_i for departure rates e_0, ..., e_{T-1} that
    differ per step (unsorted, so that weights reversed, shifted by one or ignored give other values), for T = 1, 2,
    7 and 50, and for rates up to 0.5 (where 1 - prod(1 - e_i), the probability of a departure for independent steps,
    falls well below the union bound); (3) at most T^2 e_bar, which it must imply; (4) a departure at the first step
    costs T times as much as one at the last; (5) the caller's rates are not modified."""
    rng = np.random.default_rng(0)
    for horizon, top in ((1, 0.05), (2, 0.05), (7, 0.05), (50, 0.05), (7, 0.5)):
        e = rng.uniform(0, top, horizon)
        given = e.copy()
        value = np.asarray(bound(given), dtype=float)
        require(value.size == 1, f"for T = {horizon} the bound must be one number, got shape {value.shape}")
        require(np.array_equal(given, e), "cloning_regret_bound modified the caller's departure rates in place")
        ours, expected = float(value.reshape(-1)[0]), _union_bound(e)
        relaxed = horizon ** 2 * float(e.mean())
        require(ours <= relaxed * (1 + 1e-9), f"for T = {horizon} the bound {ours:.6f} exceeds T^2 e_bar = "
                f"{relaxed:.6f}, which it must imply")
        require(np.isclose(ours, expected, rtol=1e-9, atol=1e-12), f"for T = {horizon} and rates e = "
                f"{np.round(e[:4], 4).tolist()}{'...' if horizon > 4 else ''} the bound is {ours:.6f}; the union bound "
                f"on sum_t Pr[E_(t-1)] gives {expected:.6f}: a departure at step i counts at every later step it "
                "precedes; count those steps for each i")
    early, late = np.zeros(10), np.zeros(10)
    early[0], late[9] = 0.1, 0.1
    first, last = float(np.asarray(bound(early)).reshape(-1)[0]), float(np.asarray(bound(late)).reshape(-1)[0])
    require(np.isclose(first, 10 * last) and last > 0, f"with T = 10, a departure rate of 0.1 at the first step gives "
            f"{first:.4f} and at the last step {last:.4f}: the first is counted at all 10 steps, the last at one")


#: twin critics' values of 7 demonstrated and actor's actions, shape (critics, batch): unsorted, the minimum from
#: either critic, with exact ties of the minima (rows 5 and 6) and rows where the mean, the first or second critic,
#: the maximum, "both critics prefer" or "either prefers" decide otherwise
Q_DEMO = torch.tensor([[-0.5, 0.2, -1.0, -0.2, -0.2, 0.5, 0.4], [0.4, -0.7, -0.1, 0.8, 1.5, -1.3, 0.9]])
Q_POLICY = torch.tensor([[1.3, 0.8, 0.3, -0.3, 1.5, 2.0, 0.7], [1.3, 0.4, -1.2, 0.0, 0.7, -1.3, 0.4]])


def _values(column: torch.Tensor) -> list[float]:
    return [round(float(v), 4) for v in column]


def _mask(output: Any, batch: int, called: str) -> torch.Tensor:
    mask = torch.as_tensor(output)
    require(tuple(mask.shape) == (batch,), f"{called} on values of shape (2, {batch}) must give one verdict per row: "
            f"shape ({batch},), got {tuple(mask.shape)}")
    require(mask.dtype == torch.bool, f"{called} returned a {mask.dtype} mask: the mask is boolean (it selects rows)")
    return mask


def check_q_filter(q_filter: Callable[..., Any]) -> None:
    """Properties of a right answer: (1) one boolean verdict per row (shape (batch,)); (2) True exactly where
    min_i Q_i(s, a_D) > min_i Q_i(s, mu(s)), both sides valued by the minimum over the critics, on ``Q_DEMO`` and
    ``Q_POLICY`` (where the mean, either critic alone, the maximum and the per-critic votes give other masks) and on
    random float64 values of 2 critics x 40 rows; (3) strictly: tied minima are rejected, and so is every row of a
    demonstration valued as the actor's own action; (4) the arguments are not modified."""
    cases = [(Q_DEMO, Q_POLICY)]
    generator = torch.Generator().manual_seed(0)
    cases.append((torch.randn(2, 40, dtype=torch.float64, generator=generator),
                  torch.randn(2, 40, dtype=torch.float64, generator=generator)))
    for q_demo, q_policy in cases:
        given = q_demo.clone(), q_policy.clone()
        called = f"q_filter on {q_demo.shape[1]} rows"
        mask = _mask(q_filter(*given), q_demo.shape[1], called)
        require(torch.equal(given[0], q_demo) and torch.equal(given[1], q_policy), "q_filter modified its arguments "
                "in place: the critics' values must stay as they were")
        expected = q_demo.min(0).values > q_policy.min(0).values
        wrong = torch.nonzero(mask != expected).flatten().tolist()
        if wrong:
            i = wrong[0]
            require(False, f"{called}: {len(wrong)} of {len(mask)} verdicts differ from min_i Q_i(s, a_D) > "
                    f"min_i Q_i(s, mu(s)); e.g. row {i}, with Q(s, a_D) = {_values(q_demo[:, i])} and Q(s, mu(s)) = "
                    f"{_values(q_policy[:, i])}, got {bool(mask[i])}: value each side by the minimum over the critics, "
                    "the function the actor's loss maximises, and keep a row only if the demonstration is strictly "
                    "better")
    same = _mask(q_filter(Q_POLICY.clone(), Q_POLICY.clone()), Q_POLICY.shape[1], "q_filter(q, q)")
    require(not bool(same.any()), f"q_filter(q, q) kept {int(same.sum())} rows: a demonstration the critics value "
            "exactly as the actor's own action must be rejected (the comparison is strict)")


def check_cloning_loss(loss_fn: Callable[..., Any]) -> None:
    """Properties of a right answer: (1) a scalar tensor; (2) (1 / B_D) sum_i m_i ||mu(s_i) - a_i||^2: squared errors
    summed over the action's dimensions, the rows the mask keeps, divided by all B_D rows (7 rows of 4 dimensions,
    3 kept, unevenly placed; and every row kept, and none: 0); (3) its gradient reaches the actor's actions: 2 (mu(s_i)
    - a_i) / B_D on kept rows, 0 on rejected ones; (4) the arguments are not modified."""
    generator = torch.Generator().manual_seed(0)
    demo = torch.randn(7, 4, generator=generator)
    start = torch.randn(7, 4, generator=generator)
    for mask in (torch.tensor([True, False, False, True, True, False, False]), torch.ones(7, dtype=torch.bool),
                 torch.zeros(7, dtype=torch.bool)):
        policy_action = start.clone().requires_grad_(True)
        given = demo.clone(), mask.clone()
        loss = loss_fn(policy_action, given[0], given[1])
        kept = f"{int(mask.sum())} of 7 rows kept"
        require(torch.is_tensor(loss) and loss.numel() == 1, f"the loss ({kept}) must be a scalar tensor, got "
                f"{type(loss).__name__}{'' if not torch.is_tensor(loss) else ' of shape ' + str(tuple(loss.shape))}")
        require(torch.equal(given[0], demo) and torch.equal(given[1], mask) and torch.equal(policy_action, start),
                "cloning_loss modified its arguments in place")
        squared = ((start - demo) ** 2).sum(-1)
        expected = float((squared * mask).sum() / 7)
        value = float(loss.detach().reshape(-1)[0])
        require(np.isclose(value, expected, rtol=1e-5, atol=1e-7), f"with {kept} the loss is "
                f"{value:.6f}, not (1 / B_D) sum_i m_i ||mu(s_i) - a_i||^2 = {expected:.6f}: sum the squared "
                "errors over action dimensions, keep the filtered rows, and divide by all B_D = 7 rows (not the kept "
                "ones, not the number of entries)")
        require(loss.requires_grad, f"with {kept} the loss carries no gradient: it must reach the actor's actions")
        loss.backward()
        grad = policy_action.grad
        require(grad is not None, f"with {kept} no gradient reached the actor's actions")
        right = 2 * (start - demo) * mask[:, None] / 7
        require(torch.allclose(grad, right, rtol=1e-5, atol=1e-7), f"with {kept} the gradient on the actor's actions "
                f"differs from 2 m_i (mu(s_i) - a_i) / B_D by up to {float((grad - right).abs().max()):.4f} (on rows "
                f"the filter rejected: {float(grad[~mask].abs().max()) if (~mask).any() else 0.0:.4f})")


#: the expert of Problem 7.4's check: a(s) = tanh(W s + b), states of 3 coordinates, actions of 2 (not its own
#: inverse, and pairs (action, state) have the wrong shapes)
EXPERT_W = np.array([[0.8, -0.3, 0.5], [0.2, 0.9, -0.6]])
EXPERT_B = np.array([0.1, -0.2])


def _expert(state: Any) -> np.ndarray:
    return np.tanh(np.asarray(state) @ EXPERT_W.T + EXPERT_B)


def _match(returned: Any, expected: list[tuple[np.ndarray, np.ndarray]], what: str) -> tuple[int, int]:
    """How many of the expected pairs the returned training set holds (matched one to one), and how many of its
    pairs are left over."""
    require(isinstance(returned, (list, tuple)), f"symptom: dagger_aggregate returned {type(returned).__name__}, not "
            "the training set (a list of (state, action) pairs)")
    pairs = list(returned)
    for pair in pairs:
        ok = isinstance(pair, (tuple, list)) and len(pair) == 2
        shapes = tuple(np.shape(part) for part in pair) if isinstance(pair, (tuple, list)) else type(pair).__name__
        require(ok and shapes == ((3,), (2,)), f"symptom: the training set holds an entry of shapes {shapes}, not a "
                f"(state, action) pair of shapes ((3,), (2,)): states have 3 coordinates, the expert's actions 2 "
                f"({what})")
    left = list(range(len(pairs)))
    found = 0
    for state, action in expected:
        for k in left:
            if np.array_equal(pairs[k][0], state) and np.allclose(pairs[k][1], action, rtol=0.0, atol=1e-12):
                left.remove(k)
                found += 1
                break
    return found, len(left)


def check_dagger_aggregate(aggregate: Callable[..., Any]) -> None:
    """Properties of the repaired function, over two rounds (4 earlier pairs, then 5 and 3 visited states): (1) every
    pair of the training set it is given is kept; (2) every visited state is added once, paired (state, action) with
    the expert's action for it; (3) nothing else: the set holds exactly those pairs; (4) the visited states are not
    modified. The expert, tanh(W s + b) from 3 coordinates to 2, is not its own inverse."""
    rng = np.random.default_rng(0)
    states = [rng.uniform(-1, 1, 3) for _ in range(4)]
    dataset = [(s, _expert(s)) for s in states]
    for visited in (rng.uniform(-1, 1, (5, 3)), rng.uniform(-1, 1, (3, 3))):
        given = visited.copy()
        returned = aggregate(list(dataset), given, _expert)
        require(np.array_equal(given, visited), "dagger_aggregate modified the visited states in place")
        what = f"{len(dataset)} pairs given, {len(visited)} states visited"
        old, _ = _match(returned, dataset, what)
        new = [(s, _expert(s)) for s in visited]
        added, _ = _match(returned, new, what)
        _, extra = _match(returned, dataset + new, what)
        require(old == len(dataset), f"symptom: the training set returned holds {len(returned)} pairs, and of the "
                f"{len(dataset)} pairs it was given only {old} are in it ({what})")
        require(added == len(new), f"symptom: of the {len(new)} states visited this round only {added} are in the "
                f"training set paired with the expert's action for that state ({what})")
        require(extra == 0, f"symptom: the training set holds {extra} pairs besides the {len(dataset)} given and the "
                f"{len(new)} visited states with the expert's actions ({what})")
        dataset = dataset + new


PROBLEMS = (
    Problem("ch07", 1, "derivation", "the union bound on cloning's regret", "cloning_regret_bound",
            check_cloning_regret_bound),
    Problem("ch07", 2, "implementation", "the Q-filter", "q_filter", check_q_filter),
    Problem("ch07", 3, "implementation", "the Q-filtered cloning loss", "cloning_loss", check_cloning_loss),
    Problem("ch07", 4, "diagnosis", "a DAgger that forgets", "dagger_aggregate", check_dagger_aggregate),
)
