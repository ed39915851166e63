"""SHD, TTv2, chopped TTv2 and AGAD with a misplaced reference and more read noise, on digits.

    .venv/bin/python examples/robustness_study.py --out runs/robustness [--seeds 0,1,2] [--epochs 20]

Each run trains the 64-32-10 MLP on the simulator's protonic-asymmetric devices under one
condition (protocols.training.robustness.CONDITIONS: A_ref 1, 3 or 10 % of the conductance
range above the symmetry point; read and VMM noise 3 or 10 times the preset's) and appends
one JSON line to OUT/results.jsonl as it finishes; a second call with the same OUT continues
where the first stopped. OUT/table.md holds the mean test accuracy ± the spread over seeds.
It is long: about 72 runs of a minute each on two cores; run it with nice.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hil.bench import Bench
from protocols.training.robustness import StudySettings, run_study, summary_table
from simulators.chip import SimulatedChip
from simulators.presets import preset

PRESET = "protonic-asymmetric"


def open_chip(noise_factor: float, seed: int) -> Bench:
    """The preset's chip with its read and VMM noise times noise_factor."""
    base = preset(PRESET)
    noise = {"read_noise": base.read_noise * noise_factor, "vmm_noise": base.vmm_noise * noise_factor}
    return SimulatedChip(PRESET, seed=seed, **noise)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/robustness"))
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: 0,1,2)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--algorithms", default="shd,ttv2,cttv2,agad")
    args = parser.parse_args()

    settings = StudySettings(
        seeds=tuple(int(s) for s in args.seeds.split(",")),
        epochs=args.epochs,
        algorithms=tuple(args.algorithms.split(",")),
    )
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    rows = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    done = {(r["condition"], r["algorithm"], r["seed"]) for r in rows}

    def record(row: dict) -> None:
        rows.append(row)
        with results.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{row['condition']:<26} {row['algorithm']:<6} seed {row['seed']}: "
              f"test accuracy {100 * row['test_accuracy']:.2f} %", flush=True)  # fmt: skip
        (args.out / "table.md").write_text("\n".join(summary_table(rows, settings.algorithms)) + "\n")

    run_study(open_chip, settings, record, done)
    print("\n".join(summary_table(rows, settings.algorithms)))


if __name__ == "__main__":
    main()
