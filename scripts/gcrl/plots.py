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


def learning_curves(curves: dict[str, list[list[dict]]], ylabel: str = "success rate"):
    """One panel per label: each seed's curve thin, the pooled success rate thick with its 95% Wilson band.

    ``curves[label]`` is a list (one per seed) of curve rows as written by
    :func:`gcrl.train.train`; seeds are evaluated at the same env steps.
    """
    from gcrl.evaluate import pooled

    fig, axes = plt.subplots(1, len(curves), figsize=(3.4 * len(curves), 3.2), sharey=True, squeeze=False)
    for ax, (label, runs) in zip(axes[0], curves.items()):
        for run in runs:
            ax.plot([r["env_steps"] for r in run], [r["success_rate"] for r in run], color="C0", alpha=0.35, lw=1)
        steps = sorted(set.intersection(*(set(r["env_steps"] for r in run) for run in runs)))
        by_step = [pooled([r for run in runs for r in run if r["env_steps"] == s]) for s in steps]
        ax.plot(steps, [p["success_rate"] for p in by_step], color="C0", lw=2, label="pooled over seeds")
        ax.fill_between(steps, [p["ci95_low"] for p in by_step], [p["ci95_high"] for p in by_step],
                        color="C0", alpha=0.15, label="95% Wilson interval")
        ax.set_title(label)
        ax.set_xlabel("env steps")
        ax.set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel(ylabel)
    axes[0][0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
