"""Shared fixtures: the repository root, a CLI runner, planted chapters."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from gcrl.core.paths import REPO_ROOT
from nbval_runs import NAME as NBVAL_RUNS, NbvalRuns

HEADER = """\
# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---
"""


def pytest_configure(config: pytest.Config) -> None:
    """Choose the headless rendering backend before any test imports MuJoCo (it reads MUJOCO_GL once)."""
    from gcrl.rl.envs import configure_rendering
    from gcrl.core.errors import CourseError

    try:
        configure_rendering()
    except CourseError as exc:
        raise pytest.UsageError(str(exc)) from None
    # Registered as a plugin (not as conftest hooks) so that it sees nbval's cells outside tests/.
    config.pluginmanager.register(NbvalRuns(), NBVAL_RUNS)


@pytest.fixture
def minibatch():
    """A planted minibatch maker for the book's update: (obs, action, reward, next_obs), 16 observation dims, 4 action
    dims, about three rewards in ten 0 and the rest -1, drawn from a generator of its own."""
    import torch

    def make(size: int = 64, seed: int = 0) -> tuple:
        g = torch.Generator().manual_seed(seed)
        obs, next_obs = torch.randn(size, 16, generator=g), torch.randn(size, 16, generator=g)
        action = torch.rand(size, 4, generator=g) * 2 - 1
        reward = -(torch.rand(size, generator=g) > 0.3).float()
        return obs, action, reward, next_obs

    return make


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``gcrl`` as a user would, capturing its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "gcrl.course.cli", *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def planted_book(tmp_path: Path, repo_root: Path):
    """A one-page book in tmp_path with the course's configuration and bibliography.

    ``planted_book(intro, extra_pages)`` writes ``intro.md`` (the root) and any
    further ``name -> markdown`` pages, listed as chapters, and returns the folder.
    """
    def plant(intro: str, pages: dict[str, str] | None = None) -> Path:
        shutil.copy(repo_root / "_config.yml", tmp_path / "_config.yml")
        (tmp_path / "book").mkdir(exist_ok=True)
        shutil.copy(repo_root / "book" / "references.bib", tmp_path / "book" / "references.bib")
        toc = "format: jb-book\nroot: intro\n"
        if pages:
            toc += "chapters:\n" + "".join(f"  - file: {name}\n" for name in pages)
        (tmp_path / "_toc.yml").write_text(toc)
        (tmp_path / "intro.md").write_text(intro)
        for name, text in (pages or {}).items():
            (tmp_path / f"{name}.md").write_text(text)
        return tmp_path

    return plant


@dataclass(frozen=True)
class SmokeBook:
    """The smoke-profile book, built once per test session into a temporary folder."""

    results: Path
    html: Path
    stdout: str


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory, pytestconfig) -> SmokeBook:
    """Built from the chapters nbval executed and recorded earlier in the session (``make test`` runs nbval
    first), so they are reused, not executed again; without them, every chapter is executed here."""
    root = tmp_path_factory.mktemp("smoke-book")
    recorded = pytestconfig.pluginmanager.get_plugin(NBVAL_RUNS)
    results = recorded.results if recorded.results is not None and recorded.profile == "smoke" else root / "results"
    done = run_cli("book", "--profile", "smoke", "--results", str(results), "--output", str(root / "site"),
                   timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    return SmokeBook(results, root / "site" / "_build" / "html", done.stdout)


@pytest.fixture
def plant_chapter(tmp_path: Path):
    """Write a py:percent chapter ``notebooks/<stem>.py`` under tmp_path from cell sources."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir(exist_ok=True)

    def plant(stem: str, *cells: str) -> Path:
        body = ['# %% tags=["parameters"]\nprofile = "standard"\nseed = 0\nresults_root = ""\ninputs_digest = "interactive"\n']
        body += [f"# %%\n{textwrap.dedent(cell).strip()}\n" for cell in cells]
        path = notebooks / f"{stem}.py"
        path.write_text(HEADER + "\n" + "\n".join(body))
        return path

    return plant
