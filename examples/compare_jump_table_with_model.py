"""Compare a measured jump table with a device model, and simulate devices drawn from the table.

    .venv/bin/python examples/compare_jump_table_with_model.py [runs/demo/jump-table/jump_table.npz]

Without an argument it measures a table on a simulated soft-bounds device first (a stand-in for
a bench measurement). Then it builds a table-driven simulated array from the table, measures
that array the same way, and plots the two tables' median step and spread per state: if the
table captured the device, the curves lie on each other.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from hil.jumptable import JumpTable
from hil.pulses import Pulse
from protocols.jumptable import measure_jump_table
from simulators.crossbar import SimulatedCrossbar

OUT = Path("runs/example-jump-table")


def measure(array: SimulatedCrossbar, pulse: Pulse) -> JumpTable:
    """Two devices, 4 cycles of 400-pulse trains with a read after every pulse."""
    result = measure_jump_table(array, pulse, [(0, 0), (0, 1)], n_cycles=4, n_up=400, n_bins=30)
    return result.table


def main() -> None:
    if len(sys.argv) > 1:
        measured = JumpTable.load(sys.argv[1])
        print(f"loaded {sys.argv[1]}")
    else:
        with SimulatedCrossbar.from_preset(
            "protonic-asymmetric", (1, 2), seed=0, stuck_fraction=0.0
        ) as device:
            measured = measure(device, device.nominal_pulse)
        print("measured a simulated protonic-asymmetric device (no table given)")

    # Devices whose every pulse draws its change from the measured distribution. The table
    # already contains the measurement's read noise, so the copy adds none of its own.
    with SimulatedCrossbar.from_jump_table(measured, (1, 2), seed=1, read_noise=0.0) as copy:
        if measured.pulse is None:
            raise SystemExit("the table records no pulse; measure it with hil run jump-table")
        simulated = measure(copy, measured.pulse)

    OUT.mkdir(parents=True, exist_ok=True)
    fig, (ax_med, ax_spread) = plt.subplots(1, 2, figsize=(11, 4.2))
    for table, style, name in ((measured, "-", "measured table"), (simulated, "--", "simulated from it")):
        for sign, colour, direction in ((1, "tab:red", "up"), (-1, "tab:blue", "down")):
            label = f"{direction}, {name}"
            ax_med.plot(table.centers * 1e6, table.median(sign) * 1e9, style, color=colour, label=label)
            ax_spread.plot(table.centers * 1e6, table.spread(sign) * 1e9, style, color=colour)
    ax_med.set(xlabel="G before the pulse (µS)", ylabel="median ΔG per pulse (nS)", title="median step")
    ax_spread.set(xlabel="G before the pulse (µS)", ylabel="half the 16-84 % range (nS)", title="spread")
    ax_med.axhline(0, color="k", lw=0.6)
    ax_med.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "table_vs_model.png", dpi=120)
    print(f"wrote {OUT / 'table_vs_model.png'}")


if __name__ == "__main__":
    main()
