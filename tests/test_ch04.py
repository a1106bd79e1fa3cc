"""Chapter 4's plan and claims: the Push arms differ only in k, and the declared difference excludes zero."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gcrl.chapters import ch04_her as ch04
from gcrl.chapters import ch04_recipe
from gcrl.chapters import ch04_records as records
from gcrl.chapters import ch04_search as search_records
from gcrl.course import profiles
from gcrl.course.deliverables import declarations, range_for
from gcrl.rl import her
from gcrl.rl.evaluate import evaluation_seeds, newcombe_interval, paired_newcombe_interval, wilson_interval
from gcrl.rl.sac_her.config import SacHerConfig


def test_the_declared_push_difference_excludes_zero():
    metrics = declarations()["ch04"]["files"]["her_results.json"]["metrics"]
    for profile in ("standard", "full"):
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


def test_the_relabelling_probe_draws_from_the_episodes_a_fresh_run_stores():
    config = SacHerConfig.from_recipe(ch04.REACH, total_steps=1_000)
    probe = ch04.relabelling_probe(config, ch04.RECIPE_K, "future", cycles=2, batch=64)
    assert probe["episodes"] == 2 and probe["steps"] == 2 * 50, "two cycles of one Reach episode, no gradient step"
    assert len(probe["rewards"]) == 64 and probe["relabelled"] == her.relabelled_count(64, ch04.RECIPE_K)
    assert np.array_equal(probe["rewards"], probe["recomputed"])
    assert len(probe["observation"]) == len(probe["achieved_goal"]) == len(probe["desired_goal"]) == 2


def test_pushs_recipe_is_stated_against_the_original_her_schedule():
    recipe = ch04.SacHerConfig.from_recipe(ch04.PUSH, total_steps=800)
    text = ch04_recipe.recipe_origin(recipe)
    assert text["recipe_size"] == f"{' × '.join(map(str, recipe.net_arch))} and {recipe.batch_size}"
    assert text["recipe_random_eps"] == f"{recipe.random_eps:g}"
    # the original's own step (its networks, and the minibatch of its eight workers together) costs what it costs
    original = ch04.SacHerConfig.from_recipe(ch04.PUSH, total_steps=800, net_arch=(256, 256, 256), batch_size=2048)
    assert ch04_recipe.recipe_origin(original)["recipe_cost_ratio"] == "about 1.0 times"
    half = ch04.SacHerConfig.from_recipe(ch04.PUSH, total_steps=800, net_arch=(256, 256, 256), batch_size=1024)
    assert ch04_recipe.recipe_origin(half)["recipe_cost_ratio"] == "about 1/2"


BASE = {"net_arch": [256, 256, 256], "batch_size": 256, "n_envs": 2, "ent_coef": "auto", "random_eps": 0.0}
RECIPE = {"n_envs": 8, "batch_size": 512, "ent_coef": 0.05, "random_eps": 0.3, "net_arch": [128, 128, 128]}


def _planted_search(winner_successes: int, other_successes: int, dirty: bool = True,
                    other_episodes_seed: int = 1_000_000) -> dict:
    def candidate(successes: int, steps_per_s: float, changes: dict, episodes_seed: int = 1_000_000) -> dict:
        curve = [{"env_steps": 40_000, "train_s": 40_000 / steps_per_s, "success_rate": 0.04, "updates": 2_000},
                 {"env_steps": 80_000, "train_s": 80_000 / steps_per_s, "success_rate": successes / 50, "updates": 4_000}]
        return {"changes": changes, "config": {"eval_seed": episodes_seed},
                "last": {**curve[-1], "ci95_low": 0.0, "ci95_high": 1.0}, "best_success_rate": 0.5,
                "to_50": None, "env_steps_per_s": steps_per_s, "updates_per_s": 50.0, "curve": curve}

    without_width = {k: v for k, v in RECIPE.items() if k != "net_arch"}
    return {"protocol": {"eval_episodes": 50, "seed": 0, "budget_steps": 80_000, "eval_every": 40_000, "base": BASE,
                         "defined": {"explore_narrow": "", "explore": "", "narrow": ""}},
            "provenance": {"commit": "cc370c3e7acc", "dirty": dirty, "device": {"name": "CPU", "cores": 2}},
            "candidates": {"explore_narrow": candidate(winner_successes, 600.0, RECIPE),
                           "explore": candidate(other_successes, 400.0, without_width, other_episodes_seed)}}


def test_newcombes_paired_interval_reproduces_a_published_table_and_narrows_with_agreement():
    # Fagerland, Lydersen and Laake's worked example (the contingencytables package, Cavo et al. 2012):
    # 59 both, 6 first only, 16 second only, 80 neither: -0.0621 (95% CI -0.1186 to -0.0046)
    low, high = paired_newcombe_interval(59, 6, 16, 80)
    assert (round(low, 4), round(high, 4)) == (-0.1186, -0.0046)
    # a planted paired sample, two policies on the same 50 episodes that agree on 45 of them: 45/50 against 40/50
    a = "1" * 40 + "1" * 5 + "0" * 5
    b = "1" * 40 + "0" * 5 + "0" * 5
    table = [sum(x == p and y == q for x, y in zip(a, b)) for p, q in (("1", "1"), ("1", "0"), ("0", "1"), ("0", "0"))]
    assert table == [40, 5, 0, 5]
    paired = paired_newcombe_interval(*table)
    independent = newcombe_interval(a.count("1"), 50, b.count("1"), 50)
    assert paired[0] > 0 > independent[0], "agreement episode by episode separates what independent samples cannot"
    assert paired[1] - paired[0] < independent[1] - independent[0]
    # the counts alone allow 40 to 45 episodes where both succeed: every pairing's interval lies between the extremes
    extremes = search_records.paired_interval_range(45, 40, 50)
    assert extremes["concordant"] == pytest.approx(paired)
    for both in range(35, 41):
        low, high = paired_newcombe_interval(both, 45 - both, 40 - both, 50 - 85 + both)
        assert extremes["discordant"][0] <= low <= extremes["concordant"][0] <= extremes["concordant"][1] <= high \
            <= extremes["discordant"][1]
    with pytest.raises(ValueError):
        search_records.paired_interval_range(51, 40, 50)


@pytest.mark.parametrize("winner, other, verdict", [(40, 5, "excludes zero whichever"), (5, 40, "excludes zero whichever"),
                                                    (20, 19, "contains zero whichever"),
                                                    (24, 19, "depends on which episodes succeeded")])
def test_what_the_search_measured_is_decided_by_the_paired_interval_at_every_pairing(tmp_path, winner, other, verdict):
    path = tmp_path / "search.json"
    path.write_text(json.dumps(_planted_search(winner, other)))
    search = search_records.recipe_search(path)
    reading = search_records.search_reading(search)
    width = reading["choice0"]
    assert width.startswith("`net_arch` 128 × 128 × 128 instead of 256 × 256 × 256: on seed 0's runs")
    assert verdict in width and f"{winner}/50 with the recipe against {other}/50 without" in width
    assert "80,000 env steps" in width and "1.50 times" in width and "changed together" not in width
    assert "is not in the record" in reading["choice1"]
    # the recipe's changes that no trained comparison removes: here every one but the width
    assert reading["unablated"] == "`batch_size` 512, `ent_coef` 0.05, `n_envs` 8, `random_eps` 0.3"
    assert search["not_run"] == ["narrow"]


def test_a_comparison_of_several_settings_says_they_were_changed_together_and_other_episodes_are_independent(tmp_path):
    record = _planted_search(24, 2, other_episodes_seed=2_000_000)
    record["candidates"]["explore"]["changes"] = {k: v for k, v in RECIPE.items() if k not in ("ent_coef", "random_eps")}
    path = tmp_path / "search.json"
    path.write_text(json.dumps(record))
    line = search_records.search_reading(search_records.recipe_search(path))["choice0"]
    assert line.startswith("`ent_coef` 0.05 instead of auto and `random_eps` 0.3 instead of 0.0 (changed together, "
                           "so the record measures neither alone)")
    low, high = newcombe_interval(24, 50, 2, 50)
    assert f"evaluated on different episodes, and Newcombe's 95% interval, [{low:+.2f}, {high:+.2f}], excludes zero" in line


def test_the_search_protocol_says_how_many_candidates_ran_and_whether_its_commit_reproduces_it(tmp_path):
    for dirty, said in ((True, "with uncommitted changes in the working tree (the record's `dirty: true`), so that "
                               "commit alone does not reproduce it"), (False, "with a clean working tree")):
        path = tmp_path / "search.json"
        path.write_text(json.dumps(_planted_search(20, 19, dirty=dirty)))
        text = search_records.search_protocol(search_records.recipe_search(path))
        assert "2 of the 3 candidates the script defines were trained" in text and f"commit cc370c3 {said}" in text
    committed = search_records.recipe_search()
    assert committed["provenance"]["dirty"] is True and "`dirty: true`" in search_records.search_protocol(committed)


def test_the_committed_search_record_names_only_defined_candidates_and_reads():
    search = search_records.recipe_search()
    assert search_records.SEARCH_WINNER in {r["candidate"] for r in search["rows"]}
    assert set(r["candidate"] for r in search["rows"]) <= set(search["protocol"]["defined"])
    reading = search_records.search_reading(search)
    assert search["provenance"]["commit"] and set(reading) == {"choice0", "choice1", "unablated"}
    # exploration is the temperature and the random actions together; minibatch and environments are never removed
    assert "(changed together, so the record measures neither alone)" in reading["choice1"]
    assert reading["unablated"] == "`batch_size` 512, `n_envs` 8"


def _bench_record(book_curve, zoo_curve):
    from gcrl.analysis.bench_push import summarise, zoo_updates
    from gcrl.rl.learners import make_config

    zoo_config, book_config = make_config("tqc", ch04.PUSH, total_steps=10**8), make_config("sac+her", ch04.PUSH,
                                                                                            total_steps=10**8)
    return {"bench": {"budget_s": 1500.0, "seed": 0, "eval_episodes": 50}, "env_id": ch04.PUSH,
            "recipes": {"zoo": {"summary": summarise(zoo_updates(zoo_curve, 1000), 1500.0), "curve": zoo_curve,
                                "config": zoo_config.as_dict()},
                        "book": {"summary": summarise(book_curve, 1500.0), "curve": book_curve,
                                 "config": book_config.as_dict()}},
            "provenance": {"commit": "0123456789abcdef", "device": {"name": "CPU", "cores": 2}}}


def test_the_push_bench_reading_is_computed_from_its_record(tmp_path):
    def row(steps, s, rate, updates=None):
        successes = round(rate * 50)
        low, high = wilson_interval(successes, 50)
        return {"env_steps": steps, "train_s": s, "success_rate": rate, "episodes": 50, "successes": successes,
                "ci95_low": low, "ci95_high": high, **({"updates": updates} if updates is not None else {})}

    book = [row(400_000, 400.0, 0.3, 20_000), row(480_000, 480.0, 0.6, 24_000), row(640_000, 640.0, 0.94, 32_000)]
    zoo = [row(2_000, 380.0, 0.08), row(4_000, 1_100.0, 0.1)]
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(_bench_record(book, zoo)))
    bench = records.push_bench(path)
    assert "the book recipe reached 50% after 8.0 min of training (480,000 env steps) and 90% after 10.7 min" \
           in bench["reading"]
    low, high = wilson_interval(5, 50)
    assert (f"the zoo recipe reached neither level: its best evaluation in 4,000 env steps was 5/50 (Wilson 95% "
            f"[{low:.2f}, {high:.2f}])") in bench["reading"]
    assert "1,000 env steps per second of training against the zoo's 3.6 (278 times as many)" in bench["reading"]
    assert "50 gradient steps of 512 per second against 2.7 of 2,048" in bench["reading"]
    assert {r["recipe"]: r["to 90%"] for r in bench["rows"]} == {"zoo": "not reached",
                                                                 "book": "640,000 steps, 10.7 min"}
    assert "25 min of wall clock per recipe" in bench["protocol"] and "commit 0123456" in bench["protocol"]
    path.write_text(json.dumps(_bench_record(book, [])))
    assert "not evaluated within its budget" in records.push_bench(path)["reading"]


RECIPE_KEYS = ("net_arch", "batch_size", "learning_rate", "gamma", "tau", "n_sampled_goal", "n_envs",
               "episodes_per_cycle", "updates_per_cycle", "ent_coef", "random_eps", "target_clip", "obs_clip")


def test_the_committed_push_bench_record_has_both_recipes_and_reads():
    record = json.loads(records.BENCH_RECORD.read_text())
    assert set(record["recipes"]) == {"zoo", "book"} and record["provenance"]["dirty"] is False
    shipped = json.loads(json.dumps(SacHerConfig.from_recipe(ch04.PUSH, total_steps=10**8).as_dict()))  # today's recipe
    assert {k: record["recipes"]["book"]["config"][k] for k in RECIPE_KEYS} == {k: shipped[k] for k in RECIPE_KEYS}
    assert all(r["summary"]["evaluations"] >= 1 for r in record["recipes"].values())
    assert records.push_bench()["reading"]


def test_the_zoos_hours_come_from_its_steady_segment_of_the_committed_record():
    record = json.loads(records.BENCH_RECORD.read_text())
    steady = records.zoo_steady_rate(record)
    zoo = record["recipes"]["zoo"]["curve"]
    # between its two evaluations every env step took a gradient step: 2,000 steps in 733.8 s
    assert (steady["from_steps"], steady["to_steps"]) == (2_000, 4_000) == (zoo[0]["env_steps"], zoo[1]["env_steps"])
    assert steady["env_steps_per_s"] == pytest.approx(2_000 / (1112.659 - 378.877)) == pytest.approx(2.7256, abs=1e-4)
    assert steady["hours"] == pytest.approx(records.ZOO_PUSH_STEPS / 2.7256 / 3600, rel=1e-4)
    assert round(steady["hours"]) == 20
    # the record's average counts the 1,000 warm-up steps that take no gradient step, and so is faster
    assert steady["average_env_steps_per_s"] == 3.6 > steady["env_steps_per_s"]
    late = {**record, "recipes": {**record["recipes"], "zoo": {**record["recipes"]["zoo"], "curve": zoo[:1]}}}
    with pytest.raises(ValueError):
        records.zoo_steady_rate(late)


def test_the_zoos_evaluations_measured_the_floor_of_episodes_that_start_solved():
    record = json.loads(records.BENCH_RECORD.read_text())
    config = record["recipes"]["zoo"]["config"]
    at_reset = ch04.solved_at_reset(ch04.PUSH, evaluation_seeds(config["eval_episodes"], config["eval_seed"]))
    assert at_reset.count("1") == 4 and record["recipes"]["book"]["curve"][0]["outcomes"] == at_reset
    text = records.zoo_floor(record, at_reset)
    assert text == ("every evaluation of the zoo's recipe succeeded on 4/50 episodes, exactly those on which the "
                    "book's first evaluation, after 20,000 env steps, succeeded, and these are the 4 episodes whose "
                    "block starts within the threshold of its goal: the floor, not a pushed block")
    shifted = at_reset[1:] + at_reset[0]  # a planted floor on other episodes: the sentence no longer says it is
    assert "the floor, not a pushed block" not in records.zoo_floor(record, shifted)


def test_the_zoo_arm_is_said_to_add_normalisation_and_warm_up_to_the_published_recipe():
    record = json.loads(records.BENCH_RECORD.read_text())
    assert records.zoo_additions(record) == (
        "the zoo's FetchPush recipe with VecNormalize and learning_starts 1,000 added (the published entry sets "
        "neither normalisation nor learning_starts, whose default is 100)")
    published = json.loads(json.dumps(record))
    published["recipes"]["zoo"]["config"]["normalize"] = False
    del published["recipes"]["zoo"]["config"]["hyperparams"]["learning_starts"]
    assert records.zoo_additions(published) == "the zoo's FetchPush recipe as published"


def test_the_recipes_are_stated_against_their_library_peer_from_the_recipe_files():
    reach, push = ch04_recipe.recipe_against_library(ch04.REACH), ch04_recipe.recipe_against_library(ch04.PUSH)
    assert reach == {"gradient steps": ("50 after every 50 env steps", "1 after every env step")}
    recipe = SacHerConfig.from_recipe(ch04.PUSH, total_steps=1)
    assert push["net_arch"] == (" × ".join(map(str, recipe.net_arch)), "256 × 256 × 256")
    assert push["random_eps"] == (f"{recipe.random_eps:g}", "0") and push["ent_coef"] == (f"{recipe.ent_coef:g}", "auto")
    assert {"batch_size", "learning_starts", "tau", "n_sampled_goal"}.isdisjoint(push)  # the same in both
    assert ch04_recipe.library_text(ch04.PUSH).startswith("`net_arch` 128 × 128 × 128 (the library's: 256 × 256 × 256)")


def _probe_records(tmp_path, recipe_cuda, large_cuda, compiled_ms=None):
    """Planted GPU probe records: eager cuda times for the two sizes, the recipe's size on one CPU thread."""
    sizes = {"recipe": {"net_arch": [128, 128, 128], "batch_size": 512},
             "large": {"net_arch": [256, 256, 256], "batch_size": 2048}}
    cases = [{"size": "recipe", "device": "cpu", "compile_mode": "none", "ms_per_step": 14.0},
             {"size": "large", "device": "cpu", "compile_mode": "none", "error": "timed out after 25 s"},
             {"size": "recipe", "device": "cuda", "compile_mode": "none", "ms_per_step": recipe_cuda},
             {"size": "large", "device": "cuda", "compile_mode": "none", "ms_per_step": large_cuda},
             {"size": "recipe", "device": "cuda", "compile_mode": "reduce-overhead",
              **({"ms_per_step": compiled_ms} if compiled_ms else {"error": "timed out after 25 s"})}]
    device = {"kind": "cuda", "name": "NVIDIA H200", "memory_gib": 139.8, "cuda": "13.0", "count": 1}
    steps = {"probe": {"sizes": sizes, "cores": 16, "case_limit_s": 25.0}, "gradient_steps": cases,
             "provenance": {"device": device}}
    push = {"push": [{"device": "cuda", "budget_s": 55.0, "settings": {"collector_processes": 8}, "seed": 1000,
                      "seed_set": "reporting",
                      "summary": {"env_steps_per_s": 1884.3, "updates_per_s": 90.4,
                                  "last": {"env_steps": 40000, "train_s": 21.2, "success_rate": 0.08}}}],
            "provenance": {"device": device}}
    (tmp_path / "steps.json").write_text(json.dumps(steps))
    (tmp_path / "push.json").write_text(json.dumps(push))
    return tmp_path / "steps.json", tmp_path / "push.json"


