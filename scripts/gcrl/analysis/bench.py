"""``make bench``: the book's SAC+HER against the peer recipe, in the same run on the same machine.

The measure is time to threshold: env steps and training seconds until the
deterministic policy first succeeds on at least ``threshold`` of
``eval_episodes`` fixed evaluation episodes, evaluated every ``eval_every`` env
steps. Three recipes run:

- ``peer``: rl-baselines3-zoo's FetchReach recipe on Stable-Baselines3 (``SAC`` +
  ``HerReplayBuffer`` + ``VecNormalize``, ``hyperparams/sac.yml``);
- ``book_code``: the same algorithm and hyperparameters in :mod:`gcrl.rl.sac_her`
  (its Reach recipe, ``hyperparams/sac_her.yml``: the zoo's values, one update
  per env step, taken at the end of each episode), which isolates what the
  implementation alone buys;
- ``book``: the book's recipe, :mod:`gcrl.rl.sac_her` with one hyperparameter
  changed: gradient updates start after ``book_learning_starts`` env steps
  (five episodes) instead of the zoo's 1,000 (twenty). Reach needs little
  warm-up data because hindsight makes every stored episode informative.

The headline is the per-seed median of peer/book training seconds; peer/book_code
is reported beside it. Runs go one at a time, cycling through the recipes per
seed, each in a fresh worker process with one torch thread, so no run shares the
CPU with another. Training seconds exclude evaluation and checkpoints for all.

A second part times the pieces of one training step of each implementation
(env step with action selection, minibatch sampling, gradient update), which
says where the difference comes from.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from gcrl.analysis.scheduler import train_many
from gcrl.core.errors import CourseError
from gcrl.core.io import write_json_atomic
from gcrl.core.provenance import RunRecord
from gcrl.core.seeds import reporting_seeds
from gcrl.rl.learners import make_config
from gcrl.rl.sac_her.config import SacHerConfig
from gcrl.rl.sb3 import TrainConfig


@dataclass(frozen=True)
class BenchConfig:
    env_id: str = "FetchReach-v4"
    threshold: float = 0.95
    eval_every: int = 1_000
    eval_episodes: int = 50
    seeds: int = 3
    max_env_steps: int = 10_000
    profile_steps: int = 300
    book_learning_starts: int = 250

    def __post_init__(self) -> None:
        if self.seeds < 1 or self.eval_episodes < 1 or self.eval_every < 1 or self.max_env_steps < self.eval_every:
            raise CourseError(f"bench: seeds, eval_episodes and eval_every must be >= 1 and max_env_steps >= "
                              f"eval_every; got {self}")
        if not 0 < self.threshold <= 1:
            raise CourseError(f"bench: threshold must be in (0, 1], got {self.threshold}")


def _run_settings(bench: BenchConfig, seed: int) -> dict[str, Any]:
    return dict(seed=seed, total_steps=bench.max_env_steps, eval_every=bench.eval_every,
                eval_episodes=bench.eval_episodes, target_success=bench.threshold,
                checkpoint_every=bench.max_env_steps)


def peer_config(bench: BenchConfig, seed: int) -> TrainConfig:
    """The peer: Stable-Baselines3's SAC with the recipe of ``sac.yml``."""
    return make_config("sac", bench.env_id, **_run_settings(bench, seed))


def book_code_config(bench: BenchConfig, seed: int) -> SacHerConfig:
    """The book's code with the peer's hyperparameters."""
    return make_config("sac+her", bench.env_id, **_run_settings(bench, seed))


def book_config(bench: BenchConfig, seed: int) -> SacHerConfig:
    """The book's recipe: its code, with updates from ``book_learning_starts`` env steps."""
    return replace(book_code_config(bench, seed), learning_starts=bench.book_learning_starts)


RECIPES = {"peer": peer_config, "book_code": book_code_config, "book": book_config}


def time_to_threshold(bench: BenchConfig, folder: Path, run: RunRecord) -> list[dict[str, Any]]:
    """One row per (recipe, seed): env steps and training seconds to threshold (``None`` if never)."""
    shutil.rmtree(folder, ignore_errors=True)  # a benchmark measures; it never resumes
    rows = []
    for seed in reporting_seeds(bench.seeds):
        for recipe, make_config in RECIPES.items():
            config = make_config(bench, seed)
            (result,) = train_many([(config, folder / f"{recipe}-seed{seed}")], run, workers=1)
            reached = result.metrics["time_to_target"]
            rows.append({"recipe": recipe, "seed": seed, "reached": reached is not None,
                         "env_steps": None if reached is None else reached["env_steps"],
                         "train_s": None if reached is None else reached["train_s"],
                         "final_success_rate": result.metrics["final"]["success_rate"],
                         "steps_per_s": result.metrics["env_steps_per_s"]})
    return rows


