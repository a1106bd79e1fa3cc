"""Chapter 4's records of the Push recipe's search, kept with the book, and what the chapter reads from them.

The search that chose Push's recipe (``scripts/push_recipe_search.py``, §3.4), its second round on selection
seeds, and today's recipe on reporting seeds (``scripts/push_reporting_runs.py``) are too long for a book run and
were made once; their small records, with provenance, live in ``book/reference/``. The functions here turn them
into the chapter's sentences, so that a new record changes the prose. The bench and GPU records are read by
:mod:`gcrl.chapters.ch04_records`.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from gcrl.analysis.bench_push import LEVELS, level_key
from gcrl.chapters.ch04_records import BENCH_RECORD, MRL_PUSH_STEPS
from gcrl.core.paths import REPO_ROOT
from gcrl.rl.evaluate import newcombe_interval, paired_newcombe_interval


#: The committed record of ``scripts/push_recipe_search.py`` (§3.4): small, with its provenance.
SEARCH_RECORD = REPO_ROOT / "book" / "reference" / "push_search.json"
#: the search's winner, today's Push recipe
SEARCH_WINNER = "explore_narrow"
#: the candidates the recipe is compared with: each lacks some of its changes, which the record's settings name
SEARCH_COMPARED = ("explore", "no_explore")


def recipe_search(path: Path = SEARCH_RECORD) -> dict[str, Any]:
    """The search's record, and one row per candidate it trained (its full settings, the protocol's base with its
    changes; success at its last evaluation, with Wilson's interval; env steps to 50% where reached; and throughput:
    from the separate timing with nothing else running where the record has one, ``throughput_alone``, else from the
    search run itself)."""
    record = json.loads(Path(path).read_text())
    base = record["protocol"].get("base", {})
    rows = [{"candidate": name, "changes": c["changes"] or "none (the original schedule)",
             "settings": {**base, **c["changes"]}, "episodes_seed": c.get("config", {}).get("eval_seed"),
             "env_steps": c["last"]["env_steps"], "success_rate": c["last"]["success_rate"],
             "ci95_low": c["last"]["ci95_low"], "ci95_high": c["last"]["ci95_high"],
             "best_success_rate": c["best_success_rate"], "steps_to_50": c["to_50"],
             **{key: c.get("throughput", c)[key] for key in ("env_steps_per_s", "updates_per_s")},
             "throughput_alone": "throughput" in c, "curve": c["curve"]}
            for name, c in record["candidates"].items()]
    return {"protocol": record["protocol"], "provenance": record["provenance"], "rows": rows,
            "not_run": [n for n in record["protocol"]["defined"] if n not in record["candidates"]]}


def search_protocol(search: dict[str, Any]) -> str:
    """How the search was run, as §3.4 states it: seed, budget, evaluation, machine, how many of the defined
    candidates it trained, and its commit, said to be unreproducible from the commit alone when the record was made
    from a working tree with uncommitted changes (``dirty``)."""
    protocol, provenance = search["protocol"], search["provenance"]
    commit = provenance["commit"][:7]
    source = (f"made from commit {commit} with uncommitted changes in the working tree (the record's `dirty: true`), "
              f"so that commit alone does not reproduce it" if provenance["dirty"] else
              f"made from commit {commit} with a clean working tree")
    return (f"seed {protocol['seed']}, one candidate at a time, a budget of {protocol['budget_steps']:,} env steps "
            f"each, {protocol['eval_episodes']} held-out episodes every {protocol['eval_every']:,} steps, on "
            f"{provenance['device']['name']} ({provenance['device']['cores']} cores); "
            f"{len(search['rows'])} of the {len(protocol['defined'])} candidates the script defines were trained; "
            f"the record was {source}")


def paired_interval_range(successes_a: int, successes_b: int, items: int) -> dict[str, tuple[float, float]]:
    """:func:`gcrl.rl.evaluate.paired_newcombe_interval` at the two extreme pairings that two success counts on the same ``items`` allow: for
    a record that keeps the counts but not which items succeeded.

    ``discordant`` is the table with the fewest items on which a and b agree, ``concordant`` the one with the most.
    The difference is the same in every table, and phi grows with the number of items on which both succeed, so
    each table's interval contains the concordant one and lies within the discordant one: an interval that excludes
    zero at ``discordant`` does so whatever the pairing was, one that contains zero at ``concordant`` likewise.
    """
    if not (0 <= successes_a <= items and 0 <= successes_b <= items):
        raise ValueError("success counts must lie in [0, items]")
    fewest, most = max(0, successes_a + successes_b - items), min(successes_a, successes_b)
    return {name: paired_newcombe_interval(both, successes_a - both, successes_b - both, items - successes_a - successes_b + both)
            for name, both in (("discordant", fewest), ("concordant", most))}


def setting_text(value: Any) -> str:
    """A setting's value as the prose prints it: lists of widths as 128 × 128 × 128."""
    return " × ".join(map(str, value)) if isinstance(value, (list, tuple)) else f"{value}"


