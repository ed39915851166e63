"""Driver names as written in a bench configuration, their roles, and opening them.

    from drivers.registry import known_drivers, open_instrument
    config = load_bench_config("bench.toml", known_drivers())
    smu = open_instrument(config.instrument("smu"), config.limits)

Driver modules are imported only when opened, so that naming a driver costs nothing.

VISA drivers also take the option `visa_library` (pyvisa's library argument). Its default is
"@py" (pyvisa-py) for raw sockets (TCPIP...::SOCKET) and serial ports (ASRL...), which
pyvisa-py serves on its own, so that opening them does not search the computer for an IVI
VISA library (~0.3 s per instrument); other addresses (GPIB, USB, VXI-11 INSTR) keep pyvisa's
default search. Give visa_library = "" to search anyway, or a library's path.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from typing import Any

from drivers.roles import PulseGenerator, SourceMeter, SwitchMatrix
from hil.benchconfig import BenchConfig, InstrumentConfig
from hil.pulses import SafetyLimits

Driver = SourceMeter | PulseGenerator | SwitchMatrix


@dataclass(frozen=True)
class DriverEntry:
    role: str  # "smu", "pulser" or "matrix", as in hil.benchconfig.ROLES
    module: str
    cls: str
    visa: bool = True  # connects through pyvisa (takes the visa_library option)

    def load(self) -> type:
        return getattr(importlib.import_module(self.module), self.cls)


DRIVERS: dict[str, DriverEntry] = {
    "keithley2450": DriverEntry("smu", "drivers.keithley2450", "Keithley2450SMU"),
    "keysightb2902a": DriverEntry("smu", "drivers.keysight_b2902a", "KeysightB2902A"),
    "keithley2636b": DriverEntry("smu", "drivers.keithley2636b", "Keithley2636B"),
    "keysight33500b": DriverEntry("pulser", "drivers.keysight33500b", "Keysight33500B"),
    "agilent81150a": DriverEntry("pulser", "drivers.agilent81150a", "Agilent81150A"),
    "keithley707b": DriverEntry("matrix", "drivers.keithley707b", "Keithley707B"),
    "serialrelay": DriverEntry("matrix", "drivers.serial_relay", "SerialRelayMatrix", visa=False),
}

# The connection itself and the safety limits are not bench options.
_NOT_OPTIONS = {"self", "adapter", "limits", "name"}
VISA_LIBRARY = "visa_library"
# Address forms pyvisa-py opens without any other VISA library.
_PYVISA_PY_ADDRESS = re.compile(r"^(TCPIP\d*::.+::SOCKET|ASRL.+)$", re.IGNORECASE)


def known_drivers() -> dict[str, str]:
    """Driver name -> role, the form hil.benchconfig.load_bench_config checks against."""
    return {name: entry.role for name, entry in DRIVERS.items()}


def driver_options(driver: str) -> list[str]:
    """The `options` a bench configuration may give this driver (its constructor's keywords)."""
    entry = _entry(driver)
    parameters = inspect.signature(entry.load().__init__).parameters
    names = [
        p.name
        for p in parameters.values()
        if p.name not in _NOT_OPTIONS and p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    return [*names, VISA_LIBRARY] if entry.visa else names


def default_visa_library(address: str) -> str:
    """ "@py" for addresses pyvisa-py opens on its own (TCPIP...::SOCKET, ASRL...), else ""
    (pyvisa's default: search for an installed VISA library)."""
    return "@py" if _PYVISA_PY_ADDRESS.match(address.strip()) else ""


def open_instrument(config: InstrumentConfig, limits: SafetyLimits) -> Driver:
    """Connect the configured driver at its address with its options.

    SMUs and pulse generators get the bench limits; switch matrices need none. Unknown options
    raise ValueError before any connection is opened.
    """
    entry = _entry(config.driver)
    allowed = driver_options(config.driver)
    unknown = sorted(set(config.options) - set(allowed))
    if unknown:
        raise ValueError(
            f"driver {config.driver!r} has no option(s) {', '.join(unknown)}; "
            f"its options are: {', '.join(allowed) or 'none'}"
        )
    kwargs: dict[str, Any] = dict(config.options)
    if entry.visa:
        library = kwargs.pop(VISA_LIBRARY, default_visa_library(config.address))
        if not isinstance(library, str):
            raise ValueError(f'option visa_library must be a string such as "@py", got {library!r}')
        if library:
            kwargs[VISA_LIBRARY] = library
    if entry.role != "matrix":
        kwargs["limits"] = limits
    return entry.load()(config.address, **kwargs)


def _entry(driver: str) -> DriverEntry:
    try:
        return DRIVERS[driver]
    except KeyError:
        raise ValueError(f"unknown driver {driver!r}; known drivers: {', '.join(sorted(DRIVERS))}") from None


def limit_problems(config: BenchConfig) -> list[str]:
    """What the named instruments cannot honour of the bench's limits, found from the drivers'
    instrument windows without connecting anything (empty when all is well).

    A current compliance or read bias outside what the SMU accepts, and a pulse-width window
    that the generator cannot produce any part of, are problems: the bench could not run as
    its file says. (A limit the instrument exceeds, e.g. a generator that can make more volts,
    is fine: the drivers refuse anything beyond the bench's limit.)
    """
    lim = config.limits
    problems = []
    smu = _entry(config.instrument("smu").driver).load()
    low, high = smu.compliance_range
    if not low <= lim.current_compliance <= high:
        problems.append(
            f"[limits] current_compliance {lim.current_compliance:g} A is outside what the "
            f"{config.instrument('smu').driver} accepts ({low:g} to {high:g} A); choose a value inside it"
        )
    low, high = smu.bias_range
    if not low <= config.read_voltage <= high:
        problems.append(
            f"[read] voltage {config.read_voltage:g} V is outside the {config.instrument('smu').driver}'s "
            f"source range ({low:g} to {high:g} V)"
        )
    pulser = _entry(config.instrument("pulser").driver).load()
    low, high = pulser.width_range
    if lim.max_pulse_width < low or lim.min_pulse_width > high:
        problems.append(
            f"[limits] pulse widths {lim.min_pulse_width:g}-{lim.max_pulse_width:g} s lie outside the "
            f"{config.instrument('pulser').driver}'s range ({low:g} to {high:g} s): no pulse could be made"
        )
    return problems