def _median_ratios(rows: list[dict[str, Any]], recipe: str) -> dict[str, Any]:
    """Per-seed ratios peer/recipe of training seconds and env steps, over seeds where both reached."""
    pairs = [(p, b) for p in rows if p["recipe"] == "peer" for b in rows
             if b["recipe"] == recipe and b["seed"] == p["seed"] and p["reached"] and b["reached"]]
    return {"paired_seeds": len(pairs),
            "median_time_ratio": statistics.median(p["train_s"] / b["train_s"] for p, b in pairs) if pairs else None,
            "median_steps_ratio": statistics.median(p["env_steps"] / b["env_steps"] for p, b in pairs) if pairs else None}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per recipe, and the per-seed ratios peer/book (the headline) and peer/book_code."""
    summary: dict[str, Any] = {}
    for recipe in RECIPES:
        mine = [r for r in rows if r["recipe"] == recipe]
        reached = [r for r in mine if r["reached"]]
        summary[recipe] = {
            "seeds": len(mine), "reached": len(reached),
            "median_env_steps": statistics.median(r["env_steps"] for r in reached) if reached else None,
            "median_train_s": statistics.median(r["train_s"] for r in reached) if reached else None,
        }
    summary["ratios"] = {recipe: _median_ratios(rows, recipe) for recipe in RECIPES if recipe != "peer"}
    return summary


def _per_call_ms(function, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - start) / calls * 1e3


def profile_steps(bench: BenchConfig) -> dict[str, dict[str, float]]:
    """Milliseconds per env step of training and per piece of it, for each implementation, after the warm-up.

    The book's learner works in cycles (:mod:`gcrl.rl.sac_her.learner`); its pieces are a cycle's cost
    divided by the env steps it collects, and the sampling and update costs times the updates per env step.
    """
    import torch

    from gcrl.rl.sac_her.algorithm import update
    from gcrl.rl.sac_her.learner import TrainingState
    from gcrl.rl.sb3 import build_model, make_env

    torch.set_num_threads(1)
    n = bench.profile_steps
    warm = book_code_config(bench, 0).learning_starts + n  # past the recipe's warm-up, into the gradient steps

    book = TrainingState(replace(book_code_config(bench, 0), total_steps=warm + 8 * n))
    cycle = book.config.cycle_steps
    updates_per_step = book.config.updates_per_cycle / cycle

    def book_cycle() -> None:
        book.learn()
        book.collect()

    while book.steps < warm:
        book_cycle()
    cycles = max(1, n // cycle)
    batch = book.sample()
    book_times = {
        "training step (total)": _per_call_ms(book_cycle, cycles) / cycle,
        "env step + action": _per_call_ms(book.collect, cycles) / cycle,
        "sample + relabel + normalise": _per_call_ms(book.sample, n) * updates_per_step,
        "gradient update": _per_call_ms(lambda: update(book.agent, *batch, gamma=book.config.gamma,
                                                       tau=book.config.tau), n) * updates_per_step,
    }
    book.close()

    config = peer_config(bench, 0)
    scratch = Path(tempfile.mkdtemp(prefix="gcrl-bench-"))
    model = build_model(config, make_env(config), scratch)
    model.learn(warm)
    start = time.perf_counter()
    model.learn(n, reset_num_timesteps=False)
    total = (time.perf_counter() - start) / n * 1e3
    normalizer = model.get_vec_normalize_env()
    sample = _per_call_ms(lambda: model.replay_buffer.sample(config.hyperparams["batch_size"], env=normalizer), n)
    train = _per_call_ms(lambda: model.train(gradient_steps=1, batch_size=config.hyperparams["batch_size"]), n)
    shutil.rmtree(scratch, ignore_errors=True)
    peer_times = {
        "training step (total)": total,
        "env step + action": total - train,
        "sample + relabel + normalise": sample,
        "gradient update": train - sample,
    }
    return {"peer": peer_times, "book": book_times}


def run_bench(out: Path, bench: BenchConfig = BenchConfig()) -> dict[str, Any]:
    """Run both parts, write ``out/bench_<env>.json`` with provenance, and return the record."""
    run = RunRecord(profile="bench", seeds=reporting_seeds(bench.seeds))
    rows = time_to_threshold(bench, out / "runs", run)
    record = {"bench": asdict(bench), "rows": rows, "summary": summarise(rows),
              "step_profile_ms": profile_steps(bench), "provenance": run.snapshot()}
    write_json_atomic(out / f"bench_{bench.env_id}.json", record)
    return record


def report(record: dict[str, Any]) -> str:
    """The benchmark as text: one line per run, the medians, the ratio, and the per-step profile."""
    bench, summary = record["bench"], record["summary"]
    lines = [f"time to {bench['threshold']:.0%} deterministic success on {bench['env_id']} "
             f"({bench['eval_episodes']} fixed episodes, evaluated every {bench['eval_every']} env steps)", "",
             f"{'recipe':<9} {'seed':>4} {'env steps':>10} {'train s':>8} {'steps/s':>8}"]
    for row in record["rows"]:
        steps = row["env_steps"] if row["reached"] else "never"
        seconds = f"{row['train_s']:.1f}" if row["reached"] else "-"
        lines.append(f"{row['recipe']:<9} {row['seed']:>4} {steps:>10} {seconds:>8} {row['steps_per_s']:>8.1f}")
    lines.append("")
    for recipe in RECIPES:
        s = summary[recipe]
        median_s = "-" if s["median_train_s"] is None else f"{s['median_train_s']:.1f}"
        lines.append(f"{recipe}: reached in {s['reached']}/{s['seeds']} seeds; median {s['median_env_steps']} env steps, "
                     f"{median_s} s of training")
    for recipe, ratio in summary["ratios"].items():
        if ratio["median_time_ratio"] is None:
            lines.append(f"median ratio peer/{recipe}: no seed where both reached the threshold")
        else:
            lines.append(f"median ratio peer/{recipe} over {ratio['paired_seeds']} seeds: training time "
                         f"{ratio['median_time_ratio']:.2f}x, env steps {ratio['median_steps_ratio']:.2f}x")
    lines += ["", f"{'ms per env step (after warm-up)':<32} {'peer':>8} {'book':>8}"]
    profile = record["step_profile_ms"]
    for piece in profile["peer"]:
        lines.append(f"{piece:<32} {profile['peer'][piece]:>8.2f} {profile['book'][piece]:>8.2f}")
    return "\n".join(lines)
