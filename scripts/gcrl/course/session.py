"""What the first cell of every chapter sets up, in one place.

A chapter runs under a profile, from a master seed, writing into a results
folder. :func:`open_chapter` turns those three parameters into the chapter's
budget, its provenance record (with every seed the chapter will use), its
results folder and its access to the results of the chapters it builds on, and
selects the headless rendering backend before any environment is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gcrl.core.paths import chapter_results, results_root as default_results_root
from gcrl.core.provenance import RunRecord
from gcrl.core.seeds import check_seeds
from gcrl.course import profiles
from gcrl.course.deliverables import Upstream
from gcrl.rl.envs import configure_rendering


@dataclass(frozen=True)
class ChapterSession:
    chapter: str
    profile: str
    budget: profiles.Budget  # the chapter's record in gcrl.course.profiles.BUDGETS
    run: RunRecord
    results: Path  # the results root, <results>/<profile>/<chapter> is ``out``
    out: Path
    rendering: str
    upstream: Upstream  # the deliverables of the chapters this one declares it depends on

    @property
    def seeds(self) -> range:
        return range(self.run.seeds[0], self.run.seeds[-1] + 1)


def open_chapter(chapter: str, profile: str, seed: int, results_root: str = "") -> ChapterSession:
    """The budget, provenance record, results folders and rendering backend of ``chapter``.

    ``profile`` empty means ``$GCRL_PROFILE`` or the default (a chapter opened in
    JupyterLab); the runner passes the name it resolved. A budget with several
    seeds makes the chapter use ``seed, seed + 1, ...``, every one a reporting seed
    (:mod:`gcrl.core.seeds`: a chapter's numbers are printed, so no seed that chose
    a recipe, a budget or a range may produce them); ``results_root`` empty
    means ``GCRL_RESULTS`` or ``results/``.
    """
    profile = profiles.resolve_profile(profile)
    budget = profiles.budget(chapter, profile)
    seeds = list(range(seed, seed + budget.seeds))
    check_seeds(seeds, "reporting")
    run = RunRecord(profile=profile, seeds=seeds)
    results = Path(results_root) if results_root else default_results_root()
    return ChapterSession(chapter, profile, budget, run, results, chapter_results(profile, chapter, results),
                          configure_rendering(), Upstream(results, profile, chapter))
