"""Today's Push recipe on reporting seeds: how far the search's in-sample figures move (Chapter 4, §3.4).

The recipe was chosen on seed 0 (``push_recipe_search.py``), and seed 0's curve also set the standard
budget and the declared ranges. This script trains the same runs the standard Chapter 4 trains with
hindsight (the recipe, the standard budget and evaluation) on *reporting* seeds, which chose nothing,
one at a time and resumable, and records per seed the env steps and training minutes to 50% and 90%
and the final success with its Wilson interval, beside the in-sample figures of seed 0:

    python scripts/push_reporting_runs.py --seeds 1000 1001 1002 --runs results/push_reporting

The record (``record.json`` in the runs folder) is rewritten after each run; the committed copy that
Chapter 4 reads is ``book/reference/push_recipe_reporting.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gcrl.analysis.bench_push import firsts
from gcrl.chapters import ch04_her as ch04
from gcrl.core.io import write_json_atomic
from gcrl.core.provenance import RunRecord
from gcrl.core.seeds import check_seeds
from gcrl.course import profiles
from gcrl.rl.learners import train


def seed_line(result) -> dict[str, Any]:
    """One reporting run: first evaluations at 50% and 90%, the final evaluation, the rates."""
    last = result.curve[-1]
    return {**firsts(result.curve), "final": {k: last[k] for k in ("episodes", "successes", "success_rate",
                                                                    "ci95_low", "ci95_high", "outcomes")},
            "env_steps": last["env_steps"], "train_s": last["train_s"],
            "env_steps_per_s": round(last["env_steps"] / last["train_s"], 1),
            "curve": [{k: r[k] for k in ("env_steps", "train_s", "success_rate")} for r in result.curve]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1000, 1001, 1002], help="reporting seeds")
    parser.add_argument("--runs", type=Path, default=Path("results/push_reporting"))
    parser.add_argument("--profile", default="standard", help="whose Chapter 4 budget the runs take")
    args = parser.parse_args(argv)
    check_seeds(args.seeds, "reporting")
    budget = profiles.budget("ch04", profiles.resolve_profile(args.profile))
    variant = ch04.push_variants(budget)["HER"]
    run = RunRecord(profile=args.profile, seeds=args.seeds)
    record: dict[str, Any] = {"protocol": {"env_id": variant.env_id, "profile": args.profile, "seeds": args.seeds,
                                           "seed_set": "reporting", "env_steps": variant.env_steps,
                                           "eval_every": budget.push_eval_every,
                                           "eval_episodes": budget.push_eval_episodes},
                              "config": None, "seeds": {}}
    for seed in args.seeds:
        config = ch04.config(variant, seed, budget)
        result = train(config, args.runs / f"seed{seed}")
        record["config"] = {k: v for k, v in config.as_dict().items() if k != "seed"}
        record["seeds"][str(seed)] = seed_line(result)
        record["provenance"] = run.snapshot()
        write_json_atomic(args.runs / "record.json", record)
        line = record["seeds"][str(seed)]
        print(f"seed {seed}: to 90% {line['to_90']}, final {line['final']['success_rate']:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
