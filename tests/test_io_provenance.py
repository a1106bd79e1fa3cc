from __future__ import annotations

import json
import time

import pytest
from jsonschema import Draft202012Validator

from gcrl.core.io import atomic_path, write_json_atomic
from gcrl.core.provenance import KEY_PACKAGES, PROVENANCE_SCHEMA, RunRecord


def test_atomic_write_replaces_the_target(tmp_path):
    target = tmp_path / "sub" / "data.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["data.json"], "no temporary files may remain"


def test_a_failed_write_leaves_the_old_file_and_no_debris(tmp_path):
    target = tmp_path / "data.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"a": ')  # half-written
            raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


def test_non_finite_numbers_are_refused(tmp_path):
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "x.json", {"x": float("nan")})
    assert not (tmp_path / "x.json").exists()


def test_provenance_snapshot_is_complete_and_valid():
    run = RunRecord(profile="smoke", seeds=[3, 4])
    time.sleep(0.01)
    record = run.snapshot()
    Draft202012Validator(PROVENANCE_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(record)
    assert record["seeds"] == [3, 4] and record["profile"] == "smoke"
    assert set(KEY_PACKAGES) <= set(record["packages"])
    assert record["packages"]["mujoco"] == "3.11.0"
    assert record["wall_time_s"] >= 0.01
    assert len(record["commit"]) == 40 or record["commit"] == "unknown"
    assert record["device"]["kind"] in ("cpu", "cuda")


def test_banner_names_profile_commit_and_device():
    banner = RunRecord(profile="standard", seeds=[1000, 1001]).banner()
    assert "profile `standard`" in banner and "commit `" in banner and "device " in banner
    assert "seeds 1000, 1001 ·" in banner
    assert "seeds 1000, 1001, …, 1009 (10)" in RunRecord(profile="full", seeds=list(range(1000, 1010))).banner()
