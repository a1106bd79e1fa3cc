"""Chapter 4's records kept with the book, and what the chapter reads from them.

Two measurements are too long for a book run and are made once on a reference machine: ``make bench`` on
Push (:mod:`gcrl.analysis.bench_push`, §3.6) and the GPU probe (``scripts/gpu_probe.py``, §3.2). Their small
records, with provenance, live in ``book/reference/``; the functions here turn them into the chapter's tables
and sentences, so that a new record changes the prose. The search's records are read by
:mod:`gcrl.chapters.ch04_search`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gcrl.analysis.bench_push import LEVELS, level_key
from gcrl.core.paths import REPO_ROOT

#: ``make bench --push`` (:mod:`gcrl.analysis.bench_push`): the book's recipe against the zoo's TQC+HER on one
#: wall clock, run once on the reference machine and kept, as the search is, for the chapter to read
BENCH_RECORD = REPO_ROOT / "book" / "reference" / "bench_FetchPush-v4.json"
#: env steps to 90% training success in rl-baselines3-zoo's published TQC+HER FetchPush logs (about; §3.6)
ZOO_PUSH_STEPS = 200_000
#: env steps to 90% success of DDPG+HER with mrl's recipe on FetchPush (about; its repository's benchmark plot, §3.4)
MRL_PUSH_STEPS = 260_000


def rate(per_second: float) -> str:
    """A rate as the prose prints it: whole numbers, but one decimal below ten."""
    return f"{per_second:,.0f}" if per_second >= 10 else f"{per_second:.1f}"


def push_bench(path: Path = BENCH_RECORD) -> dict[str, Any]:
    """The Push benchmark's record: one row per recipe (what it reached in its budget, and how fast it ran) and a
    sentence that compares them, computed from the record so that it changes when a new run changes the numbers."""
    record = json.loads(Path(path).read_text())
    budget_min = record["bench"]["budget_s"] / 60

    def reached(first: dict[str, Any] | None) -> str:
        return "not reached" if first is None else f"{first['env_steps']:,} steps, {first['train_s'] / 60:.1f} min"

    summaries = {name: r["summary"] for name, r in record["recipes"].items()}
    rows = [{"recipe": name, "evaluations": s["evaluations"], "env_steps": s["last"]["env_steps"] if s["last"] else 0,
             "best_success_rate": s["best_success_rate"],
             "last_success_rate": s["last"]["success_rate"] if s["last"] else None,
             **{f"to {level:.0%}": reached(s[level_key(level)]) for level in LEVELS},
             "env_steps_per_s": s["env_steps_per_s"], "updates_per_s": s["updates_per_s"]}
            for name, s in summaries.items()]
    book, zoo = summaries["book"], summaries["zoo"]
    if not (book["evaluations"] and zoo["evaluations"]):
        reading = "one of the recipes was not evaluated within its budget, so the record compares nothing"
    else:
        def level_text(recipe: str, name: str) -> str:
            s = summaries[recipe]
            hit = [f"{level:.0%} after {first['train_s'] / 60:.1f} min of training ({first['env_steps']:,} env steps)"
                   for level in LEVELS if (first := s[level_key(level)]) is not None]
            top = max(record["recipes"][recipe]["curve"], key=lambda r: r["success_rate"])
            best = (f"its best evaluation in {s['last']['env_steps']:,} env steps was {top['successes']}/"
                    f"{top['episodes']} (Wilson 95% [{top['ci95_low']:.2f}, {top['ci95_high']:.2f}])")
            return f"{name} reached " + " and ".join(hit) if hit else f"{name} reached neither level: {best}"

        ratio = book["env_steps_per_s"] / zoo["env_steps_per_s"]
        batches = (record["recipes"]["book"]["config"]["batch_size"],
                   record["recipes"]["zoo"]["config"]["hyperparams"]["batch_size"])
        reading = (f"{level_text('book', 'the book recipe')}; {level_text('zoo', 'the zoo recipe')}. The book's recipe simulated "
                   f"{rate(book['env_steps_per_s'])} env steps per second of training against the zoo's "
                   f"{rate(zoo['env_steps_per_s'])} ({ratio:,.0f} times as many), and took "
                   f"{rate(book['updates_per_s'])} gradient steps of {batches[0]:,} per second against "
                   f"{rate(zoo['updates_per_s'])} of {batches[1]:,}")
    provenance = record["provenance"]
    protocol = (f"{budget_min:.0f} min of wall clock per recipe, one at a time, seed {record['bench']['seed']}, "
                f"{record['bench']['eval_episodes']} held-out episodes per evaluation, on "
                f"{provenance['device']['name']} ({provenance['device']['cores']} cores), commit "
                f"{provenance['commit'][:7]}")
    return {"record": record, "rows": rows, "reading": reading, "protocol": protocol}


def zoo_additions(record: dict[str, Any]) -> str:
    """How the bench's zoo arm departs from rl-baselines3-zoo's published FetchPush entry (its ``hyperparams/tqc.yml``),
    read from the configuration the record keeps. The published entry sets neither ``normalize`` nor
    ``learning_starts``: no VecNormalize, and sb3-contrib's ``TQC`` default for the second, read from its signature."""
    import inspect

    from sb3_contrib import TQC

    config = record["recipes"]["zoo"]["config"]
    default = inspect.signature(TQC).parameters["learning_starts"].default
    starts = config["hyperparams"].get("learning_starts", default)
    added = (["VecNormalize"] if config["normalize"] else []) + ([f"learning_starts {starts:,}"] if starts != default else [])
    if not added:
        return "the zoo's FetchPush recipe as published"
    return (f"the zoo's FetchPush recipe with {' and '.join(added)} added (the published entry sets neither "
            f"normalisation nor learning_starts, whose default is {default:,})")


