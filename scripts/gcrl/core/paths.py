"""Where the course keeps its sources and results.

The repository root is found from this file (``scripts/gcrl/core/paths.py``), so a
notebook opened in JupyterLab, a test and the CLI agree on it whatever their
working directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gcrl.core.errors import CourseError

REPO_ROOT = Path(__file__).resolve().parents[3]

#: Environment variable that overrides the results folder.
RESULTS_ENV = "GCRL_RESULTS"


@dataclass(frozen=True)
class Layout:
    """The folders a chapter run reads from and writes to."""

    notebooks: Path = REPO_ROOT / "notebooks"
    scripts: Path = REPO_ROOT / "scripts"
    results: Path = REPO_ROOT / "results"
    pin_files: tuple[Path, ...] = (REPO_ROOT / "requirements.txt", REPO_ROOT / "constraints.txt")

    @classmethod
    def default(cls, results: str | os.PathLike[str] | None = None, notebooks: str | os.PathLike[str] | None = None) -> "Layout":
        """The repository's layout, with the results folder taken from the argument or ``GCRL_RESULTS``."""
        chosen = results or os.environ.get(RESULTS_ENV) or REPO_ROOT / "results"
        return cls(
            results=Path(chosen).resolve(),
            notebooks=Path(notebooks).resolve() if notebooks else REPO_ROOT / "notebooks",
        )


def results_root() -> Path:
    """The results folder a notebook should write to (``GCRL_RESULTS`` or ``results/``)."""
    return Layout.default().results


def chapter_results(profile: str, chapter: str, root: str | os.PathLike[str] | None = None) -> Path:
    """``<results>/<profile>/<chapter>/``, created if needed."""
    folder = Path(root or results_root()) / profile / chapter
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def training_runs(chapter_folder: Path, inputs_digest: str) -> Path:
    """Where a chapter keeps its training runs: ``<chapter>/runs/<input digest>/``.

    ``inputs_digest`` is the chapter's ``inputs_digest`` parameter: the runner passes
    the digest of the chapter's inputs, and outside the runner (JupyterLab) it is
    ``interactive``. A chapter executed again with the same inputs (a killed run)
    finds its checkpoints and resumes; executed with changed inputs, it gets a fresh
    folder, and the runs of older inputs are removed, so no model trained by
    other code is ever reused.
    """
    import shutil

    if not inputs_digest:
        raise CourseError("training_runs needs the chapter's inputs_digest (\"interactive\" outside the runner)")
    key = inputs_digest[:16]
    runs = Path(chapter_folder) / "runs"
    if runs.is_dir():
        for stale in runs.iterdir():
            if stale.name != key:
                shutil.rmtree(stale, ignore_errors=True)
    folder = runs / key
    folder.mkdir(parents=True, exist_ok=True)
    return folder
