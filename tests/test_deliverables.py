"""The verifier accepts a complete results folder and names every defect of a bad one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gcrl import deliverables
from gcrl.deliverables import resolve_pointer, verify, verify_chapter, write_deliverable
from gcrl.errors import CourseError
from gcrl.provenance import RunRecord
from gcrl.video import write_mp4


def _frame() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, size=(300, 300, 3), dtype=np.uint8)


def make_ch00(results: Path, profile: str = "smoke") -> Path:
    """A synthetic, valid Chapter 0 folder (the real one is produced by the book test)."""
    import imageio.v3 as iio

    folder = results / profile / "ch00"
    folder.mkdir(parents=True)
    run = RunRecord(profile=profile, seeds=[0])
    frame_stats = {"height": 300, "width": 300, "channels": 3, "dtype": "uint8", "std": 70.0,
                   "distinct_colours": 5000, "blank": False}
    write_deliverable(folder, "environment_report.json", {
        "accelerator": {"cuda_available": False, "device": "cpu", "memory_gib": None, "notice": "cpu"},
        "rendering": {"backend": "egl", "env_id": "FetchReach-v4", "frame": frame_stats},
        "packages": {},
    }, run)
    iio.imwrite(folder / "frame.png", _frame())
    write_mp4([_frame()[:240, :240]] * 60, folder / "rollout.mp4", fps=25)
    (folder / "sac_fetchreach.zip").write_bytes(b"x" * 20_000)
    write_deliverable(folder, "training.json", {
        "env_id": "FetchReach-v4", "algorithm": "SAC", "env_steps": 300, "gradient_steps": 200,
        "wall_time_s": 3.0, "env_steps_per_s": 100.0, "checkpoint": "sac_fetchreach.zip",
    }, run)
    write_deliverable(folder, "reload_check.json", {
        "checkpoint": "sac_fetchreach.zip", "observations_checked": 16,
        "max_abs_action_difference": 0.0, "identical": True,
    }, run)
    return folder


def _edit(path: Path, **changes) -> None:
    document = json.loads(path.read_text())
    document.update(changes)
    path.write_text(json.dumps(document))


def test_a_complete_folder_verifies(tmp_path):
    make_ch00(tmp_path)
    findings = verify(tmp_path, "smoke", ["ch00"])
    assert findings and all(f.ok for f in findings), [f.line() for f in findings]


def test_missing_file_is_named(tmp_path):
    folder = make_ch00(tmp_path)
    (folder / "frame.png").unlink()
    bad = [f for f in verify_chapter(tmp_path, "smoke", "ch00") if not f.ok]
    assert [(f.file, f.message.split(" ")[0]) for f in bad] == [("frame.png", "missing")]


def test_metric_out_of_range_is_named(tmp_path):
    folder = make_ch00(tmp_path)
    _edit(folder / "reload_check.json", max_abs_action_difference=1e-7, identical=False)
    bad = {f.file: f.message for f in verify_chapter(tmp_path, "smoke", "ch00") if not f.ok}
    assert "out of range [0.0, 0.0]" in bad["reload_check.json"]
    assert "identical" in bad["reload_check.json"]


def test_ranges_are_per_profile(tmp_path):
    make_ch00(tmp_path)  # 300 env steps: the smoke budget, not the standard one
    shutil.copytree(tmp_path / "smoke", tmp_path / "standard")
    bad = {f.file: f.message for f in verify_chapter(tmp_path, "standard", "ch00") if not f.ok}
    assert "/env_steps = 300 out of range [2000, 2000]" in bad["training.json"]


def test_missing_provenance_fails_the_schema(tmp_path):
    folder = make_ch00(tmp_path)
    document = json.loads((folder / "training.json").read_text())
    del document["provenance"]["commit"]
    (folder / "training.json").write_text(json.dumps(document))
    bad = {f.file: f.message for f in verify_chapter(tmp_path, "smoke", "ch00") if not f.ok}
    assert "'commit' is a required property" in bad["training.json"]


def test_blank_image_and_corrupt_json_are_caught(tmp_path):
    import imageio.v3 as iio

    folder = make_ch00(tmp_path)
    iio.imwrite(folder / "frame.png", np.zeros((300, 300, 3), dtype=np.uint8))
    (folder / "environment_report.json").write_text('{"truncated": ')
    bad = {f.file: f.message for f in verify_chapter(tmp_path, "smoke", "ch00") if not f.ok}
    assert "blank" in bad["frame.png"]
    assert "not valid JSON" in bad["environment_report.json"]


def test_short_or_damaged_video_is_caught(tmp_path):
    folder = make_ch00(tmp_path)
    write_mp4([_frame()[:240, :240]] * 10, folder / "rollout.mp4", fps=25)
    bad = {f.file: f.message for f in verify_chapter(tmp_path, "smoke", "ch00") if not f.ok}
    assert bad == {"rollout.mp4": "10 frames, expected at least 51"}
    (folder / "rollout.mp4").write_bytes(b"\0" * 1000)
    bad = {f.file: f.message for f in verify_chapter(tmp_path, "smoke", "ch00") if not f.ok}
    assert bad["rollout.mp4"].startswith("not a readable video")


def test_cli_verify_prints_what_fails_and_exits_non_zero(tmp_path, cli):
    folder = make_ch00(tmp_path)
    (folder / "sac_fetchreach.zip").write_bytes(b"tiny")
    done = cli("verify", "--profile", "smoke", "--results", str(tmp_path), "ch00")
    assert done.returncode == 1
    assert "FAIL  ch00/sac_fetchreach.zip: 4 bytes, expected at least 10000" in done.stdout
    assert "1 of 6 deliverables fail" in done.stderr


def test_verified_table_passes_or_names_the_failure(tmp_path):
    from gcrl.deliverables import verified_table
    from gcrl.errors import VerificationFailed

    folder = make_ch00(tmp_path)
    table = verified_table(tmp_path, "smoke", "ch00")
    assert list(table.index) == list(deliverables.declarations()["ch00"]["files"])
    assert set(table["status"]) == {"ok"}
    (folder / "training.json").unlink()
    with pytest.raises(VerificationFailed, match="ch00 deliverables fail under profile smoke: FAIL  ch00/training.json"):
        verified_table(tmp_path, "smoke", "ch00")


def test_every_declared_chapter_has_a_notebook(repo_root):
    declared = set(deliverables.declarations())
    chapters = {p.name[:4] for p in (repo_root / "notebooks").glob("ch*.py")}
    assert declared == chapters


def test_json_pointer():
    assert resolve_pointer({"a": {"b/c": [1, 2]}}, "/a/b~1c/1") == 2
    with pytest.raises(KeyError, match="no 'x'"):
        resolve_pointer({"a": {}}, "/a/x")


def test_unknown_chapter_is_a_clear_error(tmp_path):
    with pytest.raises(CourseError, match="no deliverables declared for 'ch42'"):
        verify_chapter(tmp_path, "smoke", "ch42")