def zoo_steady_rate(record: dict[str, Any]) -> dict[str, float]:
    """The zoo arm's env steps per second of training between its last two evaluations, and the hours its published
    runs' :data:`ZOO_PUSH_STEPS` would take at that rate.

    The record's average rate (``summary.env_steps_per_s``) divides all env steps by all training seconds, and so
    counts the first ``learning_starts`` steps, which take no gradient step; between two evaluations after them
    every env step takes one, the rate the rest of a run would keep.
    """
    zoo = record["recipes"]["zoo"]
    curve, starts = zoo["curve"], zoo["config"]["hyperparams"]["learning_starts"]
    steady = [row for row in curve if row["env_steps"] >= starts]
    if len(steady) < 2:
        raise ValueError(f"the zoo arm has fewer than two evaluations after its {starts:,} warm-up steps")
    first, last = steady[-2], steady[-1]
    rate = (last["env_steps"] - first["env_steps"]) / (last["train_s"] - first["train_s"])
    return {"from_steps": first["env_steps"], "to_steps": last["env_steps"], "env_steps_per_s": rate,
            "average_env_steps_per_s": zoo["summary"]["env_steps_per_s"], "hours": ZOO_PUSH_STEPS / rate / 3600}


def zoo_floor(record: dict[str, Any], at_reset: str) -> str:
    """What the zoo arm's evaluations measured, against the book arm's first evaluation and the floor: ``at_reset``
    holds one character per evaluation episode, ``1`` where the block starts within the threshold of its goal
    (:func:`gcrl.chapters.ch04_her.solved_at_reset` on the record's evaluation seeds)."""
    zoo = record["recipes"]["zoo"]["curve"]
    book = record["recipes"]["book"]["curve"][0]
    counts = sorted({row["outcomes"].count("1") for row in zoo})
    same = {row["outcomes"] for row in zoo} == {book["outcomes"]}
    text = (f"every evaluation of the zoo's recipe succeeded on {' or '.join(f'{c}/{len(at_reset)}' for c in counts)} "
            f"episodes")
    text += (f", exactly those on which the book's first evaluation, after {book['env_steps']:,} env steps, succeeded"
             if same else f", against {book['successes']}/{book['episodes']} at the book's first evaluation, after "
                          f"{book['env_steps']:,} env steps, on other episodes")
    floor = all(row["outcomes"] == at_reset for row in zoo)
    return text + (f", and these are the {at_reset.count('1')} episodes whose block starts within the threshold of its "
                   f"goal: the floor, not a pushed block" if floor else
                   f"; {at_reset.count('1')} of the episodes start with the block within the threshold of its goal")


#: The GPU probe's records (``scripts/gpu_probe.py``, §3.2), from one lease on one NVIDIA H200 with 16 cores: the
#: gradient-step cases of one call and the Push run of a second. The first call's provenance names commit 3604d88
#: with a dirty tree: the machine's copy carried that commit's git metadata under the working tree of 8b6ceeb, whose
#: gradient-step code is today's.
GPU_STEPS_RECORD = REPO_ROOT / "book" / "reference" / "gpu_probe_steps.json"
GPU_PUSH_RECORD = REPO_ROOT / "book" / "reference" / "gpu_probe_push.json"


