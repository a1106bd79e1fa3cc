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
    run = RunRecord(profile="bench", seeds=[0])
    (tmp_path / "runs" / "stale").mkdir(parents=True)
    rows = bench.time_to_threshold(settings, tmp_path / "runs", run)
    assert [(r["recipe"], r["seed"]) for r in rows] == [("peer", 0), ("book_code", 0), ("book", 0)]
    assert not (tmp_path / "runs" / "stale").exists()  # a benchmark never resumes
    for row in rows:
        assert row["reached"] == (row["env_steps"] is not None) == (row["train_s"] is not None)
        assert 0 <= row["final_success_rate"] <= 1 and row["steps_per_s"] > 0
