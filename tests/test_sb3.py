"""The Stable-Baselines3 learners: validated recipes, real (tiny) runs, entropy and temperature records, grids.

What every learner shares (the run folder: resume, damaged checkpoints, metrics.json) is tested for both
learners at once in ``test_learners.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from gcrl.analysis.scheduler import train_many
from gcrl.core.errors import CourseError
from gcrl.core.provenance import RunRecord
from gcrl.rl import recipes
from gcrl.rl.recipes import load_hyperparams
from gcrl.rl.learners import read_back, train
from gcrl.rl.run_folder import verified_checkpoint
from gcrl.rl.sb3 import HerConfig, TrainConfig, load_checkpoint, load_trained_model, policy_entropy

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
    import yaml

    for algo in recipes.SB3_ALGORITHMS:
        for env_id in yaml.safe_load((recipes.HYPERPARAMS_DIR / f"{algo}.yml").read_text()):
            TrainConfig.from_file(algo, env_id, total_steps=1)


def test_unknown_key_is_named(tmp_path, monkeypatch):
    (tmp_path / "sac.yml").write_text("FetchReach-v4:\n  lerning_rate: 0.001\n")
    monkeypatch.setattr(recipes, "HYPERPARAMS_DIR", tmp_path)
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
        TrainConfig(env_id="FetchReach-v4", algo="ppo", total_steps=10, her=HerConfig(4, "future"))
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


def resumed_model(run_dir, config):
    """The model a resumed run would continue with."""
    return load_checkpoint(run_dir, config, verified_checkpoint(run_dir, config))


def test_checkpoint_reloads_to_identical_actions(tmp_path):
    config = tiny()
    result = train(config, tmp_path)
    model = resumed_model(tmp_path, config)
    from gcrl.chapters.ch00_proof_of_life import fixed_observations
    from gcrl.rl.evaluate import deterministic_policy

    observations = fixed_observations("FetchReach-v4", count=8, seed=77)
    before = [result.policy()({k: v[i] for k, v in observations.items()}) for i in range(8)]
    after = [deterministic_policy(model)({k: v[i] for k, v in observations.items()}) for i in range(8)]
    assert np.array_equal(np.stack(before), np.stack(after))


def test_a_finished_run_loads_back_to_identical_actions(tmp_path):
    """A result read back without its policy loads it from the checkpoint and acts exactly as the trained one."""
    config = tiny()
    trained = train(config, tmp_path)
    loaded = read_back(tmp_path, config, trained.metrics, trained.curve)
    from gcrl.chapters.ch00_proof_of_life import fixed_observations

    observations = fixed_observations("FetchReach-v4", count=8, seed=78)
    rows = [{k: v[i] for k, v in observations.items()} for i in range(8)]
    assert np.array_equal(np.stack([trained.policy()(o) for o in rows]), np.stack([loaded.policy()(o) for o in rows]))
    assert loaded.loaded is not None and loaded.loaded is not trained.loaded


def test_replay_buffer_holds_the_run_and_no_more():
    assert tiny(total_steps=300).hyperparams["buffer_size"] == 301
    assert tiny(total_steps=300, buffer_size=200).hyperparams["buffer_size"] == 200, "a smaller buffer is kept"
    from_file = TrainConfig.from_file("sac", "FetchPush-v4", total_steps=10**7)
    assert from_file.hyperparams["buffer_size"] == 1_000_000, "the recipe's buffer, when the run is longer"


def test_entropy_estimate_leaves_the_random_streams_alone(tmp_path):
    import torch

    config = tiny(total_steps=200, eval_every=200)
    result = train(config, tmp_path)
    model = resumed_model(tmp_path, config)
    numpy_state, torch_state = np.random.get_state(), torch.get_rng_state()
    first = policy_entropy(model)
    assert np.random.get_state()[1].tolist() == numpy_state[1].tolist()
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert first == policy_entropy(model), "a fixed sample of stored observations"
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
    config = tiny("ppo", "FetchReachDense-v4", total_steps=256, eval_every=128)
    result = train(config, tmp_path)
    assert result.metrics["env_steps"] == 256 and result.metrics["config"]["n_envs"] == 2
    model = resumed_model(tmp_path, config)
    assert type(model.get_env().venv).__name__ == "SubprocVecEnv"
    acting = load_trained_model(tmp_path, config).get_env()
    assert type(acting.venv).__name__ == "DummyVecEnv" and not acting.training, "acting: one env, frozen statistics"


def test_early_stop_on_target(tmp_path):
    # a target of 1e-9 is met by the first evaluation that sees any success; with none, the run goes on
    result = train(tiny(target_success=1e-9, total_steps=400), tmp_path)
    hit = next((r for r in result.curve if r["success_rate"] > 0), None)
    if hit is None:
        assert result.metrics["env_steps"] == 400 and result.metrics["time_to_target"] is None
    else:
        assert result.metrics["env_steps"] == hit["env_steps"], "training stops at the first hit"
        assert result.metrics["time_to_target"]["env_steps"] == hit["env_steps"]
