"""``make bench`` on FetchPush: the book's Push recipe against rl-baselines3-zoo's TQC+HER, same machine, same wall clock.

Reach is solved in seconds by either learner, so :mod:`gcrl.analysis.bench`
compares time to a threshold. Push is where the schedule decides whether a
learner gets anywhere on two cores, so this benchmark gives each recipe the same
fixed wall-clock budget, one at a time, and records success against training
seconds and against env steps:

- ``zoo``: sb3-contrib's ``TQC`` with SB3's ``HerReplayBuffer``: the zoo's
  FetchPush recipe (3x512, batch 2048, one update per env step) with
  VecNormalize and learning_starts 1000 added, as the book's
  ``hyperparams/tqc.yml`` sets them (the zoo's published entry sets neither:
  no normalisation, and SB3's default of 100 warm-up steps);
- ``book``: the book's SAC+HER with its Push recipe (``hyperparams/sac_her.yml``).

Each runs as ``gcrl train`` in a process group of its own, killed when its
budget is spent; what it leaves is its learning curve (``curve.json``, rewritten
after every evaluation), from which the record takes the time and env steps to
50% and 90% success where reached, env steps per second and gradient steps per
second. Training seconds exclude evaluation, for both.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gcrl.core.errors import CourseError
from gcrl.core.io import write_json_atomic
from gcrl.core.provenance import RunRecord
from gcrl.core.seeds import REPORTING_SEED_BASE, check_seeds

PUSH = "FetchPush-v4"
LEVELS = (0.5, 0.9)


@dataclass(frozen=True)
class PushBenchConfig:
    budget_s: float = 1500.0
    eval_episodes: int = 50
    zoo_eval_every: int = 2_000
    book_eval_every: int = 20_000
    seed: int = REPORTING_SEED_BASE  # a benchmark reports: never a seed that chose the recipe

    def __post_init__(self) -> None:
        check_seeds([self.seed], "reporting")
        if self.budget_s <= 0 or self.eval_episodes < 1 or self.zoo_eval_every < 1 or self.book_eval_every < 1:
            raise CourseError(f"bench: budget_s, eval_episodes and the evaluation intervals must be positive; got {self}")

    def runs(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Each recipe's algorithm and overrides: a step budget no run reaches, so the clock alone stops it."""
        common = {"total_steps": 100_000_000, "eval_episodes": self.eval_episodes, "seed": self.seed,
                  "checkpoint_every": 100_000_000}
        return {"zoo": ("tqc", {**common, "eval_every": self.zoo_eval_every}),
                "book": ("sac+her", {**common, "eval_every": self.book_eval_every})}

    def commands(self, runs: Path) -> dict[str, list[str]]:
        """``gcrl train`` for each recipe, with the overrides of :meth:`runs`."""
        flags = {"total_steps": "--steps", "eval_episodes": "--eval-episodes", "seed": "--seed",
                 "checkpoint_every": "--checkpoint-every", "eval_every": "--eval-every"}
        return {recipe: ["--algo", algo, "--env", PUSH, *(x for key, value in overrides.items()
                                                            for x in (flags[key], str(value))),
                         "--run-dir", str(runs / recipe)]
                for recipe, (algo, overrides) in self.runs().items()}


def run_for(arguments: list[str], budget_s: float, until: Callable[[], bool] | None = None,
            grace_s: float = 0.0) -> float:
    """Run ``gcrl train`` with ``arguments`` for ``budget_s`` seconds of wall clock, then stop it and its children.

    With ``until``, a run that has not yet met it at the budget (its first evaluation, say, on a busy host) is
    given up to ``grace_s`` more seconds to meet it. Returns the wall clock the run had.
    """
    command = [sys.executable, "-m", "gcrl.course.cli", "train", *arguments]
    start = time.perf_counter()
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        process.wait(timeout=budget_s)
        raise CourseError(f"bench: `{' '.join(command)}` stopped before its budget: "
                          f"{process.stderr.read().decode()[-2000:]}")
    except subprocess.TimeoutExpired:
        while until is not None and not until() and time.perf_counter() - start < budget_s + grace_s \
                and process.poll() is None:
            time.sleep(0.5)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return time.perf_counter() - start


def first_reaching(curve: list[dict[str, Any]], level: float) -> dict[str, Any] | None:
    """Env steps and training seconds at the first evaluation with success >= ``level``, or ``None``."""
    return next(({"env_steps": r["env_steps"], "train_s": r["train_s"]} for r in curve if r["success_rate"] >= level),
                None)


def level_key(level: float) -> str:
    """The key a record gives the first evaluation at ``level``: ``to_50`` for 0.5."""
    return f"to_{round(level * 100)}"


