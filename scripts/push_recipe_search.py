"""The search for the book's FetchPush recipe (Chapter 4, §4), reproducible: ``python scripts/push_recipe_search.py``.

Each candidate is the provisional recipe ``BASE`` (the original HER schedule for
one worker, on SAC) with a few settings changed; the winner became Push's recipe
in ``hyperparams/sac_her.yml``. Candidates train one at a time (never two sharing the
CPU), each with a fixed seed and a budget of env steps, stopping early once an
evaluation reaches ``--target``; a finished candidate is read back, an
interrupted one resumes. The summary (``search.json`` in the runs folder) gives,
per candidate, its settings, env steps and training seconds to 50% and to 90%
success, the best and last success rates, and env steps and gradient steps per
second; Chapter 4 tells what was tried and what each choice bought.

    python scripts/push_recipe_search.py --list
    python scripts/push_recipe_search.py --runs results/push_search narrow wide
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gcrl.analysis.bench_push import firsts
from gcrl.core.io import write_json_atomic
from gcrl.core.provenance import RunRecord
from gcrl.rl.sac_her.config import SacHerConfig

PUSH = "FetchPush-v4"

#: The provisional recipe every candidate starts from (the original HER schedule for one worker, Andrychowicz et
#: al. 2017, on SAC): stated here, not read from sac_her.yml, so that a candidate means the same after the search
#: has changed the recipe there.
BASE: dict[str, Any] = {
    "net_arch": (256, 256, 256), "batch_size": 256, "learning_rate": 0.001, "gamma": 0.98, "tau": 0.05,
    "learning_starts": 1000, "n_sampled_goal": 4, "goal_selection_strategy": "future", "n_envs": 2,
    "episodes_per_cycle": 2, "updates_per_cycle": 40, "target_clip": True, "obs_clip": 5.0, "ent_coef": "auto",
    "random_eps": 0.0, "collector": "process",
}

#: name -> (what it tests, the settings it changes in BASE)
CANDIDATES: dict[str, tuple[str, dict[str, Any]]] = {
    "her_schedule": ("the original HER schedule on SAC: 3x256, batch 256, 2 envs x 2 episodes then 40 updates",
                     {}),
    "narrow": ("the same schedule with 3x128 networks and batch 512 (about a third of the compute per sample)",
               {"net_arch": (128, 128, 128), "batch_size": 512}),
    "narrow_utd": ("3x128, batch 512, 80 updates per cycle (twice the updates per env step)",
                   {"net_arch": (128, 128, 128), "batch_size": 512, "updates_per_cycle": 80}),
    "eight_envs": ("the 8-worker HER schedule in one process: 8 envs x 2 episodes, then 40 updates of batch 1024",
                   {"n_envs": 8, "batch_size": 1024}),
    "explore": ("8 envs x 2 episodes, 40 updates of batch 512, a fixed temperature 0.05 and 30% random actions",
                {"n_envs": 8, "batch_size": 512, "ent_coef": 0.05, "random_eps": 0.3}),
    "explore_narrow": ("as explore, with 3x128 networks on one learner thread",
                       {"n_envs": 8, "batch_size": 512, "ent_coef": 0.05, "random_eps": 0.3,
                        "net_arch": (128, 128, 128)}),
    "no_explore": ("as explore_narrow, with SAC's own exploration only: the temperature learned, no random actions",
                   {"n_envs": 8, "batch_size": 512, "net_arch": (128, 128, 128)}),
    "zoo_schedule": ("3x256, batch 256, one update per env step (the zoo's schedule), gamma 0.95, no clipping",
                     {"updates_per_cycle": 200, "gamma": 0.95, "target_clip": False, "obs_clip": 10.0}),
}


def record(name: str, config: SacHerConfig, curve: list[dict[str, Any]]) -> dict[str, Any]:
    """One candidate's line of the summary, read from its learning curve."""
    description, changes = CANDIDATES[name]
    last = curve[-1]
    finished = last["env_steps"] >= config.total_steps or max(r["success_rate"] for r in curve) >= config.target_success
    return {"description": description, "changes": {k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()},
            "stopped_by_hand": not finished, "budget_steps": config.total_steps, "config": config.as_dict(),
            **firsts(curve),
            "best_success_rate": max(r["success_rate"] for r in curve),
            "last": {k: last[k] for k in ("env_steps", "train_s", "success_rate", "ci95_low", "ci95_high", "updates")},
            "env_steps_per_s": round(last["env_steps"] / last["train_s"], 1),
            "updates_per_s": round(last["updates"] / last["train_s"], 1),
            "curve": [{k: r[k] for k in ("env_steps", "train_s", "success_rate", "updates")} for r in curve]}


