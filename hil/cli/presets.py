"""`hil presets`: the simulator's device presets, and `hil presets import-aihwkit CONFIG.json`."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_presets(args: argparse.Namespace) -> int:
    from simulators.presets import PRESETS, preset

    if args.full:
        print(f"{args.full}:\n{preset(args.full).describe_full()}")
        return 0
    for name in sorted(PRESETS):
        print(f"{name}:\n  {PRESETS[name]}\n")
    return 0


def cmd_import_aihwkit(args: argparse.Namespace) -> int:
    from simulators.aihwkit_import import convert, read_config
    from simulators.preset_files import save_preset

    device_class, fields = read_config(args.config)
    ignore = [name.strip() for name in args.ignore.split(",") if name.strip()] if args.ignore else []
    imported = convert(device_class, fields, base=args.base, ignore=ignore)
    out = args.out if args.out is not None else Path(args.config).with_suffix(".toml")
    save_preset(out, imported.config, imported.source(str(args.config)))
    print(f"wrote {out}: aihwkit {device_class} as\n  {imported.config}")
    for note in imported.approximations:
        print(f"  approximation: {note}")
    print(f"use it with --preset {out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("presets", help="list the simulator's device presets; import an aihwkit device config")
    p.add_argument(
        "--full", metavar="NAME", help="print every field of one preset (a name or a preset .toml file)"
    )
    p.set_defaults(func=cmd_presets)
    actions = p.add_subparsers(dest="presets_command", metavar="ACTION")
    imp = actions.add_parser(
        "import-aihwkit",
        help="convert an aihwkit single-device config (JSON) into a preset file",
        description="Reads the fields of an aihwkit SoftBoundsDevice, LinearStepDevice, "
        'PowStepDevice or ExpStepDevice from JSON ({"class": "SoftBoundsDevice", "dw_min": '
        "0.002, ...}; fields left out take aihwkit's defaults) and writes the same device as a "
        "preset file. Conductance range, pulse response, read noise and the initial state come "
        "from --base. A field with no counterpart here is refused by name (exit status 2) unless "
        "--ignore lists it. The mapping: docs/presets.md.",
    )
    imp.add_argument("config", type=Path, help="the aihwkit device config, JSON")
    imp.add_argument(
        "--out", type=Path, default=None, help="preset file to write (default: CONFIG with .toml)"
    )
    imp.add_argument(
        "--base",
        default="protonic-asymmetric",
        help="preset for what the config lacks (default: protonic-asymmetric)",
    )
    imp.add_argument(
        "--ignore", default="", help="comma-separated aihwkit fields to drop knowingly, e.g. w_min_dtod"
    )
    imp.set_defaults(func=cmd_import_aihwkit)
