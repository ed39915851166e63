"""Figures (matplotlib, Agg): learning curves of several runs, and the SHD paper's Figs. 1 and 2."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from protocols.training.regression import RegressionRun, RegressionSettings, smoothed_orbit
from protocols.training.result import TrainingResult


def plot_learning_curves(
    results: Sequence[TrainingResult], path: str | Path, title: str | None = None
) -> Path:
    """Loss (left) and error rate (right) against epoch: one colour per run, solid for the test
    set and dashed for the training set, both on log scales so that small gaps stay visible.

    Writes a PNG to `path` (folders created) and returns the path.
    """
    if not results:
        raise ValueError("plot_learning_curves needs at least one training result")
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(12, 5.0))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    floor = 100.0 / max(1, max(r.dataset.get("n_test", 1) for r in results))  # one test sample, %
    for k, res in enumerate(results):
        c = colours[k % len(colours)]
        ep = [e.epoch for e in res.epochs]
        ax_loss.plot(ep, [e.train_loss for e in res.epochs], "--", color=c)
        ax_loss.plot(ep, [e.test_loss for e in res.epochs], "-", color=c, label=res.label)
        # An error of 0 has no logarithm: it is drawn at half a test sample.
        train_err = [max(100 * (1 - e.train_accuracy), floor / 2) for e in res.epochs]
        test_err = [max(100 * (1 - e.test_accuracy), floor / 2) for e in res.epochs]
        ax_err.plot(ep, train_err, "--", color=c)
        ax_err.plot(ep, test_err, "-", color=c, label=res.label)
    for ax, ylabel in ((ax_loss, "cross-entropy loss (nats)"), (ax_err, "error rate (%)")):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no ticks at fractions of an epoch
        ax.set_ylabel(ylabel)
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    ax_err.axhline(floor, color="grey", lw=0.8, ls=":")
    handles, labels = ax_err.get_legend_handles_labels()
    handles += [
        plt.Line2D([], [], color="k", ls="-"),
        plt.Line2D([], [], color="k", ls="--"),
        plt.Line2D([], [], color="grey", ls=":"),
    ]
    labels += ["test set", "training set", "one test sample (0 errors: half of it)"]
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8, frameon=False)
    ds = results[0].dataset.get("name", "")
    fig.suptitle(title or f"Learning curves ({ds})")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return _save(fig, path)


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
    fig = plt.figure(figsize=(13, 5.5))
    grid_spec = fig.add_gridspec(len(presets), 2, width_ratios=(1.2, 1))
    ax_r = fig.add_subplot(grid_spec[:, 1])
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    shades = ("tab:purple", "tab:green", "tab:brown", "tab:pink")
    for k, p in enumerate(presets):
        ax_t = fig.add_subplot(grid_spec[k, 0])
        for j, run in enumerate(r for r in traces if r.preset == p):
            c = shades[j % len(shades)]
            ax_t.plot(run.g, color=c, lw=0.5, label=f"$G_0$ = {run.g0:.2f}")
            ax_t.axhline(run.g0, color=c, ls="--", lw=1.0)
        if np.isfinite(g_sym.get(p, np.nan)):
            ax_t.axhline(g_sym[p], color="k", ls=":", lw=1.2, label="$G_{sym}$")
        ax_t.set_ylim(0, 1)
        ax_t.set_ylabel("G (normalised)")
        ax_t.set_title(f"SGD on {p} (dashed: $G_0$)", fontsize=10)
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
            ax_r.plot(grid, exact, "--", color=c, lw=1, label=f"{p}: drift balance")
    ax_r.axhline(0, color="k", lw=0.6)
    ax_r.set_xlabel("$G_0$ (normalised)")
    ax_r.set_ylabel("$G_{final} - G_0$ (normalised)")
    ax_r.set_title("SGD residual against the optimum")
    ax_r.legend(fontsize=7)
    ax_r.grid(True, alpha=0.3)
    fig.tight_layout()
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
    fig, axes = plt.subplots(1, n + 1, figsize=(4.6 * (n + 1), 4.5))
    for ax, run in zip(axes[:n], orbits, strict=True):
        x, a = smoothed_orbit(run, settings.orbit_smooth)
        sc = ax.scatter(x, a, c=np.arange(len(x)), s=1.5, cmap="viridis")
        ax.plot([0], [0], "r+", ms=12)
        ax.set_xlabel("C - $C_0$ (normalised conductance)")
        ax.set_ylabel("A = A_main - A_ref (normalised)")
        ax.set_title(f"SHD, {run.preset} (moving average of {settings.orbit_smooth})")
        ax.grid(True, alpha=0.3)
        fig.colorbar(sc, ax=ax, label="transfer (step IV/V) index")
    ax_r = axes[n]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
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
    ax_r.set_xlabel("$G_0$ (normalised)")
    ax_r.set_ylabel("$G_{final} - G_0$ (normalised; bar: jitter)")
    ax_r.set_title("Residual: SHD against SGD")
    ax_r.legend(fontsize=7)
    ax_r.grid(True, alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
