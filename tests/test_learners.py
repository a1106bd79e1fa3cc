"""One learner interface: the book's SAC+HER and Stable-Baselines3's SAC through the same run-folder code.

Every test here runs once per learner and asserts the same behaviour: a run
killed between checkpoints resumes to the same final step count, a damaged or
foreign checkpoint is refused with one clear line, a finished run is read back
without training or rewriting its record, and ``metrics.json`` has the same
fields.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from gcrl.core.errors import CourseError
from gcrl.rl.learners import ALGORITHMS, make_config, train
from gcrl.rl.run_folder import LearnerConfig

LEARNERS = ("sac+her", "sac")


def tiny(algo: str, **overrides) -> LearnerConfig:
    settings = {"learning_starts": 100, "batch_size": 32, "total_steps": 300, "eval_every": 100,
                "checkpoint_every": 150, "eval_episodes": 2, **overrides}
    if algo == "sac+her":
        settings["net_arch"] = (16, 16)
    return make_config(algo, "FetchReach-v4", **settings)


def test_every_name_builds_its_recipe():
    for algo in ALGORITHMS:
        config = make_config(algo, "FetchReach-v4", total_steps=1_000)
        assert config.algo == algo and config.env_id == "FetchReach-v4" and config.total_steps == 1_000
    with pytest.raises(CourseError, match="unknown algorithm 'a2c'; choose one of sac\\+her, ppo"):
        make_config("a2c", "FetchReach-v4", total_steps=1_000)


@pytest.mark.parametrize("algo", LEARNERS)
def test_metrics_json_has_the_same_fields_for_every_learner(algo, tmp_path):
    train(tiny(algo), tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) == {"config", "env_steps", "train_time_s", "eval_time_s", "env_steps_per_s", "final",
                            "best_success_rate", "time_to_target", "evaluations", "resumed_from", "eval_seeds",
                            "target_entropy", "provenance"}
    assert metrics["env_steps"] == 300 and metrics["evaluations"] == 3 and metrics["target_entropy"] == -4.0
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    assert {"config", "env_steps", "curve", "clock", "files"} <= set(state)
    assert [row["env_steps"] for row in json.loads((tmp_path / "curve.json").read_text())] == [100, 200, 300]


@pytest.mark.parametrize("algo", LEARNERS)
def test_a_finished_run_is_read_back_not_retrained_nor_rewritten(algo, tmp_path):
    config = tiny(algo)
    train(config, tmp_path)
    state, metrics = tmp_path / "checkpoint" / "state.json", tmp_path / "metrics.json"
    before = (state.stat().st_mtime_ns, metrics.read_text())
    again = train(config, tmp_path)
    assert (state.stat().st_mtime_ns, metrics.read_text()) == before, "nothing trained, nothing rewritten"
    assert again.metrics["env_steps"] == 300 and again.metrics["resumed_from"] == 300


@pytest.mark.parametrize("algo", LEARNERS)
def test_a_damaged_checkpoint_is_refused(algo, tmp_path):
    config = tiny(algo)
    train(config, tmp_path)
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    damaged = tmp_path / "checkpoint" / next(iter(state["files"]))
    damaged.write_bytes(damaged.read_bytes()[:100])
    with pytest.raises(CourseError, match="checkpoint .* is damaged: .* is missing, truncated or altered"):
        train(config, tmp_path)
    (tmp_path / "checkpoint" / "state.json").write_text("{not json")
    with pytest.raises(CourseError, match="is damaged \\(state.json"):
        train(config, tmp_path)


@pytest.mark.parametrize("algo", LEARNERS)
def test_the_checkpoint_of_another_run_is_refused(algo, tmp_path):
    train(tiny(algo), tmp_path)
    with pytest.raises(CourseError, match="belongs to a different run \\(seed differ\\)"):
        train(tiny(algo, seed=1), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("algo, extra", [("sac+her", []), ("sac", []),
                                         ("sac+her", ["--n-envs", "3", "--set", "collector=process"])],
                         ids=["sac+her", "sac", "sac+her-3-envs-in-a-collector-process"])
def test_a_killed_run_resumes_to_the_same_final_step_count(algo, extra, tmp_path):
    """``gcrl train``, killed between two checkpoints, then run again with the same command."""
    command = [sys.executable, "-m", "gcrl.course.cli", "train", "--algo", algo, "--env", "FetchReach-v4",
               "--steps", "1200", "--eval-every", "300", "--eval-episodes", "2", "--checkpoint-every", "300",
               "--run-dir", str(tmp_path), *extra]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    state = tmp_path / "checkpoint" / "state.json"
    deadline = time.time() + 300
    while time.time() < deadline and not (state.is_file() and json.loads(state.read_text())["env_steps"] >= 600):
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    saved = json.loads(state.read_text())["env_steps"]
    assert 600 <= saved < 1200, "killed between checkpoints, before the end"
    assert not (tmp_path / "metrics.json").exists()

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["env_steps"] == 1200 and metrics["resumed_from"] == saved
    assert [row["env_steps"] for row in json.loads((tmp_path / "curve.json").read_text())] == [300, 600, 900, 1200]
