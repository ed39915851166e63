"""Virtual instruments that speak the real instruments' protocols over 127.0.0.1, wired to
one simulated chip (see docs/virtual-bench.md)."""

from simulators.virtual.bench import VirtualBench
from simulators.virtual.keithley707b import Keithley707B, channel_for
from simulators.virtual.keithley2450 import Keithley2450
from simulators.virtual.keysight33500b import Keysight33500B
from simulators.virtual.relay_matrix import RelayMatrix
from simulators.virtual.server import Faults, LineServer
from simulators.virtual.wiring import (
    AWG_CH1,
    AWG_CH2,
    DEFAULT_ROWS,
    GND,
    SMU_HI,
    SMU_LO,
    DevicePads,
    PinMap,
    PulseRecord,
    SmuReading,
    VirtualChip,
    rows_from_wiring,
)

__all__ = [
    "AWG_CH1",
    "AWG_CH2",
    "DEFAULT_ROWS",
    "GND",
    "SMU_HI",
    "SMU_LO",
    "DevicePads",
    "Faults",
    "Keithley707B",
    "Keithley2450",
    "Keysight33500B",
    "LineServer",
    "PinMap",
    "PulseRecord",
    "RelayMatrix",
    "SmuReading",
    "VirtualBench",
    "VirtualChip",
    "channel_for",
    "rows_from_wiring",
]
