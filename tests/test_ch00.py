"""Chapter 0's checks can fail: a blank frame, a damaged checkpoint, a changed policy."""

from __future__ import annotations

import numpy as np
import pytest

from gcrl.chapters import ch00_proof_of_life as ch00
from gcrl.core.errors import CourseError


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ch00")
    config = ch00.ProofOfLifeConfig(env_steps=120, learning_starts=60, seed=1)
    model, stats = ch00.train_sac(config, folder / "sac.zip")
    return model, stats, folder / "sac.zip"


@pytest.mark.parametrize("frame", [
    np.zeros((64, 64, 3), np.uint8),
    np.full((64, 64, 3), 255, np.uint8),
    np.tile(np.array([10, 200, 30], np.uint8), (64, 64, 1)),
])
def test_uniform_frames_are_blank(frame):
    assert ch00.frame_statistics(frame)["blank"]


def test_a_rendered_fetch_frame_is_real():
    frame = ch00.render_frame("FetchReach-v4", size=128, seed=0)
    stats = ch00.frame_statistics(frame)
    assert (stats["height"], stats["width"], stats["channels"], stats["dtype"]) == (128, 128, 3, "uint8")
    assert not stats["blank"], stats


def test_training_reaches_its_budget(trained):
    _, stats, checkpoint = trained
    assert stats["env_steps"] == 120 and stats["gradient_steps"] == 60
    assert checkpoint.is_file() and not list(checkpoint.parent.glob(".*.tmp*"))


def test_reload_gives_identical_actions(trained):
    model, _, checkpoint = trained
    observations = ch00.fixed_observations("FetchReach-v4", count=8, seed=500)
    report = ch00.reload_check(model, checkpoint, observations)
    assert report["identical"] and report["max_abs_action_difference"] == 0.0
    assert report["observations_checked"] == 8 and report["action_dim"] == 4


def test_reload_check_detects_a_different_policy(trained, tmp_path):
    model, _, checkpoint = trained
    other_config = ch00.ProofOfLifeConfig(env_steps=120, learning_starts=60, seed=2)
    ch00.train_sac(other_config, tmp_path / "other.zip")
    observations = ch00.fixed_observations("FetchReach-v4", count=8, seed=500)
    report = ch00.reload_check(model, tmp_path / "other.zip", observations)
    assert not report["identical"] and report["max_abs_action_difference"] > 0


def test_a_truncated_checkpoint_is_a_clear_error(trained, tmp_path):
    model, _, checkpoint = trained
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    with pytest.raises(CourseError, match="cannot be loaded"):
        ch00.reload_check(model, damaged, ch00.fixed_observations("FetchReach-v4", 2, 0))


def test_accelerator_probe_declares_the_fallback():
    report = ch00.probe_accelerator()
    assert report["device"]
    if not report["cuda_available"]:
        assert "CPU" in report["notice"] and report["memory_gib"] is None
