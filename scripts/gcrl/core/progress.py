"""Progress of a chapter while it executes, shown by the runner and kept out of the notebook.

A chapter executes in a papermill kernel, a process the runner cannot look
into. Code that trains or evaluates many runs calls :func:`report`; when the
runner has set ``GCRL_PROGRESS_FILE``, the call writes the stage and its count
to that file (atomically), and prints nothing, so the executed notebook stays
clean. The runner's :class:`Monitor` polls the file and shows the chapter, its
stage (training runs done of total), the elapsed time and an estimate of the
time left from the chapter's previous recorded run: a live line on a terminal
(rich), a plain line per change otherwise (CI logs, ``make book > log``).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from gcrl.core.io import write_json_atomic

PROGRESS_ENV = "GCRL_PROGRESS_FILE"


def report(stage: str, done: int, total: int) -> None:
    """Record that ``done`` of ``total`` units of ``stage`` are finished (a no-op outside the runner)."""
    path = os.environ.get(PROGRESS_ENV)
    if path:
        write_json_atomic(Path(path), {"stage": stage, "done": int(done), "total": int(total)})


def read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def remaining_s(elapsed_s: float, previous_s: float | None, state: dict[str, Any] | None) -> float | None:
    """Seconds left: the previous run's duration less the time elapsed, else extrapolated from the stage's count."""
    if previous_s is not None:
        return max(0.0, previous_s - elapsed_s)
    if state and 0 < state["done"] < state["total"]:
        return elapsed_s * (state["total"] - state["done"]) / state["done"]
    return None


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}"


def status_line(chapter: str, elapsed_s: float, previous_s: float | None, state: dict[str, Any] | None) -> str:
    stage = f"{state['stage']} {state['done']}/{state['total']}, " if state else ""
    left = remaining_s(elapsed_s, previous_s, state)
    basis = f" (last run took {clock(previous_s)})" if previous_s is not None else ""
    return f"gcrl: {chapter}: {stage}elapsed {clock(elapsed_s)}, about {clock(left)} left{basis}"


class Monitor:
    """While a chapter executes: poll its progress file and show a status line (a context manager)."""

    def __init__(self, chapter: str, path: Path, previous_s: float | None, interval_s: float = 1.0,
                 stream=None):
        self.chapter, self.path, self.previous_s, self.interval_s = chapter, Path(path), previous_s, interval_s
        self.stream = stream or sys.stderr
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.perf_counter()

    def __enter__(self) -> "Monitor":
        self.path.unlink(missing_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.path.unlink(missing_ok=True)

    def _run(self) -> None:
        if self.stream.isatty():
            self._live()
        else:
            self._lines()

    def _tick(self) -> tuple[str, dict[str, Any] | None, float]:
        state = read(self.path)
        elapsed = time.perf_counter() - self._t0
        return status_line(self.chapter, elapsed, self.previous_s, state), state, elapsed

    def _live(self) -> None:
        """One line that rich redraws in place, and removes when the chapter ends."""
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        with Live(Text(""), console=Console(file=self.stream), transient=True, auto_refresh=False) as live:
            while not self._stop.wait(self.interval_s):
                live.update(Text(self._tick()[0]), refresh=True)

    def _lines(self) -> None:
        """A plain line whenever the stage advances, and at least once a minute (logs have no cursor)."""
        last_state: dict[str, Any] | None = None
        last_print = 0.0
        while not self._stop.wait(self.interval_s):
            line, state, elapsed = self._tick()
            if state != last_state or elapsed - last_print >= 60:
                print(line, file=self.stream, flush=True)
                last_state, last_print = state, elapsed
