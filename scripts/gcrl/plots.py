"""Figures: one house style, saved atomically beside the other deliverables."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from gcrl.io import atomic_path

plt.rcParams.update({
    "figure.dpi": 110,
    "savefig.dpi": 130,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 10,
})


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Save ``fig`` as PNG at ``path``, atomically; the figure stays open for display."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    return Path(path)
