"""``make bench``'s configuration, statistics and report (gcrl.analysis.bench); the benchmark itself is not a test."""

from __future__ import annotations

import inspect
from dataclasses import asdict

import pytest

from gcrl.analysis import bench
from gcrl.core.errors import CourseError
from gcrl.core.provenance import RunRecord


def test_bad_benchmark_settings_are_refused():
    for settings in ({"seeds": 0}, {"threshold": 1.5}, {"threshold": 0}, {"eval_every": 1000, "max_env_steps": 500}):
        with pytest.raises(CourseError, match="bench"):
            bench.BenchConfig(**settings)
    with pytest.raises(CourseError, match="learning_starts"):
        bench.book_config(bench.BenchConfig(book_learning_starts=10), seed=0)


def test_book_code_runs_the_peer_hyperparameters_and_the_book_changes_only_warm_up():
    settings = bench.BenchConfig()
    from stable_baselines3 import SAC

    defaults = {name: p.default for name, p in inspect.signature(SAC).parameters.items()}
    peer_config = bench.peer_config(settings, seed=2)
    peer = {**defaults, **peer_config.hyperparams}  # what SB3 runs
    code = bench.book_code_config(settings, seed=2)
    assert (code.batch_size, code.learning_rate, code.gamma, code.tau, code.learning_starts) == \
        (peer["batch_size"], peer["learning_rate"], peer["gamma"], peer["tau"], peer["learning_starts"])
    assert list(code.net_arch) == list(peer["policy_kwargs"]["net_arch"])
    assert (code.n_sampled_goal, code.goal_selection_strategy) == (peer_config.her.n_sampled_goal,
                                                                  peer_config.her.goal_selection_strategy)
    assert peer_config.normalize and peer["ent_coef"] == "auto"  # what the book's code always does
    book = bench.book_config(settings, seed=2)
    changed = {k for k, v in asdict(book).items() if asdict(code)[k] != v}
    assert changed == {"learning_starts"} and book.learning_starts == settings.book_learning_starts


def _row(recipe, seed, steps, seconds):
    return {"recipe": recipe, "seed": seed, "reached": steps is not None, "env_steps": steps, "train_s": seconds,
            "final_success_rate": 1.0, "steps_per_s": 100.0}


def test_ratios_are_per_seed_medians_over_seeds_where_both_reached():
    rows = [_row("peer", 0, 3000, 30.0), _row("book_code", 0, 3000, 15.0), _row("book", 0, 2000, 10.0),
            _row("peer", 1, 3000, 40.0), _row("book_code", 1, 3000, 10.0), _row("book", 1, None, None),
            _row("peer", 2, 4000, 60.0), _row("book_code", 2, 2000, 20.0), _row("book", 2, 2000, 12.0)]
    summary = bench.summarise(rows)
    assert summary["peer"] == {"seeds": 3, "reached": 3, "median_env_steps": 3000, "median_train_s": 40.0}
    assert summary["book"]["reached"] == 2
    # book: seeds 0 and 2 pair (3.0x and 5.0x in time); seed 1 never reached and is left out
    assert summary["ratios"]["book"] == {"paired_seeds": 2, "median_time_ratio": 4.0, "median_steps_ratio": 1.75}
    assert summary["ratios"]["book_code"] == {"paired_seeds": 3, "median_time_ratio": 3.0, "median_steps_ratio": 1.0}
    text = bench.report({"bench": asdict(bench.BenchConfig()), "rows": rows, "summary": summary,
                         "step_profile_ms": {r: {"gradient update": 1.0} for r in ("peer", "book")}})
    assert "median ratio peer/book over 2 seeds: training time 4.00x, env steps 1.75x" in text
    assert "never" in text


def test_a_recipe_that_never_reaches_the_threshold_has_no_ratio():
    rows = [_row("peer", 0, 3000, 30.0), _row("book_code", 0, None, None), _row("book", 0, None, None)]
    summary = bench.summarise(rows)
    assert summary["book"]["median_train_s"] is None
    assert summary["ratios"]["book"] == {"paired_seeds": 0, "median_time_ratio": None, "median_steps_ratio": None}