def test_the_gpu_probe_reading_is_computed_from_its_records(tmp_path):
    launch_bound = records.gpu_probe_reading(*_probe_records(tmp_path, 6.0, 6.5))
    assert launch_bound["device"] == "one NVIDIA H200 (16 cores)"
    assert "6.0 ms per gradient step on cuda against 14.0 ms on one CPU thread" in launch_bound["steps"]
    assert "(2.3 times faster)" in launch_bound["steps"] and "one CPU thread: timed out after 25 s" in launch_bound["steps"]
    assert "16 times the arithmetic per step in 1.08 times the time" in launch_bound["scaling"]
    assert "bounded by launching many small kernels" in launch_bound["scaling"]
    assert "no compiled case (reduce-overhead) finished" in launch_bound["compiled"]
    assert "1,884 env steps" in launch_bound["push"] and "8 collector processes" in launch_bound["push"]
    assert launch_bound["seed"] == "seed 1000, a reporting seed"
    arithmetic_bound = records.gpu_probe_reading(*_probe_records(tmp_path, 2.0, 20.0, compiled_ms=1.5))
    assert "in 10.0 times the time, so arithmetic, not launching kernels, sets its cost" in arithmetic_bound["scaling"]
    assert "reduce-overhead: 1.5" in arithmetic_bound["compiled"]


