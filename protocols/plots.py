"""Figures of the symmetry-point, write-verify and jump-table protocols (PNG, Agg backend).

Each function takes a result and an output folder, writes PNGs there and returns their paths.
Figures are built on matplotlib.figure.Figure with the Agg canvas, so importing this module
never changes pyplot's global backend. Values are plotted in siemens and written with SI
prefixes (hil.units: ticks "12.8 µS", pulses "6 V × 5 ns"); a figure that shows some of the
devices names them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from hil.units import eng, eng_ticks

if TYPE_CHECKING:  # annotations only: plotting one protocol never imports the others
    from hil.pulses import Pulse, PulsePair
    from protocols.compare import Comparison
    from protocols.jumptable import JumpTableResult
    from protocols.programming import ProgrammingResult
    from protocols.symmetry import SymmetryPointResult

UP_COLOR, DOWN_COLOR, EST_COLOR = "tab:red", "tab:blue", "black"
HIST_RANGE = 3.0  # residual histogram span, in tolerances
MAX_TRACES = 200  # single-device lines drawn in the write-verify convergence panel
MAX_NAMED = 8  # devices listed by name in a title; more are counted


def plot_symmetry(result: SymmetryPointResult, out_dir: str | Path, max_devices: int = 6) -> list[Path]:
    """symmetry_convergence.png (reads vs pair for a few devices) and symmetry_histogram.png.

    Devices shown: up to max_devices, chosen to span the array's range of estimates.
    """
    out = _folder(out_dir)
    figures = symmetry_figures(result, max_devices)
    return [_save(fig, out / name) for name, fig in figures.items()]


def symmetry_figures(result: SymmetryPointResult, max_devices: int = 6) -> dict[str, Figure]:
    """The figures plot_symmetry writes, by file name, unsaved (to inspect their texts)."""
    return {
        "symmetry_convergence.png": _symmetry_convergence(result, max_devices),
        "symmetry_histogram.png": _symmetry_histogram(result),
    }


def plot_programming(result: ProgrammingResult, out_dir: str | Path) -> list[Path]:
    """programming_residuals.png: residual histogram with the tolerance, and error per round."""
    return [_save(programming_figure(result), _folder(out_dir) / "programming_residuals.png")]


def programming_figure(result: ProgrammingResult) -> Figure:
    """The figure plot_programming writes, unsaved."""
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
    ax_hist.set_xlabel("residual (final read − target) in tolerances")
    ax_hist.set_ylabel("number of devices")
    t = float(np.median(result.tolerance[sel]))
    outside = int(np.sum(~shown))
    ax_hist.set_title(
        f"{int(ok.sum())} of {int(sel.sum())} devices within ±1 tolerance (median {eng(t, 'S')})"
        + (f"\n{outside} beyond ±{HIST_RANGE:g} tolerances not shown" if outside else ""),
        fontsize=9,
    )
    ax_hist.legend(fontsize=8)

    im = ax_map.imshow(
        np.where(sel, np.abs(result.residual) / result.tolerance, np.nan), cmap="viridis", vmin=0, vmax=2
    )
    ax_map.set_title("size of the residual in tolerances per device\n(blank: not selected)", fontsize=9)
    _array_axes(ax_map)
    ax_hist.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.colorbar(im, ax=ax_map, shrink=0.8, extend="max", label="|residual| in tolerances")

    err = result.history["abs_error"][:, sel]  # (rounds + 1, devices), siemens
    rounds = np.arange(err.shape[0])
    floor = 1e-12  # a read exactly on target still shows on the log axis
    traces = np.maximum(err[:, :MAX_TRACES], floor)
    ax_conv.semilogy(rounds, traces, color="tab:purple", lw=0.5, alpha=0.4)[0].set_label("single devices")
    # Every round has at least one device with data (the longest-running one): no all-NaN rows.
    median = np.maximum(np.nanmedian(err, axis=1), floor)
    ax_conv.semilogy(rounds, median, color="k", lw=1.5, label="median over devices")
    ax_conv.axhline(t, color="k", ls=":", lw=1, label="tolerance")
    order = "one device after another" if result.serial else "all devices together"
    ax_conv.set_xlabel(f"verify round ({order})")
    ax_conv.set_ylabel("distance from the target (siemens)")
    _siemens(ax_conv.yaxis)
    ax_conv.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_conv.set_title(f"{result.iterations} rounds, {int(result.pulses.sum())} pulses", fontsize=9)
    ax_conv.legend(fontsize=8)
    fig.suptitle(f"Write-verify programming of {int(sel.sum())} devices")
    return fig


def plot_jump_table(result: JumpTableResult, out_dir: str | Path) -> list[Path]:
    """jump_table_steps.png (median and spread vs G), jump_table_heatmap.png (ΔG distribution
    per state) and jump_traces.png (the raw reads)."""
    out = _folder(out_dir)
    return [_save(fig, out / name) for name, fig in jump_table_figures(result).items()]


def jump_table_figures(result: JumpTableResult) -> dict[str, Figure]:
    """The figures plot_jump_table writes, by file name, unsaved (to inspect their texts)."""
    return {
        "jump_table_steps.png": _jump_steps(result),
        "jump_table_heatmap.png": _jump_heatmap(result),
        "jump_traces.png": _jump_traces(result),
    }


def plot_comparison(comparison: Comparison, out_dir: str | Path) -> list[Path]:
    """compare.png: the bench's and the model's mean steps against G, and every quantity's
    residual in combined uncertainties."""
    return [_save(comparison_figure(comparison), _folder(out_dir) / "compare.png")]


def comparison_figure(comparison: Comparison) -> Figure:
    """The figure plot_comparison writes, unsaved. Left: mean step of an up (red) and a down
    (blue) pulse against the conductance before it, from the bench's pooled table (solid) and
    the model's (dashed). Right: per quantity z = (model − bench) / combined uncertainty, with
    the band |z| <= z_limit shaded; quantities outside it are drawn in red."""
    fig = Figure(figsize=(13, 5.2), layout="constrained")
    ax_steps, ax_z = fig.subplots(1, 2, width_ratios=(1, 1.3))
    for side, style in ((comparison.bench, "-"), (comparison.model, "--")):
        table = side.table.table
        g = np.linspace(table.g_edges[0], table.g_edges[-1], 200)
        for sign, colour in ((1, UP_COLOR), (-1, DOWN_COLOR)):
            ax_steps.plot(g, sign * table.mean_at(g, sign), style, color=colour)
    ax_steps.set_xlabel("conductance before the pulse")
    ax_steps.set_ylabel("mean conductance change of one pulse (magnitude)")
    _siemens(ax_steps.xaxis)
    _siemens(ax_steps.yaxis)
    ax_steps.legend(
        [ax_steps.lines[0], ax_steps.lines[1], ax_steps.lines[2]],
        ["bench, up pulse", "bench, down pulse", "model (dashed)"],
        fontsize=8,
    )
    q = comparison.quantities
    z = np.array([min(max(x.z, -10.0), 10.0) for x in q])  # beyond ±10 drawn at the edge
    y = np.arange(len(q))[::-1]
    limit = comparison.settings.z_limit
    ax_z.axvspan(-limit, limit, color="0.9")
    ax_z.barh(y, z, color=["tab:grey" if x.inside else "tab:red" for x in q])
    ax_z.set_yticks(y, [x.name for x in q], fontsize=8)
    ax_z.set_xlim(-10.5, 10.5)
    ax_z.set_xlabel(f"(model − bench) / combined uncertainty; inside: |z| <= {limit:g} (shaded)")
    flagged = len(comparison.flagged)
    fig.suptitle(
        f"Bench against model, {pulse_text(comparison.pulse)} pulse: "
        + (
            "every quantity inside its uncertainty"
            if not flagged
            else f"{flagged} of {len(q)} quantities outside"
        )
    )
    return fig


def pulse_text(pulse: Pulse | PulsePair) -> str:
    """A pulse as a figure writes it: "4.75 V × 20 ns"; a pair of two "up 6 V × 20 ns, down 5.5 V × 20 ns"."""
    from hil.pulses import PulsePair

    if isinstance(pulse, PulsePair):
        if not pulse.is_symmetric:
            return f"up {pulse_text(pulse.up)}, down {pulse_text(pulse.down)}"
        pulse = pulse.up
    return f"{eng(pulse.amplitude, 'V')} × {eng(pulse.width, 's')}"


def devices_text(devices: Sequence[tuple[int, int]] | np.ndarray, limit: int = MAX_NAMED) -> str:
    """Devices named as (row, column): "(0, 0), (0, 1)"; beyond `limit` the rest are counted."""
    named = [f"({int(r)}, {int(c)})" for r, c in list(devices)[:limit]]
    more = len(devices) - len(named)
    return ", ".join(named) + (f" and {more} more" if more > 0 else "")


def shown_text(shown: Sequence[tuple[int, int]] | np.ndarray, total: int) -> str:
    """Which devices a figure shows: "all 4 devices shown" or "6 of 16 devices shown: (0, 0), ..."."""
    if len(shown) >= total:
        return {1: "the one device", 2: "both devices shown"}.get(total, f"all {total} devices shown")
    return f"{len(shown)} of {total} devices shown: {devices_text(shown)}"


# ---------------------------------------------------------------------------------- symmetry
def _symmetry_convergence(result: SymmetryPointResult, max_devices: int) -> Figure:
    h = result.history
    flat = np.flatnonzero(result.responsive.ravel())
    if flat.size == 0:
        flat = np.arange(result.g_sym.size)
    order = flat[np.argsort(result.g_sym.ravel()[flat])]
    picks = order[np.unique(np.linspace(0, order.size - 1, min(max_devices, order.size)).round().astype(int))]
    n = picks.size
    cols = min(3, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    pairs = h.get("read_pairs", np.arange(1, h["g_up"].shape[0] + 1))
    w0 = int(h["window_end"][-1]) - result.window
    for ax, k in zip(axes, picks, strict=False):
        r, c = np.unravel_index(k, result.g_sym.shape)
        ax.plot(pairs, h["g_up"][:, r, c], color=UP_COLOR, lw=0.6, label="read after the up pulse")
        ax.plot(pairs, h["g_down"][:, r, c], color=DOWN_COLOR, lw=0.6, label="read after the down pulse")
        g, e = result.g_sym[r, c], result.g_sym_std[r, c]
        ax.axhline(g, color=EST_COLOR, lw=1, ls="--", label="estimate (mean of the last window)")
        if np.isfinite(e):
            ax.fill_between(
                [w0, pairs[-1]],
                g - 2 * e,
                g + 2 * e,
                color="0.5",
                alpha=0.35,
                label="±2 standard errors (last window)",
            )
        ax.plot(
            h["window_end"] - result.window / 2,
            h["window_mean"][:, r, c],
            "ko",
            ms=3,
            label="mean of each window",
        )
        state = "converged" if result.converged[r, c] else "not converged"
        ax.set_title(f"device ({r}, {c}): {eng(g, 'S', 4)} ± {eng(e, 'S', 2)}, {state}", fontsize=9)
        ax.set_xlabel("pulse pair (one up, one down)")
        ax.set_ylabel("conductance (siemens)")
        _siemens(ax.yaxis)
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, loc="best")
    shown = [tuple(int(i) for i in np.unravel_index(k, result.g_sym.shape)) for k in picks]
    fig.suptitle(
        f"Symmetry point by alternating {pulse_text(result.pulse)} pulses, {result.pairs_used} pairs\n"
        f"{shown_text(shown, result.g_sym.size)}"
        + (" (spanning the range of estimates)" if n < result.g_sym.size else ""),
        fontsize=11,
    )
    return fig


def _symmetry_histogram(result: SymmetryPointResult) -> Figure:
    fig = Figure(figsize=(10, 4.3), layout="constrained")
    ax_hist, ax_map = fig.subplots(1, 2)
    ok = result.responsive
    g = result.g_sym[ok]
    if g.size:
        ax_hist.hist(g, bins=_bins(g, 25), color="tab:gray", edgecolor="k")
        ax_hist.axvline(np.median(g), color="k", ls="--", lw=1, label=f"median {eng(np.median(g), 'S', 4)}")
        ax_hist.legend(fontsize=8)
        sem = f"median standard error {eng(np.median(result.g_sym_std[ok]), 'S')}"
    else:
        advice = "no responsive device:\nis the pulse above the write threshold?\ncheck the wiring"
        ax_hist.text(0.5, 0.5, advice, ha="center", va="center", transform=ax_hist.transAxes)
        sem = "no estimates"
    ax_hist.set_xlabel("symmetry point (siemens)")
    ax_hist.set_ylabel("number of devices")
    _siemens(ax_hist.xaxis)
    ax_hist.set_title(
        f"{int(ok.sum())} responsive devices, {int(result.converged.sum())} converged; {sem}", fontsize=9
    )
    im = ax_map.imshow(np.where(ok, result.g_sym, np.nan), cmap="viridis")
    for r, c in np.argwhere(ok & ~result.converged):
        ax_map.text(c, r, "×", ha="center", va="center", color="red", fontsize=10)
    ax_map.set_title("symmetry point per device; × not converged, blank: unresponsive", fontsize=9)
    _array_axes(ax_map)
    ax_hist.yaxis.set_major_locator(MaxNLocator(integer=True))
    bar = fig.colorbar(im, ax=ax_map, shrink=0.85, label="symmetry point (siemens)")
    _siemens(bar.ax.yaxis)
    fig.suptitle(
        f"Symmetry points of {result.g_sym.size} devices, alternating {pulse_text(result.pulse)} pulses",
        fontsize=11,
    )
    return fig


# ---------------------------------------------------------------------------------- jump table
def _jump_title(result: JumpTableResult) -> str:
    n = len(result.devices)
    return (
        f"Jump table: conductance change per {pulse_text(result.pulse)} pulse, "
        f"{n} device{'s' if n != 1 else ''} ({devices_text(result.devices)})"
    )


def _jump_steps(result: JumpTableResult) -> Figure:
    t = result.table
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    ax_med, ax_spread = fig.subplots(1, 2)
    x = t.centers
    noise = float(np.nanmedian(result.read_noise))
    directions = ((1, "up", UP_COLOR, t.up_counts), (-1, "down", DOWN_COLOR, t.down_counts))
    for sign, name, color, counts in directions:
        has = counts > 0
        med, spread = t.median(sign), t.spread(sign)
        ax_med.plot(x[has], med[has], "o-", ms=3, color=color, label=f"{name} pulses: median")
        ax_med.fill_between(
            x[has],
            (med - spread)[has],
            (med + spread)[has],
            color=color,
            alpha=0.2,
            label=f"{name} pulses: middle 68 % (16–84 %)",
        )
        ax_spread.plot(x[has], spread[has], "o-", ms=3, color=color, label=f"{name} pulses")
    if np.isfinite(noise):
        ax_spread.axhline(
            np.sqrt(2) * noise, color="k", ls=":", lw=1, label="read noise of a step (√2 × one read)"
        )
    ax_med.axhline(0, color="k", lw=0.5)
    ax_med.set_ylabel("conductance change per pulse (siemens)")
    ax_med.set_title("median change with its middle 68 %", fontsize=10)
    ax_spread.set_ylabel("spread: half the 16–84 % range (siemens)")
    ax_spread.set_title("cycle-to-cycle spread", fontsize=10)
    for ax in (ax_med, ax_spread):
        ax.set_xlabel("conductance before the pulse (siemens)")
        _siemens(ax.xaxis)
        _siemens(ax.yaxis)
        ax.legend(fontsize=8)
    fig.suptitle(_jump_title(result), fontsize=11)
    return fig


def _jump_heatmap(result: JumpTableResult) -> Figure:
    g_start, dg, direction = result.samples()
    edges = result.table.g_edges
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, sign, name in zip(axes, (1, -1), ("up", "down"), strict=True):
        sel = direction == sign
        d = dg[sel]
        if d.size == 0:
            ax.set_visible(False)
            continue
        lo, hi = np.percentile(d, [0.5, 99.5])
        dg_edges = np.linspace(lo, hi, 61) if hi > lo else np.linspace(lo - 1e-9, hi + 1e-9, 61)
        hist, _, _ = np.histogram2d(g_start[sel], d, bins=[edges, dg_edges])
        total = hist.sum(axis=1, keepdims=True)
        frac = np.divide(hist, total, out=np.zeros_like(hist), where=total > 0)
        positive = frac[frac > 0]
        norm = LogNorm(vmin=positive.min(), vmax=positive.max()) if positive.size else None
        mesh = ax.pcolormesh(edges, dg_edges, np.ma.masked_equal(frac, 0).T, cmap="magma_r", norm=norm)
        ax.plot(result.table.centers, result.table.median(sign), color="tab:cyan", lw=1, label="median")
        ax.set_xlabel("conductance before the pulse (siemens)")
        ax.set_ylabel("conductance change (siemens)")
        _siemens(ax.xaxis)
        _siemens(ax.yaxis)
        ax.set_title(f"{name} pulses: distribution of the change at each conductance", fontsize=10)
        ax.legend(fontsize=8)
        bar = fig.colorbar(mesh, ax=ax, label="share of the steps from that conductance")
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:g} %"))
        bar.ax.yaxis.set_minor_formatter(NullFormatter())
    fig.suptitle(_jump_title(result), fontsize=11)
    return fig


def _jump_traces(result: JumpTableResult) -> Figure:
    fig = Figure(figsize=(10, 4.0), layout="constrained")
    ax = fig.subplots()
    pulses = np.arange(result.g.shape[0])
    shown = result.devices[:MAX_NAMED]
    for k, (r, c) in enumerate(shown):
        ax.plot(pulses, result.g[:, k], lw=0.7, label=f"({r}, {c})")
    for end in np.flatnonzero(np.diff(result.direction) != 0) + 1:
        ax.axvline(end, color="0.8", lw=0.5)
    ax.set_xlabel("pulse number (grey lines: where up and down trains meet)")
    ax.set_ylabel("conductance read after the pulse (siemens)")
    _siemens(ax.yaxis)
    ax.set_title(
        f"Up and down trains of {pulse_text(result.pulse)} pulses, a read after every pulse\n"
        f"{shown_text(shown, len(result.devices))}",
        fontsize=10,
    )
    ax.legend(fontsize=7, ncol=4, title="device (row, column)", title_fontsize=7)
    return fig


# ---------------------------------------------------------------------------------- helpers
def _siemens(axis: Axis) -> None:
    """Tick labels of a conductance axis with SI prefixes ("12.5 µS"); on a log axis the
    decades only."""
    axis.set_major_formatter(eng_ticks("S"))
    axis.set_minor_formatter(NullFormatter())


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
