"""Executing chapters headless, and re-executing them only when their inputs change.

A chapter is a jupytext py:percent file ``notebooks/chNN_name.py``. Running it
means: read it with jupytext, execute it with papermill (which injects
``profile``, ``seed``, ``results_root`` and ``inputs_digest`` after the cell
tagged ``parameters``: the chapter's only channel from the runner), and write
the executed notebook and the chapter's deliverables under ``results/<profile>/chNN/``.

The inputs of a run are hashed: the notebook, every file under ``scripts/``, the
dependency pins, the profile, the seed, and the recorded inputs of the chapters
it reads results from (``depends_on``). A successful run records that digest
in ``run.json``; the next run with the same digest is skipped. (Jupyter Book's
own cache hashes code cells only, so it would miss a change to a helper.)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gcrl.core.errors import ChapterFailed, CourseError
from gcrl.core.io import write_json_atomic
from gcrl.core.paths import REPO_ROOT, Layout
from gcrl.core.progress import PROGRESS_ENV, Monitor
from gcrl.core.provenance import utc_now
from gcrl.core.seeds import REPORTING_SEED_BASE

CHAPTER_PATTERN = re.compile(r"^(ch\d\d)_[a-z0-9_]+\.py$")
#: The master seed of a chapter: the first reporting seed (gcrl.core.seeds); the chapter uses it and the next ones.
DEFAULT_SEED = REPORTING_SEED_BASE
RUN_RECORD = "run.json"
#: Committed records of whole-book runs, one per profile: what Chapter 0 and the progress estimate fall back on.
REFERENCE_DIR = REPO_ROOT / "book" / "reference"
_IGNORED_PARTS = {"__pycache__", ".ipynb_checkpoints"}


@dataclass(frozen=True)
class Chapter:
    """A chapter source: ``chapter_id`` is ``chNN``, ``stem`` the file name without ``.py``."""

    chapter_id: str
    source: Path

    @property
    def stem(self) -> str:
        return self.source.stem


@dataclass(frozen=True)
class ChapterRun:
    chapter: Chapter
    executed: bool  # False when the cached run was reused
    notebook: Path
    digest: str
    wall_time_s: float


def discover(layout: Layout) -> list[Chapter]:
    """Every chapter in the notebooks folder, in chapter-number order."""
    if not layout.notebooks.is_dir():
        raise CourseError(f"notebooks folder {layout.notebooks} does not exist")
    found = []
    for path in sorted(layout.notebooks.glob("ch*.py")):
        match = CHAPTER_PATTERN.match(path.name)
        if match:
            found.append(Chapter(match.group(1), path))
    return found


def select(layout: Layout, names: list[str] | None) -> list[Chapter]:
    """The chapters named (by ``chNN`` or full stem), or all; unknown names are an error."""
    chapters = discover(layout)
    if not names:
        return chapters
    by_name = {c.chapter_id: c for c in chapters} | {c.stem: c for c in chapters}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        known = ", ".join(c.chapter_id for c in chapters) or "none"
        raise CourseError(f"unknown chapter {', '.join(map(repr, unknown))}; known chapters: {known} (see `gcrl list`)")
    return [by_name[n] for n in names]


def _input_files(chapter: Chapter, layout: Layout) -> Iterator[tuple[str, Path]]:
    yield "notebook", chapter.source
    for path in sorted(layout.scripts.rglob("*")):
        relative = path.relative_to(layout.scripts)
        if path.is_file() and not _IGNORED_PARTS & set(relative.parts) and not any(
            part.endswith(".egg-info") for part in relative.parts
        ) and path.suffix != ".pyc":
            yield f"scripts/{relative.as_posix()}", path
    for pin_file in layout.pin_files:
        yield f"pins/{pin_file.name}", pin_file


def input_digest(chapter: Chapter, layout: Layout, profile: str, seed: int) -> str:
    """SHA-256 over everything a chapter's results depend on."""
    digest = hashlib.sha256()
    for label, path in _input_files(chapter, layout):
        digest.update(label.encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"<absent>")
        digest.update(b"\0")
    digest.update(f"profile={profile}\0seed={seed}".encode())
    for dependency in dependencies(chapter):
        record = layout.results / profile / dependency / RUN_RECORD
        recorded = json.loads(record.read_text()).get("inputs_sha256", "") if record.is_file() else "<not run>"
        digest.update(f"\0{dependency}={recorded}".encode())
    return digest.hexdigest()


