"""Chapter 3's helpers: the SAC grid's configs, the temperature check, and clear errors on missing inputs."""

from __future__ import annotations

import json

import pytest

from gcrl.course import profiles
from gcrl.chapters import ch03_sac as ch03
from gcrl.core.errors import CourseError
from gcrl.rl.recipes import load_hyperparams


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_configs_train_without_hindsight_on_the_budget(profile):
    budget = profiles.budget("ch03", profile)
    reach, push = ch03.config("FetchReach-v4", 0, budget), ch03.config("FetchPush-v4", 0, budget)
    assert reach.her is None and push.her is None
    assert reach.total_steps == budget.reach_env_steps and push.total_steps == budget.push_env_steps
    assert reach.eval_episodes == budget.eval_episodes == profiles.budget("ch02", profile).eval_episodes, \
        "the same evaluation episodes as Chapter 2's PPO"
    assert budget.seeds == profiles.budget("ch02", profile).seeds
    recipe = load_hyperparams("sac", "FetchReach-v4")["learning_starts"]
    assert reach.hyperparams["ent_coef"] == "auto"
    assert reach.hyperparams["learning_starts"] == (recipe if budget.learning_starts is None else budget.learning_starts)
    assert push.hyperparams["policy_kwargs"] != reach.hyperparams["policy_kwargs"], "Push keeps its own recipe"


def rows(*points):
    return [{"env_steps": i * 100, "ent_coef": alpha, "entropy": entropy} for i, (alpha, entropy) in enumerate(points, 1)]


def test_temperature_that_follows_its_gradient():
    # entropy above the target -4: alpha must fall; below: it must rise
    t = ch03.temperature_check(rows((0.8, 2.7), (0.3, 2.0), (0.05, -3.0), (0.01, -4.5), (0.02, -4.2)), -4.0)
    assert t["intervals"] == 4 and t["intervals_following_gradient"] == 4
    assert t["gap_last"] < t["gap_first"]
    assert t["alpha_when_entropy_fell"] == 0.3, "first evaluation at least ENTROPY_DROP below the first entropy"


def test_temperature_that_moves_against_its_gradient_is_counted():
    t = ch03.temperature_check(rows((0.8, 2.7), (0.9, 2.7), (0.95, 2.6)), -4.0)
    assert t["intervals_following_gradient"] == 0
    assert t["alpha_when_entropy_fell"] is None


def test_missing_chapter_results_are_clear_errors(tmp_path):
    from gcrl.chapters import ch01_anatomy as ch01
    from gcrl.course.deliverables import Upstream

    with pytest.raises(CourseError, match="run chapter ch02 first"):
        ch03.ppo_results(Upstream(tmp_path, "smoke", "ch03"))
    with pytest.raises(CourseError, match="ch03 reads ch01's baselines.json, and .* is missing; run chapter ch01 first"):
        ch01.floors(Upstream(tmp_path, "smoke", "ch03"), "FetchPush-v4")
    ppo = {"curves": {"FetchReach-v4-seed0": []}}
    with pytest.raises(CourseError, match=r"no PPO run of FetchReach-v4 with seed\(s\) \[1, 2\]"):
        ch03.ppo_curves(ppo, "FetchReach-v4", range(0, 3))


def test_ppo_results_are_read_from_chapter_two(tmp_path):
    folder = tmp_path / "smoke" / "ch02"
    folder.mkdir(parents=True)
    (folder / "ppo_results.json").write_text(json.dumps({"curves": {"FetchPush-v4-seed0": [{"env_steps": 1}]}}))
    from gcrl.course.deliverables import Upstream

    ppo = ch03.ppo_results(Upstream(tmp_path, "smoke", "ch03"))
    assert ch03.ppo_curves(ppo, "FetchPush-v4", range(1)) == [[{"env_steps": 1}]]


def test_chapter_two_names_the_chapter_it_reads(tmp_path):
    from gcrl.chapters import ch02_ppo as ch02

    from gcrl.course.deliverables import Upstream

    with pytest.raises(CourseError, match="ch02 reads ch01's reward_consistency.json, and .* is missing; run chapter ch01 first"):
        ch02.random_policy_step_success(Upstream(tmp_path, "standard", "ch02"))


def test_a_chapter_may_read_only_the_chapters_it_declares(tmp_path):
    from gcrl.course.deliverables import Upstream

    with pytest.raises(CourseError, match="ch02 reads ch04's her_results.json but does not declare depends_on: ch04"):
        Upstream(tmp_path, "smoke", "ch02").read("ch04", "her_results.json")
