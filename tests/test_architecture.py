"""The package's shape: layers that import only downwards, small modules, one interface for every learner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LINT = Path(sys.executable).with_name("lint-imports")
MAX_MODULE_LINES = 450


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
