"""The verifier accepts a complete results folder and names every defect of a bad one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gcrl.course import deliverables
from gcrl.course.deliverables import resolve_pointer, verify, verify_chapter, write_deliverable
from gcrl.core.errors import CourseError
from gcrl.core.provenance import RunRecord
from gcrl.rl.video import write_mp4


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
    from gcrl.course.deliverables import verified_table
    from gcrl.core.errors import VerificationFailed

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


@pytest.mark.parametrize("ranges, message", [
    ({"all": [0.0, 1.0]}, "declare its domain"),
    ({"domain": [0, 1], "all": [0.0, 1.0]}, "covers its whole domain"),
    ({"domain": [-1, 1], "standard": [-1.0, 1.0]}, "covers its whole domain"),
    ({"domain": [0, None], "all": [0, None]}, "covers its whole domain"),
    ({"domain": [0, 1], "standard": [0.5, 1.5]}, "reaches outside its domain"),
])
def test_a_range_that_cannot_fail_is_refused(ranges, message):
    with pytest.raises(CourseError, match=message):
        deliverables.check_ranges("planted", ranges)


def test_a_range_that_states_a_claim_is_accepted():
    deliverables.check_ranges("planted", {"domain": [0, 1], "standard": [0.0, 0.2], "full": [0.9, 1.0]})
    deliverables.check_ranges("planted", {"domain": [None, None], "all": [-4, -4]})


def _outside(low, high, domain, value):
    """Values just outside [low, high] that the metric could still take (inside its domain)."""
    d_low, d_high = domain
    integral = isinstance(value, int) and all(isinstance(b, int) for b in (low, high) if b is not None)
    planted = []
    if low is not None and (d_low is None or low > d_low):
        step = 1 if integral else min(1e-3 * max(1.0, abs(low)), (low - d_low) / 2 if d_low is not None else 1.0)
        planted.append(low - step)
    if high is not None and (d_high is None or high < d_high):
        step = 1 if integral else min(1e-3 * max(1.0, abs(high)), (d_high - high) / 2 if d_high is not None else 1.0)
        planted.append(high + step)
    return planted


@pytest.mark.slow
def test_every_declared_range_fails_a_planted_result_outside_it(smoke_book, tmp_path):
    """For every metric of every chapter and every profile it constrains, a real deliverable of the smoke
    book with that one value moved just outside the range (but inside the metric's domain) fails verification
    by name; every range can therefore fail, and each states a claim that a wrong result would break."""
    planted = 0
    for chapter, block in deliverables.declarations().items():
        for name, spec in block["files"].items():
            for pointer, ranges in (spec.get("metrics") or {}).items():
                original = json.loads((smoke_book.results / "smoke" / chapter / name).read_text())
                for key in [k for k in ranges if k != "domain"]:
                    profile = "smoke" if key == "all" else key
                    low, high = deliverables.range_for(ranges, profile)
                    for value in _outside(low, high, ranges["domain"], resolve_pointer(original, pointer)):
                        document = json.loads(json.dumps(original))
                        *parents, last = pointer.lstrip("/").split("/")
                        parent = resolve_pointer(document, "/" + "/".join(parents)) if parents else document
                        parent[int(last) if isinstance(parent, list) else last.replace("~1", "/")] = value
                        document["provenance"]["profile"] = profile
                        folder = tmp_path / profile / chapter
                        folder.mkdir(parents=True, exist_ok=True)
                        (folder / name).write_text(json.dumps(document))
                        finding = deliverables.check_file(folder, chapter, name, spec, profile)
                        assert not finding.ok and f"metric {pointer} = {value} out of range" in finding.message, (
                            chapter, name, pointer, profile, value, finding.message)
                        planted += 1
    assert planted >= 60, planted


#: Every number of a claim that a chapter's code uses, read from the declarations: (module, attribute, chapter,
#: file, metric, profile read, a planted range, the value the attribute must then take).
CLAIMS = [
    ("ch00_proof_of_life", "BLANK_STD", "ch00", "environment_report.json", "/rendering/frame/std", "all",
     [7.5, None], 7.5),
    ("ch00_proof_of_life", "MIN_DISTINCT_COLOURS", "ch00", "environment_report.json",
     "/rendering/frame/distinct_colours", "all", [100, None], 100),
    ("ch03_sac", "MIN_AGREEMENT", "ch03", "sac_results.json", "/temperature/fraction_following_gradient", "all",
     [0.6, 1.0], 0.6),
    ("ch04_her", "THRESHOLD", "ch04", "her_results.json", "/reach/min_final_success", "standard", [0.97, 1.0], 0.97),
    ("ch04_her", "PUSH_TARGET", "ch04", "her_results.json", "/push/pooled/HER/success_rate", "standard",
     [0.85, 1.0], 0.85),
    ("ch07_existence", "NONINFERIORITY_MARGIN", "ch07", "existence_results.json", "/dagger/at_largest/ci95_low",
     "standard", [-0.05, 1.0], 0.05),
]


def test_declared_range_names_a_metric_it_does_not_find():
    assert deliverables.declared_range("ch04", "her_results.json", "/reach/min_final_success", "full") == (0.95, 1.0)
    with pytest.raises(CourseError, match="declares no smoke range for ch04/her_results.json /reach/min_final_success"):
        deliverables.declared_range("ch04", "her_results.json", "/reach/min_final_success", "smoke")
    with pytest.raises(CourseError, match="declares no standard range for ch04/her_results.json /no/such"):
        deliverables.declared_range("ch04", "her_results.json", "/no/such", "standard")


def test_the_chapters_read_their_claims_from_the_declarations(tmp_path):
    """A planted change of a claim's number in deliverables.yaml is the number the chapter's code uses."""
    import subprocess
    import sys

    import yaml

    planted = yaml.safe_load(deliverables.DECLARATIONS_FILE.read_text())
    for _, _, chapter, file, pointer, profile, bounds, _ in CLAIMS:
        planted[chapter]["files"][file]["metrics"][pointer][profile] = bounds
    path = tmp_path / "deliverables.yaml"
    path.write_text(yaml.safe_dump(planted, sort_keys=False))
    script = "\n".join([
        "import importlib, json, pathlib",
        "from gcrl.course import deliverables",
        f"deliverables.DECLARATIONS_FILE = pathlib.Path({str(path)!r})",
        f"claims = {[(module, attribute) for module, attribute, *_ in CLAIMS]!r}",
        "print(json.dumps([getattr(importlib.import_module(f'gcrl.chapters.{m}'), a) for m, a in claims]))",
    ])
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    read = json.loads(done.stdout.strip().splitlines()[-1])
    assert read == pytest.approx([expected for *_, expected in CLAIMS])