def gpu_probe_reading(steps_path: Path = GPU_STEPS_RECORD, push_path: Path = GPU_PUSH_RECORD) -> dict[str, str]:
    """What the GPU probe measured, as the chapter's sentences: eager gradient steps on cuda against one CPU thread
    of the same machine (the ratio where both finished), which cases did not finish within their limit, and Push's
    env steps per second on cuda with the collector over the cores."""
    steps = json.loads(Path(steps_path).read_text())
    push = json.loads(Path(push_path).read_text())
    device = steps["provenance"]["device"]
    cases = {(c["size"], c["device"], c["compile_mode"]): c for c in steps["gradient_steps"]}
    sizes = steps["probe"]["sizes"]
    measured = []
    for size, shape in sizes.items():
        label = f"{' x '.join(map(str, shape['net_arch']))} at batch {shape['batch_size']:,}"
        cuda, cpu = cases.get((size, "cuda", "none"), {}), cases.get((size, "cpu", "none"), {})
        if "ms_per_step" not in cuda:
            measured.append(f"{label}: no eager measurement on cuda")
            continue
        text = f"{label}: {cuda['ms_per_step']:.1f} ms per gradient step on cuda"
        if "ms_per_step" in cpu:
            text += (f" against {cpu['ms_per_step']:.1f} ms on one CPU thread of the same machine "
                     f"({cpu['ms_per_step'] / cuda['ms_per_step']:.1f} times faster)")
        else:
            text += f" (one CPU thread: {cpu.get('error', 'not measured')})"
        measured.append(text)
    scaling = "the probe did not measure both sizes on cuda"
    timed = {size: cases[(size, "cuda", "none")]["ms_per_step"] for size in sizes
             if "ms_per_step" in cases.get((size, "cuda", "none"), {})}
    if len(timed) == 2:
        (small, t_small), (big, t_big) = sorted(timed.items(), key=lambda kv: _work(sizes[kv[0]]))
        work = _work(sizes[big]) / _work(sizes[small])
        # a step bound by arithmetic would take about ``work`` times longer; one bound by kernel launches the same
        scaling = (f"the larger size does {work:.0f} times the arithmetic per step in {t_big / t_small:.2f} times the "
                   f"time, so at these sizes a GPU step is bounded by launching many small kernels, not by arithmetic"
                   if t_big / t_small < 2 else
                   f"the larger size does {work:.0f} times the arithmetic per step in {t_big / t_small:.1f} times the "
                   f"time, so arithmetic, not launching kernels, sets its cost")
    unfinished = sorted({c["compile_mode"] for c in steps["gradient_steps"] if "error" in c and c["compile_mode"] != "none"})
    compiled = (f"no compiled case ({', '.join(unfinished)}) finished compiling and timing within the probe's "
                f"{steps['probe']['case_limit_s']:.0f} s per case, so what compilation buys is still unmeasured"
                if unfinished and not any("ms_per_step" in c for c in steps["gradient_steps"] if c["compile_mode"] != "none")
                else "compiled cases: " + "; ".join(f"{c['size']} {c['device']} {c['compile_mode']}: "
                                                    f"{c.get('ms_per_step', c.get('error'))}"
                                                    for c in steps["gradient_steps"] if c["compile_mode"] != "none"))
    run = push["push"][0] if push["push"] else {}
    summary = run.get("summary") or {}
    settings = run.get("settings", {})
    seed = f"seed {run['seed']}, a {run['seed_set']} seed" + (
        " (made before the seed sets were kept apart; the probe measures how fast, not what is learned)"
        if run["seed_set"] == "selection" else "")
    push_text = (f"the Push recipe trained on cuda with {settings.get('collector_processes')} collector processes "
                 f"collected {summary['env_steps_per_s']:,.0f} env steps and took {summary['updates_per_s']:.0f} "
                 f"gradient steps per second of training ({summary['last']['env_steps']:,} env steps in "
                 f"{run['budget_s']:.0f} s of wall clock, start and evaluation included)"
                 if summary.get("env_steps_per_s") else f"the Push run on cuda recorded no evaluation "
                                                          f"({run.get('error', 'not run')})")
    return {"device": f"one {device['name']} ({steps['probe']['cores']} cores)", "steps": "; ".join(measured),
            "scaling": scaling, "compiled": compiled, "push": push_text, "seed": seed}


def _work(shape: dict[str, Any]) -> int:
    """Multiply-adds of one forward pass through the hidden layers, per minibatch: batch x sum of width products."""
    widths = shape["net_arch"]
    return shape["batch_size"] * sum(a * b for a, b in zip(widths, widths[1:]))
