"""`hil fit RUN`: a device model fitted to a stored jump-table run, written as a simulator preset."""

from __future__ import annotations

import argparse
from pathlib import Path

from hil.cli.common import DEFAULT_STORE, UsageError, positive_float

MODELS = ("auto", "soft-bounds", "linear-step", "power-step")


def cmd_fit(args: argparse.Namespace) -> int:
    from hil.results import write_summary
    from hil.store import RunStore
    from protocols.fitting import fit_traces, traces_from_run
    from protocols.fitting_plots import plot_fit
    from simulators.preset_files import config_from_fit, save_preset

    with RunStore(args.store, must_exist=True) as store:
        info = store.run(args.run)
        if info.protocol != "jump-table":
            raise UsageError(
                f"run {info.uid} is a {info.protocol} run; fit a jump-table run (hil runs list shows them)"
            )
        traces = traces_from_run(store, args.run)
    out = Path(args.out or f"runs/fit-{info.uid}")
    fit = fit_traces(traces, model=args.model)
    fitted = fit.to_dict()
    overrides = {} if args.v_threshold is None else {"v_threshold": args.v_threshold}
    source = {
        "run": info.uid,
        "protocol": info.protocol,
        **{k: v for k, v in fitted.items() if k != "devices"},
    }
    preset = save_preset(out / "preset.toml", config_from_fit(fitted, **overrides), source)
    figures = plot_fit(fit, traces, out)
    summary = {
        "protocol": "fit",
        "run": info.uid,
        **fitted,
        "preset": preset.name,
        "figures": [f.name for f in figures],
    }
    write_summary(out, summary)
    print(f"fit of run {info.uid}: model {fit.model}, {len(fit.moving)} moving devices")
    print(f"wrote {preset} (simulate it: --preset {preset}) and {len(figures)} figures")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit",
        help="fit a device model to a stored jump-table run and write a simulator preset",
        description="Fits soft-bounds, linear-step or power-step models to every device's pulse "
        "response (generalised least squares; read noise and cycle-to-cycle noise separated), "
        "reports parameters with uncertainties and the device-to-device spread, and writes "
        "preset.toml, which --preset PATH and simulators.presets.preset(PATH) load.",
    )
    p.add_argument("run", help="run id or a unique prefix of its uid (a jump-table run)")
    p.add_argument("--model", choices=MODELS, default="auto", help="device model (default: auto, by BIC)")
    p.add_argument(
        "--out", type=Path, help="folder for preset.toml, summary.json, figures (default: runs/fit-UID)"
    )
    p.add_argument(
        "--v-threshold",
        type=positive_float,
        help="write threshold in volts for the preset, when the measured pulse is at or below 3 V",
    )
    p.add_argument(
        "--store", type=Path, default=Path(DEFAULT_STORE), help=f"run database (default: {DEFAULT_STORE})"
    )
    p.set_defaults(func=cmd_fit)
