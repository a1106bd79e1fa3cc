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

A second round (``--round samples``, Chapter 4, §3.4) asks for the same success in fewer
env steps. Its candidates start from today's recipe (``SAMPLES_BASE``) and change
one choice each, or combine the choices that helped; each trains on several
*selection* seeds (``gcrl.core.seeds``; never a reporting seed), all runs at
once on ``--parallel`` processes (a machine with many cores and a GPU), each to a
budget of env steps or until ``--deadline-min`` minutes have passed, whichever
comes first. Its record (``search.json`` in its runs folder) gives, per
candidate and seed, the env steps and training seconds to 50% and to 90%, the
best and last success; per candidate, their medians over seeds.

    python scripts/push_recipe_search.py --round samples --seeds 0 1 2 --parallel 15 --device cuda
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gcrl.analysis.bench_push import firsts
from gcrl.core.io import write_json_atomic
from gcrl.core.provenance import RunRecord
from gcrl.core.seeds import check_seeds
from gcrl.rl.learners import train
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


#: The second round's starting point: today's Push recipe (round one's winner, ``explore_narrow``), stated here
#: for the same reason as ``BASE``.
SAMPLES_BASE: dict[str, Any] = {
    **BASE, "net_arch": (128, 128, 128), "batch_size": 512, "n_envs": 8, "ent_coef": 0.05, "random_eps": 0.3,
    "torch_threads": 1,
}

#: name -> (what it tests, the settings it changes in SAMPLES_BASE); the anchors are mrl (Pitis et al. 2020:
#: LayerNorm critics, goals mixed from future and actually commanded ones) and the original HER code (the action
#: penalty, Andrychowicz et al. 2017).
SAMPLES_CANDIDATES: dict[str, tuple[str, dict[str, Any]]] = {
    "recipe": ("today's recipe (round one's explore_narrow), the control", {}),
    "layer_norm": ("the recipe with layer-normalised critics", {"critic_layer_norm": True}),
    "actual": ("the recipe with half of the relabelled goals commanded in other stored episodes",
               {"actual_goal_fraction": 0.5}),
    "action_l2": ("the recipe with the original HER code's action penalty (weight 1)", {"action_l2": 1.0}),
    "ln_actual": ("layer-normalised critics and half of the relabelled goals actually commanded",
                  {"critic_layer_norm": True, "actual_goal_fraction": 0.5}),
    "ln_actual_l2": ("as ln_actual, with the action penalty",
                     {"critic_layer_norm": True, "actual_goal_fraction": 0.5, "action_l2": 1.0}),
    "ln_utd2": ("layer-normalised critics and 80 updates per cycle (twice the updates per env step)",
                {"critic_layer_norm": True, "updates_per_cycle": 80}),
    "ln_eps01": ("layer-normalised critics and 10% random actions instead of 30%",
                 {"critic_layer_norm": True, "random_eps": 0.1}),
    "ln_actual_utd2": ("layer-normalised critics, half of the relabelled goals actually commanded, 80 updates per "
                       "cycle", {"critic_layer_norm": True, "actual_goal_fraction": 0.5, "updates_per_cycle": 80}),
    "w64_ln_actual_utd4": ("3 x 64 networks with layer-normalised critics, half of the relabelled goals actually "
                           "commanded, 160 updates per cycle (four times the updates per env step at less compute "
                           "than the recipe's 3 x 128: a 3 x 64 step at batch 512 costs about 0.4 of one)",
                           {"net_arch": (64, 64, 64), "critic_layer_norm": True, "actual_goal_fraction": 0.5,
                            "updates_per_cycle": 160}),
}

#: --round -> its candidates
ROUNDS: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {"recipe": CANDIDATES, "samples": SAMPLES_CANDIDATES}


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
            curve = train(config, runs / name).curve
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
        last = train(config, runs / "throughput" / name).curve[-1]
        summary["candidates"][name]["throughput"] = {"env_steps": last["env_steps"], "train_s": last["train_s"],
                                                     "env_steps_per_s": round(last["env_steps"] / last["train_s"], 1),
                                                     "updates_per_s": round(last["updates"] / last["train_s"], 1)}
        summary["throughput_provenance"] = RunRecord(profile="push-search-throughput", seeds=[seed]).snapshot()
        write_json_atomic(found, summary)
        print(f"{name}: {summary['candidates'][name]['throughput']}", flush=True)
    return summary