def dependencies(chapter: Chapter) -> list[str]:
    """Chapters whose results this one reads (``depends_on`` in the deliverable declarations)."""
    from gcrl.course.deliverables import declarations

    return list(declarations().get(chapter.chapter_id, {}).get("depends_on", []))


def previous_wall_time(layout: Layout, profile: str, chapter: Chapter) -> float | None:
    """How long ``chapter`` took in its last recorded run under ``profile``: this machine's, else the reference's."""
    record = layout.results / profile / chapter.chapter_id / RUN_RECORD
    try:
        return float(json.loads(record.read_text())["wall_time_s"])
    except (OSError, ValueError, KeyError):
        reference = reference_timings(profile)
        return None if reference is None else reference["chapters"].get(chapter.chapter_id)


def recorded_timings(layout: Layout, profile: str) -> dict[str, float]:
    """Each chapter's wall time in the last run recorded on this machine under ``profile`` (``run.json``)."""
    times = {}
    for chapter in discover(layout):
        record = layout.results / profile / chapter.chapter_id / RUN_RECORD
        try:
            times[chapter.chapter_id] = float(json.loads(record.read_text())["wall_time_s"])
        except (OSError, ValueError, KeyError):
            continue
    return times


def reference_timings(profile: str) -> dict | None:
    """The committed record of a whole-book run under ``profile`` (``book/reference/<profile>_run.json``), if any."""
    path = REFERENCE_DIR / f"{profile}_run.json"
    return json.loads(path.read_text()) if path.is_file() else None


def timing_summary(layout: Layout, profile: str) -> dict | None:
    """The book's last measured run under ``profile``: this machine's records if every chapter has one, else
    the committed reference; ``None`` when neither exists. Chapter 0 states it; nobody types it."""
    local = recorded_timings(layout, profile)
    if local and set(local) == {c.chapter_id for c in discover(layout)}:
        return {"source": "this machine", "chapters": local, "total_s": sum(local.values())}
    reference = reference_timings(profile)
    if reference is None:
        return None
    missing = sorted({c.chapter_id for c in discover(layout)} - set(reference["chapters"]))
    return {"source": "reference", **reference, "total_s": sum(reference["chapters"].values()), "missing": missing}


def write_reference_timings(layout: Layout, profile: str) -> Path:
    """Record this machine's complete run of the book under ``profile`` as the committed reference."""
    from gcrl.core.provenance import RunRecord

    local = recorded_timings(layout, profile)
    missing = sorted({c.chapter_id for c in discover(layout)} - set(local))
    if missing:
        raise CourseError(f"no recorded {profile} run of {', '.join(missing)}; run the whole book first")
    snapshot = RunRecord(profile=profile, seeds=[DEFAULT_SEED]).snapshot()
    path = REFERENCE_DIR / f"{profile}_run.json"
    write_json_atomic(path, {"profile": profile, "chapters": local, "commit": snapshot["commit"],
                             "dirty": snapshot["dirty"], "device": snapshot["device"], "recorded_at": utc_now()})
    return path


