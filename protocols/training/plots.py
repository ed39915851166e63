"""Figures (matplotlib, Agg canvas): learning curves of several runs, and the SHD paper's Figs. 1 and 2.

Figures are built on matplotlib.figure.Figure, so importing this module never changes pyplot's
global backend. Legends name algorithms in words (their registry rows' legend); accuracy is shown in
percent, as `hil train` prints it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

from protocols.training.checkpoints import ResumeMark
from protocols.training.registry import scoped
from protocols.training.regression import RegressionRun, RegressionSettings, smoothed_orbit
from protocols.training.result import TrainingResult

REFERENCE_NAMES = {"symmetry": "reference at the symmetry point", "midrange": "reference at mid-range"}
"""SGD's reference choice (SGDConfig.reference) -> its words in a legend."""
# Accuracy ticks, percent: the axis spreads the last few percent out (see _accuracy_axis).
ACCURACY_TICKS = (0, 50, 80, 90, 95, 98, 99, 99.5, 99.8, 99.9, 99.95, 99.98, 99.99)


def algorithm_name(result: TrainingResult) -> str:
    """The algorithm of a run in words: "SHD", "analog SGD, reference at the symmetry point",
    "floating point (float64)"; a run that stopped early adds "(3 of 15 epochs)"."""
    row = scoped(result.algorithm)
    name = row.legend if row is not None and row.legend else result.label
    reference = result.parameters.get("reference")
    # SGD names its reference by placement alone (SGDConfig.reference, a string)
    if isinstance(reference, str) and reference in REFERENCE_NAMES:
        name += f", {REFERENCE_NAMES[reference]}"
    planned = result.parameters.get("epochs")
    if result.epochs and isinstance(planned, int) and result.final.epoch < planned:
        name += f" ({result.final.epoch} of {planned} epochs)"
    return name


def plot_learning_curves(
    results: Sequence[TrainingResult],
    path: str | Path,
    title: str | None = None,
    resumed: Mapping[str, Sequence[ResumeMark]] | None = None,
) -> Path:
    """Loss (left) and test accuracy in percent (right) against epoch: one colour per
    algorithm, solid for the test set and dashed for the training set. Loss is on a log scale,
    accuracy on one that spreads the last percent out, so that small gaps stay visible.
    resumed: by algorithm, where its run was stopped and resumed
    (protocols.training.checkpoints.resume_marks): a dotted vertical line in its colour after
    the last epoch evaluated before the stop, "chip restored" or "fresh chip" in the legend.

    Writes a PNG to `path` (folders created) and returns the path.
    """
    return _save(learning_curves_figure(results, title, resumed), path)