def _listed(values: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def seeded_config(name: str, seed: int, total_steps: int, eval_every: int, eval_episodes: int,
                  overrides: dict[str, Any]) -> SacHerConfig:
    """Candidate ``name`` of the second round on ``seed`` (a selection seed), with the run's settings."""
    check_seeds([seed], "selection")
    return SacHerConfig.from_recipe(PUSH, **{**SAMPLES_BASE, **SAMPLES_CANDIDATES[name][1], **overrides,
                                             "total_steps": total_steps, "eval_every": eval_every,
                                             "checkpoint_every": eval_every, "eval_episodes": eval_episodes,
                                             "seed": seed})


def seed_line(config: SacHerConfig, curve: list[dict[str, Any]]) -> dict[str, Any]:
    """One run of the second round, read from its curve (finished, or stopped by the deadline)."""
    if not curve:
        return {"evaluations": 0, "finished": False, **firsts([]), "best_success_rate": None, "last": None,
                "curve": []}
    last = curve[-1]
    return {"evaluations": len(curve), "finished": last["env_steps"] >= config.total_steps, **firsts(curve),
            "best_success_rate": max(r["success_rate"] for r in curve),
            "last": {k: last[k] for k in ("env_steps", "train_s", "success_rate", "ci95_low", "ci95_high", "updates")},
            "env_steps_per_s": round(last["env_steps"] / last["train_s"], 1) if last["train_s"] else None,
            # each evaluation's episode outcomes, so that candidates compare by a two-stage bootstrap over seeds
            "curve": [{k: r[k] for k in ("env_steps", "train_s", "success_rate", "updates", "outcomes")} for r in curve]}


def candidate_line(name: str, lines: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """A candidate over its seeds: how many reached 50% and 90%, and the median env steps to each over the seeds
    that reached it (with how many did; a median over fewer than all seeds is stated as such)."""
    description, changes = SAMPLES_CANDIDATES[name]
    summary: dict[str, Any] = {"description": description, "changes": _listed(changes), "seeds": sorted(lines)}
    for key in ("to_50", "to_90"):
        reached = [line[key]["env_steps"] for line in lines.values() if line.get(key)]
        summary[key] = {"reached": len(reached), "of": len(lines),
                        "median_env_steps": statistics.median(reached) if reached else None,
                        "env_steps": {str(seed): (line.get(key) or {}).get("env_steps") for seed, line in lines.items()}}
    finals = [line["last"]["success_rate"] for line in lines.values() if line.get("last")]
    summary["median_last_success"] = statistics.median(finals) if finals else None
    return summary


def train_command(config: SacHerConfig, run_dir: Path) -> list[str]:
    """``gcrl train`` for ``config``: every setting passed, so the command trains exactly this config."""
    values = config.as_dict()
    settings = [x for key, value in values.items() if key not in ("env_id", "total_steps", "seed")
                for x in ("--set", f"{key}={json.dumps(value)}")]
    return [sys.executable, "-m", "gcrl.course.cli", "train", "--algo", config.algo, "--env", config.env_id,
            "--steps", str(config.total_steps), "--seed", str(config.seed), "--run-dir", str(run_dir), *settings]


def run_seeded(names: list[str], seeds: list[int], runs: Path, total_steps: int, eval_every: int, eval_episodes: int,
               parallel: int, deadline_min: float | None, overrides: dict[str, Any],
               record_only: bool = False) -> dict[str, Any]:
    """Every (candidate, seed) run of the second round, ``parallel`` at a time, each a ``gcrl train`` process;
    then ``search.json``.

    Runs already finished are read back and interrupted ones resume. At the deadline every run still going is
    stopped and recorded as far as its curve goes (``finished: false``); the same command again continues them.
    With ``record_only`` nothing trains: each run is recorded as far as its curve goes.
    """
    check_seeds(seeds, "selection")
    configs = {(n, s): seeded_config(n, s, total_steps, eval_every, eval_episodes, overrides) for n in names for s in seeds}
    queue = [] if record_only else [(key, train_command(c, runs / key[0] / f"seed{key[1]}"))
                                    for key, c in configs.items()]
    run_record = RunRecord(profile="push-search-samples", seeds=seeds)
    deadline = time.monotonic() + deadline_min * 60 if deadline_min else None
    running: dict[tuple[str, int], subprocess.Popen] = {}
    logs = runs / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        while queue or running:
            while queue and len(running) < parallel:
                (name, seed), command = queue.pop(0)
                with open(logs / f"{name}-seed{seed}.log", "ab") as log:
                    running[name, seed] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                           start_new_session=True)
            for key, process in list(running.items()):
                if process.poll() is not None:
                    del running[key]
                    if process.returncode:
                        print(f"{key[0]} seed {key[1]} failed (exit {process.returncode}); see "
                              f"{logs / f'{key[0]}-seed{key[1]}.log'}", flush=True)
            if deadline is not None and time.monotonic() > deadline:
                print(f"deadline of {deadline_min} min reached: {len(running)} runs stopped where they are, "
                      f"{len(queue)} not started", flush=True)
                break
            time.sleep(1)
    finally:
        for process in running.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return write_seeded(names, seeds, runs, configs, run_record, parallel, deadline_min)


def write_seeded(names: list[str], seeds: list[int], runs: Path, configs: dict[tuple[str, int], SacHerConfig],
                 run_record: RunRecord, parallel: int, deadline_min: float | None) -> dict[str, Any]:
    """``search.json`` of the second round, from the curves the runs left."""
    per_seed: dict[str, dict[int, dict[str, Any]]] = {}
    for (name, seed), config in configs.items():
        curve_file, metrics_file = (runs / name / f"seed{seed}" / f for f in ("curve.json", "metrics.json"))
        curve = json.loads(curve_file.read_text()) if curve_file.is_file() else []
        per_seed.setdefault(name, {})[seed] = seed_line(config, curve)
        if metrics_file.is_file():  # a finished run's own provenance: the commit and machine that trained it
            trained = json.loads(metrics_file.read_text())["provenance"]
            per_seed[name][seed]["trained"] = {k: trained[k] for k in ("commit", "dirty", "device", "started_at")}
    any_config = next(iter(configs.values()))
    summary = {
        "protocol": {"round": "samples", "env_id": PUSH, "seeds": seeds, "seed_set": "selection",
                     "budget_steps": any_config.total_steps, "eval_every": any_config.eval_every,
                     "eval_episodes": any_config.eval_episodes, "device": any_config.device,
                     "collector": any_config.collector, "parallel_runs": parallel, "deadline_min": deadline_min,
                     "base": _listed(SAMPLES_BASE), "defined": {n: d for n, (d, _) in SAMPLES_CANDIDATES.items()}},
        "provenance": run_record.snapshot(),
        "candidates": {name: candidate_line(name, lines) for name, lines in per_seed.items()},
        "runs": {name: {str(seed): line for seed, line in lines.items()} for name, lines in per_seed.items()},
    }
    write_json_atomic(runs / "search.json", summary)
    for name, line in summary["candidates"].items():
        print(f"{name:14s} to 90%: {line['to_90']['reached']}/{line['to_90']['of']} seeds, median "
              f"{line['to_90']['median_env_steps']} env steps; to 50%: median {line['to_50']['median_env_steps']}; "
              f"median last success {line['median_last_success']}", flush=True)
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
    parser.add_argument("--round", choices=sorted(ROUNDS), default="recipe",
                        help="recipe: the search that chose today's recipe (one seed, one run at a time); samples: "
                             "fewer env steps, several selection seeds, runs in parallel")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="--round samples: the selection seeds each candidate trains on")
    parser.add_argument("--parallel", type=int, default=1, help="--round samples: runs at once")
    parser.add_argument("--deadline-min", type=float, default=None,
                        help="--round samples: stop every run after this many minutes and record where they are")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="--round samples: a setting for every run where the work happens (device, collector, "
                             "torch_threads), e.g. --set device=cuda --set collector=inline")
    args = parser.parse_args(argv)
    candidates = ROUNDS[args.round]
    if args.list:
        for name, (description, changes) in candidates.items():
            print(f"{name:14s} {description}; changes {changes or 'nothing'}")
        return 0
    unknown = [n for n in args.names if n not in candidates]
    if unknown:
        parser.error(f"unknown candidate {', '.join(unknown)}; known: {', '.join(candidates)}")
    if args.round == "samples":
        overrides = dict(_setting(item, parser) for item in args.overrides)
        if args.parallel < 1:
            parser.error(f"--parallel must be at least 1, got {args.parallel}")
        run_seeded(args.names or list(candidates), args.seeds, args.runs, args.total_steps, args.eval_every,
                   args.eval_episodes, args.parallel, args.deadline_min, overrides, args.record_only)
        return 0
    check_seeds([args.seed], "selection")
    if args.throughput_steps:
        throughput(args.names or list(CANDIDATES), args.runs, args.throughput_steps, args.seed, args.threads)
        return 0
    run(args.names or list(CANDIDATES), args.runs, args.total_steps, args.eval_every, args.eval_episodes,
        args.target, args.seed, args.threads, args.record_only)
    return 0


#: What ``--set`` may change: where the work happens, never what is learned.
PLACEMENT = {"device": str, "collector": str, "torch_threads": int, "collector_processes": int, "compile_mode": str}


def _setting(item: str, parser: argparse.ArgumentParser) -> tuple[str, Any]:
    key, sep, value = item.partition("=")
    if not sep or key not in PLACEMENT:
        parser.error(f"--set takes KEY=VALUE with KEY one of {', '.join(PLACEMENT)}, got {item!r}")
    try:
        return key, PLACEMENT[key](value)
    except ValueError:
        parser.error(f"--set {key} needs a {PLACEMENT[key].__name__}, got {value!r}")


if __name__ == "__main__":
    sys.exit(main())