def test_the_committed_gpu_probe_records_read():
    reading = records.gpu_probe_reading()
    assert reading["seed"].startswith("seed 0, a selection seed (made before the seed sets were kept apart")
    assert reading["device"].startswith("one NVIDIA") and "ms per gradient step on cuda" in reading["steps"]
    assert "env steps" in reading["push"]


def _samples_line(points, episodes=50, budget=320_000, offset=0):
    """A run of the search's second round as search.json records it, from (env_steps, successes) points; its
    successes are the episodes from ``offset`` on (the runs of two arms pair episode by episode)."""
    curve = [{"env_steps": s, "train_s": s / 1000, "success_rate": k / episodes, "updates": s // 20,
              "outcomes": "0" * offset + "1" * k + "0" * (episodes - k - offset)} for s, k in points]
    first = {f"to_{round(level * 100)}": next(({"env_steps": c["env_steps"], "train_s": c["train_s"]} for c in curve
                                               if c["success_rate"] >= level), None) for level in (0.5, 0.9)}
    last = curve[-1]
    return {"evaluations": len(curve), "finished": last["env_steps"] >= budget, **first,
            "best_success_rate": max(c["success_rate"] for c in curve),
            "last": {**last, "ci95_low": 0.0, "ci95_high": 1.0}, "curve": curve}


