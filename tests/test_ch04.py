"""Chapter 4's plan and claims: the Push arms differ only in k, and the chapter's targets are the declared ones."""

from __future__ import annotations

import json

import pytest

from gcrl.chapters import ch04_her as ch04
from gcrl.course import profiles
from gcrl.course.deliverables import declarations, range_for


def test_the_push_claims_the_prose_states_are_the_declared_ranges():
    metrics = declarations()["ch04"]["files"]["her_results.json"]["metrics"]
    for profile in ("standard", "full"):
        assert range_for(metrics["/push/pooled/HER/success_rate"], profile) == (ch04.PUSH_TARGET, 1.0)
        assert range_for(metrics["/push/pooled/HER/ci95_low"], profile) == (ch04.PUSH_TARGET_LOW, 1.0)
        assert range_for(metrics["/push/difference/ci95_low"], profile)[0] > 0


def test_push_trains_its_recipe_with_and_without_hindsight_on_the_push_seeds():
    for profile in profiles.PROFILES:
        budget = profiles.budget("ch04", profile)
        plan = ch04.plan(budget, range(7, 7 + budget.seeds))
        arms = ch04.push_variants(budget)
        for name, variant in arms.items():
            assert sorted(s for (v, s) in plan if v == variant) == list(range(7, 7 + budget.push_seeds))
        her, plain = (plan[(arms[name], 7)] for name in ("HER", "no HER"))
        assert {k for k, v in her.as_dict().items() if plain.as_dict()[k] != v} == {"n_sampled_goal"}
        assert her.eval_episodes == budget.push_eval_episodes
        if not budget.push_overrides:  # standard and full: the recipe itself
            recipe = ch04.SacHerConfig.from_recipe(ch04.PUSH, total_steps=budget.push_env_steps,
                                                   eval_every=800, checkpoint_every=800)
            kept = ("net_arch", "batch_size", "n_envs", "episodes_per_cycle", "updates_per_cycle", "ent_coef",
                    "random_eps", "target_clip", "obs_clip", "gamma", "tau", "learning_rate")
            assert all(getattr(her, k) == getattr(recipe, k) for k in kept)


def test_pushs_recipe_is_stated_against_the_original_her_schedule():
    recipe = ch04.SacHerConfig.from_recipe(ch04.PUSH, total_steps=800)
    text = ch04.recipe_origin(recipe)
    assert text["recipe_size"] == f"{' × '.join(map(str, recipe.net_arch))} and {recipe.batch_size}"
    assert text["recipe_random_eps"] == f"{recipe.random_eps:g}"
    # the original's own step (its networks, and the minibatch of its eight workers together) costs what it costs
    original = ch04.SacHerConfig.from_recipe(ch04.PUSH, total_steps=800, net_arch=(256, 256, 256), batch_size=2048)
    assert ch04.recipe_origin(original)["recipe_cost_ratio"] == "about 1.0 times"
    half = ch04.SacHerConfig.from_recipe(ch04.PUSH, total_steps=800, net_arch=(256, 256, 256), batch_size=1024)
    assert ch04.recipe_origin(half)["recipe_cost_ratio"] == "about 1/2"


def _planted_search(winner_successes: int, other_successes: int) -> dict:
    def candidate(successes: int, steps_per_s: float) -> dict:
        curve = [{"env_steps": 40_000, "train_s": 40_000 / steps_per_s, "success_rate": 0.04, "updates": 2_000},
                 {"env_steps": 80_000, "train_s": 80_000 / steps_per_s, "success_rate": successes / 50, "updates": 4_000}]
        return {"changes": {}, "last": {**curve[-1], "ci95_low": 0.0, "ci95_high": 1.0}, "best_success_rate": 0.5,
                "to_50": None, "env_steps_per_s": steps_per_s, "updates_per_s": 50.0, "curve": curve}

    return {"protocol": {"eval_episodes": 50, "defined": {"explore_narrow": "", "explore": "", "narrow": ""}},
            "provenance": {}, "candidates": {"explore_narrow": candidate(winner_successes, 600.0),
                                             "explore": candidate(other_successes, 400.0)}}


@pytest.mark.parametrize("winner, other, verdict", [(40, 5, "raised"), (5, 40, "lowered"), (20, 18, "no measurable")])
def test_what_each_choice_bought_is_decided_by_the_interval_of_the_difference(tmp_path, winner, other, verdict):
    path = tmp_path / "search.json"
    path.write_text(json.dumps(_planted_search(winner, other)))
    search = ch04.recipe_search(path)
    width, exploration = ch04.search_reading(search)
    assert verdict in width and f"{winner}/50" in width and "80,000 env steps" in width and "1.50 times" in width
    assert "not measured" in exploration
    assert search["not_run"] == ["narrow"]


def test_the_committed_search_record_names_only_defined_candidates_and_reads():
    search = ch04.recipe_search()
    assert ch04.SEARCH_WINNER in {r["candidate"] for r in search["rows"]}
    assert set(r["candidate"] for r in search["rows"]) <= set(search["protocol"]["defined"])
    assert search["provenance"]["commit"] and len(ch04.search_reading(search)) == len(ch04.SEARCH_CHOICES)
