"""Figures of the symmetry-point, write-verify and jump-table protocols (PNG, Agg backend).

Each function takes a result and an output folder, writes PNGs there and returns their paths.
Figures are built on matplotlib.figure.Figure with the Agg canvas, so importing this module
never changes pyplot's global backend. Conductances are shown in µS, steps in nS.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

if TYPE_CHECKING:  # annotations only: plotting one protocol never imports the others
    from protocols.jumptable import JumpTableResult
    from protocols.programming import ProgrammingResult
    from protocols.symmetry import SymmetryPointResult

US = 1e6  # siemens -> µS
NS = 1e9  # siemens -> nS
UP_COLOR, DOWN_COLOR, EST_COLOR = "tab:red", "tab:blue", "black"
HIST_RANGE = 3.0  # residual histogram span, in tolerances
MAX_TRACES = 200  # single-device lines drawn in the write-verify convergence panel


def plot_symmetry(result: SymmetryPointResult, out_dir: str | Path, max_devices: int = 6) -> list[Path]:
    """symmetry_convergence.png (reads vs pair for a few devices) and symmetry_histogram.png.

    Devices shown: up to max_devices, chosen to span the array's range of estimates.
    """
    out = _folder(out_dir)
    return [
        _symmetry_convergence(result, out / "symmetry_convergence.png", max_devices),
        _symmetry_histogram(result, out / "symmetry_histogram.png"),
    ]


def plot_programming(result: ProgrammingResult, out_dir: str | Path) -> list[Path]:
    """programming_residuals.png: residual histogram with the tolerance, and error per round."""
    out = _folder(out_dir)
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_hist, ax_map, ax_conv = fig.subplots(1, 3, width_ratios=[1.2, 1, 1.2])
    sel = result.selected
    ratio = result.residual[sel] / result.tolerance[sel]
    ok, stalled = result.converged[sel], result.stalled[sel]
    shown = np.abs(ratio) <= HIST_RANGE
    bins = np.linspace(-HIST_RANGE, HIST_RANGE, 41)
    ax_hist.hist(
        [ratio[shown & ok], ratio[shown & ~ok & ~stalled], ratio[shown & stalled]],
        bins=bins,
        stacked=True,
        color=["tab:green", "tab:orange", "tab:gray"],
        label=["converged", "not converged", "given up (stalled)"],
    )
    for x in (-1, 1):
        ax_hist.axvline(x, color="k", ls="--", lw=1)
    ax_hist.set_xlabel("residual / tolerance  (residual = final read − target)")
    ax_hist.set_ylabel("devices")
    t = float(np.median(result.tolerance[sel])) * NS
    outside = int(np.sum(~shown))
    ax_hist.set_title(
        f"{int(ok.sum())}/{int(sel.sum())} within ±1 tolerance (median {t:.3g} nS)"
        + (f"\n{outside} beyond ±{HIST_RANGE:g} not shown" if outside else ""),
        fontsize=9,
    )
    ax_hist.legend(fontsize=8)

    im = ax_map.imshow(
        np.where(sel, np.abs(result.residual) / result.tolerance, np.nan), cmap="viridis", vmin=0, vmax=2
    )
    ax_map.set_title("|residual| / tolerance (blank: not selected)", fontsize=9)
    _array_axes(ax_map)
    ax_hist.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.colorbar(im, ax=ax_map, shrink=0.8, extend="max")

    err = result.history["abs_error"][:, sel] * NS  # (rounds + 1, devices)
    rounds = np.arange(err.shape[0])
    floor = 1e-3  # nS: a read exactly on target still shows on the log axis
    traces = np.maximum(err[:, :MAX_TRACES], floor)
    ax_conv.semilogy(rounds, traces, color="tab:purple", lw=0.5, alpha=0.4)[0].set_label("single devices")
    # Every round has at least one device with data (the longest-running one): no all-NaN rows.
    median = np.maximum(np.nanmedian(err, axis=1), floor)
    ax_conv.semilogy(rounds, median, color="k", lw=1.5, label="median over devices")
    ax_conv.axhline(t, color="k", ls=":", lw=1, label="tolerance")
    ax_conv.set_xlabel("verify round of the device" + (" (serial)" if result.serial else " (parallel)"))
    ax_conv.set_ylabel("|read − target| (nS)")
    ax_conv.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_conv.set_title(f"{result.iterations} rounds, {int(result.pulses.sum())} pulses", fontsize=9)
    ax_conv.legend(fontsize=8)
    return [_save(fig, out / "programming_residuals.png")]


def plot_jump_table(result: JumpTableResult, out_dir: str | Path) -> list[Path]:
    """jump_table_steps.png (median and spread vs G), jump_table_heatmap.png (ΔG distribution
    per state) and jump_traces.png (the raw reads)."""
    out = _folder(out_dir)
    return [
        _jump_steps(result, out / "jump_table_steps.png"),
        _jump_heatmap(result, out / "jump_table_heatmap.png"),
        _jump_traces(result, out / "jump_traces.png"),
    ]


# ---------------------------------------------------------------------------------- symmetry
def _symmetry_convergence(result: SymmetryPointResult, path: Path, max_devices: int) -> Path:
    h = result.history
    flat = np.flatnonzero(result.responsive.ravel())
    if flat.size == 0:
        flat = np.arange(result.g_sym.size)
    order = flat[np.argsort(result.g_sym.ravel()[flat])]
    picks = order[np.unique(np.linspace(0, order.size - 1, min(max_devices, order.size)).round().astype(int))]
    n = picks.size
    cols = min(3, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    pairs = np.arange(1, h["g_up"].shape[0] + 1)
    w0 = int(h["window_end"][-1]) - result.window
    for ax, k in zip(axes, picks, strict=False):
        r, c = np.unravel_index(k, result.g_sym.shape)
        ax.plot(pairs, h["g_up"][:, r, c] * US, color=UP_COLOR, lw=0.6, label="read after up")
        ax.plot(pairs, h["g_down"][:, r, c] * US, color=DOWN_COLOR, lw=0.6, label="read after down")
        g, e = result.g_sym[r, c] * US, result.g_sym_std[r, c] * US
        ax.axhline(g, color=EST_COLOR, lw=1, ls="--", label="estimate")
        if np.isfinite(e):
            ax.fill_between(
                [w0, pairs[-1]],
                g - 2 * e,
                g + 2 * e,
                color="0.5",
                alpha=0.35,
                label="±2 std. err. (last window)",
            )
        ax.plot(
            h["window_end"] - result.window / 2,
            h["window_mean"][:, r, c] * US,
            "ko",
            ms=3,
            label="window means",
        )
        state = "converged" if result.converged[r, c] else "not converged"
        ax.set_title(f"device ({r}, {c}): {g:.4g} ± {e:.2g} µS, {state}", fontsize=9)
        ax.set_xlabel("up+down pair")
        ax.set_ylabel("G (µS)")
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(f"Symmetry point by alternating pulses ({result.pulse}), {result.pairs_used} pairs")
    return _save(fig, path)


def _symmetry_histogram(result: SymmetryPointResult, path: Path) -> Path:
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_hist, ax_map = fig.subplots(1, 2)
    ok = result.responsive
    g = result.g_sym[ok] * US
    if g.size:
        ax_hist.hist(g, bins=_bins(g, 25), color="tab:gray", edgecolor="k")
        ax_hist.axvline(np.median(g), color="k", ls="--", lw=1, label=f"median {np.median(g):.4g} µS")
        ax_hist.legend(fontsize=8)
        sem = f"median std. err. {np.median(result.g_sym_std[ok]) * NS:.3g} nS"
    else:
        advice = "no responsive device:\nis the pulse above the write threshold?\ncheck the wiring"
        ax_hist.text(0.5, 0.5, advice, ha="center", va="center", transform=ax_hist.transAxes)
        sem = "no estimates"
    ax_hist.set_xlabel("symmetry point G_sym (µS)")
    ax_hist.set_ylabel("devices")
    ax_hist.set_title(
        f"{int(ok.sum())} responsive devices, {int(result.converged.sum())} converged; {sem}", fontsize=9
    )
    im = ax_map.imshow(np.where(ok, result.g_sym * US, np.nan), cmap="viridis")
    for r, c in np.argwhere(ok & ~result.converged):
        ax_map.text(c, r, "×", ha="center", va="center", color="red", fontsize=10)
    ax_map.set_title("G_sym per device (µS); × not converged, blank unresponsive", fontsize=9)
    _array_axes(ax_map)
    ax_hist.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.colorbar(im, ax=ax_map, shrink=0.85, label="µS")
    return _save(fig, path)


# ---------------------------------------------------------------------------------- jump table
def _jump_steps(result: JumpTableResult, path: Path) -> Path:
    t = result.table
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_med, ax_spread = fig.subplots(1, 2)
    x = t.centers * US
    noise = float(np.nanmedian(result.read_noise)) * NS
    directions = ((1, "up", UP_COLOR, t.up_counts), (-1, "down", DOWN_COLOR, t.down_counts))
    for sign, name, color, counts in directions:
        has = counts > 0
        med, spread = t.median(sign) * NS, t.spread(sign) * NS
        ax_med.plot(x[has], med[has], "o-", ms=3, color=color, label=f"{name} median")
        ax_med.fill_between(
            x[has], (med - spread)[has], (med + spread)[has], color=color, alpha=0.2, label=f"{name} 16–84 %"
        )
        ax_spread.plot(x[has], spread[has], "o-", ms=3, color=color, label=f"{name} spread")
    if np.isfinite(noise):
        ax_spread.axhline(np.sqrt(2) * noise, color="k", ls=":", lw=1, label="√2 × read noise")
    ax_med.axhline(0, color="k", lw=0.5)
    ax_med.set_xlabel("G before the pulse (µS)")
    ax_med.set_ylabel("ΔG per pulse (nS)")
    ax_med.set_title("median step with its 16–84 % band")
    ax_spread.set_xlabel("G before the pulse (µS)")
    ax_spread.set_ylabel("spread: half the 16–84 % range (nS)")
    ax_spread.set_title("cycle-to-cycle spread")
    for ax in (ax_med, ax_spread):
        ax.legend(fontsize=8)
    fig.suptitle(
        f"Jump table of {len(result.devices)} device(s), {result.pulse}, convention '{result.convention}'"
    )
    return _save(fig, path)


def _jump_heatmap(result: JumpTableResult, path: Path) -> Path:
    g_start, dg, direction = result.samples()
    edges = result.table.g_edges
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, sign, name in zip(axes, (1, -1), ("up", "down"), strict=True):
        sel = direction == sign
        d = dg[sel] * NS
        if d.size == 0:
            ax.set_visible(False)
            continue
        lo, hi = np.percentile(d, [0.5, 99.5])
        dg_edges = np.linspace(lo, hi, 61) if hi > lo else np.linspace(lo - 1, hi + 1, 61)
        hist, _, _ = np.histogram2d(g_start[sel], d, bins=[edges, dg_edges])
        total = hist.sum(axis=1, keepdims=True)
        frac = np.divide(hist, total, out=np.zeros_like(hist), where=total > 0)
        positive = frac[frac > 0]
        norm = LogNorm(vmin=positive.min(), vmax=positive.max()) if positive.size else None
        mesh = ax.pcolormesh(edges * US, dg_edges, np.ma.masked_equal(frac, 0).T, cmap="magma_r", norm=norm)
        median = result.table.median(sign) * NS
        ax.plot(result.table.centers * US, median, color="tab:cyan", lw=1, label="median")
        ax.set_xlabel("G before the pulse (µS)")
        ax.set_ylabel("ΔG (nS)")
        ax.set_title(f"{name} pulses: distribution of ΔG per state")
        ax.legend(fontsize=8)
        fig.colorbar(mesh, ax=ax, label="fraction of the state's steps")
    return _save(fig, path)


def _jump_traces(result: JumpTableResult, path: Path) -> Path:
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax = fig.subplots()
    pulses = np.arange(result.g.shape[0])
    for k, (r, c) in enumerate(result.devices[:8]):
        ax.plot(pulses, result.g[:, k] * US, lw=0.7, label=f"({r}, {c})")
    for end in np.flatnonzero(np.diff(result.direction) != 0) + 1:
        ax.axvline(end, color="0.8", lw=0.5)
    ax.set_xlabel("pulse number (grey lines: train boundaries)")
    ax.set_ylabel("G read after the pulse (µS)")
    shown = "" if len(result.devices) <= 8 else f" (first 8 of {len(result.devices)})"
    ax.set_title(f"Up/down trains, a read after every pulse{shown}")
    ax.legend(fontsize=7, ncol=4, title="device (row, col)", title_fontsize=7)
    return _save(fig, path)


# ---------------------------------------------------------------------------------- helpers
def _folder(out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _bins(x: np.ndarray, n: int) -> np.ndarray | int:
    """n equal bins over the data, or a unit-wide range when all values coincide."""
    if x.size == 0:
        return n
    lo, hi = float(np.min(x)), float(np.max(x))
    if hi <= lo:
        pad = max(abs(lo) * 1e-3, 1e-12)
        return np.linspace(lo - pad, hi + pad, n + 1)
    return np.linspace(lo, hi, n + 1)


def _array_axes(ax: Axes) -> None:
    """Row/column labels with whole-number ticks for an imshow of the array."""
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120)
    return path