def _samples_record(tmp_path, runs):
    record = {"protocol": {"seeds": [0, 1, 2], "budget_steps": 320_000, "eval_every": 40_000, "eval_episodes": 50},
              "provenance": {}, "runs": runs}
    path = tmp_path / "samples.json"
    path.write_text(json.dumps(record))
    return search_records.samples_search(path)


def test_the_second_rounds_reading_is_computed_from_its_record(tmp_path):
    floor = [(160_000, 4), (320_000, 4)]
    search = _samples_record(tmp_path, {
        "recipe": {str(s): _samples_line(floor) for s in (0, 1, 2)},
        "better": {"0": _samples_line([(160_000, 30), (320_000, 48)]), "1": _samples_line([(160_000, 20), (320_000, 46)]),
                   "2": _samples_line([(160_000, 26), (320_000, 47)])},
        "same": {str(s): _samples_line([(160_000, 4), (320_000, 5)]) for s in (0, 1, 2)},
        "alone": {"5": _samples_line([(40_000, 4)], budget=320_000)}})
    reading = search_records.samples_reading(search, reps=2000)
    assert reading["protocol"].startswith("4 candidates on selection seeds 0, 1, 2, up to 320,000 env steps")
    assert reading["reached"] == "better reached 90% on all 3 of its seeds (median 320,000 env steps)"
    assert "better raised the pooled success at 320,000 env steps (difference +0.86" in reading["bought"]
    assert "same changed by no measurable amount the pooled success at 320,000 env steps" in reading["bought"]
    assert "alone: not compared (the control was not run on its seeds)" in reading["bought"]
    nothing = _samples_record(tmp_path, {"recipe": {"0": _samples_line(floor)},
                                         "other": {"0": _samples_line([(160_000, 9), (200_000, 6)], offset=2)}})
    reading = search_records.samples_reading(nothing, reps=2000)
    assert reading["reached"] == ("no candidate reached 90% on every seed it ran; the best evaluation of any run was "
                                  "0.18 (other, seed 0, within 200,000 env steps)")
    # compared at the last evaluation both runs made: 160,000 (the control was not evaluated at 200,000)
    assert "other changed by no measurable amount the pooled success at 160,000 env steps" in reading["bought"]
    assert "1 seed per arm" in reading["bought"]