def paired_verdict(pairings: dict[str, tuple[float, float]]) -> str:
    """What a comparison of two runs on the same episodes shows when only their success counts were kept: decided
    only where every pairing the counts allow gives the same answer (:func:`paired_interval_range`)."""
    (d_low, d_high), (c_low, c_high) = pairings["discordant"], pairings["concordant"]
    ends = (f"[{d_low:+.2f}, {d_high:+.2f}] if the two runs disagreed on as many episodes as the counts allow, "
            f"[{c_low:+.2f}, {c_high:+.2f}] if on as few")
    if d_low > 0 or d_high < 0:
        return f"the paired 95% interval excludes zero whichever episodes succeeded ({ends}), so the runs separate"
    if c_low <= 0 <= c_high:
        return f"the paired 95% interval contains zero whichever episodes succeeded ({ends}), so the runs do not separate"
    return (f"the paired 95% interval is {ends}, so whether the runs separate depends on which episodes succeeded, "
            f"which the record does not keep")


def search_reading(search: dict[str, Any]) -> dict[str, str]:
    """What each comparison of the search measured: the recipe against each candidate of :data:`SEARCH_COMPARED`,
    at the last env steps both reached, on the search's one seed.

    The two runs are evaluated on the same held-out episodes (the same evaluation seeds), so their outcomes are
    paired; the record keeps each run's count of successes, not which episodes succeeded, so the verdict is the
    paired interval's at every pairing the counts allow (:func:`paired_verdict`), and undecided where the pairing
    would decide it. Each line speaks for the search's runs on its one seed, not for the settings over seeds; where
    the compared runs differ in several settings, it says that they were changed together. ``unablated`` names the
    recipe's changes from the original schedule that no comparison isolates.
    """
    rows = {r["candidate"]: r for r in search["rows"]}
    episodes, seed = search["protocol"]["eval_episodes"], search["protocol"]["seed"]
    winner = rows[SEARCH_WINNER]
    reading, isolated = {}, set()
    for i, without in enumerate(SEARCH_COMPARED):
        if without not in rows:
            reading[f"choice{i}"] = f"the candidate {without!r} is not in the record, so nothing was measured against it"
            continue
        other = rows[without]
        differ = sorted(k for k in set(winner["settings"]) | set(other["settings"])
                        if winner["settings"].get(k) != other["settings"].get(k))
        isolated.update(differ)
        choice = " and ".join(f"`{k}` {setting_text(winner['settings'].get(k))} instead of "
                              f"{setting_text(other['settings'].get(k))}" for k in differ)
        together = " (changed together, so the record measures neither alone)" if len(differ) > 1 else ""
        steps = min(r["curve"][-1]["env_steps"] for r in (winner, other))  # compared where both runs were evaluated
        a, b = (round(next(c for c in r["curve"] if c["env_steps"] == steps)["success_rate"] * episodes)
                for r in (winner, other))
        if winner["episodes_seed"] == other["episodes_seed"]:
            verdict = paired_verdict(paired_interval_range(a, b, episodes))
        else:  # evaluated on different episodes: independent samples
            low, high = newcombe_interval(a, episodes, b, episodes)
            verdict = (f"the runs were evaluated on different episodes, and Newcombe's 95% interval, [{low:+.2f}, "
                       f"{high:+.2f}], " + ("excludes zero, so the change moved success in these runs"
                                            if low > 0 or high < 0 else "contains zero, so these runs do not separate"))
        speed = winner["env_steps_per_s"] / other["env_steps_per_s"]
        reading[f"choice{i}"] = (
            f"{choice}{together}: on seed {seed}'s runs, success at {steps:,} env steps was {a}/{episodes} with the "
            f"recipe against {b}/{episodes} without (difference {(a - b) / episodes:+.2f}); {verdict}; and the recipe "
            f"ran {speed:.2f} times as many env steps per second ({winner['env_steps_per_s']:,.0f} against "
            f"{other['env_steps_per_s']:,.0f})")
    base = search["protocol"].get("base", {})
    never = [k for k in sorted(winner["settings"]) if winner["settings"][k] != base.get(k) and k not in isolated]
    reading["unablated"] = ", ".join(f"`{k}` {setting_text(winner['settings'][k])}" for k in never) or "none"
    return reading


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
    the paired two-stage bootstrap interval over seeds and episodes
    (:func:`gcrl.analysis.experiments.paired_pooled_difference`: a candidate and the control train on the same
    seeds and play the same held-out episodes); a choice "bought" success only where the interval excludes zero."""
    from gcrl.analysis.experiments import paired_pooled_difference

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
        d = paired_pooled_difference(outcomes[0], outcomes[1], reps=reps)
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
