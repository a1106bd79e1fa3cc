"""Chapter 4's records kept with the book, and what the chapter reads from them.

Two measurements are too long for a book run and are made once on the
reference machine: the search that chose Push's recipe
(``scripts/push_recipe_search.py``, §3.4) and ``make bench`` on Push
(:mod:`gcrl.analysis.bench_push`, §3.6). Their small records, with provenance,
live in ``book/reference/``; the functions here turn them into the chapter's
tables and sentences, so that a new record changes the prose.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from gcrl.analysis.bench_push import LEVELS, level_key
from gcrl.core.paths import REPO_ROOT
from gcrl.rl.evaluate import newcombe_interval

#: The committed record of ``scripts/push_recipe_search.py`` (§3.4): small, with its provenance.
SEARCH_RECORD = REPO_ROOT / "book" / "reference" / "push_search.json"
#: (the choice, the candidate without it): each differs from the recipe ("explore_narrow") in that choice alone.
SEARCH_CHOICES = (("3 × 128 networks with minibatches of 512 instead of 3 × 256", "explore"),
                  ("30% random actions and a temperature held at 0.05 instead of SAC's learned one", "no_explore"))
SEARCH_WINNER = "explore_narrow"


def recipe_search(path: Path = SEARCH_RECORD) -> dict[str, Any]:
    """The search's record, and one row per candidate it trained (success at its last evaluation, with Wilson's
    interval, env steps to 50% where reached, and throughput: from the separate timing with nothing else running
    where the record has one, ``throughput_alone``, else from the search run itself)."""
    record = json.loads(Path(path).read_text())
    rows = [{"candidate": name, "changes": c["changes"] or "none (the original schedule)",
             "env_steps": c["last"]["env_steps"], "success_rate": c["last"]["success_rate"],
             "ci95_low": c["last"]["ci95_low"], "ci95_high": c["last"]["ci95_high"],
             "best_success_rate": c["best_success_rate"], "steps_to_50": c["to_50"],
             **{key: c.get("throughput", c)[key] for key in ("env_steps_per_s", "updates_per_s")},
             "throughput_alone": "throughput" in c, "curve": c["curve"]}
            for name, c in record["candidates"].items()]
    return {"protocol": record["protocol"], "provenance": record["provenance"], "rows": rows,
            "not_run": [n for n in record["protocol"]["defined"] if n not in record["candidates"]]}


def search_reading(search: dict[str, Any]) -> list[str]:
    """What each choice bought: the recipe against the candidate without that choice, at the same env steps.

    The verdict is the Newcombe interval of the difference of final success rates (independent evaluations of
    ``eval_episodes`` each): a choice "bought" success only when the interval excludes zero.
    """
    rows = {r["candidate"]: r for r in search["rows"]}
    episodes = search["protocol"]["eval_episodes"]
    lines = []
    for choice, without in SEARCH_CHOICES:
        if without not in rows:
            lines.append(f"{choice}: not measured (the candidate {without!r} is not in the record)")
            continue
        pair = (rows[SEARCH_WINNER], rows[without])
        steps = min(r["curve"][-1]["env_steps"] for r in pair)  # compared where both runs were evaluated
        a, b = (round(next(c for c in r["curve"] if c["env_steps"] == steps)["success_rate"] * episodes) for r in pair)
        low, high = newcombe_interval(a, episodes, b, episodes)
        moved = "raised" if low > 0 else "lowered" if high < 0 else None
        outcome = (f"{moved} success at {steps:,} env steps from {b}/{episodes} to {a}/{episodes}" if moved else
                   f"changed success at {steps:,} env steps by no measurable amount ({a}/{episodes} against "
                   f"{b}/{episodes})")
        speed = pair[0]["env_steps_per_s"] / pair[1]["env_steps_per_s"]
        lines.append(f"{choice} {outcome} (difference {(a - b) / episodes:+.2f}, 95% [{low:+.2f}, {high:+.2f}]), and "
                     f"ran {speed:.2f} times as many env steps per second ({pair[0]['env_steps_per_s']:,.0f} against "
                     f"{pair[1]['env_steps_per_s']:,.0f})")
    return lines


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


#: The second round of the recipe search (``push_recipe_search.py --round samples``, §3.4): candidates that change
#: today's recipe for fewer env steps, on selection seeds only.
SAMPLES_RECORD = REPO_ROOT / "book" / "reference" / "push_search_samples.json"
#: the candidate every other one is compared with: today's recipe
SAMPLES_CONTROL = "recipe"


def samples_search(path: Path = SAMPLES_RECORD) -> dict[str, Any]:
    """The second round's record and one row per (candidate, seed): how far the run went, its last success, and
    the env steps at which it first reached 50% and 90% (``None`` where it did not)."""
    record = json.loads(Path(path).read_text())
    rows = [{"candidate": name, "seed": int(seed), "env_steps": line["last"]["env_steps"] if line["last"] else 0,
             "finished": line["finished"], "last_success": line["last"]["success_rate"] if line["last"] else None,
             "best_success": line["best_success_rate"],
             **{key: (line[key] or {}).get("env_steps") for key in (level_key(level) for level in LEVELS)}}
            for name, seeds in record["runs"].items() for seed, line in seeds.items()]
    return {"protocol": record["protocol"], "provenance": record["provenance"], "rows": rows, "runs": record["runs"]}


def samples_reading(search: dict[str, Any], reps: int = 10_000) -> dict[str, str]:
    """The second round in sentences: which candidates reached 90% on every seed they ran (with the median env
    steps), and what each bought against the control at the last evaluation that all runs of both reached, with
    the two-stage bootstrap interval over seeds and episodes (:func:`gcrl.analysis.experiments.pooled_difference`);
    a choice "bought" success only where the interval excludes zero."""
    from gcrl.analysis.experiments import pooled_difference

    protocol, runs = search["protocol"], search["runs"]
    by_candidate: dict[str, list[dict[str, Any]]] = {}
    for row in search["rows"]:
        by_candidate.setdefault(row["candidate"], []).append(row)
    solved = {name: sorted(r["to_90"] for r in rows) for name, rows in by_candidate.items()
              if all(r["to_90"] is not None for r in rows)}
    best = max(search["rows"], key=lambda r: (r["best_success"] or 0, -r["env_steps"]))
    reached = ("; ".join(f"{name} reached 90% on all {len(steps)} of its seeds (median {statistics.median(steps):,.0f} env steps)"
                         for name, steps in solved.items()) if solved else
               f"no candidate reached 90% on every seed it ran; the best evaluation of any run was "
               f"{best['best_success']:.2f} ({best['candidate']}, seed {best['seed']}, within "
               f"{best['env_steps']:,} env steps)")
    bought = []
    control = runs.get(SAMPLES_CONTROL)
    for name in runs:
        if name == SAMPLES_CONTROL:
            continue
        seeds = sorted(set(runs[name]) & set(control or {}), key=int)
        if not seeds:
            bought.append(f"{name}: not compared (the control was not run on its seeds)")
            continue
        pair = [[runs[arm][seed] for seed in seeds] for arm in (name, SAMPLES_CONTROL)]
        common = set.intersection(*({c["env_steps"] for c in line["curve"]} for arm in pair for line in arm))
        if not common:
            bought.append(f"{name}: not compared (no evaluation at env steps common to every run of both arms)")
            continue
        steps = max(common)
        outcomes = [[next(c for c in line["curve"] if c["env_steps"] == steps)["outcomes"] for line in arm]
                    for arm in pair]
        d = pooled_difference(outcomes[0], outcomes[1], reps=reps)
        moved = "raised" if d["ci95_low"] > 0 else "lowered" if d["ci95_high"] < 0 else None
        bought.append(f"{name} {moved or 'changed by no measurable amount'} the pooled success at {steps:,} env steps "
                      f"(difference {d['difference']:+.2f}, 95% [{d['ci95_low']:+.2f}, {d['ci95_high']:+.2f}], "
                      f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''} per arm)")
    seeds = protocol["seeds"]
    return {"protocol": (f"{len(runs)} candidates on selection seed{'s' if len(seeds) > 1 else ''} "
                         f"{', '.join(map(str, seeds))}, up to {protocol['budget_steps']:,} env steps each, evaluated "
                         f"every {protocol['eval_every']:,} on {protocol['eval_episodes']} held-out episodes"),
            "reached": reached, "bought": "; ".join(bought)}



#: Today's Push recipe on reporting seeds (``scripts/push_reporting_runs.py``, §3.4): the runs the standard
#: chapter trains with hindsight, on seeds that chose nothing.
REPORTING_RECORD = REPO_ROOT / "book" / "reference" / "push_recipe_reporting.json"


def reporting_reading(path: Path = REPORTING_RECORD, bench_path: Path = BENCH_RECORD) -> dict[str, str]:
    """How far the in-sample figures moved: seed 0's env steps to 90% (the bench record, the seed that chose the
    recipe) against each reporting seed's, and each reporting seed's final success with its Wilson interval; the
    sentence says how many reporting seeds reached 90% within the budget. Env steps, not minutes: a run's env steps
    to 90% do not depend on the machine or on what else it ran, its minutes do."""
    record = json.loads(Path(path).read_text())
    bench = json.loads(Path(bench_path).read_text())
    in_sample = bench["recipes"]["book"]["summary"]["to_90"]
    seeds = record["seeds"]
    per_seed = []
    for seed, line in seeds.items():
        hit, final = line["to_90"], line["final"]
        reached = f"90% at {hit['env_steps']:,} env steps" if hit else f"not 90% within {line['env_steps']:,} env steps"
        per_seed.append(f"seed {seed}: {reached}, final {final['successes']}/{final['episodes']} "
                        f"(95% [{final['ci95_low']:.2f}, {final['ci95_high']:.2f}])")
    hits = [line["to_90"]["env_steps"] for line in seeds.values() if line["to_90"]]
    who = "the one reporting seed that reached it did so at" if len(hits) == 1 else \
        f"the median over the {len(hits)} reporting seeds that reached it is"
    moved = (f"{who} {statistics.median(hits):,.0f} env steps, {statistics.median(hits) / in_sample['env_steps']:.2f} "
             f"times seed 0's {in_sample['env_steps']:,}" if hits else f"no reporting seed reached it, where seed 0 "
             f"did at {in_sample['env_steps']:,}")
    return {"in_sample": f"seed {bench['bench']['seed']} (the seed that chose the recipe) reached 90% at "
                         f"{in_sample['env_steps']:,} env steps",
            "per_seed": "; ".join(per_seed), "reached": f"{len(hits)} of {len(seeds)}", "moved": moved,
            "budget": f"{record['protocol']['env_steps']:,}",
            "anchor": f"about {MRL_PUSH_STEPS:,} env steps, {in_sample['env_steps'] / MRL_PUSH_STEPS:.1f} times fewer "
                      f"than this recipe needed in-sample"}
