"""What the first cell of every chapter sets up, in one place.

A chapter runs under a profile, from a master seed, writing into a results
folder. :func:`open_chapter` turns those three parameters into the chapter's
budget, its provenance record (with every seed the chapter will use), and its
results folder, and selects the headless rendering backend before any
environment is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gcrl import profiles
from gcrl.envs import configure_rendering
from gcrl.paths import chapter_results, results_root as default_results_root
from gcrl.provenance import RunRecord


@dataclass(frozen=True)
class ChapterSession:
    chapter: str
    budget: Any
    run: RunRecord
    results: Path  # the results root, <results>/<profile>/<chapter> is ``out``
    out: Path
    rendering: str

    @property
    def seeds(self) -> range:
        return range(self.run.seeds[0], self.run.seeds[-1] + 1)


def open_chapter(chapter: str, profile: str, seed: int, results_root: str = "") -> ChapterSession:
    """The budget, provenance record, results folders and rendering backend of ``chapter``.

    A budget with several seeds makes the chapter use ``seed, seed + 1, ...``;
    ``results_root`` empty means ``GCRL_RESULTS`` or ``results/``.
    """
    budget = profiles.budget(chapter, profile)
    run = RunRecord(profile=profile, seeds=list(range(seed, seed + getattr(budget, "seeds", 1))))
    results = Path(results_root) if results_root else default_results_root()
    return ChapterSession(chapter, budget, run, results, chapter_results(profile, chapter, results),
                          configure_rendering())
