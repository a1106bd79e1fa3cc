"""Rendering the executed chapters into the HTML book, warnings as errors.

``_toc.yml`` names each chapter as ``book/chapters/chNN_name``. Before a build
the executed notebooks of the chosen profile are copied there (the folder is
generated, not versioned), and Jupyter Book renders them with execution off:
what the reader sees is exactly what the run produced.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import yaml

from gcrl.core.errors import CourseError
from gcrl.course.runner import ChapterRun

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
STAGE_DIR = Path("book") / "chapters"
MATHJAX_DIR = Path("book") / "_static" / "mathjax"
#: The parts of MathJax 3's es5 build that the tex-mml-chtml component loads.
MATHJAX_PARTS = ("tex-mml-chtml.js", "input/tex/extensions", "output/chtml/fonts/woff-v2", "a11y", "ui")


def toc_chapters(root: Path) -> list[str]:
    """The ``book/chapters/...`` entries of ``_toc.yml``, in order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    entries: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            file = node.get("file")
            if isinstance(file, str) and file.startswith(STAGE_DIR.as_posix() + "/"):
                entries.append(Path(file).name)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return entries


def stage(root: Path, runs: list[ChapterRun]) -> None:
    """Copy the executed notebooks to ``book/chapters/``; every toc chapter must be among them.

    Papermill's injected-parameters cell is removed from the page, like the chapter's own parameters cell
    (tagged ``remove-cell`` in its source): the banner that opens every chapter already states the profile,
    the seed and the results folder it ran with.
    """
    by_stem = {run.chapter.stem: run for run in runs}
    missing = [stem for stem in toc_chapters(root) if stem not in by_stem]
    if missing:
        raise CourseError(f"_toc.yml names chapters that were not run: {', '.join(missing)}")
    target = root / STAGE_DIR
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for stem, run in by_stem.items():
        notebook = nbformat.read(run.notebook, as_version=4)
        for cell in notebook.cells:
            tags = cell.metadata.setdefault("tags", [])
            if "injected-parameters" in tags and "remove-cell" not in tags:
                tags.append("remove-cell")
        nbformat.write(notebook, target / f"{stem}.ipynb")


def install_mathjax(root: Path) -> Path:
    """Copy MathJax 3 (from the pinned ``django-static-mathjax`` package) into ``book/_static/mathjax``.

    The book then renders its mathematics offline, with no request to a CDN.
    ``_config.yml`` points ``mathjax_path`` at this copy.
    """
    import mathjax

    source = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    target = root / MATHJAX_DIR
    for part in MATHJAX_PARTS:
        if (target / part).exists():
            continue
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)
    return target


def build_html(root: Path, output: Path | None = None) -> Path:
    """``jupyter-book build`` with ``-W``: any Sphinx warning fails the build.

    The book goes to ``<output>/_build/html`` (``output`` defaults to ``root``).
    The full log is written beside it as ``book-build.log``; on failure the
    warning and error lines are part of the raised message.
    """
    output = Path(output or root)
    install_mathjax(root)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book), "build", str(root), "--builder", "html", "-W", "--keep-going"]
    if output != root:
        command += ["--path-output", str(output)]
    done = subprocess.run(command, capture_output=True, text=True)
    log_path = output / "_build" / "book-build.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        plain = ANSI_ESCAPE.sub("", done.stdout + done.stderr)
        flagged = [line.strip() for line in plain.splitlines() if "WARNING" in line or "ERROR" in line or "Error" in line]
        detail = "\n  ".join(flagged[:20]) or "(no warning lines; see the log)"
        raise CourseError(f"the book build failed (exit {done.returncode}); full log: {log_path}\n  {detail}")
    return output / "_build" / "html" / "index.html"


#: the characters of a printed source line that fit the book's text column
LISTING_WIDTH = 84


def listing(source: str, width: int = LISTING_WIDTH) -> str:
    """``source`` with its lines numbered, each line longer than ``width`` broken at spaces onto continuation lines
    (marked ``…`` where the number stands), so that nothing is cut at the right edge of a page."""
    lines = source.splitlines()
    digits = len(str(len(lines)))
    out = []
    for number, line in enumerate(lines, 1):
        indent = " " * (len(line) - len(line.lstrip()) + 4)
        pieces = textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False) or [""]
        out += [f"{number:>{digits}} {pieces[0]}"] + [f"{'…':>{digits}} {p}" for p in pieces[1:]]
    return "\n".join(out)
