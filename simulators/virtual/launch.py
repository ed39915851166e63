"""Starting the virtual bench of a bench configuration, with the simulated chip behind it.

    vb, config = start_virtual_bench()            # benches/virtual-bench.toml, seed 0
    ...                                           # config's addresses are the live ones
    vb.stop()

    with virtual_bench(BENCHES / "virtual-bench-iris.toml", seed=3) as (vb, config):
        ...

Every [arrays.NAME] of the configuration is an array of a simulators.chip.SimulatedChip of the
given preset and seed, so array NAME has the same devices as SimulatedChip(preset, seed,
**overrides).array(NAME, shape) on the bare simulator. The instruments are served on free
ports of 127.0.0.1; the returned configuration is the file's with those addresses filled in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hil.benchconfig import BenchConfig, load_bench_config
from simulators.chip import SimulatedChip
from simulators.virtual.bench import VirtualBench

BENCHES = Path(__file__).parent / "benches"
DEFAULT_CONFIG = BENCHES / "virtual-bench.toml"
# Bench driver name -> the virtual instrument serving it (VirtualBench.addresses keys).
_SERVED_BY = {
    "keithley2450": "smu",
    "keysight33500b": "pulse_generator",
    "keithley707b": "switch_matrix",
    "serialrelay": "relay_matrix",
}


def start_virtual_bench(
    config_path: str | Path | BenchConfig | None = None,
    *,
    preset: str = "protonic-asymmetric",
    seed: int = 0,
    latency: float = 0.0,
    time_scale: float = 0.0,
    state_seed: int | None = 0,
    **overrides: Any,
) -> tuple[VirtualBench, BenchConfig]:
    """Start the virtual bench of a bench file (default benches/virtual-bench.toml) or of a
    configuration already loaded (its addresses are ignored).

    preset, seed, overrides: the simulated chip (simulators.chip.SimulatedChip arguments;
    overrides are DeviceConfig fields such as read_noise=0.0). latency: seconds added to every
    transaction on every instrument. time_scale: wall seconds an instrument stays busy per second
    of instrument time its commands take (readings, delays, bursts, relay settling; 0 = none,
    1.0 = real time; VirtualBench.time_scale). state_seed: the randomised state the instruments
    start in (None: their *RST state; VirtualBench). Returns the running VirtualBench (stop() it)
    and the configuration with live addresses.
    """
    if isinstance(config_path, BenchConfig):
        config = config_path
    else:
        config = load_bench_config(DEFAULT_CONFIG if config_path is None else Path(config_path))
    for role, instrument in config.instruments.items():
        if instrument.driver not in _SERVED_BY:
            raise ValueError(
                f"the virtual bench has no instrument for driver {instrument.driver!r} ({role}); "
                f"it serves {', '.join(sorted(_SERVED_BY))}"
            )
    chip = SimulatedChip(preset=preset, seed=seed, **overrides)
    arrays = {name: chip.array(name, region.shape) for name, region in config.arrays.items()}
    bench = VirtualBench.from_bench_config(config, arrays, state_seed=state_seed)
    bench.start()
    try:
        bench.latency = latency
        bench.time_scale = time_scale
        addresses = bench.addresses
        live = {
            role: dataclasses.replace(instrument, address=addresses[_SERVED_BY[instrument.driver]])
            for role, instrument in config.instruments.items()
        }
    except BaseException:
        bench.stop()
        raise
    return bench, dataclasses.replace(config, instruments=live)


@contextmanager
def virtual_bench(
    config_path: str | Path | BenchConfig | None = None, **options: Any
) -> Iterator[tuple[VirtualBench, BenchConfig]]:
    """start_virtual_bench (the same arguments) as a context manager: the servers stop on exit."""
    bench, config = start_virtual_bench(config_path, **options)
    try:
        yield bench, config
    finally:
        bench.stop()
