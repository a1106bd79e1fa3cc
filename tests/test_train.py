"""The training toolkit: validated configs, real (tiny) runs, checkpoints that resume and fail loudly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gcrl.errors import CourseError
from gcrl.provenance import RunRecord
from gcrl.train import (HerConfig, TrainConfig, TrainResult, load_checkpoint, load_hyperparams, policy_entropy,
                        train, train_many)

TINY = {"learning_starts": 100, "batch_size": 32, "buffer_size": 5_000, "eval_episodes": 2}


def tiny(algo: str = "sac", env_id: str = "FetchReach-v4", **overrides) -> TrainConfig:
    settings = {**TINY, "total_steps": 300, "eval_every": 100, "checkpoint_every": 150, **overrides}
    if algo == "ppo":
        for key in ("learning_starts", "buffer_size"):
            settings.pop(key)
        settings.update(n_steps=64, n_envs=2)
    return TrainConfig.from_file(algo, env_id, **settings)


# --- configuration ---------------------------------------------------------------------


def test_every_hyperparameter_file_entry_is_valid():
    from gcrl.train import ALGORITHMS, HYPERPARAMS_DIR

    import yaml

    for algo in ALGORITHMS:
        for env_id in yaml.safe_load((HYPERPARAMS_DIR / f"{algo}.yml").read_text()):
            TrainConfig.from_file(algo, env_id, total_steps=1)


def test_unknown_key_is_named(tmp_path, monkeypatch):
    import gcrl.train as module

    (tmp_path / "sac.yml").write_text("FetchReach-v4:\n  lerning_rate: 0.001\n")
    monkeypatch.setattr(module, "HYPERPARAMS_DIR", tmp_path)
    with pytest.raises(CourseError, match="sac.yml: FetchReach-v4: unknown hyperparameter 'lerning_rate' for SAC"):
        load_hyperparams("sac", "FetchReach-v4")


@pytest.mark.parametrize("key, value, message", [
    ("gamma", 1.5, "gamma must be a number in \\(0, 1\\]"),
    ("batch_size", 0, "batch_size must be an integer >= 1"),
    ("learning_rate", -1e-3, "learning_rate must be a number > 0"),
    ("ent_coef", "sometimes", "ent_coef must be"),
])
def test_bad_values_are_named(key, value, message):
    with pytest.raises(CourseError, match=message):
        TrainConfig.from_file("sac", "FetchReach-v4", total_steps=10, **{key: value})


def test_structural_errors():
    with pytest.raises(CourseError, match="unknown algorithm 'a2c'"):
        TrainConfig(env_id="FetchReach-v4", algo="a2c", total_steps=10)
    with pytest.raises(CourseError, match="needs an off-policy learner, not ppo"):
        TrainConfig(env_id="FetchReach-v4", algo="ppo", total_steps=10, her=HerConfig())
    with pytest.raises(CourseError, match="total_steps must be a positive integer"):
        TrainConfig(env_id="FetchReach-v4", algo="sac", total_steps=0)
    with pytest.raises(CourseError, match="has no entry for 'FetchSlide-v4'"):
        TrainConfig.from_file("ppo", "FetchSlide-v4", total_steps=10)


# --- real runs ---------------------------------------------------------------------------


def test_sac_her_run_writes_curve_metrics_and_checkpoint(tmp_path):
    result = train(tiny(), tmp_path)
    assert [row["env_steps"] for row in result.curve] == [100, 200, 300]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["env_steps"] == 300 and metrics["evaluations"] == 3 and metrics["resumed_from"] is None
    assert 0 <= metrics["final"]["ci95_low"] <= metrics["final"]["success_rate"] <= metrics["final"]["ci95_high"]
    assert metrics["provenance"]["seeds"] == [0]
    assert all(row["ent_coef"] is not None and row["ent_coef"] > 0 for row in result.curve)
    assert (tmp_path / "curve.csv").read_text().startswith("env_steps,train_s,episodes")
    assert {"model.zip", "replay_buffer.pkl", "vecnormalize.pkl", "state.json"} <= {
        p.name for p in (tmp_path / "checkpoint").iterdir()}
    assert list((tmp_path / "tensorboard").rglob("events.out.tfevents.*")), "TensorBoard logs"


def test_checkpoint_reloads_to_identical_actions(tmp_path):
    config = tiny()
    result = train(config, tmp_path)
    model, _ = load_checkpoint(tmp_path, config)
    from gcrl.chapters.ch00_proof_of_life import fixed_observations
    from gcrl.evaluate import deterministic_policy

    observations = fixed_observations("FetchReach-v4", count=8, seed=77)
    before = [result.policy()({k: v[i] for k, v in observations.items()}) for i in range(8)]
    after = [deterministic_policy(model)({k: v[i] for k, v in observations.items()}) for i in range(8)]
    assert np.array_equal(np.stack(before), np.stack(after))


def test_a_finished_run_loads_back_to_identical_actions(tmp_path):
    """TrainResult.model, loaded from the checkpoint for acting only, acts exactly as the trained model."""
    config = tiny()
    trained = train(config, tmp_path)
    loaded = TrainResult(tmp_path, config, trained.metrics, trained.curve)
    from gcrl.chapters.ch00_proof_of_life import fixed_observations

    observations = fixed_observations("FetchReach-v4", count=8, seed=78)
    rows = [{k: v[i] for k, v in observations.items()} for i in range(8)]
    assert loaded.model is not trained.model
    assert np.array_equal(np.stack([trained.policy()(o) for o in rows]), np.stack([loaded.policy()(o) for o in rows]))


def test_a_finished_run_is_not_rewritten(tmp_path):
    config = tiny()
    train(config, tmp_path)
    state = tmp_path / "checkpoint" / "state.json"
    before = state.stat().st_mtime_ns
    again = train(config, tmp_path)
    assert state.stat().st_mtime_ns == before, "nothing trained, nothing saved"
    assert again.metrics["env_steps"] == 300


def test_replay_buffer_holds_the_run_and_no_more():
    assert tiny(total_steps=300).hyperparams["buffer_size"] == 301
    assert tiny(total_steps=300, buffer_size=200).hyperparams["buffer_size"] == 200, "a smaller buffer is kept"
    from_file = TrainConfig.from_file("sac", "FetchPush-v4", total_steps=10**7)
    assert from_file.hyperparams["buffer_size"] == 1_000_000, "the recipe's buffer, when the run is longer"


def test_entropy_estimate_leaves_the_random_streams_alone(tmp_path):
    import torch

    result = train(tiny(total_steps=200, eval_every=200), tmp_path)
    numpy_state, torch_state = np.random.get_state(), torch.get_rng_state()
    first = policy_entropy(result.model)
    assert np.random.get_state()[1].tolist() == numpy_state[1].tolist()
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert first == policy_entropy(result.model), "a fixed sample of stored observations"
    # an untrained squashed Gaussian on [-1, 1]^4: below the uniform's 4 log 2, far above the target -4
    assert -4 < first < 4 * np.log(2)
    assert result.curve[-1]["entropy"] == pytest.approx(first, abs=1e-6)


def test_a_grid_gives_the_same_numbers_whatever_the_number_of_workers(tmp_path):
    configs = [tiny(total_steps=200, eval_every=100, seed=seed) for seed in (0, 1)]
    run = RunRecord(profile="smoke", seeds=[0, 1])
    parallel = train_many([(c, tmp_path / "two" / f"s{c.seed}") for c in configs], run, workers=2)
    serial = train_many([(c, tmp_path / "one" / f"s{c.seed}") for c in configs], run, workers=1)

    def numbers(result):
        return [{k: v for k, v in row.items() if k != "train_s"} for row in result.curve]

    assert [numbers(r) for r in parallel] == [numbers(r) for r in serial]
    assert numbers(parallel[0]) != numbers(parallel[1]), "different seeds, different runs"
    assert [r.metrics["env_steps"] for r in parallel] == [200, 200]


def test_a_failing_grid_run_is_a_clear_error(tmp_path):
    config = tiny()
    (tmp_path / "bad" / "checkpoint").mkdir(parents=True)
    (tmp_path / "bad" / "checkpoint" / "state.json").write_text("{not json")
    with pytest.raises(CourseError, match="is damaged"):
        train_many([(config, tmp_path / "bad")], RunRecord(profile="smoke", seeds=[0]), workers=1)


def test_ppo_with_subprocess_envs(tmp_path):
    result = train(tiny("ppo", "FetchReachDense-v4", total_steps=256, eval_every=128), tmp_path)
    assert result.metrics["env_steps"] == 256 and result.metrics["config"]["n_envs"] == 2
    assert type(result.model.get_env().venv).__name__ == "SubprocVecEnv"


def test_early_stop_on_target(tmp_path):
    # a target of 1e-9 is met by the first evaluation that sees any success; with none, the run goes on
    result = train(tiny(target_success=1e-9, total_steps=400), tmp_path)
    hit = next((r for r in result.curve if r["success_rate"] > 0), None)
    if hit is None:
        assert result.metrics["env_steps"] == 400 and result.metrics["time_to_target"] is None
    else:
        assert result.metrics["env_steps"] == hit["env_steps"], "training stops at the first hit"
        assert result.metrics["time_to_target"]["env_steps"] == hit["env_steps"]


def test_damaged_checkpoint_is_a_clear_error(tmp_path):
    config = tiny()
    train(config, tmp_path)
    model_zip = tmp_path / "checkpoint" / "model.zip"
    model_zip.write_bytes(model_zip.read_bytes()[:1000])
    with pytest.raises(CourseError, match="checkpoint .* is damaged: model.zip is missing, truncated or altered"):
        train(config, tmp_path)


def test_checkpoint_of_another_run_is_refused(tmp_path):
    train(tiny(), tmp_path)
    with pytest.raises(CourseError, match="belongs to a different run \\(seed"):
        train(tiny(seed=1), tmp_path)


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_final_step_count(tmp_path):
    command = [sys.executable, "-m", "gcrl.cli", "train", "--algo", "sac", "--env", "FetchReach-v4",
               "--steps", "1200", "--eval-every", "300", "--eval-episodes", "2", "--checkpoint-every", "300",
               "--run-dir", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    state = tmp_path / "checkpoint" / "state.json"
    deadline = time.time() + 300
    while time.time() < deadline and not (state.is_file() and json.loads(state.read_text())["num_timesteps"] >= 600):
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    saved = json.loads(state.read_text())["num_timesteps"]
    assert 600 <= saved < 1200, "killed between checkpoints, before the end"
    assert not (tmp_path / "metrics.json").exists()

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["env_steps"] == 1200 and metrics["resumed_from"] == saved
    assert [row["env_steps"] for row in metrics_curve(tmp_path)] == [300, 600, 900, 1200]


def metrics_curve(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "curve.json").read_text())
