"""The chapter pipeline: headless execution, re-execution only on changed inputs, clear failures."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from gcrl.core.errors import ChapterFailed, CourseError
from gcrl.core.paths import Layout
from gcrl.course.runner import DEFAULT_SEED, discover, input_digest, run_chapter, select

COUNTER_CELL = """
from pathlib import Path
marker = Path(results_root) / profile / "ch50" / "executions.txt"
marker.write_text(str(int(marker.read_text()) + 1 if marker.exists() else 1))
print("profile", profile, "seed", seed)
"""


@pytest.fixture
def layout(tmp_path, plant_chapter) -> Layout:
    plant_chapter("ch50_counter", COUNTER_CELL)
    scripts = tmp_path / "scripts" / "pkg"
    scripts.mkdir(parents=True)
    (scripts / "helper.py").write_text("VALUE = 1\n")
    pins = tmp_path / "requirements.txt"
    pins.write_text("numpy==2.4.6\n")
    return Layout(
        notebooks=tmp_path / "notebooks",
        scripts=tmp_path / "scripts",
        results=tmp_path / "results",
        pin_files=(pins,),
    )


def executions(layout: Layout, profile: str) -> int:
    return int((layout.results / profile / "ch50" / "executions.txt").read_text())


def test_reruns_only_when_an_input_changes(layout):
    chapter = discover(layout)[0]
    first = run_chapter(chapter, layout, "smoke")
    assert first.executed and executions(layout, "smoke") == 1
    record = json.loads((first.notebook.parent / "run.json").read_text())
    assert record["inputs_sha256"] == first.digest and record["profile"] == "smoke"

    again = run_chapter(chapter, layout, "smoke")
    assert not again.executed and executions(layout, "smoke") == 1, "unchanged inputs must reuse the run"

    (layout.scripts / "pkg" / "helper.py").write_text("VALUE = 2\n")
    assert run_chapter(chapter, layout, "smoke").executed and executions(layout, "smoke") == 2

    layout.pin_files[0].write_text("numpy==2.4.7\n")
    assert run_chapter(chapter, layout, "smoke").executed and executions(layout, "smoke") == 3

    chapter.source.write_text(chapter.source.read_text() + "\n# %%\nx = 1\n")
    assert run_chapter(chapter, layout, "smoke").executed and executions(layout, "smoke") == 4

    assert not run_chapter(chapter, layout, "smoke").executed
    assert run_chapter(chapter, layout, "standard").executed, "another profile is another input"
    assert run_chapter(chapter, layout, "smoke", force=True).executed and executions(layout, "smoke") == 5


def test_training_runs_are_kept_per_input_version(tmp_path):
    from gcrl.core.paths import training_runs

    first = training_runs(tmp_path, "a" * 64)
    (first / "checkpoint").mkdir()
    assert training_runs(tmp_path, "a" * 64) == first and (first / "checkpoint").is_dir(), "same inputs: resume"
    second = training_runs(tmp_path, "b" * 64)
    assert second != first and not first.exists(), "changed inputs: start afresh, drop the stale runs"
    with pytest.raises(CourseError, match="inputs_digest"):
        training_runs(tmp_path, "")
    assert second.is_dir(), "an empty digest removes nothing"


def test_the_runner_passes_folder_and_digest_as_parameters_only(layout, plant_chapter, monkeypatch):
    monkeypatch.delenv("GCRL_RESULTS", raising=False)
    plant_chapter("ch52_digest", """
        import os
        print("digest", inputs_digest, "results", results_root)
        print("environment", sorted(k for k in os.environ if k in ("GCRL_RESULTS", "GCRL_INPUTS_DIGEST")))
    """)
    run = run_chapter(select(layout, ["ch52"])[0], layout, "smoke")
    text = run.notebook.read_text()
    assert f"digest {run.digest} results {layout.results}" in text
    assert "environment []" in text, "the chapter hears of its folder and digest through its parameters alone"


def test_a_dependency_s_new_inputs_change_the_digest(tmp_path):
    from gcrl.course.runner import dependencies

    layout = Layout(results=tmp_path / "results")
    chapter = select(layout, ["ch02"])[0]
    assert dependencies(chapter) == ["ch01"]
    record = tmp_path / "results" / "smoke" / "ch01" / "run.json"
    record.parent.mkdir(parents=True)
    record.write_text('{"inputs_sha256": "aaa"}')
    first = input_digest(chapter, layout, "smoke", 0)
    record.write_text('{"inputs_sha256": "bbb"}')
    assert input_digest(chapter, layout, "smoke", 0) != first


def test_parameters_are_injected(layout):
    run = run_chapter(discover(layout)[0], layout, "full", seed=7)
    outputs = json.loads(run.notebook.read_text())
    text = json.dumps(outputs)
    assert "injected-parameters" in text and "profile full seed 7" in text


def test_digest_ignores_bytecode_but_not_new_helpers(layout):
    chapter = discover(layout)[0]
    before = input_digest(chapter, layout, "smoke", 0)
    cache = layout.scripts / "pkg" / "__pycache__"
    cache.mkdir()
    (cache / "helper.cpython-311.pyc").write_bytes(b"\0")
    assert input_digest(chapter, layout, "smoke", 0) == before
    (layout.scripts / "pkg" / "new.py").write_text("")
    assert input_digest(chapter, layout, "smoke", 0) != before
    assert input_digest(chapter, layout, "smoke", 1) != input_digest(chapter, layout, "smoke", 0)


def test_a_failing_cell_names_chapter_and_cell(layout, plant_chapter):
    plant_chapter("ch51_broken", "x = 1", "ratio = 1 / 0", "print('never')")
    chapter = select(layout, ["ch51"])[0]
    with pytest.raises(ChapterFailed) as failure:
        run_chapter(chapter, layout, "smoke")
    message = str(failure.value)
    assert "chapter ch51_broken failed in cell In [" in message
    assert "'ratio = 1 / 0'" in message and "ZeroDivisionError" in message
    assert not (layout.results / "smoke" / "ch51" / "run.json").exists(), "a failed run must not be cached"
    with pytest.raises(ChapterFailed):
        run_chapter(chapter, layout, "smoke")  # and is executed again next time


def test_cli_failing_chapter_exits_non_zero_with_one_line(layout, plant_chapter, cli):
    plant_chapter("ch51_broken", "raise ValueError('planted failure')")
    done = cli("run", "--profile", "smoke", "--notebooks", str(layout.notebooks),
               "--results", str(layout.results), "ch51")
    assert done.returncode == 1
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("gcrl: error:")]
    assert len(error_lines) == 1 and "ch51_broken" in error_lines[0] and "In [" in error_lines[0]
    assert "ValueError: planted failure" in error_lines[0]
    assert "Traceback" not in done.stderr


def test_cli_book_fails_on_a_failing_chapter(layout, plant_chapter, cli, tmp_path):
    plant_chapter("ch51_broken", "x = 1", "undefined_name + 1")
    done = cli("book", "--profile", "smoke", "--notebooks", str(layout.notebooks),
               "--results", str(layout.results), "--output", str(tmp_path / "site"))
    assert done.returncode == 1
    assert "chapter ch51_broken failed in cell In [" in done.stderr and "NameError" in done.stderr
    assert not (tmp_path / "site" / "_build" / "html").exists(), "no book is built from a failed chapter"


def test_unknown_chapter(layout, cli):
    done = cli("run", "--notebooks", str(layout.notebooks), "--results", str(layout.results), "ch42")
    assert done.returncode == 2
    assert done.stderr.strip() == "gcrl: error: unknown chapter 'ch42'; known chapters: ch50 (see `gcrl list`)"


def test_unknown_profile(cli):
    done = cli("run", "--profile", "fast")
    assert done.returncode == 2
    assert "unknown profile 'fast'; choose one of smoke, standard, full" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_profile_from_the_environment(cli):
    done = cli("verify", env={"GCRL_PROFILE": "quick"})
    assert done.returncode == 2 and "unknown profile 'quick'" in done.stderr


def test_unwritable_results_folder(layout, cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = cli("run", "--profile", "smoke", "--notebooks", str(layout.notebooks), "--results", str(blocker / "results"))
    assert done.returncode == 2
    assert "is not writable" in done.stderr and "pass --results DIR or set GCRL_RESULTS" in done.stderr
    assert "Traceback" not in done.stderr
    with pytest.raises(CourseError, match="not writable"):
        run_chapter(discover(layout)[0], replace(layout, results=blocker / "results"), "smoke")


def test_missing_rendering_backend(layout, cli):
    done = cli("run", "--profile", "smoke", "--notebooks", str(layout.notebooks),
               "--results", str(layout.results), env={"MUJOCO_GL": "no-such-backend"})
    assert done.returncode == 2
    assert "no headless MuJoCo rendering backend works (no-such-backend:" in done.stderr
    assert "apt-get install libegl1 libgl1 libegl-mesa0 libosmesa6" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_help_lists_the_commands(cli):
    done = cli("--help")
    assert done.returncode == 0
    for command in ("list", "run", "book", "verify", "export-notebooks"):
        assert command in done.stdout
    run_help = cli("run", "--help").stdout
    assert "--profile" in run_help and "--seed" in run_help and "--force" in run_help


def test_list_shows_the_course_chapters(cli):
    done = cli("list")
    assert done.returncode == 0 and done.stdout.startswith("ch00  notebooks/ch00_proof_of_life.py")


def test_export_notebooks_for_nbval(tmp_path, cli):
    done = cli("export-notebooks", str(tmp_path / "nb"), "--profile", "smoke", "--results", str(tmp_path / "results"))
    assert done.returncode == 0
    notebook = json.loads((tmp_path / "nb" / "ch00_proof_of_life.ipynb").read_text())
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    layout = Layout(results=(tmp_path / "results").resolve())
    assert notebook["metadata"]["papermill"]["parameters"] == {
        "profile": "smoke", "seed": DEFAULT_SEED, "results_root": str(layout.results),
        "inputs_digest": input_digest(select(layout, ["ch00"])[0], layout, "smoke", DEFAULT_SEED)}


def test_nbval_executes_the_digest_of_the_moment(layout, plant_chapter, tmp_path):
    """A chapter exported before the chapters it reads ran is executed with the digest run_chapter would pass."""
    import nbformat
    from papermill.parameterize import parameterize_notebook

    from gcrl.course.runner import write_parameterised
    from nbval_runs import _inject

    exported = write_parameterised(discover(layout)[0], layout, "smoke", 3, tmp_path / "ch50.ipynb")
    notebook = nbformat.read(exported, as_version=4)
    cell = next(c for c in notebook.cells if "injected-parameters" in c.metadata["tags"])
    parameters = {**notebook.metadata.papermill["parameters"], "inputs_digest": "f" * 64}
    _inject(notebook, parameters)
    assert next(c for c in notebook.cells if "injected-parameters" in c.metadata["tags"]) is cell, "nbval holds it"
    expected = parameterize_notebook(nbformat.read(exported, as_version=4), parameters, kernel_name="python3",
                                     language="python")
    assert [c.source for c in notebook.cells] == [c.source for c in expected.cells]
    assert notebook.metadata.papermill["parameters"] == parameters