def test_time_to_threshold_runs_every_recipe_per_seed_from_scratch(tmp_path):
    settings = bench.BenchConfig(seeds=1, eval_every=100, max_env_steps=100, eval_episodes=2)
    run = RunRecord(profile="bench", seeds=[1000])
    (tmp_path / "runs" / "stale").mkdir(parents=True)
    rows = bench.time_to_threshold(settings, tmp_path / "runs", run)
    # a benchmark reports, so its seeds are reporting seeds (gcrl.core.seeds)
    assert [(r["recipe"], r["seed"]) for r in rows] == [("peer", 1000), ("book_code", 1000), ("book", 1000)]
    assert not (tmp_path / "runs" / "stale").exists()  # a benchmark never resumes
    for row in rows:
        assert row["reached"] == (row["env_steps"] is not None) == (row["train_s"] is not None)
        assert 0 <= row["final_success_rate"] <= 1 and row["steps_per_s"] > 0


def test_push_bench_settings_are_refused_when_not_positive():
    from gcrl.analysis.bench_push import PushBenchConfig

    for settings in ({"budget_s": 0}, {"eval_episodes": 0}, {"zoo_eval_every": 0}, {"book_eval_every": -1}):
        with pytest.raises(CourseError, match="bench: budget_s, eval_episodes and the evaluation intervals"):
            PushBenchConfig(**settings)


def test_push_bench_commands_train_what_the_record_says():
    """The command line each recipe runs and the config recorded for it come from the same overrides."""
    from pathlib import Path

    from gcrl.analysis.bench_push import PUSH, PushBenchConfig
    from gcrl.course.cli import build_parser
    from gcrl.rl.learners import make_config

    settings = PushBenchConfig(eval_episodes=7, zoo_eval_every=300, book_eval_every=1_600, seed=1004)
    for recipe, arguments in settings.commands(Path("/runs")).items():
        args = build_parser().parse_args(["train", *arguments])
        algo, overrides = settings.runs()[recipe]
        assert (args.algo, args.env, args.steps, args.eval_episodes, args.seed, args.eval_every) == \
               (algo, PUSH, overrides["total_steps"], 7, 1004, {"zoo": 300, "book": 1_600}[recipe])
        assert args.run_dir == f"/runs/{recipe}"
        make_config(algo, PUSH, **overrides)  # a valid run of the recipe


def test_push_bench_summary_reads_firsts_and_rates_from_the_curve():
    from gcrl.analysis.bench_push import summarise, zoo_updates

    curve = [{"env_steps": s, "train_s": t, "success_rate": r, "updates": u}
             for s, t, r, u in ((2_000, 30.0, 0.1, 1_000), (4_000, 60.0, 0.6, 3_000), (6_000, 90.0, 0.92, 5_000),
                                (8_000, 120.0, 0.88, 7_000))]
    s = summarise(curve, wall_s=130.04)
    assert s["to_50"] == {"env_steps": 4_000, "train_s": 60.0} and s["to_90"] == {"env_steps": 6_000, "train_s": 90.0}
    assert (s["best_success_rate"], s["last"]["success_rate"], s["evaluations"], s["wall_s"]) == (0.92, 0.88, 4, 130.0)
    assert s["env_steps_per_s"] == round(8_000 / 120, 1) and s["updates_per_s"] == round(7_000 / 120, 1)
    assert summarise(curve[:1], 40.0)["to_50"] is None
    assert summarise([], 40.0)["evaluations"] == 0
    assert [r["updates"] for r in zoo_updates([{"env_steps": 500}, {"env_steps": 3_000}], 1_000)] == [0, 2_000]


def test_the_push_bench_runs_both_recipes_on_the_clock_and_writes_its_record_and_figure(tmp_path):
    """A tiny budget: both recipes start, are evaluated, are stopped by the clock; record, figure and report."""
    import json

    from PIL import Image

    from gcrl.analysis.bench_push import PUSH, PushBenchConfig, report, run_push_bench

    settings = PushBenchConfig(budget_s=50, eval_episodes=2, zoo_eval_every=250, book_eval_every=800)
    record = run_push_bench(tmp_path, settings)
    assert json.loads((tmp_path / f"bench_{PUSH}.json").read_text()) == json.loads(json.dumps(record))
    for recipe, batch in (("zoo", record["recipes"]["zoo"]["config"]["hyperparams"]["batch_size"]),
                          ("book", record["recipes"]["book"]["config"]["batch_size"])):
        summary = record["recipes"][recipe]["summary"]
        assert summary["evaluations"] >= 1, f"{recipe} was never evaluated in {settings.budget_s} s"
        assert settings.budget_s <= summary["wall_s"] < settings.budget_s + 30  # stopped by the clock
        assert summary["env_steps_per_s"] > 0 and batch > 0
    assert record["provenance"]["profile"] == "bench"
    assert Image.open(tmp_path / f"bench_{PUSH}.png").size[0] >= 600
    text = report(record)
    assert "zoo" in text and "book" in text
