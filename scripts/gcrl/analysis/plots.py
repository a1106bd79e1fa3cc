"""Figures: one house style, saved atomically beside the other deliverables."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from gcrl.core.io import atomic_path

plt.rcParams.update({
    "figure.dpi": 110,
    "savefig.dpi": 130,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 10,
})


def steps_axis(ax: plt.Axes) -> None:
    """Label an env-step x axis in thousands, with few enough ticks that they never collide."""
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k" if x else "0"))
    ax.set_xlabel("env steps")


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Save ``fig`` as PNG at ``path``, atomically; the figure stays open for display."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    return Path(path)


def publish(fig: plt.Figure, path: Path, name: str) -> Path:
    """A chapter's figure: saved as its deliverable at ``path``, glued as ``name`` for the numbered caption the
    prose gives it (``{glue:figure}``), and closed, so that it is shown once, where the caption is."""
    from myst_nb import glue

    save_figure(fig, path)
    glue(name, fig, display=False)
    plt.close(fig)
    return Path(path)


Runs = list[list[dict]]  # one learning curve per seed, rows as every learner writes them (gcrl.rl.run_folder.write_curve)
#: One colour per method or task, in the order they are given.
SERIES_COLOURS = ("C0", "C3", "C2", "C1")


def learning_curves(panels: dict[str, dict[str, Runs]], ylabel: str = "success rate"):
    """One panel per task, one colour per method: seeds thin, the pooled rate thick with its 95% Wilson band.

    ``panels[task][method]`` is a list (one per seed) of learning curves; the
    pooled line is drawn at the env steps that every seed of the method evaluated.
    """
    from gcrl.analysis.experiments import pooled_curve

    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), sharey=True, squeeze=False)
    for ax, (task, methods) in zip(axes[0], panels.items()):
        for colour, (method, runs) in zip(SERIES_COLOURS, methods.items()):
            for run in runs:
                ax.plot([r["env_steps"] for r in run], [r["success_rate"] for r in run], color=colour, alpha=0.3, lw=1)
            by_step = pooled_curve(runs)
            steps = [p["env_steps"] for p in by_step]
            ax.plot(steps, [p["success_rate"] for p in by_step], color=colour, lw=2, label=f"{method}, pooled")
            ax.fill_between(steps, [p["ci95_low"] for p in by_step], [p["ci95_high"] for p in by_step],
                            color=colour, alpha=0.15)
        ax.set_title(task)
        steps_axis(ax)
        ax.set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel(ylabel)
    axes[0][0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def temperature_traces(runs: dict[str, Runs], target_entropy: float):
    """Two panels against env steps: the entropy coefficient alpha (log scale) and the policy's entropy with its target."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3.2))
    for colour, (task, curves) in zip(SERIES_COLOURS, runs.items()):
        for i, run in enumerate(curves):
            steps = [r["env_steps"] for r in run]
            label = task if i == 0 else None
            left.plot(steps, [r["ent_coef"] for r in run], color=colour, alpha=0.7, lw=1.2, label=label)
            right.plot(steps, [r["entropy"] for r in run], color=colour, alpha=0.7, lw=1.2, label=label)
    right.axhline(target_entropy, color="k", ls="--", lw=1, label=f"target {target_entropy:g}")
    left.set_yscale("log")
    left.set_ylabel("entropy coefficient α")
    right.set_ylabel("policy entropy (nats)")
    for ax in (left, right):
        steps_axis(ax)
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def degradation_curves(policies: dict[str, dict[str, list[dict]]], families: list, columns: int = 4):
    """One panel per perturbation family, one colour per policy: pooled success against severity, 95% band.

    ``policies[label][family.key]`` is a degradation curve (:func:`gcrl.analysis.robustness.degradation_curve`);
    a family with ``log_axis`` is drawn against log(1 + severity), the axis its area is computed on.
    """
    rows = -(-len(families) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.3 * columns, 2.8 * rows), sharey=True, squeeze=False)
    for ax, family in zip(axes.flat, families):
        for colour, (label, curves) in zip(SERIES_COLOURS, policies.items()):
            curve = curves.get(family.key)
            if not curve:
                continue
            x = family.axis([p["severity"] for p in curve])
            ax.plot(x, [p["success_rate"] for p in curve], "o-", color=colour, lw=2, ms=4, label=label)
            ax.fill_between(x, [p["ci95_low"] for p in curve], [p["ci95_high"] for p in curve], color=colour, alpha=0.15)
        ax.set_title(family.name, fontsize=9)
        ax.set_xlabel(f"log(1 + {family.unit})" if family.log_axis else family.unit, fontsize=8)
        ax.set_ylim(-0.02, 1.02)
    for ax in axes.flat[len(families):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("success rate")
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def interval_estimates(estimates: dict[str, dict[str, dict]], metrics: tuple[str, ...], xlabel: str = "success rate"):
    """One panel per aggregate metric: each algorithm's point estimate and its 95% bootstrap interval.

    ``estimates[algorithm][metric]`` has ``estimate`` and ``ci95``
    (:func:`gcrl.analysis.stability.interval_estimates`).
    """
    names = list(estimates)
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.6 * len(metrics), 0.45 * len(names) + 1.1),
                             sharey=True, squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for row, (name, colour) in enumerate(zip(names, SERIES_COLOURS)):
            low, high = estimates[name][metric]["ci95"]
            ax.barh(row, high - low, left=low, height=0.6, color=colour, alpha=0.35)
            ax.plot([estimates[name][metric]["estimate"]] * 2, [row - 0.3, row + 0.3], color=colour, lw=2.5)
        ax.set_title(metric, fontsize=10)
        ax.set_xlim(-0.03, 1.03)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.grid(axis="y", visible=False)
    axes[0][0].set_yticks(range(len(names)), names)
    axes[0][0].invert_yaxis()
    fig.tight_layout()
    return fig


