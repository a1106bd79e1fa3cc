"""Seeds that choose and seeds that report are kept apart (gcrl.core.seeds): a chapter, a benchmark or the recipe
search that used a seed of the other set fails here."""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest

from gcrl.core import seeds as seed_sets
from gcrl.core.errors import CourseError
from gcrl.core.paths import REPO_ROOT
from gcrl.core.seeds import check_seeds, seed_role
from gcrl.course import profiles
from gcrl.course.runner import DEFAULT_SEED
from gcrl.course.session import open_chapter

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("ch[0-9][0-9]_*.py"))
PARAMETER_SEED = re.compile(r"^seed = (\d+)\b", re.MULTILINE)


def test_selection_and_reporting_seeds_are_disjoint_and_start_where_stated():
    assert seed_sets.selection_seeds(3) == [0, 1, 2]
    assert seed_sets.reporting_seeds(3) == [1000, 1001, 1002]
    assert seed_sets.selection_seeds(0) == seed_sets.reporting_seeds(0) == []
    selection = set(seed_sets.selection_seeds(len(seed_sets.SELECTION_SEEDS)))
    assert selection == set(range(100))
    reporting = set(seed_sets.reporting_seeds(500))
    assert not selection & reporting
    assert all(seed_sets.seed_role(s) == "selection" for s in selection)
    assert all(seed_sets.seed_role(s) == "reporting" for s in reporting)
    assert seed_sets.seed_role(seed_sets.REPORTING_SEED_BASE) == "reporting"
    with pytest.raises(CourseError, match="seed 100 is in neither seed set"):
        seed_sets.selection_seeds(101)  # there are only 100 selection seeds
    for bad in (-1, 2.0, True):
        with pytest.raises(CourseError, match="the number of selection seeds must be an integer >= 0"):
            seed_sets.selection_seeds(bad)


def test_check_seeds_refuses_the_other_set_naming_the_seeds():
    seed_sets.check_seeds([0, 7, 99], "selection")
    seed_sets.check_seeds(np.array([1000, 1234]), "reporting")
    with pytest.raises(CourseError, match="a recipe search, .* must use selection seeds, and 1000 is a reporting seed "
                                          r"\(gcrl\.core\.seeds: selection 0-99, "
                                          r"reporting from 1000\)"):
        seed_sets.check_seeds([0, 1000], "selection")
    with pytest.raises(CourseError, match="1001, 1002 are reporting seeds"):
        seed_sets.check_seeds([1, 1001, 1002], "selection")
    with pytest.raises(CourseError, match="a number the book reports must use reporting seeds, and 5 is a selection "
                                          "seed"):
        seed_sets.check_seeds([1000, 5], "reporting")


@pytest.mark.parametrize("seed", [500, -1, 100, 999])
def test_a_seed_in_neither_set_is_a_clear_error(seed):
    message = f"seed {seed} is in neither seed set: selection seeds are 0-99, reporting seeds 1000 and above"
    with pytest.raises(CourseError, match=message):
        seed_sets.seed_role(seed)
    for role in ("selection", "reporting"):
        with pytest.raises(CourseError, match=f"seed {seed} is in neither seed set"):
            seed_sets.check_seeds([seed], role)


def test_every_chapter_starts_from_a_reporting_seed_under_every_profile():
    assert NOTEBOOKS and seed_role(DEFAULT_SEED) == "reporting"
    for notebook in NOTEBOOKS:
        found = PARAMETER_SEED.findall(notebook.read_text())
        assert len(found) == 1, f"{notebook.name}: one `seed = N` in its parameters cell"
        chapter = notebook.name[:4]
        for profile in profiles.PROFILES:
            budget = profiles.budget(chapter, profile)
            check_seeds(range(int(found[0]), int(found[0]) + budget.seeds), "reporting")


def test_a_chapter_opened_on_a_selection_seed_fails(tmp_path):
    # a planted chapter: its parameters cell says seed = 0, the seed that chose the Push recipe
    with pytest.raises(CourseError, match="must use reporting seeds, and 0, 1, 2 are selection seeds"):
        open_chapter("ch04", "standard", 0, str(tmp_path))
    # a reporting master seed whose later seeds would leave the set is caught too: 98, 99, 100
    with pytest.raises(CourseError, match="seed 100 is in neither seed set"):
        open_chapter("ch03", "standard", 98, str(tmp_path))


def test_chapter_6s_sweeps_run_on_reporting_seeds():
    for profile in profiles.PROFILES:
        check_seeds(profiles.budget("ch06", profile).sweep["seeds"], "reporting")


def test_the_benchmarks_run_on_reporting_seeds(monkeypatch, tmp_path):
    from gcrl.analysis import bench, bench_push

    assert seed_role(bench_push.PushBenchConfig().seed) == "reporting"
    with pytest.raises(CourseError, match="must use reporting seeds, and 0 is a selection seed"):
        bench_push.PushBenchConfig(seed=0)
    trained = []

    class Result:
        metrics = {"time_to_target": None, "final": {"success_rate": 0.0}, "env_steps_per_s": 1.0}

    def fake_train_many(jobs, run, workers):
        trained.extend(config.seed for config, _ in jobs)
        return [Result()]

    monkeypatch.setattr(bench, "train_many", fake_train_many)
    bench.time_to_threshold(bench.BenchConfig(seeds=2), tmp_path, None)
    assert sorted(set(trained)) == [1000, 1001]


def test_the_recipe_search_refuses_reporting_seeds():
    spec = importlib.util.spec_from_file_location("push_recipe_search", REPO_ROOT / "scripts" / "push_recipe_search.py")
    search = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(search)
    with pytest.raises(CourseError, match="must use selection seeds, and 1000 is a reporting seed"):
        search.seeded_config("recipe", 1000, 16_000, 8_000, 10, {})
    with pytest.raises(CourseError, match="must use selection seeds, and 1000 is a reporting seed"):
        search.main(["--seed", "1000", "her_schedule", "--total-steps", "1600"])