def learning_curves_figure(
    results: Sequence[TrainingResult],
    title: str | None = None,
    resumed: Mapping[str, Sequence[ResumeMark]] | None = None,
) -> Figure:
    """The figure plot_learning_curves writes, unsaved (to inspect its texts)."""
    if not results:
        raise ValueError("plot_learning_curves needs at least one training result")
    fig = Figure(figsize=(12, 5.4), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    colours = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    one_sample = 100.0 / max(1, max(r.dataset.get("n_test", 1) for r in results))  # percent
    # 100 % has no place on the axis (it is infinitely far up): it is drawn, and its tick put,
    # half a test sample below, still above any accuracy short of 100 %.
    top = 100.0 - one_sample / 2
    for k, res in enumerate(results):
        c = colours[k % len(colours)]
        ep = [e.epoch for e in res.epochs]
        label = f"{algorithm_name(res)}: test accuracy {100 * res.final.test_accuracy:.2f} %"
        ax_loss.plot(ep, [e.train_loss for e in res.epochs], "--", color=c)
        ax_loss.plot(ep, [e.test_loss for e in res.epochs], "-", color=c, label=label)
        ax_acc.plot(ep, [min(100 * e.train_accuracy, top) for e in res.epochs], "--", color=c)
        ax_acc.plot(ep, [min(100 * e.test_accuracy, top) for e in res.epochs], "-", color=c, label=label)
        for mark in (resumed or {}).get(res.algorithm, ()):
            for ax in (ax_loss, ax_acc):
                ax.axvline(mark.epoch, color=c, ls=(0, (1, 2)), lw=1.2)
    ax_loss.set_ylabel("cross-entropy loss (nats)")
    ax_loss.set_yscale("log")
    ax_loss.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax_loss.yaxis.set_minor_formatter(NullFormatter())
    _accuracy_axis(ax_acc, top)
    ax_acc.set_ylabel("accuracy (percent of the samples)")
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no ticks at fractions of an epoch
        ax.grid(True, which="both", alpha=0.3)
    ax_acc.axhline(100 - one_sample, color="grey", lw=0.8, ls=":")
    handles, labels = ax_acc.get_legend_handles_labels()
    handles += [
        Line2D([], [], color="k", ls="-"),
        Line2D([], [], color="k", ls="--"),
        Line2D([], [], color="grey", ls=":"),
    ]
    labels += ["test set", "training set", "one test sample wrong"]
    marks = [m for ms in (resumed or {}).values() for m in ms]
    if marks:
        handles.append(Line2D([], [], color="k", ls=(0, (1, 2))))
        restored = {m.chip_restored for m in marks}
        chip = (
            "chip restored" if restored == {True} else "fresh chip" if restored == {False} else "see summary"
        )
        labels.append(f"stopped and resumed after this epoch ({chip})")
    fig.legend(
        handles, labels, loc="outside lower center", ncol=min(3, len(labels)), fontsize=8, frameon=False
    )
    ds = results[0].dataset.get("name", "")
    fig.suptitle(title or f"Learning curves ({ds})")
    return fig


def _accuracy_axis(ax: Axes, top: float) -> None:
    """Accuracy in percent on a scale linear in the log of the error rate (100 − accuracy), so
    that 99 % and 99.9 % are as far apart as 90 % and 99 %; ticks written "97 %"."""

    def forward(a: np.ndarray) -> np.ndarray:
        return -np.log10(np.maximum(100.0 - np.asarray(a, dtype=float), 1e-9))

    def inverse(y: np.ndarray) -> np.ndarray:
        return 100.0 - 10.0 ** (-np.asarray(y, dtype=float))

    ax.set_yscale("function", functions=(forward, inverse))
    low = min(min(line.get_ydata()) for line in ax.get_lines()) if ax.get_lines() else 0.0
    ax.set_ylim(max(0.0, low - 5.0), top + (100 - top) * 0.5)
    # A tick below the drawn 100 % that would crowd its label is left out.
    ticks = [t for t in ACCURACY_TICKS if forward(t) < forward(top) - 0.15]
    ax.yaxis.set_major_locator(FixedLocator([*ticks, top]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: "100 %" if v >= top else f"{v:g} %"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def plot_sgd_regression(
    traces: Sequence[RegressionRun],
    sweeps: dict[str, Sequence[RegressionRun]],
    predictions: dict[str, tuple[Sequence[float], Sequence[float], Sequence[float]]],
    g_sym: dict[str, float],
    path: str | Path,
) -> Path:
    """The paper's Fig. 1: SGD traces (left) and residual G_final - G_0 against G_0 (right).

    traces: runs to draw against time; sweeps: preset -> runs over G_0; predictions: preset ->
    (G_0 grid, closed-form residual, exact drift-balance residual); g_sym: preset -> G_sym.
    All conductances normalised to the nominal range.
    """
    presets = list(sweeps)
    fig = Figure(figsize=(13, 5.5), layout="constrained")
    grid_spec = fig.add_gridspec(len(presets), 2, width_ratios=(1.2, 1))
    ax_r = fig.add_subplot(grid_spec[:, 1])
    colours = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    shades = ("tab:purple", "tab:green", "tab:brown", "tab:pink")
    for k, p in enumerate(presets):
        ax_t = fig.add_subplot(grid_spec[k, 0])
        for j, run in enumerate(r for r in traces if r.preset == p):
            c = shades[j % len(shades)]
            ax_t.plot(run.g, color=c, lw=0.5, label=f"start {run.g0:.2f}")
            ax_t.axhline(run.g0, color=c, ls="--", lw=1.0)
        if np.isfinite(g_sym.get(p, np.nan)):
            ax_t.axhline(g_sym[p], color="k", ls=":", lw=1.2, label="symmetry point")
        ax_t.set_ylim(0, 1)
        ax_t.set_ylabel("conductance (fraction of the range)", fontsize=9)
        ax_t.set_title(f"analog SGD on {p} (dashed: the starting conductance)", fontsize=10)
        ax_t.legend(fontsize=7, loc="upper right", ncol=3)
        ax_t.grid(True, alpha=0.3)
        if k == len(presets) - 1:
            ax_t.set_xlabel("update step")
    for k, p in enumerate(presets):
        c = colours[k % len(colours)]
        runs = sweeps[p]
        ax_r.errorbar(
            [r.g0 for r in runs],
            [r.residual for r in runs],
            yerr=[r.jitter for r in runs],
            fmt="o",
            color=c,
            capsize=3,
            label=f"{p}: measured (bar: jitter)",
        )
        if p in predictions:
            grid, closed, exact = predictions[p]
            ax_r.plot(grid, closed, "-", color=c, lw=1, label=f"{p}: closed form")
            ax_r.plot(grid, exact, "--", color=c, lw=1, label=f"{p}: drift balance, exact")
    ax_r.axhline(0, color="k", lw=0.6)
    ax_r.set_xlabel("starting conductance, the optimum (fraction of the range)")
    ax_r.set_ylabel("final − starting conductance (fraction of the range)")
    ax_r.set_title("analog SGD: where it ends against the optimum")
    ax_r.legend(fontsize=7)
    ax_r.grid(True, alpha=0.3)
    return _save(fig, path)


def plot_shd_regression(
    orbits: Sequence[RegressionRun],
    sweeps: dict[str, Sequence[RegressionRun]],
    settings: RegressionSettings,
    path: str | Path,
) -> Path:
    """The paper's Fig. 2E/F: A against C per orbit run, then residuals of SHD and SGD against G_0.

    orbits: SHD runs (one panel each; C from step I, A from step IV, smoothed over
    settings.orbit_smooth transfers); sweeps: label -> runs.
    """
    n = len(orbits)
    fig = Figure(figsize=(4.6 * (n + 1), 4.5), layout="constrained")
    axes = fig.subplots(1, n + 1)
    for ax, run in zip(axes[:n], orbits, strict=True):
        x, a = smoothed_orbit(run, settings.orbit_smooth)
        sc = ax.scatter(x, a, c=np.arange(len(x)), s=1.5, cmap="viridis")
        ax.plot([0], [0], "r+", ms=12)
        ax.set_xlabel("weight conductance minus its start (fraction of the range)", fontsize=9)
        ax.set_ylabel("fast weight: main − reference (fraction of the range)", fontsize=9)
        ax.set_title(
            f"SHD on {run.preset}\n(moving average of {settings.orbit_smooth} transfers)", fontsize=10
        )
        ax.grid(True, alpha=0.3)
        fig.colorbar(sc, ax=ax, label="transfer number (steps IV–V)")
    ax_r = axes[n]
    colours = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (label, runs) in enumerate(sweeps.items()):
        ax_r.errorbar(
            [r.g0 for r in runs],
            [r.residual for r in runs],
            yerr=[r.jitter for r in runs],
            fmt="o-",
            color=colours[k % len(colours)],
            capsize=3,
            label=label,
        )
    ax_r.axhline(0, color="k", lw=0.6)
    ax_r.set_xlabel("starting conductance, the optimum (fraction of the range)", fontsize=9)
    ax_r.set_ylabel("final − starting conductance (fraction of the range; bar: jitter)", fontsize=9)
    ax_r.set_title("Where each ends against the optimum: SHD and analog SGD", fontsize=10)
    ax_r.legend(fontsize=7)
    ax_r.grid(True, alpha=0.3)
    return _save(fig, path)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120)
    return path
