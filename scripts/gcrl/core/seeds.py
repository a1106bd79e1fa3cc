"""The two seed sets: seeds that choose and seeds that report, kept apart.

A recipe search, a budget choice and a range declared in ``deliverables.yaml`` may look at runs seeded from the
*selection* set only; every run whose numbers the book prints (a chapter, ``make bench``) is seeded from the
*reporting* set, which none of those choices has looked at. So no number the book prints is in-sample. The sets
live here, at the bottom of the package, because the chapters' sessions, the benchmarks and the recipe search,
in three layers, all check them; :mod:`gcrl.course.profiles` uses them for the budgets' seeds.
"""

from __future__ import annotations

from typing import Any, Literal

from gcrl.core.errors import CourseError

#: Seeds that choose: a recipe search, a budget choice and a range declared in ``deliverables.yaml`` may look at
#: runs seeded from this set only, and no number the book prints comes from one of them.
SELECTION_SEEDS = range(0, 100)
#: Seeds that report: every run whose numbers the book prints is seeded from this set (1,000 and above), which
#: no choice of recipe, budget or range has looked at.
REPORTING_SEED_BASE = 1_000
SeedRole = Literal["selection", "reporting"]


def selection_seeds(n: int) -> list[int]:
    """The first ``n`` selection seeds (0, 1, ...), for a search or a budget choice."""
    return _seeds(n, SELECTION_SEEDS.start, "selection")


def reporting_seeds(n: int) -> list[int]:
    """The first ``n`` reporting seeds (1000, 1001, ...), for every run whose numbers the book prints."""
    return _seeds(n, REPORTING_SEED_BASE, "reporting")


def _seeds(n: int, start: int, role: SeedRole) -> list[int]:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise CourseError(f"the number of {role} seeds must be an integer >= 0, got {n!r}")
    seeds = list(range(start, start + n))
    check_seeds(seeds, role)
    return seeds


def seed_role(seed: int) -> SeedRole:
    """Which set ``seed`` belongs to; a clear error for a seed in neither (negative, or 100 to 999)."""
    if seed in SELECTION_SEEDS:
        return "selection"
    if seed >= REPORTING_SEED_BASE:
        return "reporting"
    raise CourseError(f"seed {seed} is in neither seed set: selection seeds are {SELECTION_SEEDS.start}-"
                      f"{SELECTION_SEEDS.stop - 1}, reporting seeds {REPORTING_SEED_BASE} and above")


def check_seeds(seeds: Any, role: SeedRole) -> None:
    """Refuse, in one line naming them, any of ``seeds`` that is not a ``role`` seed."""
    wrong = [int(s) for s in seeds if seed_role(int(s)) != role]
    if wrong:
        other = "reporting" if role == "selection" else "selection"
        purpose = ("a recipe search, a budget choice or a declared range" if role == "selection"
                   else "a number the book reports")
        raise CourseError(f"{purpose} must use {role} seeds, and {', '.join(map(str, wrong))} "
                          f"{'is a' if len(wrong) == 1 else 'are'} {other} seed{'s' if len(wrong) > 1 else ''} "
                          f"(gcrl.core.seeds: selection {SELECTION_SEEDS.start}-{SELECTION_SEEDS.stop - 1}, "
                          f"reporting from {REPORTING_SEED_BASE})")
