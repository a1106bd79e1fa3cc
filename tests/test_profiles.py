from __future__ import annotations

import pytest

from gcrl.course import profiles
from gcrl.core.errors import CourseError


def test_every_chapter_has_a_budget_for_every_profile():
    for chapter, table in profiles.BUDGETS.items():
        assert set(table) == set(profiles.PROFILES), chapter


def test_budgets_grow_with_the_profile():
    smoke, standard, full = (profiles.budget("ch00", p) for p in profiles.PROFILES)
    assert smoke.sac_env_steps < standard.sac_env_steps < full.sac_env_steps
    for budget in (smoke, standard, full):
        assert budget.sac_learning_starts < budget.sac_env_steps


def test_chapter_one_meets_the_issue_minimum():
    standard = profiles.budget("ch01", "standard")
    assert standard.episodes_per_policy * 50 >= 10_000, "at least 10,000 checked transitions per env"
    smoke, full = profiles.budget("ch01", "smoke"), profiles.budget("ch01", "full")
    assert smoke.episodes_per_policy < standard.episodes_per_policy < full.episodes_per_policy


def test_unknown_profile_names_the_choices():
    with pytest.raises(CourseError, match="unknown profile 'fast'; choose one of smoke, standard, full"):
        profiles.resolve_profile("fast")


def test_profile_comes_from_the_option_else_one_variable_else_the_default(monkeypatch):
    monkeypatch.delenv("GCRL_PROFILE", raising=False)
    assert profiles.resolve_profile("") == profiles.DEFAULT_PROFILE
    monkeypatch.setenv("GCRL_PROFILE", "smoke")
    assert profiles.resolve_profile("") == "smoke" and profiles.resolve_profile("full") == "full"
    monkeypatch.setenv("GCRL_PROFILE", "huge")
    with pytest.raises(CourseError, match="unknown profile 'huge'"):
        profiles.resolve_profile("")


def test_budgets_name_no_recipe_value_they_do_not_need():
    """A budget overrides a recipe's warm-up only where its runs are too short for the recipe's."""
    from gcrl.rl.recipes import load_hyperparams

    recipe = load_hyperparams("sac", "FetchReach-v4")["learning_starts"]
    for profile in profiles.PROFILES:
        for chapter in ("ch03", "ch04"):
            budget = profiles.budget(chapter, profile)
            if budget.learning_starts is not None:
                assert budget.learning_starts < recipe and min(budget.reach_env_steps, budget.push_env_steps) <= 2 * recipe


def test_unknown_chapter_budget_is_a_clear_error():
    with pytest.raises(CourseError, match="no budget for chapter 'ch99'"):
        profiles.budget("ch99", "smoke")


def test_open_chapter_sets_up_budget_seeds_folders_and_rendering(tmp_path):
    from gcrl.course.session import open_chapter

    session = open_chapter("ch03", "standard", 1007, str(tmp_path))
    assert session.budget == profiles.budget("ch03", "standard")
    assert list(session.seeds) == session.run.seeds == list(range(1007, 1007 + session.budget.seeds))
    assert session.out == tmp_path / "standard" / "ch03" and session.out.is_dir()
    assert session.rendering in ("egl", "osmesa")
    assert open_chapter("ch01", "smoke", 1003, str(tmp_path)).run.seeds == [1003], "a budget with one seed"
    with pytest.raises(CourseError, match="unknown profile 'fast'"):
        open_chapter("ch01", "fast", 0, str(tmp_path))
    with pytest.raises(CourseError, match="no budget for chapter 'ch99'"):
        open_chapter("ch99", "smoke", 0, str(tmp_path))
