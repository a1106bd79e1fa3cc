"""Comparing methods on learning curves: pooled curves, steps to a threshold, success at a budget."""

from __future__ import annotations

import pytest

from gcrl.analysis import experiments
from gcrl.analysis.experiments import compare_sample_efficiency, pooled_curve, steps_to_threshold, success_at


def curve(*points: tuple[int, int], episodes: int = 10) -> list[dict]:
    return [{"env_steps": step, "episodes": episodes, "successes": k, "success_rate": k / episodes}
            for step, k in points]


def test_pooled_curve_pools_seeds_at_the_steps_all_of_them_evaluated():
    pooled = pooled_curve([curve((100, 2), (200, 6), (300, 9)), curve((100, 4), (200, 8))])
    assert [row["env_steps"] for row in pooled] == [100, 200]
    assert [(row["successes"], row["episodes"]) for row in pooled] == [(6, 20), (14, 20)]
    assert all(row["ci95_low"] <= row["success_rate"] <= row["ci95_high"] for row in pooled)


def test_threshold_and_budget_lookups():
    pooled = pooled_curve([curve((100, 2), (200, 9), (300, 10))])
    assert steps_to_threshold(pooled, 0.9) == 200
    assert steps_to_threshold(pooled, 1.0) == 300
    assert steps_to_threshold(pooled[:1], 0.9) is None
    assert success_at(pooled, 150)["env_steps"] == 200, "the first evaluation at or after the step"
    assert success_at(pooled, 300)["env_steps"] == 300
    assert success_at(pooled, 301) is None


def test_sample_efficiency_reads_the_peer_at_or_after_our_budget():
    ours = [curve((100, 5), (200, 9), (300, 10)), curve((100, 7), (200, 10), (300, 10))]
    theirs = [curve((256, 1), (512, 9), (768, 10)), curve((256, 0), (512, 10), (768, 10))]
    c = compare_sample_efficiency(ours, theirs, threshold=0.9)
    assert c["budget_env_steps"] == 300
    assert c["ours_steps_to_threshold"] == 200 and c["theirs_steps_to_threshold"] == 512
    assert c["steps_ratio"] == pytest.approx(512 / 200)
    assert c["ours_at_budget"]["successes"] == 20
    assert c["theirs_at_budget"]["env_steps"] == 512, "never read before our budget"


def test_a_method_that_never_reaches_the_threshold_has_no_ratio():
    ours = [curve((100, 1), (200, 2))]
    theirs = [curve((100, 9), (200, 10))]
    c = compare_sample_efficiency(ours, theirs, threshold=0.9)
    assert c["ours_steps_to_threshold"] is None and c["theirs_steps_to_threshold"] == 100
    assert c["steps_ratio"] is None


def test_task_names_and_the_printed_summaries():
    from gcrl.rl.envs import task_name
    from gcrl.analysis.experiments import pooled_text, runs_table

    assert [task_name(e) for e in ("FetchReachDense-v4", "FetchPush-v4", "FetchPickAndPlace-v4")] == \
        ["ReachDense", "Push", "PickAndPlace"]
    row = {"env_id": "FetchPush-v4", "seed": 2, "episodes": 30, "successes": 3, "success_rate": 0.1,
           "ci95_low": 0.0346, "ci95_high": 0.2562, "mean_final_distance": 0.18349, "env_steps": 4096,
           "env_steps_per_s": 22.04}
    table = runs_table([row])
    assert table.loc[("Push", 2), "95% CI"] == "[0.03, 0.26]" and table.loc[("Push", 2), "k"] == 3
    assert list(table.columns) == ["env steps", "n", "k", "p̂", "95% CI", "final d (m)", "steps/s"]
    text = pooled_text({"runs": 3, "episodes": 90, "successes": 9, "success_rate": 0.1,
                        "ci95_low": 0.0535, "ci95_high": 0.1789})
    assert text == "10.0% (95% CI [5.3%, 17.9%], 9/90 episodes over 3 seed(s))"


def test_pooled_difference_resamples_seeds_then_episodes():
    from gcrl.analysis.experiments import pooled_difference

    certain = pooled_difference(["1" * 50], ["0" * 50], reps=2000)
    assert certain["difference"] == 1.0 and certain["ci95_low"] == certain["ci95_high"] == 1.0
    same = pooled_difference(["0110" * 25, "1010" * 25], ["0101" * 25, "1001" * 25], reps=2000)
    assert same["difference"] == 0.0 and same["ci95_low"] < 0 < same["ci95_high"]
    # two seeds that disagree: the seed stage widens the interval beyond what the pooled episodes alone give
    split = pooled_difference(["1" * 50, "0" * 50], ["0" * 100], reps=4000)
    episodes_only = pooled_difference(["1" * 50 + "0" * 50], ["0" * 100], reps=4000)
    assert split["difference"] == episodes_only["difference"] == 0.5
    assert split["ci95_high"] - split["ci95_low"] > 2 * (episodes_only["ci95_high"] - episodes_only["ci95_low"])
    assert split["ci95_low"] <= 0.0, "with two seeds of 0 and 1, an arm may be all failures"
    with pytest.raises(ValueError, match="0/1 outcomes"):
        pooled_difference(["01x"], ["0"])


def test_against_floor_tests_the_difference_not_the_overlap_of_two_intervals():
    floor = {"successes": 6, "episodes": 200}
    # 9/90 and 6/200: their Wilson intervals overlap, yet the difference's Newcombe interval excludes zero
    verdict = experiments.against_floor({"successes": 9, "episodes": 90, "runs": 1}, floor)
    assert verdict.startswith("above the random-policy floor") and "[+0.01, +0.15]" in verdict, verdict
    assert "seeds' episodes pooled" not in verdict
    level = experiments.against_floor({"successes": 3, "episodes": 100, "runs": 3}, floor)
    assert level.startswith("not distinguishable") and "3 seeds' episodes pooled" in level, level
    assert experiments.against_floor({"successes": 0, "episodes": 300, "runs": 1},
                                     {"successes": 30, "episodes": 200}).startswith("below")


def test_paired_difference_resamples_seeds_and_episodes_as_pairs():
    # each seed's two arms agree on most episodes: the paired interval sees the consistent gain, the unpaired not
    a = ["1" * 80 + "0" * 20, "1" * 85 + "0" * 15, "1" * 90 + "0" * 10]
    b = ["1" * 75 + "0" * 25, "1" * 80 + "0" * 20, "1" * 86 + "0" * 14]
    paired = experiments.paired_pooled_difference(a, b, reps=2_000)
    unpaired = experiments.pooled_difference(a, b, reps=2_000)
    assert paired["difference"] == pytest.approx(14 / 300)
    assert 0 < paired["ci95_low"] < paired["difference"] < paired["ci95_high"]
    assert unpaired["ci95_low"] < 0 < unpaired["ci95_high"]
    assert paired["ci95_high"] - paired["ci95_low"] < (unpaired["ci95_high"] - unpaired["ci95_low"]) / 2
    # identical arms: every replicate's difference is zero
    same = experiments.paired_pooled_difference(a, a, reps=200)
    assert same["ci95_low"] == same["ci95_high"] == 0.0
    with pytest.raises(ValueError, match="paired arms"):
        experiments.paired_pooled_difference(a, b[:2])
    with pytest.raises(ValueError, match="paired arms"):
        experiments.paired_pooled_difference(["1" * 10], ["1" * 9])
