"""The package's shape: layers that import only downwards, small modules, one interface for every learner, and
notebooks that train, load and schedule only through their chapter modules."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LINT = Path(sys.executable).with_name("lint-imports")
MAX_MODULE_LINES = 400
#: The modules that train, load or schedule runs: a notebook reaches them only through its module in gcrl.chapters.
NOT_FOR_NOTEBOOKS = ("gcrl.rl.sac_her.learner", "gcrl.rl.sb3", "gcrl.rl.run_folder", "gcrl.analysis.scheduler",
                     "gcrl.analysis.sweep")


def lint(root: Path) -> subprocess.CompletedProcess:
    """import-linter's contracts (pyproject.toml) on the package under ``root/scripts``."""
    env = {**os.environ, "PYTHONPATH": str(root / "scripts")}
    return subprocess.run([str(LINT), "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def test_every_contract_is_kept(repo_root):
    done = lint(repo_root)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "5 kept, 0 broken" in done.stdout


@pytest.mark.parametrize("module, planted, contract", [
    ("rl/her.py", "import gcrl.course.runner", "Layers"),
    ("rl/sac_her/algorithm.py", "import gcrl.rl.envs", "The book's algorithm knows nothing"),
    ("rl/sb3.py", "import gcrl.rl.sac_her.learner", "The learners are independent"),
    ("rl/sac_her/config.py", "def train():\n    from gcrl.rl.sac_her.learner import open_session", "A config is data"),
    ("exercises/solutions/ch04.py", "import gcrl.rl.her", "The reference solutions read on their own"),
    ("exercises/ch04.py", "import gcrl.course.runner", "Layers"),
])
def test_a_planted_violation_breaks_its_contract(repo_root, tmp_path, module, planted, contract):
    shutil.copytree(repo_root / "scripts" / "gcrl", tmp_path / "scripts" / "gcrl",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(repo_root / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "scripts" / "gcrl" / module
    target.write_text(target.read_text() + f"\n{planted}  # planted by the test\n")
    done = lint(tmp_path)
    assert done.returncode != 0
    broken = [line for line in done.stdout.splitlines() if line.endswith("BROKEN")]
    assert len(broken) == 1 and broken[0].startswith(contract), done.stdout[-3000:]


def test_no_module_is_longer_than_a_reader_can_hold(repo_root):
    lengths = {str(path.relative_to(repo_root)): len(path.read_text().splitlines())
               for path in (repo_root / "scripts" / "gcrl").rglob("*.py")}
    assert not {path: n for path, n in lengths.items() if n > MAX_MODULE_LINES}, lengths


def test_every_layer_is_a_folder_and_every_module_sits_in_one(repo_root):
    package = repo_root / "scripts" / "gcrl"
    loose = sorted(p.name for p in package.glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"modules outside a layer's folder: {loose}"
    assert {p.name for p in package.iterdir() if p.is_dir() and p.name != "__pycache__"} == {
        "chapters", "course", "exercises", "analysis", "rl", "core"}


def imports_not_for_notebooks(source: str) -> list[str]:
    """The modules of NOT_FOR_NOTEBOOKS that a notebook's source imports (or imports from), in whatever form."""
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:  # `from a import b`: b may be a module
            imported |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return sorted({hidden for hidden in NOT_FOR_NOTEBOOKS for name in imported
                   if name == hidden or name.startswith(f"{hidden}.")})


@pytest.mark.parametrize("notebook", sorted((Path(__file__).parents[1] / "notebooks").glob("ch*.py")),
                         ids=lambda path: path.stem)
def test_notebooks_train_load_and_schedule_through_their_chapter_modules(notebook):
    assert imports_not_for_notebooks(notebook.read_text()) == []


@pytest.mark.parametrize("planted, found", [
    ("from gcrl.rl.sac_her.learner import load_agent", "gcrl.rl.sac_her.learner"),
    ("from gcrl.rl.sac_her import learner", "gcrl.rl.sac_her.learner"),
    ("import gcrl.rl.sb3 as sb3", "gcrl.rl.sb3"),
    ("from gcrl.rl.run_folder import RunResult", "gcrl.rl.run_folder"),
    ("from gcrl.analysis import plots, scheduler", "gcrl.analysis.scheduler"),
    ("if True:\n    from gcrl.analysis.sweep import run_sweep", "gcrl.analysis.sweep"),
])
def test_a_notebook_that_imports_a_training_module_fails_the_check(repo_root, planted, found):
    source = (repo_root / "notebooks" / "ch04_her.py").read_text() + f"\n# %%\n{planted}\n"
    assert imports_not_for_notebooks(source) == [found]