def test_how_far_the_in_sample_figures_moved_is_computed_from_the_records(tmp_path):
    bench = {"bench": {"seed": 0}, "recipes": {"book": {"summary": {"to_90": {"env_steps": 620_000, "train_s": 621.0}}}}}
    (tmp_path / "bench.json").write_text(json.dumps(bench))

    def line(to_90, successes, steps=880_000):
        return {"to_90": to_90, "env_steps": steps,
                "final": {"episodes": 100, "successes": successes, "ci95_low": successes / 100 - 0.05,
                          "ci95_high": min(1.0, successes / 100 + 0.03)}}

    record = {"protocol": {"env_steps": 880_000},
              "seeds": {"1000": line({"env_steps": 560_000, "train_s": 600.0}, 97),
                        "1001": line({"env_steps": 720_000, "train_s": 780.0}, 93),
                        "1002": line(None, 40)}}
    (tmp_path / "reporting.json").write_text(json.dumps(record))
    reading = search_records.reporting_reading(tmp_path / "reporting.json", tmp_path / "bench.json")
    assert reading["in_sample"] == "seed 0 (the seed that chose the recipe) reached 90% at 620,000 env steps"
    assert reading["reached"] == "2 of 3" and reading["budget"] == "880,000"
    assert reading["anchor"] == "about 260,000 env steps, 2.4 times fewer than this recipe needed in-sample"
    assert reading["moved"] == ("the median over the 2 reporting seeds that reached it is 640,000 env steps, "
                                "1.03 times seed 0's 620,000")
    assert "seed 1000: 90% at 560,000 env steps, final 97/100 (95% [0.92, 1.00])" in reading["per_seed"]
    assert "seed 1002: not 90% within 880,000 env steps, final 40/100" in reading["per_seed"]
    record["seeds"] = {"1000": line({"env_steps": 560_000, "train_s": 600.0}, 97)}
    (tmp_path / "reporting.json").write_text(json.dumps(record))
    one = search_records.reporting_reading(tmp_path / "reporting.json", tmp_path / "bench.json")
    assert one["moved"] == "the one reporting seed that reached it did so at 560,000 env steps, 0.90 times seed 0's 620,000"
    record["seeds"] = {"1000": line(None, 10)}
    (tmp_path / "reporting.json").write_text(json.dumps(record))
    reading = search_records.reporting_reading(tmp_path / "reporting.json", tmp_path / "bench.json")
    assert reading["moved"] == "no reporting seed reached it, where seed 0 did at 620,000" and reading["reached"] == "0 of 1"