def firsts(curve: list[dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
    """:func:`first_reaching` at each of :data:`LEVELS`, by :func:`level_key`."""
    return {level_key(level): first_reaching(curve, level) for level in LEVELS}


def summarise(curve: list[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    """What a recipe reached in its budget: firsts at each level, the best and last evaluation, the rates."""
    if not curve:
        return {"evaluations": 0, "wall_s": wall_s, **firsts([]),
                "best_success_rate": None, "last": None, "env_steps_per_s": None, "updates_per_s": None}
    last = curve[-1]
    updates = last.get("updates")
    return {"evaluations": len(curve), "wall_s": round(wall_s, 1), **firsts(curve),
            "best_success_rate": max(r["success_rate"] for r in curve),
            "last": {k: last[k] for k in ("env_steps", "train_s", "success_rate")},
            "env_steps_per_s": round(last["env_steps"] / last["train_s"], 1) if last["train_s"] else None,
            "updates_per_s": round(updates / last["train_s"], 1) if updates and last["train_s"] else None}


def zoo_updates(curve: list[dict[str, Any]], learning_starts: int) -> list[dict[str, Any]]:
    """SB3's off-policy learners take one gradient step per env step after ``learning_starts`` (the zoo's schedule)."""
    return [{**row, "updates": max(0, row["env_steps"] - learning_starts)} for row in curve]


def run_push_bench(out: Path, bench: PushBenchConfig = PushBenchConfig()) -> dict[str, Any]:
    """Both recipes, one at a time from scratch, each for ``budget_s``; ``out/bench_FetchPush-v4.json`` and its figure."""
    from gcrl.rl.learners import make_config

    runs = out / "push_runs"
    shutil.rmtree(runs, ignore_errors=True)  # a benchmark measures; it never resumes
    run = RunRecord(profile="bench", seeds=[bench.seed])
    results = {}
    for recipe, arguments in bench.commands(runs).items():
        algo, overrides = bench.runs()[recipe]
        config = make_config(algo, PUSH, **overrides).as_dict()  # what the command trains, recorded before it runs
        print(f"gcrl: bench: {recipe} on {PUSH} for {bench.budget_s / 60:.0f} min", flush=True)
        wall = run_for(arguments, bench.budget_s)
        curve_file = runs / recipe / "curve.json"
        curve = json.loads(curve_file.read_text()) if curve_file.is_file() else []
        if recipe == "zoo":
            curve = zoo_updates(curve, config["hyperparams"]["learning_starts"])
        results[recipe] = {"summary": summarise(curve, wall), "curve": curve, "config": config}
    record = {"bench": asdict(bench), "env_id": PUSH, "recipes": results, "provenance": run.snapshot()}
    write_json_atomic(out / f"bench_{PUSH}.json", record)
    figure(record, out / f"bench_{PUSH}.png")
    return record


def draw(record: dict[str, Any]):
    """Success against training minutes (left) and against env steps (right), one line per recipe."""
    import matplotlib.pyplot as plt

    fig, (by_time, by_steps) = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for colour, (recipe, result) in zip(("C0", "C3"), record["recipes"].items()):
        curve = result["curve"]
        by_time.plot([r["train_s"] / 60 for r in curve], [r["success_rate"] for r in curve], "o-", ms=3,
                     color=colour, label=recipe)
        by_steps.plot([r["env_steps"] for r in curve], [r["success_rate"] for r in curve], "o-", ms=3, color=colour)
    by_time.set_xlabel("training minutes")
    by_time.set_ylabel("success rate")
    by_time.legend(frameon=False)
    by_steps.set_xscale("log")  # the recipes' step counts in one budget can differ by orders of magnitude
    by_steps.set_xlabel("env steps (log scale)")
    by_time.set_ylim(-0.02, 1.02)
    fig.suptitle(f"{record['env_id']}, {record['bench']['budget_s'] / 60:.0f} min of wall clock each, one at a time")
    return fig


def figure(record: dict[str, Any], path: Path) -> Path:
    """:func:`draw`, saved as PNG at ``path``."""
    import matplotlib.pyplot as plt

    from gcrl.analysis.plots import save_figure

    fig = draw(record)
    save_figure(fig, path)
    plt.close(fig)
    return path


def report(record: dict[str, Any]) -> str:
    lines = [f"{record['env_id']}: {record['bench']['budget_s'] / 60:.0f} min of wall clock per recipe", "",
             f"{'recipe':<6} {'evals':>5} {'best':>6} {'last':>6} {'env steps':>10} {'steps/s':>8} {'updates/s':>9} "
             + " ".join(f"{f'to {level:.0%} (steps, min)':>22}" for level in LEVELS)]
    for recipe, result in record["recipes"].items():
        s = result["summary"]
        if not s["evaluations"]:
            lines.append(f"{recipe:<6} no evaluation within the budget")
            continue

        def first(level: float) -> str:
            hit = s[level_key(level)]
            return "not reached" if hit is None else f"{hit['env_steps']:,}, {hit['train_s'] / 60:.1f}"

        lines.append(f"{recipe:<6} {s['evaluations']:>5} {s['best_success_rate']:>6.2f} {s['last']['success_rate']:>6.2f} "
                     f"{s['last']['env_steps']:>10,} {s['env_steps_per_s']:>8} {s['updates_per_s'] or '-':>9} "
                     + " ".join(f"{first(level):>22}" for level in LEVELS))
    return "\n".join(lines)
