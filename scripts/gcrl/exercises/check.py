"""``gcrl check chNN``: the reader's file against the chapter's problems.

The reader's solutions live in ``exercises/chNN.py`` (``GCRL_EXERCISES`` names
another folder). The first check of a chapter copies its stub there; after that
the file is the reader's and the course never writes to it again.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from gcrl.core.errors import CourseError
from gcrl.core.paths import REPO_ROOT
from gcrl.exercises.problem import Outcome, Problem, load_module, run_check

#: Environment variable naming the reader's exercises folder.
EXERCISES_ENV = "GCRL_EXERCISES"
CHAPTERS = tuple(f"ch0{i}" for i in range(8))
PACKAGE = Path(__file__).resolve().parent


def exercises_folder() -> Path:
    """The reader's folder: ``$GCRL_EXERCISES`` or ``exercises/`` at the repository's root."""
    return Path(os.environ.get(EXERCISES_ENV) or REPO_ROOT / "exercises").resolve()


def problems(chapter: str) -> tuple[Problem, ...]:
    """The chapter's problem set, in order."""
    if chapter not in CHAPTERS:
        raise CourseError(f"no problem set for {chapter!r}; the chapters with one are {', '.join(CHAPTERS)}")
    return import_module(f"gcrl.exercises.{chapter}").PROBLEMS


def stub_path(chapter: str) -> Path:
    """The course's stub of a chapter: what the reader's file starts as."""
    problems(chapter)
    return PACKAGE / "stubs" / f"{chapter}.py"


def solution_path(chapter: str) -> Path:
    """The reference solutions of a chapter (what the book's dropdowns show)."""
    problems(chapter)
    return PACKAGE / "solutions" / f"{chapter}.py"


def ensure_stub(chapter: str, folder: Path) -> tuple[Path, bool]:
    """The reader's file for ``chapter``, copied from the stub if it does not exist yet; never overwritten."""
    target = folder / f"{chapter}.py"
    if target.exists():
        return target, False
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".py.partial")
    shutil.copyfile(stub_path(chapter), partial)
    os.replace(partial, target)
    return target, True


@dataclass(frozen=True)
class Report:
    """Every problem's outcome for one chapter and one file."""

    chapter: str
    source: Path
    created: bool
    outcomes: tuple[Outcome, ...]

    @property
    def passed(self) -> int:
        return sum(o.passed for o in self.outcomes)

    @property
    def all_passed(self) -> bool:
        return self.passed == len(self.outcomes)

    def text(self) -> str:
        lines = [f"{self.chapter}: checking {self.source}" + (" (just created from the stub: fill it in)"
                                                             if self.created else "")]
        lines += [o.line() for o in self.outcomes]
        lines.append(f"{self.passed} of {len(self.outcomes)} problems pass")
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython shows the report as text
        printer.text(self.text())


def check_file(chapter: str, source: Path, created: bool = False) -> Report:
    """Check the functions a file defines against the chapter's problems."""
    if not source.is_file():
        raise CourseError(f"{source} does not exist")
    module = load_module(source)
    outcomes = tuple(run_check(p, getattr(module, p.function, None), source.name) for p in problems(chapter))
    return Report(chapter, source, created, outcomes)


def check(chapter: str, folder: str | os.PathLike[str] | None = None, reference: bool = False) -> Report:
    """Check the reader's file of ``chapter`` (created from the stub on first use), or with ``reference`` the
    course's own solutions."""
    if reference:
        return check_file(chapter, solution_path(chapter))
    source, created = ensure_stub(chapter, Path(folder).resolve() if folder else exercises_folder())
    return check_file(chapter, source, created)