def ensure_writable(folder: Path) -> Path:
    """Create ``folder`` and prove a file can be written there, or raise a clear error."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise CourseError(
            f"results folder {folder} is not writable ({exc.strerror or exc}); "
            "pass --results DIR or set GCRL_RESULTS to a writable folder"
        ) from None
    return folder


def _cached(folder: Path, notebook: Path, digest: str) -> bool:
    record = folder / RUN_RECORD
    try:
        return notebook.is_file() and json.loads(record.read_text()).get("inputs_sha256") == digest
    except (OSError, ValueError):
        return False


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the kernel papermill starts, then restore them."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def run_chapter(chapter: Chapter, layout: Layout, profile: str, seed: int = DEFAULT_SEED, force: bool = False) -> ChapterRun:
    """Execute ``chapter`` unless an identical run is recorded; raise :class:`ChapterFailed` on a failing cell."""
    import jupytext
    import papermill
    from papermill.exceptions import PapermillExecutionError

    folder = ensure_writable(layout.results / profile / chapter.chapter_id)
    notebook = folder / f"{chapter.stem}.ipynb"
    digest = input_digest(chapter, layout, profile, seed)
    if not force and _cached(folder, notebook, digest):
        return ChapterRun(chapter, False, notebook, digest, 0.0)

    previous_s = previous_wall_time(layout, profile, chapter)
    (folder / RUN_RECORD).unlink(missing_ok=True)
    partial = folder / f".partial-{chapter.stem}.ipynb"
    started_at, t0 = utc_now(), time.perf_counter()
    parameters = run_parameters(layout, profile, seed, digest)
    progress_file = folder / ".progress.json"
    try:
        with _environment(**{PROGRESS_ENV: str(progress_file)}), Monitor(chapter.stem, progress_file, previous_s):
            papermill.execute_notebook(
                jupytext.read(chapter.source),
                str(partial),
                parameters=parameters,
                kernel_name="python3",
                cwd=str(layout.notebooks),
                progress_bar=False,
            )
    except PapermillExecutionError as exc:
        os.replace(partial, notebook)
        first_line = next((line for line in exc.source.splitlines() if line.strip()), "")
        raise ChapterFailed(
            f"chapter {chapter.stem} failed in cell In [{exc.exec_count}] ({first_line.strip()!r}): "
            f"{exc.ename}: {exc.evalue}; executed notebook: {notebook}"
        ) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, notebook)
    return record_run(chapter, notebook, digest, profile, seed, started_at, time.perf_counter() - t0)


def run_parameters(layout: Layout, profile: str, seed: int, digest: str) -> dict:
    """What papermill injects after a chapter's ``parameters`` cell.

    ``inputs_digest`` (the chapter's :func:`input_digest`) keys its resumable training
    runs (:func:`gcrl.core.paths.training_runs`): a killed run resumes, a changed input starts afresh.
    """
    return {"profile": profile, "seed": seed, "results_root": str(layout.results), "inputs_digest": digest}


def write_parameterised(chapter: Chapter, layout: Layout, profile: str, seed: int, output: Path) -> Path:
    """Write the chapter as the notebook papermill executes (its injected-parameters cell in place), unexecuted.

    The injected digest is the chapter's as of now; one that reads other chapters' results gets another once
    they have run (the test suite's nbval plugin injects it afresh when it starts executing the chapter).
    """
    import jupytext
    import papermill

    parameters = run_parameters(layout, profile, seed, input_digest(chapter, layout, profile, seed))
    papermill.execute_notebook(jupytext.read(chapter.source), str(output), parameters=parameters,
                               kernel_name="python3", prepare_only=True, progress_bar=False)
    return output


def record_run(chapter: Chapter, notebook: Path, digest: str, profile: str, seed: int,
               started_at: str, wall_time_s: float) -> ChapterRun:
    """Record a successful execution of ``chapter`` (its executed ``notebook`` already in the chapter's folder).

    The record is what makes the next run with the same inputs reuse this one. Besides
    :func:`run_chapter`, the test suite records nbval's execution of each chapter with it, so
    the smoke book it builds afterwards does not execute the chapters a second time.
    """
    wall = round(wall_time_s, 2)
    write_json_atomic(
        notebook.parent / RUN_RECORD,
        {
            "chapter": chapter.stem,
            "inputs_sha256": digest,
            "profile": profile,
            "seed": seed,
            "started_at": started_at,
            "wall_time_s": wall,
            "notebook": notebook.name,
        },
    )
    return ChapterRun(chapter, True, notebook, digest, wall)