def performance_profiles(profiles: dict[str, dict[str, list[float]]]):
    """The fraction of runs whose score exceeds each threshold τ, with 95% bootstrap bands, one line per algorithm."""
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    for colour, (name, profile) in zip(SERIES_COLOURS, profiles.items()):
        ax.step(profile["tau"], profile["fraction"], where="post", color=colour, lw=2, label=name)
        ax.fill_between(profile["tau"], profile["ci95_low"], profile["ci95_high"], step="post", color=colour, alpha=0.15)
    ax.set_xlabel("success-rate threshold τ")
    ax.set_ylabel("fraction of runs with score > τ")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def probability_of_improvement(improvements: dict[str, dict]):
    """P(X > Y) per pair with its 95% bootstrap interval; 0.5 (no difference) marked."""
    pairs = list(improvements.values())
    fig, ax = plt.subplots(figsize=(4.8, 0.5 * len(pairs) + 1.0))
    for row, pair in enumerate(pairs):
        low, high = pair["ci95"]
        ax.barh(row, high - low, left=low, height=0.6, color="C0", alpha=0.35)
        ax.plot([pair["estimate"]] * 2, [row - 0.3, row + 0.3], color="C0", lw=2.5)
    ax.axvline(0.5, color="k", ls="--", lw=1)
    ax.set_yticks(range(len(pairs)), [f"{p['x']}  >  {p['y']}" for p in pairs])
    ax.invert_yaxis()
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("P(X > Y)")
    ax.grid(axis="y", visible=False)
    fig.tight_layout()
    return fig


def sample_efficiency(panels: dict[str, dict[str, dict[str, list[float]]]]):
    """One panel per task: each algorithm's IQM success against env steps, with its 95% bootstrap band."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels), 3.2), sharey=True, squeeze=False)
    for ax, (task, curves) in zip(axes[0], panels.items()):
        for colour, (name, curve) in zip(SERIES_COLOURS, curves.items()):
            ax.plot(curve["env_steps"], curve["iqm"], "o-", color=colour, lw=2, ms=3, label=name)
            ax.fill_between(curve["env_steps"], curve["ci95_low"], curve["ci95_high"], color=colour, alpha=0.15)
        ax.set_title(task)
        steps_axis(ax)
        ax.set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel("IQM success rate")
    axes[0][0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def sensitivity(configurations: dict[str, dict], recipe: dict[str, object], score: str = "area",
                ylabel: str = "IQM of mean success over the curve"):
    """One panel per varied parameter: the score's IQM and 95% interval at each value, the recipe's value included."""
    parameters = list(dict.fromkeys(row["parameter"] for row in configurations.values() if row["parameter"]))
    recipe_row = next(row for row in configurations.values() if row["parameter"] is None)
    fig, axes = plt.subplots(1, len(parameters), figsize=(3.2 * len(parameters), 3.0), sharey=True, squeeze=False)
    for ax, parameter in zip(axes[0], parameters):
        points = [(float(row["value"]), row[score]) for row in configurations.values() if row["parameter"] == parameter]
        points = sorted(points + [(float(recipe[parameter]), recipe_row[score])])
        x = [value for value, _ in points]
        ax.errorbar(x, [s["IQM"]["estimate"] for _, s in points],
                    yerr=[[s["IQM"]["estimate"] - s["IQM"]["ci95"][0] for _, s in points],
                          [s["IQM"]["ci95"][1] - s["IQM"]["estimate"] for _, s in points]],
                    fmt="o-", color="C0", capsize=3, lw=1.5)
        ax.axvline(float(recipe[parameter]), color="k", ls=":", lw=1)
        if max(x) / max(min(x), 1e-12) >= 8:
            ax.set_xscale("log")
        ax.set_xticks(x, [f"{value:g}" for value in x])  # the tried values, and no others
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(parameter)
        ax.set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel(ylabel, fontsize=9)
    fig.tight_layout()
    return fig


def imitation_curves(panels: dict[str, dict[str, list[dict]]], experts: dict[str, dict], xlabel: str,
                     log_x: bool = True):
    """Held-out success against a budget (demonstrations, or width), one panel per task, one line per method;
    each point with its 95% Wilson interval, the expert's success as a dotted line with its interval shaded."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.0), sharey=True, squeeze=False)
    for ax, (title, series) in zip(axes[0], panels.items()):
        expert = experts[title]
        ax.axhspan(expert["ci95_low"], expert["ci95_high"], color="grey", alpha=0.15, lw=0)
        ax.axhline(expert["success_rate"], color="k", ls=":", lw=1, label="scripted expert")
        for colour, (label, rows) in zip(SERIES_COLOURS, series.items()):
            x = [r["x"] for r in rows]
            y = [r["success_rate"] for r in rows]
            err = [[p - r["ci95_low"] for p, r in zip(y, rows)], [r["ci95_high"] - p for p, r in zip(y, rows)]]
            ax.errorbar(x, y, yerr=err, color=colour, marker="o", ms=4, capsize=3, label=label)
        if log_x:
            ax.set_xscale("log")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel("held-out success rate")
    axes[0][0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
