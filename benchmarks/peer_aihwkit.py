"""The peer's figure, re-measured: aihwkit's pulsed update of a 512 x 512 SoftBounds tile.

Runs in a separate environment that has aihwkit (it needs PyTorch, which the project does not):

    python3 -m venv .venv-aihwkit
    .venv-aihwkit/bin/pip install torch==2.10.0 scipy scikit-learn requests protobuf tqdm
    .venv-aihwkit/bin/pip install --no-deps aihwkit==1.1.0   # built against torch 2.10
    .venv-aihwkit/bin/python benchmarks/peer_aihwkit.py

(aihwkit 1.1.0's wheel fails with torch 2.9.1, an undefined symbol, and with torch 2.13,
"x_input must be a CPU tensor": it was built against 2.10.)

The workloads are those of benchmarks/bench_simulator.py (k = 0.1, 0.2, 0.3, 0.5, 1 and 2.5 pulses
per device at BL 31; 0.1, 1 and 2.5 with BL management): inputs x, d uniform in [-1, 1], update
management on, BL fixed at 31 ("bl31") or BL management on ("blm"), and a learning rate chosen
for a mean of k pulses per device (k = lr / dw_min E|x| E|d| = lr / dw_min / 4). The device is
aihwkit's SoftBoundsDevice with its defaults (dw_min 1e-3, 30 % cycle-to-cycle and 30 %
device-to-device spread of the step) and bounds at +-1. The time is per input vector (one
tile.update of a batch of 1), median over the repeats; torch's default threads (the CPUs).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from aihwkit.simulator.configs import SingleRPUConfig
from aihwkit.simulator.configs.devices import SoftBoundsDevice
from aihwkit.simulator.tiles import AnalogTile

POOL = 16  # distinct input vectors, cycled, as in bench_simulator


def time_update(mode: str, k: float, n: int, repeats: int) -> tuple[float, float]:
    """Median and half the interquartile range (seconds) of one update per input vector."""
    config = SingleRPUConfig(device=SoftBoundsDevice(w_max=1.0, w_min=-1.0))
    config.update.desired_bl = 31
    config.update.update_management = True
    config.update.fixed_bl = mode == "bl31"
    config.update.update_bl_management = mode == "blm"
    tile = AnalogTile(n, n, config)
    tile.set_learning_rate(4.0 * k * config.device.dw_min)
    generator = torch.Generator().manual_seed(1)
    pool = [(torch.rand(1, n, generator=generator) * 2 - 1, torch.rand(1, n, generator=generator) * 2 - 1)
            for _ in range(POOL)]  # fmt: skip
    for x, d in pool[:4]:  # warm-up
        tile.update(x, d)
    times = []
    for r in range(repeats):
        x, d = pool[r % POOL]
        start = time.perf_counter()
        tile.update(x, d)
        times.append(time.perf_counter() - start)
    q25, q50, q75 = np.percentile(times, [25, 50, 75])
    return float(q50), float(q75 - q25) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    threads = torch.get_num_threads()
    print(f"aihwkit SoftBounds {args.size} x {args.size}, torch {torch.__version__}, {threads} threads")
    for mode in ("bl31", "blm"):
        for k in (0.1, 0.2, 0.3, 0.5, 1.0, 2.5) if mode == "bl31" else (0.1, 1.0, 2.5):
            median, spread = time_update(mode, k, args.size, args.repeats)
            print(f"  peer.aihwkit.update.{mode}[{k:g}/dev]  {1e3 * median:.2f} ms  +- {1e3 * spread:.2f} ms")


if __name__ == "__main__":
    main()
