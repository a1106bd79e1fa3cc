"""The book: a -W build that fails on any warning, and the real smoke build of every chapter."""

from __future__ import annotations

import re

import pytest

from gcrl.course.book import build_html, toc_chapters
from gcrl.course.deliverables import declarations
from gcrl.core.errors import CourseError
from gcrl.course.runner import discover
from gcrl.core.paths import Layout
from nbval_runs import NAME as NBVAL_RUNS


def test_toc_lists_every_chapter_in_order(repo_root):
    chapters = [c.stem for c in discover(Layout())]
    assert toc_chapters(repo_root) == chapters


def test_a_sphinx_warning_fails_the_build(planted_book):
    root = planted_book("# Planted\n\nSee {ref}`a-label-that-does-not-exist`.\n")
    with pytest.raises(CourseError) as failure:
        build_html(root)
    message = str(failure.value)
    assert "the book build failed" in message
    assert "a-label-that-does-not-exist" in message, message


@pytest.mark.slow
def test_smoke_book_builds_and_its_deliverables_verify(smoke_book, cli, pytestconfig):
    index = smoke_book.html / "index.html"
    assert f"open file://{index}" in smoke_book.stdout
    if pytestconfig.pluginmanager.get_plugin(NBVAL_RUNS).results == smoke_book.results:
        # make test: nbval executed every chapter and recorded it, so the book executed none of them again
        assert smoke_book.stdout.count("unchanged, reused") == len(discover(Layout())), smoke_book.stdout

    pages = sorted((smoke_book.html / "book" / "chapters").glob("ch*.html"))
    assert [p.stem for p in pages] == [c.stem for c in discover(Layout())], "every chapter is in the book"
    for page in pages:
        html = page.read_text()
        assert "Produced by" in html and "profile <code" in html and "smoke" in html, page.name
        # before the abstract the reader sees the banner and nothing else: no parameters, no imports, no toggles
        head = html.split('<section id="abstract"')[0]
        assert "Produced by" in head and "cell_input" not in head and "Show code cell" not in head, page.name
        for part in ("Abstract", "Theoretical Foundations", "The Experimental Environment",
                     "Implementation Details", "Verification and Sanity Checks", "Deliverables"):
            assert part in html, (page.name, part)
        images = re.findall(r'<img[^>]+src="([^"]+)"', html)
        assert images and all((page.parent / src).is_file() for src in images), page.name
        assert "{glue" not in html and "glue:text" not in html, f"{page.name}: every glued value must be resolved"
        assert "mathjax/tex-mml-chtml.js" in html and "cdn.jsdelivr" not in html, "MathJax is served locally"
    assert "data:video/mp4;base64," in (smoke_book.html / "book" / "chapters" / "ch00_proof_of_life.html").read_text()

    verified = cli("verify", "--profile", "smoke", "--results", str(smoke_book.results))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    declared = sum(len(chapter["files"]) for chapter in declarations().values())
    assert f"all {declared} deliverables of profile smoke verified" in verified.stdout


@pytest.mark.slow
def test_rebuild_reuses_the_executed_chapters(smoke_book, cli, tmp_path):
    rerun = cli("book", "--profile", "smoke", "--results", str(smoke_book.results), "--output", str(tmp_path))
    assert rerun.returncode == 0 and "unchanged, reused" in rerun.stdout, rerun.stderr[-2000:]
