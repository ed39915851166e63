"""Instrument time of closed-loop training on the virtual bench: the demo's SHD training on
Iris, run for two numbers of epochs; the difference is the time the extra epochs took.

    python -m benchmarks.training_at_bench
    python -m benchmarks.training_at_bench --epochs 1 3 --algorithm sgd

Each run is `hil train ... --bench virtual` in this process with the demo's options (a 4-4-3
network, 6 V x 20 ns, the calibration's 150-pair window, VMMs re-reading only the devices
pulsed since their last reading). Instrument time is what the virtual instruments account for
their commands (InstrumentClock.busy_total, simulators.virtual.timing), at time_scale 0: what a
client waits for at time_scale 1, without the transport. Both runs have the same seed, so
their calibrations are the same and the difference is the epochs alone.
"""

from __future__ import annotations

import argparse
import tempfile
from unittest import mock

from hil import benches
from hil.bench import total_transactions
from hil.cli import main as hil_main


def run(algorithm: str, epochs: int, out: str) -> tuple[float, int]:
    """(instrument seconds, transactions) of one training run on a fresh virtual bench."""
    sessions: list[benches.VirtualBenchSession] = []
    close = benches.VirtualBenchSession.close
    figures: dict[str, float] = {}

    def closing(self: benches.VirtualBenchSession) -> None:
        figures["busy"] = sum(i.clock.busy_total for i in self.virtual.instruments.values())
        figures["tx"] = total_transactions(self.transactions())
        sessions.append(self)
        close(self)

    argv = ["train", "--bench", "virtual", "--algorithm", algorithm, "--dataset", "iris"]
    argv += ["--hidden", "4", "--epochs", str(epochs), "--amplitude", "6", "--width", "20e-9"]
    argv += ["--cal-window", "150", "--cal-max-pairs", "1500", "--vmm-reads", "after_write"]
    argv += ["--out", out, "--store", f"{out}/runs.sqlite", "--no-progress"]
    with mock.patch.object(benches.VirtualBenchSession, "close", closing):
        status = hil_main(argv)
    if status != 0 or not sessions:
        raise SystemExit(f"hil {' '.join(argv)} exited {status}")
    return figures["busy"], int(figures["tx"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algorithm", default="shd")
    p.add_argument("--epochs", type=int, nargs=2, default=[1, 3])
    args = p.parse_args()
    (few, more), results = args.epochs, []
    for epochs in (few, more):
        with tempfile.TemporaryDirectory() as out:
            results.append(run(args.algorithm, epochs, out))
    (busy_a, tx_a), (busy_b, tx_b) = results
    per_epoch = (busy_b - busy_a) / (more - few)
    print(
        {
            "algorithm": args.algorithm,
            f"instrument_min_{few}_epochs": round(busy_a / 60, 2),
            f"instrument_min_{more}_epochs": round(busy_b / 60, 2),
            "instrument_min_per_epoch": round(per_epoch / 60, 2),
            "transactions_per_epoch": (tx_b - tx_a) // (more - few),
        }
    )


if __name__ == "__main__":
    main()
