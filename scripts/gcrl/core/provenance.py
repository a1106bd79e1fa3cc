"""Provenance: what produced a deliverable, recorded beside it.

Every JSON deliverable carries a ``provenance`` object: the commit and whether
the working tree was dirty, the versions of the packages that decide the
numbers, the profile, the seeds, the device, the start time and the wall time.
The schema below is enforced by ``gcrl verify`` on every JSON deliverable.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from gcrl.core.paths import REPO_ROOT

KEY_PACKAGES: tuple[str, ...] = (
    "numpy",
    "torch",
    "mujoco",
    "gymnasium",
    "gymnasium-robotics",
    "stable-baselines3",
    "sb3-contrib",
)

PROVENANCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["commit", "dirty", "packages", "python", "profile", "seeds", "device", "started_at", "wall_time_s"],
    "properties": {
        "commit": {"type": "string", "minLength": 1},
        "dirty": {"type": ["boolean", "null"]},
        "packages": {
            "type": "object",
            "required": list(KEY_PACKAGES),
            "additionalProperties": {"type": "string"},
        },
        "python": {"type": "string"},
        "profile": {"enum": ["smoke", "standard", "full"]},
        "seeds": {"type": "array", "items": {"type": "integer"}, "minItems": 1},
        "device": {
            "type": "object",
            "required": ["kind", "name"],
            "properties": {"kind": {"enum": ["cpu", "cuda"]}, "name": {"type": "string"}},
        },
        "started_at": {"type": "string", "format": "date-time"},
        "wall_time_s": {"type": "number", "minimum": 0},
    },
}


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def git_state() -> tuple[str, bool | None]:
    """``(commit, dirty)``; outside a git checkout, ``(commit, None)`` with the commit a copy of the tree says it
    was made from in ``$GCRL_SOURCE_COMMIT`` (a remote machine given the working tree without its history), else
    ``("unknown", None)``.

    Untracked files count as dirty only when git does not ignore them, so the
    results a run writes do not mark its own tree dirty.
    """
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return os.environ.get("GCRL_SOURCE_COMMIT", "").strip() or "unknown", None
    status = _git("status", "--porcelain")
    return commit, (bool(status) if status is not None else None)


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@functools.cache
def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info() -> dict[str, Any]:
    """The device torch computes on: a CUDA GPU when one is visible, else the CPU."""
    import torch

    if torch.cuda.is_available():
        index = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return {
            "kind": "cuda",
            "name": props.name,
            "memory_gib": round(props.total_memory / 2**30, 1),
            "cuda": torch.version.cuda,
            "count": torch.cuda.device_count(),
        }
    return {"kind": "cpu", "name": _cpu_name(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads()}


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunRecord:
    """The provenance of one chapter run, started when the chapter starts.

    ``snapshot()`` is called at each write, so every deliverable records the
    wall time spent up to the moment it was produced.
    """

    profile: str
    seeds: list[int]
    started_at: str = field(default_factory=utc_now)
    _t0: float = field(default_factory=time.perf_counter, repr=False)

    def snapshot(self) -> dict[str, Any]:
        commit, dirty = git_state()
        return {
            "commit": commit,
            "dirty": dirty,
            "packages": package_versions(),
            "python": platform.python_version(),
            "profile": self.profile,
            "seeds": [int(s) for s in self.seeds],
            "device": device_info(),
            "platform": platform.platform(),
            "started_at": self.started_at,
            "wall_time_s": round(time.perf_counter() - self._t0, 3),
        }

    def banner(self) -> str:
        """One Markdown line for the top of a rendered chapter: profile, seeds, commit, device, date (the
        chapter's parameters cell is not shown, so this line is where the reader learns what it ran with)."""
        commit, dirty = git_state()
        short = commit[:10] + (" (dirty)" if dirty else "")
        device = device_info()
        seeds = ", ".join(str(int(s)) for s in self.seeds) if len(self.seeds) <= 3 else \
            f"{int(self.seeds[0])}, {int(self.seeds[1])}, …, {int(self.seeds[-1])} ({len(self.seeds)})"
        return (
            f"**Produced by** profile `{self.profile}` · seeds {seeds} · commit `{short}` · "
            f"device {device['kind'].upper()}: {device['name']} · {self.started_at[:10]} (UTC)"
        )
