"""A sweep's figures: test accuracy against each axis per algorithm, and a heatmap of two axes.

Accuracies are in percent. Each marker is the mean over seeds (after averaging the other axes
within a seed); the shaded band spans the seeds' lowest to highest, and the seeds' own values
are the small dots. An algorithm an axis does not apply to (the floating-point baseline on a
device axis) is a dashed level with its seeds' band across the whole axis. Built on
matplotlib's Figure with the Agg canvas (no display needed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from protocols.records.sweep import SweepPoint
from protocols.sweep.results import seed_of
from protocols.sweep.spec import SweepSpec
from protocols.training.registry import algorithm

# Axes shown in figures: those with more than one value other than the seed, whose spread they show.
_SPREAD_AXIS = "seed"


def plotted_axes(spec: SweepSpec) -> list[str]:
    """The axes with more than one value, the seed aside."""
    values: dict[str, set[str]] = defaultdict(set)
    for coords in spec.coordinates:
        for axis, value in coords.items():
            values[axis].add(repr(value))
    return [a for a in spec.axes if a != _SPREAD_AXIS and len(values[a]) > 1]


def _per_seed(points: Sequence[SweepPoint], axes: Sequence[str]) -> dict[tuple[Any, ...], dict[int, float]]:
    """(values on `axes`) -> seed -> mean test accuracy (percent) over the other axes."""
    groups: dict[tuple[Any, ...], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for p in points:
        where = tuple(p.coords.get(a) for a in axes)
        groups[where][seed_of(p)].append(100.0 * p.metrics["test_accuracy"])
    return {where: {s: float(np.mean(v)) for s, v in seeds.items()} for where, seeds in groups.items()}


def _positions(values: Sequence[Any]) -> tuple[list[float], list[str] | None]:
    """Numeric axis values as they are; others (e.g. a reference name) at 0, 1, 2, ..."""
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values], None
    return [float(i) for i in range(len(values))], [str(v) for v in values]


def _axis_values(spec: SweepSpec, axis: str) -> list[Any]:
    seen: list[Any] = []
    for coords in spec.coordinates:
        if coords.get(axis) not in seen:
            seen.append(coords.get(axis))
    return seen


def axis_figure(spec: SweepSpec, points: Sequence[SweepPoint], axis: str, title: str | None = None) -> Figure:
    """Test accuracy against `axis`, one colour per algorithm, seeds' spread as a band."""
    fig = Figure(figsize=(7.0, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    values = _axis_values(spec, axis)
    x, labels = _positions(values)
    done = [p for p in points if p.completed]
    colours = iter(("tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:pink"))
    for name in spec.base.algorithms:
        mine, colour = [p for p in done if p.algorithm == name], next(colours)
        if not mine:
            continue
        label = algorithm(name).label
        if axis not in mine[0].coords:  # the axis does not apply: one level across it
            seeds = list(_per_seed(mine, []).get((), {}).values())
            ax.axhline(float(np.mean(seeds)), color=colour, ls="--", label=f"{label} (does not vary)")
            ax.axhspan(min(seeds), max(seeds), color=colour, alpha=0.12, lw=0)
            continue
        _draw_line(ax, _per_seed(mine, [axis]), values=values, x=x, colour=colour, label=label)
    ax.set_xlabel(_axis_label(axis))
    if labels is not None:
        ax.set_xticks(x, labels)
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title(title or f"{spec.name}\ntest accuracy against {_axis_label(axis)}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title=_spread_note(spec), title_fontsize=8)
    return fig


def _draw_line(
    ax: Any,
    groups: dict[tuple[Any, ...], dict[int, float]],
    *,
    values: list[Any],
    x: list[float],
    colour: str,
    label: str,
) -> None:
    xs, mean, low, high = [], [], [], []
    for value, position in zip(values, x, strict=True):
        seeds = groups.get((value,))
        if not seeds:
            continue
        acc = list(seeds.values())
        xs.append(position)
        mean.append(float(np.mean(acc)))
        low.append(min(acc))
        high.append(max(acc))
        ax.plot([position] * len(acc), acc, ".", color=colour, ms=3, alpha=0.6)
    ax.plot(xs, mean, "o-", color=colour, label=label)
    ax.fill_between(xs, low, high, color=colour, alpha=0.15, lw=0)


def _spread_note(spec: SweepSpec) -> str:
    seeds = {c.get("seed", spec.base.seed) for c in spec.coordinates}
    return f"mean of {len(seeds)} seeds; band: lowest to highest" if len(seeds) > 1 else "one seed"


def _axis_label(axis: str) -> str:
    names = {
        "device.asymmetry": "device asymmetry γ (0 symmetric, 1 soft bounds)",
        "device.states": "states at the symmetry point",
    }
    return names.get(axis, axis)


def heatmap_figure(spec: SweepSpec, points: Sequence[SweepPoint], axes: tuple[str, str]) -> Figure:
    """Mean test accuracy over seeds on two axes, one panel per algorithm both axes apply to;
    each cell says the mean and the seeds' standard deviation, and how many points failed."""
    names = [
        n
        for n in spec.base.algorithms
        if any(p.algorithm == n and axes[0] in p.coords and axes[1] in p.coords for p in points)
    ]
    fig = Figure(figsize=(4.6 * max(1, len(names)), 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    xv, yv = _axis_values(spec, axes[0]), _axis_values(spec, axes[1])
    done = [100.0 * p.metrics["test_accuracy"] for p in points if p.completed]
    # The colour scale starts at the lowest accuracy's ten below, so that a map of 80-97 % shows.
    low = 10.0 * np.floor(min(done, default=0.0) / 10.0)
    image = None
    for k, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), k + 1)
        grid = _heatmap_cells(ax, [p for p in points if p.algorithm == name], axes, xv, yv)
        image = ax.imshow(grid, origin="lower", cmap="viridis", vmin=low, vmax=100, aspect="auto")
        ax.set_xticks(range(len(xv)), [f"{v:g}" if isinstance(v, float) else str(v) for v in xv])
        ax.set_yticks(range(len(yv)), [f"{v:g}" if isinstance(v, float) else str(v) for v in yv])
        ax.set_xlabel(_axis_label(axes[0]), fontsize=8)
        ax.set_ylabel(_axis_label(axes[1]), fontsize=8)
        ax.set_title(f"{algorithm(name).label}: test accuracy (%)", fontsize=10)
    if image is not None:
        fig.colorbar(image, ax=fig.axes, label="final test accuracy (%), mean over seeds", shrink=0.9)
    seeds = len({c.get("seed", spec.base.seed) for c in spec.coordinates})
    fig.suptitle(f"{spec.name}\n(mean of {seeds} seed(s); ± is their standard deviation)", fontsize=9)
    return fig


def _heatmap_cells(
    ax: Any, points: Sequence[SweepPoint], axes: tuple[str, str], xv: list[Any], yv: list[Any]
) -> np.ndarray:
    """The grid of mean accuracies (NaN where no point completed), each cell annotated."""
    groups = _per_seed([p for p in points if p.completed], list(axes))
    failed: dict[tuple[Any, Any], int] = defaultdict(int)
    for p in points:
        if not p.completed:
            failed[(p.coords.get(axes[0]), p.coords.get(axes[1]))] += 1
    grid = np.full((len(yv), len(xv)), np.nan)
    for a in xv:
        for b in yv:
            i, j = yv.index(b), xv.index(a)
            acc = list(groups.get((a, b), {}).values())
            text = f"{np.mean(acc):.1f}\n±{np.std(acc):.1f}" if acc else ""
            if acc:
                grid[i, j] = np.mean(acc)
            if failed[(a, b)]:
                text += f"\n{failed[(a, b)]} failed"
            colour = "w" if acc else "k"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
    return grid


def plot_sweep(spec: SweepSpec, points: Sequence[SweepPoint], out_dir: str | Path) -> list[Path]:
    """Write accuracy_vs_<axis>.png for each swept axis and heatmap.png for the first two."""
    out = Path(out_dir)
    axes = plotted_axes(spec)
    figures: dict[str, Figure] = {
        f"accuracy_vs_{_file_part(a)}.png": axis_figure(spec, points, a) for a in axes
    }
    if len(axes) >= 2:
        figures["heatmap.png"] = heatmap_figure(spec, points, (axes[0], axes[1]))
    paths = []
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110)
        paths.append(out / name)
    return paths


def _file_part(axis: str) -> str:
    return axis.replace(".", "_")
