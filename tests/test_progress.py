"""What a running chapter shows on the terminal, and the measured time of a whole run of the book."""

from __future__ import annotations

import io
import json
import time

import pytest

from gcrl.core import progress
from gcrl.chapters.ch00_proof_of_life import standard_time_text
from gcrl.core.paths import Layout
from gcrl.course.runner import RUN_RECORD, discover, timing_summary


def test_report_writes_only_under_the_runner(tmp_path, monkeypatch):
    target = tmp_path / "progress.json"
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    progress.report("training runs", 1, 4)
    assert not target.exists()
    monkeypatch.setenv(progress.PROGRESS_ENV, str(target))
    progress.report("training runs", 3, 4)
    assert progress.read(target) == {"stage": "training runs", "done": 3, "total": 4}


def test_time_left_comes_from_the_last_run_else_from_the_count():
    assert progress.remaining_s(30.0, 100.0, None) == 70.0
    assert progress.remaining_s(130.0, 100.0, None) == 0.0  # overran its last run: no negative estimate
    assert progress.remaining_s(30.0, None, {"stage": "runs", "done": 1, "total": 4}) == pytest.approx(90.0)
    assert progress.remaining_s(30.0, None, None) is None
    line = progress.status_line("ch04_her", 65.0, 200.0, {"stage": "training runs", "done": 2, "total": 8})
    assert line == "gcrl: ch04_her: training runs 2/8, elapsed 1:05, about 2:15 left (last run took 3:20)"


def test_monitor_prints_a_line_per_change_when_not_on_a_terminal(tmp_path):
    stream = io.StringIO()
    path = tmp_path / "progress.json"
    with progress.Monitor("ch03_sac", path, previous_s=None, interval_s=0.05, stream=stream):
        for done in range(3):
            path.write_text(json.dumps({"stage": "training runs", "done": done, "total": 2}))
            time.sleep(0.3)
    lines = stream.getvalue().splitlines()
    assert any("training runs 0/2" in line for line in lines) and any("training runs 2/2" in line for line in lines)
    assert len(lines) <= 10, "one line per change, not one per poll"
    assert not path.exists(), "the monitor removes its progress file"


def _record(results, profile, chapter, seconds):
    folder = results / profile / chapter
    folder.mkdir(parents=True)
    (folder / RUN_RECORD).write_text(json.dumps({"wall_time_s": seconds}))


def test_the_book_time_is_this_machines_when_every_chapter_ran_here(tmp_path):
    layout = Layout.default(results=tmp_path)
    chapters = [c.chapter_id for c in discover(layout)]
    for i, chapter in enumerate(chapters):
        _record(tmp_path, "standard", chapter, 60.0 * (i + 1))
    summary = timing_summary(layout, "standard")
    assert summary["source"] == "this machine"
    assert summary["total_s"] == pytest.approx(60.0 * sum(range(1, len(chapters) + 1)))
    text = standard_time_text(summary)
    assert text.startswith("The last standard run of the whole book recorded on this machine took")
    assert f"{len(chapters)} of them in {chapters[-1]}" in text


def test_an_incomplete_local_record_falls_back_on_the_reference(tmp_path):
    layout = Layout.default(results=tmp_path)
    _record(tmp_path, "standard", "ch00", 10.0)
    summary = timing_summary(layout, "standard")
    if summary is None:
        assert standard_time_text(None) == "No standard run of the whole book has been recorded yet."
    else:
        assert summary["source"] == "reference" and "for the reference" in standard_time_text(summary)


def test_cli_timings_names_the_fix_when_nothing_is_recorded(tmp_path, cli):
    done = cli("timings", "--profile", "full", "--results", str(tmp_path))
    assert done.returncode != 0 and "run `make book` first" in done.stderr


def test_a_reference_that_predates_a_chapter_says_which_it_leaves_out(tmp_path, monkeypatch):
    from gcrl.course import runner

    layout = Layout.default(results=tmp_path)
    chapters = [c.chapter_id for c in discover(layout)]
    recorded = {c: 60.0 for c in chapters[:-1]}
    monkeypatch.setattr(runner, "reference_timings", lambda profile: {
        "profile": profile, "chapters": recorded, "commit": "abcdef0", "dirty": False,
        "device": {"name": "cpu"}, "recorded_at": "2026-12-01T00:00:00Z"})
    summary = timing_summary(layout, "standard")
    assert summary["missing"] == [chapters[-1]]
    assert f"without {chapters[-1]}, which it predates" in standard_time_text(summary)
