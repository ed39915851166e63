"""The figure of a pulse-balancing search (protocols.balance): the symmetry point against the
down pulse's amplitude (or width), with the fit, the target and the answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from hil.units import eng, eng_ticks
from protocols.balance import BalanceResult, Knob
from protocols.plots import _folder, _save, _siemens, pulse_text


def plot_balance(result: BalanceResult, out_dir: str | Path) -> list[Path]:
    """balance.png: each measurement's mean symmetry point (± its standard error) and the devices'
    spread against the down pulse's knob, the fitted curve, the target and the answer."""
    return [_save(balance_figure(result), _folder(out_dir) / "balance.png")]


def balance_figure(result: BalanceResult) -> Figure:
    """The figure plot_balance writes, unsaved."""
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    unit = result.knob.unit
    values = np.array([p.value for p in result.points])
    for p in result.points:
        ok = p.responsive & np.isfinite(p.g_sym)
        ax.plot(np.full(int(ok.sum()), p.value), p.g_sym[ok], ".", color="0.7", ms=4, zorder=1)
    means = np.array([p.mean() for p in result.points])
    ax.errorbar(values, means[:, 0], yerr=means[:, 1], fmt="o", color="C0", zorder=3,
                label="mean symmetry point (± standard error); grey: devices")  # fmt: skip
    ax.plot(*_fit_curve(result, values), color="C0", lw=1, alpha=0.7, label="fit (logit-linear)")
    ax.axhline(result.target, color="C3", ls="--", lw=1, label=f"target {eng(result.target, 'S')}")
    ax.axvspan(result.value - result.value_std, result.value + result.value_std, color="C2", alpha=0.25)
    answer = f"{eng(result.value, unit, 4)} ± {eng(result.value_std, unit, 2)}"
    ax.axvline(result.value, color="C2", lw=1.2, label=f"down {result.knob} {answer}")
    lo, hi = min(values.min(), result.value), max(values.max(), result.value)
    pad = 0.15 * (hi - lo or abs(hi) * 0.1)
    if result.knob is Knob.AMPLITUDE:
        ax.set_xlim(lo - pad, hi + pad)
    if result.bounds[1] <= hi + pad:  # the limit, where it is in view
        ax.axvline(result.bounds[1], color="k", lw=1, ls=":", label=f"limit {eng(result.bounds[1], unit)}")
    ax.set_xlabel(f"down pulse {result.knob}")
    ax.xaxis.set_major_formatter(eng_ticks(unit))
    ax.set_ylabel("symmetry point")
    _siemens(ax.yaxis)
    if result.knob is Knob.WIDTH:
        ax.set_xscale("log")
    ax.set_title(f"Pulse balance: up {pulse_text(result.pulses.up)}, {len(result.points)} measurements")
    ax.legend(fontsize=8, loc="best")
    return fig


def _fit_curve(result: BalanceResult, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fitted mean point over the measured span: the line through the logits of the two
    measurements nearest the target, mapped back to siemens."""
    g_min, g_max = result.g_range
    pts = sorted(result.points, key=lambda p: abs(p.mean()[0] - result.target))[:2]
    to_u = (lambda v: v) if result.knob is Knob.AMPLITUDE else np.log
    lo, hi = min(values.min(), result.value), max(values.max(), result.value)
    grid = np.linspace(lo, hi, 100) if result.knob is Knob.AMPLITUDE else np.geomspace(lo, hi, 100)
    if len(pts) < 2 or pts[0].value == pts[1].value:
        return grid, np.full_like(grid, np.nan)
    x = np.clip([(p.mean()[0] - g_min) / (g_max - g_min) for p in pts], 1e-6, 1 - 1e-6)
    y = np.log(x / (1 - x))
    u = to_u(np.array([p.value for p in pts]))
    slope = (y[1] - y[0]) / (u[1] - u[0])
    line = y[0] + slope * (to_u(grid) - u[0])
    return grid, g_min + (g_max - g_min) / (1 + np.exp(-line))
