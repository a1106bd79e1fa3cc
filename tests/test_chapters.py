"""Every chapter source has the course's shape: kernelspec, parameters cell, six parts in order."""

from __future__ import annotations

import jupytext
import pytest

from gcrl.core.paths import Layout
from gcrl.course.runner import discover

PARTS = (
    "Abstract",
    "Theoretical Foundations",
    "The Experimental Environment",
    "Implementation Details",
    "Verification and Sanity Checks",
    "Deliverables",
)
CHAPTERS = discover(Layout())


def test_there_is_a_chapter_zero():
    assert CHAPTERS and CHAPTERS[0].chapter_id == "ch00"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.chapter_id)
def test_chapter_shape(chapter):
    notebook = jupytext.read(chapter.source)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code", "one code cell tagged parameters"
    for name in ("profile", "seed", "results_root", "inputs_digest"):
        assert f"{name} =" in tagged[0].source
    headings = [
        line.lstrip("#").strip()
        for cell in notebook.cells if cell.cell_type == "markdown"
        for line in cell.source.splitlines() if line.startswith("## ")
    ]
    found = [next((p for p in PARTS if p in h), None) for h in headings]
    assert [p for p in found if p] == list(PARTS), f"the six parts, in order: {headings}"