def run(names: list[str], runs: Path, total_steps: int, eval_every: int, eval_episodes: int, target: float,
        seed: int, threads: int, record_only: bool = False) -> dict[str, Any]:
    """Train (or, with ``record_only``, read back) each candidate and rewrite ``search.json`` after each."""
    found = runs / "search.json"
    summary: dict[str, Any] = json.loads(found.read_text()) if found.is_file() else {}
    candidates = summary.get("candidates", {})
    for name in names:
        config = SacHerConfig.from_recipe(PUSH, **{**BASE, **CANDIDATES[name][1], "total_steps": total_steps,
                                                   "eval_every": eval_every, "checkpoint_every": eval_every,
                                                   "eval_episodes": eval_episodes, "target_success": target,
                                                   "seed": seed, "torch_threads": threads})
        if record_only:  # read what the run left, finished or not
            curve = json.loads((runs / name / "curve.json").read_text())
            config = SacHerConfig.from_dict(json.loads((runs / name / "checkpoint" / "state.json").read_text())["config"])
        else:
            curve = config.train(runs / name).curve
        candidates[name] = record(name, config, curve)
        summary = {"protocol": {"env_id": PUSH, "defined": {n: d for n, (d, _) in CANDIDATES.items()}, "seed": seed, "budget_steps": total_steps, "eval_every": eval_every,
                                "eval_episodes": eval_episodes, "target": target, "torch_threads": threads,
                                "base": {k: list(v) if isinstance(v, tuple) else v for k, v in BASE.items()}},
                   "provenance": RunRecord(profile="push-search", seeds=[seed]).snapshot(), "candidates": candidates}
        write_json_atomic(found, summary)
        line = candidates[name]
        print(f"{name}: best {line['best_success_rate']:.2f}, to 90% {line['to_90']}, last {line['last']}", flush=True)
    return summary


def throughput(names: list[str], runs: Path, steps: int, seed: int, threads: int) -> dict[str, Any]:
    """Each candidate trained afresh for ``steps`` env steps with nothing else asked of the machine: env steps and
    gradient steps per training second, recorded beside the candidate's search result (which may have shared the
    CPU with other work; its success rates do not depend on that, its throughput does)."""
    found = runs / "search.json"
    summary = json.loads(found.read_text())
    for name in names:
        config = SacHerConfig.from_recipe(PUSH, **{**BASE, **CANDIDATES[name][1], "total_steps": steps,
                                                   "eval_every": steps, "checkpoint_every": steps, "eval_episodes": 1,
                                                   "seed": seed, "torch_threads": threads})
        last = config.train(runs / "throughput" / name).curve[-1]
        summary["candidates"][name]["throughput"] = {"env_steps": last["env_steps"], "train_s": last["train_s"],
                                                     "env_steps_per_s": round(last["env_steps"] / last["train_s"], 1),
                                                     "updates_per_s": round(last["updates"] / last["train_s"], 1)}
        summary["throughput_provenance"] = RunRecord(profile="push-search-throughput", seeds=[seed]).snapshot()
        write_json_atomic(found, summary)
        print(f"{name}: {summary['candidates'][name]['throughput']}", flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"candidates to train (default all: {', '.join(CANDIDATES)})")
    parser.add_argument("--list", action="store_true", help="print the candidates and stop")
    parser.add_argument("--record-only", action="store_true",
                        help="record candidates from the curves their runs left (finished or stopped), without training")
    parser.add_argument("--runs", type=Path, default=Path("results/push_search"))
    parser.add_argument("--total-steps", type=int, default=600_000)
    parser.add_argument("--eval-every", type=int, default=20_000)
    parser.add_argument("--eval-episodes", type=int, default=50)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="the learner's torch threads")
    parser.add_argument("--throughput-steps", type=int, default=0,
                        help="instead of searching, time each named candidate afresh for this many env steps "
                             "(run it with nothing else on the machine) and add the rates to search.json")
    args = parser.parse_args(argv)
    if args.list:
        for name, (description, changes) in CANDIDATES.items():
            print(f"{name:14s} {description}; changes {changes or 'nothing'}")
        return 0
    unknown = [n for n in args.names if n not in CANDIDATES]
    if unknown:
        parser.error(f"unknown candidate {', '.join(unknown)}; known: {', '.join(CANDIDATES)}")
    if args.throughput_steps:
        throughput(args.names or list(CANDIDATES), args.runs, args.throughput_steps, args.seed, args.threads)
        return 0
    run(args.names or list(CANDIDATES), args.runs, args.total_steps, args.eval_every, args.eval_episodes,
        args.target, args.seed, args.threads, args.record_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
