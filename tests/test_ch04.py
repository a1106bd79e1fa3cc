"""Chapter 4's plan and claims: the Push arms differ only in k, and the chapter's targets are the declared ones."""

from __future__ import annotations

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
