"""What a problem is, and how one is checked against the reader's file.

A problem names the function the reader writes in ``exercises/chNN.py`` and a
check: a function that calls the reader's implementation on the course's own
data (real Fetch transitions, the library's estimators) and raises
:class:`Failed` with a hint naming the *property* that failed, never the answer.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from gcrl.core.errors import CourseError

KINDS = ("derivation", "implementation", "diagnosis")


class Failed(AssertionError):
    """A property of the reader's implementation does not hold; the message is the hint."""


def require(condition: bool, hint: str) -> None:
    """Raise :class:`Failed` with ``hint`` unless ``condition`` holds."""
    if not condition:
        raise Failed(hint)


@dataclass(frozen=True)
class Problem:
    """One problem of a chapter's set.

    ``function`` is the name the reader defines in the chapter's file (the stub
    defines it already); ``check`` receives that function and returns normally
    when every property holds. For a diagnosis problem the stub *is* the planted
    bug: the reader runs the check, reads the symptom and repairs the code.
    """

    chapter: str
    number: int
    kind: str
    title: str
    function: str
    check: Callable[[Callable[..., Any]], None]

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"problem kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def label(self) -> str:
        return f"{self.chapter}.{self.number}"


@dataclass(frozen=True)
class Outcome:
    """The verdict on one problem: passed, or the hint of the first property that failed."""

    problem: Problem
    passed: bool
    message: str

    def line(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        text = f"{mark}  {self.problem.label} {self.problem.function} ({self.problem.kind}): {self.problem.title}"
        return text if self.passed else f"{text}\n      {self.message}"


def load_module(path: Path) -> ModuleType:
    """Import the reader's file afresh (a new module object each call, so edits are seen)."""
    name = f"gcrl_reader_{path.stem}_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CourseError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop(name, None)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the reader's file does not even import: say where, in the reader's file
        raise CourseError(f"{path} does not import: {type(error).__name__}: {_message(error)} "
                          f"({_where(error, path)})") from None
    return module


def _message(error: Exception) -> str:
    """The error's own words, without the location a SyntaxError appends to them (``_where`` gives it)."""
    return error.msg if isinstance(error, SyntaxError) else str(error)


def _where(error: Exception, path: Path) -> str:
    """``file, line N`` of the reader's line that failed: a SyntaxError carries it; for any other error it is the
    deepest frame of the traceback that lies in the reader's file (the frames below it are Python's import
    machinery or a library the file called); an error raised elsewhere names the file and line where it was."""
    if isinstance(error, SyntaxError) and error.lineno is not None:
        return f"{error.filename or path}, line {error.lineno}"
    frames = traceback.extract_tb(error.__traceback__)
    mine = [frame for frame in frames if Path(frame.filename).resolve() == path.resolve()]
    frame = (mine or frames)[-1]
    return f"{frame.filename}, line {frame.lineno}"


def run_check(problem: Problem, implementation: Callable[..., Any] | None, source: str) -> Outcome:
    """Check one implementation; any exception it raises becomes the verdict's message."""
    if implementation is None:
        return Outcome(problem, False, f"{source} defines no function {problem.function} (the stub does: "
                                       "was it renamed or deleted?)")
    try:
        problem.check(implementation)
    except NotImplementedError:
        return Outcome(problem, False, f"not attempted yet: {problem.function} in {source} still raises "
                                       "NotImplementedError")
    except Failed as failure:
        return Outcome(problem, False, f"hint: {failure}")
    except Exception as error:  # the reader's code raised: name it, not the course's traceback
        return Outcome(problem, False, f"{problem.function} raised {type(error).__name__}: {error}")
    return Outcome(problem, True, "")
