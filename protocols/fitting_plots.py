"""Figures of a device-model fit (PNG, Agg canvas): measured traces against the model, parameter spreads.

Values in siemens written with SI prefixes ("12.8 µS"), as in protocols.plots.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hil.stepmodels import model_class
from hil.units import eng, eng_ticks
from protocols.fitting import ArrayFit, DeviceFit, PulseTraces, model_step, model_trajectory
from protocols.plots import devices_text

UP_COLOR, DOWN_COLOR, MODEL_COLOR = "tab:red", "tab:blue", "black"
G_MIN, G_MAX = "lowest conductance (siemens)", "highest conductance (siemens)"
READ_NOISE = "read noise, std. of one read (siemens)"
IN_SIEMENS = (G_MIN, G_MAX, READ_NOISE)  # panels whose ticks carry SI prefixes


def plot_fit(
    array_fit: ArrayFit, traces: PulseTraces, out_dir: str | Path, max_devices: int = 4
) -> list[Path]:
    """fit_traces.png (measured vs fitted, a few devices) and fit_parameters.png (histograms).

    Devices shown: up to max_devices moving ones, spanning the array's range of fitted step_up.
    """
    if len(array_fit.devices) != traces.n_devices:
        raise ValueError(
            f"the fit has {len(array_fit.devices)} devices but the traces {traces.n_devices}: pass the "
            "traces the fit was made from"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [_save(fig, out / name) for name, fig in fit_figures(array_fit, traces, max_devices).items()]


def fit_figures(array_fit: ArrayFit, traces: PulseTraces, max_devices: int = 4) -> dict[str, Figure]:
    """The figures plot_fit writes, by file name, unsaved (to inspect their texts)."""
    return {
        "fit_traces.png": _traces_figure(array_fit, traces, max_devices),
        "fit_parameters.png": _parameters_figure(array_fit),
    }


def _shown(array_fit: ArrayFit, k: int) -> list[DeviceFit]:
    moving = sorted(array_fit.moving, key=lambda d: d.params["step_up"])
    if len(moving) <= k:
        return moving
    return [moving[int(i)] for i in np.linspace(0, len(moving) - 1, k).round()]


def _label(d: DeviceFit) -> str:
    return f"device {d.device}" if d.device is not None else f"trace {d.index}"


def _traces_figure(array_fit: ArrayFit, traces: PulseTraces, max_devices: int) -> Figure:
    shown = _shown(array_fit, max_devices)
    fig = Figure(figsize=(max(3.6 * len(shown) + 0.6, 9.0), 7.6), layout="constrained")
    axes = fig.subplots(2, max(len(shown), 1), squeeze=False)
    g_start, dg, _ = traces.steps()
    up = traces.direction > 0
    pulses = np.arange(traces.g.shape[0])
    for col, d in enumerate(shown):
        ax_t, ax_s = axes[0, col], axes[1, col]
        g = traces.g[:, d.index]
        model = model_trajectory(array_fit.model, d.params, float(g[0]), traces.direction)
        ax_t.plot(pulses, g, ".", ms=1.5, color="0.55", label="measured")
        ax_t.plot(pulses, model, "-", lw=1.2, color=MODEL_COLOR, label="model, without noise")
        ax_t.set_title(
            f"{_label(d)}\nstep up {d.params['step_up']:.2g}, down {d.params['step_down']:.2g} of the range",
            fontsize=10,
        )
        ax_t.set_xlabel("pulse number")
        ax_s.plot(
            g_start[up, d.index],
            dg[up, d.index],
            ".",
            ms=1.5,
            color=UP_COLOR,
            alpha=0.4,
            label="measured, up pulses",
        )
        ax_s.plot(
            g_start[~up, d.index],
            dg[~up, d.index],
            ".",
            ms=1.5,
            color=DOWN_COLOR,
            alpha=0.4,
            label="measured, down pulses",
        )
        grid = np.linspace(d.params["g_min"], d.params["g_max"], 200)
        for sign in (1, -1):
            ax_s.plot(
                grid,
                model_step(array_fit.model, d.params, grid, sign),
                "-",
                lw=1.5,
                color=MODEL_COLOR,
                label="model, mean change" if sign == 1 else None,
            )
        ax_s.axhline(0.0, color="0.3", lw=0.6)
        ax_s.set_xlabel("conductance before the pulse (siemens)")
        for axis in (ax_t.yaxis, ax_s.xaxis, ax_s.yaxis):
            axis.set_major_formatter(eng_ticks("S"))
        ax_s.xaxis.set_major_locator(MaxNLocator(5))  # labels with a unit need the room
    axes[0, 0].set_ylabel("conductance (siemens)")
    axes[1, 0].set_ylabel("conductance change per pulse (siemens)")
    axes[0, 0].legend(loc="best", fontsize=8, markerscale=4)
    axes[1, 0].legend(loc="best", fontsize=8, markerscale=4)
    devices = [d.device for d in shown if d.device is not None]
    named = devices_text(devices) if len(devices) == len(shown) else ""
    subset = f"{len(shown)} of {len(array_fit.moving)} moving devices shown, spanning the fitted up step" + (
        f": {named}" if named else ""
    )
    fig.suptitle(
        f"{array_fit.model} model fit: reads after every pulse (top),\nchange against conductance (bottom); "
        f"cycle-to-cycle noise {array_fit.c2c_noise['value']:.3g} of a step, "
        f"read noise {eng(array_fit.read_noise['value_S'], 'S')}\n{subset}",
        fontsize=11,
    )
    return fig


def _parameters_figure(array_fit: ArrayFit) -> Figure:
    moving = array_fit.moving
    nominal = {p: v["value"] for p, v in array_fit.nominal.items()}
    panels: list[tuple[str, np.ndarray, float | None]] = [
        (G_MIN, array_fit.param_array("g_min"), nominal["g_min"]),
        (G_MAX, array_fit.param_array("g_max"), nominal["g_max"]),
        ("up step, fraction of the range", array_fit.param_array("step_up"), nominal["step_up"]),
        ("down step, fraction of the range", array_fit.param_array("step_down"), nominal["step_down"]),
    ]
    panels += [  # the shape parameters the fit estimated
        (name, array_fit.param_array(name), array_fit.nominal[name]["value"])
        for name in model_class(array_fit.model).fit_free
    ]
    panels += [
        (
            "cycle-to-cycle noise, relative std. of a step",
            np.array([d.c2c_noise for d in moving]),
            array_fit.c2c_noise["value"],
        ),
        (
            READ_NOISE,
            np.array([d.read_noise for d in moving]),
            array_fit.read_noise["value_S"],
        ),
    ]
    cols = 4
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(3.4 * cols, 3.0 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (title, values, pooled) in zip(axes, panels, strict=False):
        v = values[np.isfinite(values)]
        ax.hist(v, bins=max(5, min(30, v.size // 2)), color="tab:gray", edgecolor="white")
        if pooled is not None and np.isfinite(pooled):
            ax.axvline(pooled, color=MODEL_COLOR, ls="--", lw=1.2, label="array value (preset)")
        ax.set_xlabel(title)
        ax.set_ylabel("number of devices")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if title in IN_SIEMENS:
            ax.xaxis.set_major_formatter(eng_ticks("S"))
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8)
    fig.suptitle(
        f"{array_fit.model} model: fitted parameters per device, {len(moving)} moving of "
        f"{len(array_fit.devices)} devices (stuck: {100 * array_fit.stuck_fraction:.2g} %)"
    )
    return fig


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110)
    return path
