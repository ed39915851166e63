"""How faithfully does a device simulated from its own measured jump table behave like the device?

Measures jump tables of simulated source devices (protonic-asymmetric, read noise 10 nS), builds
each device's own table twice -- as measured ("raw": read noise inside the steps, the way tables
were built before they kept the read noise apart) and deconvolved (the protocol's table:
read noise estimated from the steps and stored separately, mean and variance smoothed) -- and
runs the same symmetry-point search on the source device and on simulated twins of each table.
Per device it compares, twin / source:

- wander: the standard deviation of the pair midpoints inside a window of the search (the
  device's fluctuation around its symmetry point), RMS over the windows after the first two;
- standard error: the search's own standard error of the windowed symmetry point
  (g_sym_std per window), RMS over the same windows;
- mean step: up and down, at 25 %, 50 % and 75 % of the device's table range (the source's
  analytic mean step there against the table's interpolated mean).

Prints the geometric mean of each ratio over the devices with its standard error (from the
scatter of the log ratios). Run:

    python examples/table_twin_fidelity.py --seeds 5 --devices 8

(a few minutes on two cores; --seeds 1 --devices 4 for a quick look).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

import numpy as np

from hil.jumptable import JumpTable
from protocols.jumptable import JumpTableResult, measure_jump_table
from protocols.symmetry import find_symmetry_point
from simulators.crossbar import SimulatedCrossbar
from simulators.presets import preset

PRESET = "protonic-asymmetric"
READ_NOISE = 10e-9  # siemens, one read of the source devices
STATES = (0.25, 0.5, 0.75)  # fractions of a device's table range
BURN_IN = 2  # windows of the symmetry search left out (the approach from the start)


@dataclass(frozen=True)
class Search:
    wander: float  # siemens
    stderr: float  # siemens


def symmetry_search(array: SimulatedCrossbar, *, pairs: int, window: int) -> list[Search]:
    """Wander and standard error of every device of the array (a search that never stops early)."""
    pulse = array.nominal_pulse
    res = find_symmetry_point(array, pulse, max_pairs=pairs, window=window, tolerance=1e-30)
    mid = 0.5 * (res.history["g_up"] + res.history["g_down"])  # (pairs, rows, cols)
    n_windows = mid.shape[0] // window
    per_window = mid[: n_windows * window].reshape(n_windows, window, -1)[BURN_IN:]
    wander = np.sqrt(np.mean(per_window.std(axis=1, ddof=1) ** 2, axis=0))
    sem = res.history["window_sem"][BURN_IN:].reshape(n_windows - BURN_IN, -1)
    stderr = np.sqrt(np.mean(sem**2, axis=0))
    return [Search(float(w), float(s)) for w, s in zip(wander, stderr, strict=True)]


def twin_search(table: JumpTable, *, twins: int, seed: int, pairs: int, window: int) -> Search:
    """Mean wander and standard error of `twins` devices simulated from one table."""
    twin = SimulatedCrossbar.from_jump_table(table, (1, twins), seed=seed)
    found = symmetry_search(twin, pairs=pairs, window=window)
    return Search(
        float(np.sqrt(np.mean([f.wander**2 for f in found]))),
        float(np.sqrt(np.mean([f.stderr**2 for f in found]))),
    )


def mean_steps(source: SimulatedCrossbar, device: int, table: JumpTable) -> tuple[np.ndarray, np.ndarray]:
    """(source, table) mean step magnitudes, up then down at each of STATES (siemens)."""
    low, high = table.g_edges[0], table.g_edges[-1]
    g = low + np.asarray(STATES) * (high - low)
    pulse = source.nominal_pulse
    truth, model = [], []
    for gk in g:
        state = source.conductance.copy()
        state[0, device] = gk
        source.set_conductance(state)
        up, down = source.expected_step(pulse)
        truth += [up[0, device], down[0, device]]
        model += [table.mean_at(gk, 1), -table.mean_at(gk, -1)]
    return np.asarray(truth), np.asarray(model, dtype=np.float64)


def one_chip(seed: int, args: argparse.Namespace) -> list[dict[str, object]]:
    """Measure, build the tables, search on sources and twins; one row per moving device."""
    config = preset(PRESET)
    span = config.g_max - config.g_min
    source = SimulatedCrossbar.from_preset(PRESET, (1, args.devices), seed=seed, read_noise=READ_NOISE / span)
    result: JumpTableResult = measure_jump_table(
        source, source.nominal_pulse, np.ones(source.shape, dtype=bool), n_cycles=args.cycles, trains=False
    )
    after = source.conductance.copy()
    found = symmetry_search(source, pairs=args.pairs, window=args.window)
    rows = []
    stuck = source.device_parameters().stuck.ravel()
    for k in range(args.devices):
        if stuck[k]:
            continue
        tables = {
            "raw": JumpTable.from_samples(*result.samples(k), pulse=result.pulse),
            "deconvolved": result.device_table(k),
        }
        row: dict[str, object] = {"seed": seed, "device": k, "source": found[k].__dict__}
        for name, table in tables.items():
            twin = twin_search(
                table, twins=args.twins, seed=1000 + seed * 100 + k, pairs=args.pairs, window=args.window
            )
            truth, model = mean_steps(source, k, table)
            row[name] = {
                "wander": twin.wander / found[k].wander,
                "stderr": twin.stderr / found[k].stderr,
                "step": (model / truth).tolist(),
                "read_noise_S": table.read_noise,
            }
        source.set_conductance(after)
        rows.append(row)
    return rows


def geometric(values: list[float]) -> tuple[float, float]:
    """Geometric mean and its standard error (delta method on the mean of the logs)."""
    logs = np.log(np.asarray(values))
    mean = float(np.exp(logs.mean()))
    return mean, mean * float(logs.std(ddof=1) / np.sqrt(logs.size))


def report(rows: list[dict[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {"devices": len(rows)}
    for name in ("raw", "deconvolved"):
        ratios = {}
        for quantity in ("wander", "stderr"):
            ratios[quantity] = geometric([r[name][quantity] for r in rows])  # type: ignore[index]
        steps = np.asarray([r[name]["step"] for r in rows])  # type: ignore[index]
        for i, state in enumerate(STATES):
            for j, direction in enumerate(("up", "down")):
                ratios[f"step_{direction}_{int(state * 100)}%"] = geometric(list(steps[:, 2 * i + j]))
        out[name] = ratios
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5, help="source chips (seeds 0..N-1)")
    ap.add_argument("--devices", type=int, default=8, help="source devices per chip")
    ap.add_argument("--twins", type=int, default=4, help="simulated twins per table")
    ap.add_argument("--cycles", type=int, default=5, help="jump-table cycles (200 up + 200 down pulses)")
    ap.add_argument("--pairs", type=int, default=6000, help="pairs of each symmetry search")
    ap.add_argument("--window", type=int, default=500, help="pairs per window of the search")
    ap.add_argument("--json", help="also write every device's ratios to this file")
    args = ap.parse_args(argv)
    rows = [row for seed in range(args.seeds) for row in one_chip(seed, args)]
    summary = report(rows)
    print(
        f"{summary['devices']} source devices, {args.twins} twins each; "
        "ratio twin / source (geometric mean ± SE)"
    )
    for name in ("raw", "deconvolved"):
        print(f"  {name} table:")
        for quantity, (mean, se) in summary[name].items():  # type: ignore[union-attr]
            print(f"    {quantity:16s} {mean:6.3f} ± {se:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
