"""The run procedure, written once for every learner of the course.

A run is trained into its folder (:mod:`gcrl.rl.run_folder`) by the same steps,
whatever learns in it:

1. resume from the folder's last checkpoint, after checking it belongs to this
   config and is intact, or start afresh;
2. unless the run is finished (its budget spent, or ``target_success`` reached),
   let the learner train; as its env steps pass the grid, the :class:`Schedule`
   evaluates the policy on fixed held-out episodes (a row of the learning curve,
   written at once) and checkpoints the run, and it stops the learner once an
   evaluation reaches ``target_success``;
3. evaluate the final policy unless the last evaluation was of it, and checkpoint;
4. write ``metrics.json`` with provenance when the run trained now.

A learner supplies only what differs, as a :class:`Session` (SB3's split between
``learn()``, which is the library's, and ``train()``, which is each
algorithm's, without its inheritance): how it trains (calling the schedule back
as its env steps advance), how it saves itself, its policy and what each
evaluation records beside the success rate. How it resumes is how its session
is opened.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from gcrl.core.provenance import RunRecord
from gcrl.rl.evaluate import evaluate, evaluation_seeds
from gcrl.rl.run_folder import Checkpoint, Curve, LearnerConfig, Policy, RunResult, default_run_record, \
    record_metrics, run_metrics, verified_checkpoint, write_curve


class Session(Protocol):
    """One learner's run in progress, as the run procedure drives it."""

    @property
    def steps(self) -> int:
        """The env steps collected so far."""
        ...

    #: The entropy the temperature's loss aims at (``None`` for a learner without one).
    target_entropy: float | None

    def train(self, schedule: "Schedule") -> None:
        """Train until the budget is spent or ``schedule.passed`` says stop, calling it as the env steps advance."""
        ...

    def save(self, run_dir: Path, progress: dict[str, Any]) -> None:
        """Checkpoint everything needed to continue exactly; ``progress`` (curve, clock) joins ``state.json``."""
        ...

    def policy(self) -> Policy:
        """The deterministic policy as it acts now."""
        ...

    def diagnostics(self) -> dict[str, Any]:
        """What an evaluation records beside the success rate (the temperature, the policy's entropy, ...)."""
        ...

    def close(self) -> None: ...


#: Opens a learner's session on a config: afresh, or resumed from the checkpoint it is given.
Opener = Callable[[LearnerConfig, Path, Checkpoint | None], Session]


class Schedule:
    """The env-step grid of one run: evaluations every ``eval_every``, checkpoints every ``checkpoint_every``,
    the stop at ``target_success``; and the clock, whose training time excludes evaluations and checkpoints."""

    def __init__(self, config: LearnerConfig, run_dir: Path, session: Session, curve: Curve,
                 clock: dict[str, float]):
        self.config, self.run_dir, self.session, self.curve, self.clock = config, run_dir, session, curve, clock
        self.seeds = evaluation_seeds(config.eval_episodes, config.eval_seed)
        self.next_eval = (session.steps // config.eval_every + 1) * config.eval_every
        self.next_checkpoint = (session.steps // config.checkpoint_every + 1) * config.checkpoint_every
        self.t0 = time.perf_counter()

    def reached(self) -> bool:
        """Whether an evaluation has reached ``target_success``."""
        target = self.config.target_success
        return target is not None and any(row["success_rate"] >= target for row in self.curve)

    def due(self, steps: int) -> bool:
        """Whether :meth:`passed` will evaluate or checkpoint at ``steps`` (a learner may need to prepare)."""
        return steps < self.config.total_steps and (steps >= self.next_eval or steps >= self.next_checkpoint)

    def passed(self, steps: int) -> bool:
        """The learner has trained to ``steps``: evaluate and checkpoint where the grid says; ``False`` to stop.

        At the end of the budget nothing happens here: a learner may still update
        on its last data, and the final evaluation and checkpoint follow training.
        """
        if not self.due(steps):
            return True
        self.clock["train_s"] += time.perf_counter() - self.t0
        if steps >= self.next_eval:
            self.next_eval = (steps // self.config.eval_every + 1) * self.config.eval_every
            self.evaluate()
        checkpoint_due = steps >= self.next_checkpoint
        if checkpoint_due:
            self.next_checkpoint = (steps // self.config.checkpoint_every + 1) * self.config.checkpoint_every
        reached = self.reached()
        if checkpoint_due or reached:  # an evaluation that stops the run is checkpointed with it
            self.save()
        self.t0 = time.perf_counter()
        return not reached

    def finish(self) -> None:
        """The learner has stopped: its training time since the last evaluation joins the clock."""
        self.clock["train_s"] += time.perf_counter() - self.t0

    def evaluate(self) -> None:
        """The policy on the held-out episodes: a row of the learning curve, written at once."""
        t0 = time.perf_counter()
        result = evaluate(self.config.env_id, self.session.policy(), self.seeds)
        self.clock["eval_s"] += time.perf_counter() - t0
        self.curve.append({"env_steps": self.session.steps, "train_s": round(self.clock["train_s"], 3),
                           **result.as_dict(), **self.session.diagnostics()})
        write_curve(self.run_dir, self.curve)

    def save(self) -> None:
        self.session.save(self.run_dir, {"curve": self.curve, "clock": self.clock})


def train(config: LearnerConfig, run_dir: str | os.PathLike[str], run: RunRecord | None,
          open_session: Opener) -> RunResult:
    """Train ``config`` into ``run_dir`` with the learner ``open_session`` opens; resume if possible.

    A finished run is read back, not retrained, and its ``metrics.json`` is left
    as it was recorded.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    run = run or default_run_record(config)
    found = verified_checkpoint(run_dir, config)
    session = open_session(config, run_dir, found)
    try:
        curve, clock = (found[1]["curve"], found[1]["clock"]) if found else ([], {"train_s": 0.0, "eval_s": 0.0})
        resumed_from = session.steps if found else None
        schedule = Schedule(config, run_dir, session, curve, clock)
        trained = found is None
        if session.steps < config.total_steps and not schedule.reached():
            session.train(schedule)
            schedule.finish()
            trained = True
        if not curve or curve[-1]["env_steps"] != session.steps:
            schedule.evaluate()
            schedule.save()
            trained = True
        metrics = run_metrics(config, session.steps, clock, curve, config.target_success, resumed_from,
                              schedule.seeds, session.target_entropy)
        record_metrics(run_dir, metrics, run, trained)
        return RunResult(run_dir, config, metrics, curve, session.policy())
    finally:
        session.close()
