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
from hil.benchconfig import InstrumentConfig
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
        p.name for p in parameters.values()
        if p.name not in _NOT_OPTIONS and p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]  # fmt: skip
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
            raise ValueError(f"option visa_library must be a string such as \"@py\", got {library!r}")
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
