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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from drivers.roles import PulseGenerator, SourceMeter, SwitchMatrix
from hil.benchconfig import BenchConfig, InstrumentConfig, LimitProblem
from hil.pulses import SafetyLimits

Driver = SourceMeter | PulseGenerator | SwitchMatrix


@dataclass(frozen=True)
class DriverEntry:
    name: str  # as written in a bench file
    role: str  # "smu", "pulser" or "matrix", as in hil.benchconfig.ROLES
    module: str
    cls: str
    visa: bool = True  # connects through pyvisa (takes the visa_library option)

    def load(self) -> type:
        return getattr(importlib.import_module(self.module), self.cls)

    def limit_problems(
        self, limits: SafetyLimits, read_voltage: float, options: Mapping[str, Any]
    ) -> list[LimitProblem]:
        """The bench limits this instrument cannot honour, from its class's own windows (no
        connection): hil.benchconfig's loader refuses them at their line."""
        if self.role == "smu":
            return _smu_problems(self.name, self.load(), limits, read_voltage)
        if self.role == "pulser":
            return _pulser_problems(self.name, self.load(), limits, options)
        return []


DRIVERS: dict[str, DriverEntry] = {
    entry.name: entry
    for entry in (
        DriverEntry("keithley2450", "smu", "drivers.keithley2450", "Keithley2450SMU"),
        DriverEntry("keysightb2902a", "smu", "drivers.keysight_b2902a", "KeysightB2902A"),
        DriverEntry("keithley2636b", "smu", "drivers.keithley2636b", "Keithley2636B"),
        DriverEntry("keysight33500b", "pulser", "drivers.keysight33500b", "Keysight33500B"),
        DriverEntry("agilent81150a", "pulser", "drivers.agilent81150a", "Agilent81150A"),
        DriverEntry("keithley707b", "matrix", "drivers.keithley707b", "Keithley707B"),
        DriverEntry("serialrelay", "matrix", "drivers.serial_relay", "SerialRelayMatrix", visa=False),
    )
}

# The connection itself and the safety limits are not bench options.
_NOT_OPTIONS = {"self", "adapter", "limits", "name"}
VISA_LIBRARY = "visa_library"
# Address forms pyvisa-py opens without any other VISA library.
_PYVISA_PY_ADDRESS = re.compile(r"^(TCPIP\d*::.+::SOCKET|ASRL.+)$", re.IGNORECASE)


def known_drivers() -> dict[str, DriverEntry]:
    """Driver name -> entry (its role and limit checks), what hil.benchconfig.load_bench_config
    checks a bench file against."""
    return dict(DRIVERS)


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

    The loader refuses these at their line when it is given known_drivers(); this catches a
    configuration built in code. A compliance or read bias outside what the SMU accepts, a
    pulse-width window the generator cannot make any part of, and a maximum pulse amplitude
    above what it can reach at its load are problems: the bench could not run as configured.
    """
    problems = []
    for instrument in config.instruments.values():
        entry = _entry(instrument.driver)
        found = entry.limit_problems(config.limits, config.read_voltage, instrument.options)
        problems += [f"[{p.table}] {p.key}: {p.message}" for p in found]
    return problems + _timing_problems(config)


def matrix_settle_time(config: BenchConfig) -> float:
    """Seconds the bench's switch matrix takes to settle: [timing] matrix_settle, else the
    matrix driver's nominal figure (its settle_time)."""
    if config.timing.matrix_settle is not None:
        return config.timing.matrix_settle
    return float(_entry(config.instrument("matrix").driver).load().settle_time)


def _timing_problems(config: BenchConfig) -> list[str]:
    """A scan (a scan cable and a matrix that scans) without the Channel Ready cable whose fixed
    delay is shorter than the matrix's settling time would read while the relays settle."""
    matrix = _entry(config.instrument("matrix").driver).load()
    if config.smu_to_switch is None or config.switch_ready is not None or not matrix.supports_scans:
        return []
    settle = matrix_settle_time(config)
    if config.timing.scan_delay >= settle:
        return []
    return [
        f"[timing] scan_delay: {config.timing.scan_delay:g} s is shorter than the switch matrix's settling "
        f"time {settle:g} s: scan readings would be taken while the relays settle; raise it, or cable the "
        "matrix's Channel Ready output to the SMU ([triggers] switch_ready)"
    ]


def _smu_problems(name: str, smu: type, limits: SafetyLimits, read_voltage: float) -> list[LimitProblem]:
    problems = []
    low, high = smu.compliance_range
    if not low <= limits.current_compliance <= high:
        problems.append(
            LimitProblem(
                "limits",
                "current_compliance",
                f"{limits.current_compliance:g} A is outside what the {name} accepts "
                f"({low:g} to {high:g} A); choose a value inside it",
            )
        )
    low, high = smu.bias_range
    if not low <= read_voltage <= high:
        problems.append(
            LimitProblem(
                "read",
                "voltage",
                f"{read_voltage:g} V is outside the {name}'s source range ({low:g} to {high:g} V)",
            )
        )
    return problems


def _pulser_problems(
    name: str, pulser: type, limits: SafetyLimits, options: Mapping[str, Any]
) -> list[LimitProblem]:
    problems = []
    low, high = pulser.width_range
    if limits.max_pulse_width < low or limits.min_pulse_width > high:
        problems.append(
            LimitProblem(
                "limits",
                "max_pulse_width" if limits.max_pulse_width < low else "min_pulse_width",
                f"pulse widths {limits.min_pulse_width:g}-{limits.max_pulse_width:g} s lie outside the "
                f"{name}'s range ({low:g} to {high:g} s): no pulse could be made",
            )
        )
    load = options.get("load_ohms")
    reach = pulser.max_open_circuit_level
    if isinstance(load, int | float) and not isinstance(load, bool) and load > 0:
        reach = reach * load / (load + pulser.source_impedance)
    if limits.max_pulse_amplitude > reach:
        at_load = "into a high-impedance load" if load is None else f"into {load:g} ohms"
        problems.append(
            LimitProblem(
                "limits",
                "max_pulse_amplitude",
                f"{limits.max_pulse_amplitude:g} V is more than the {name} can make {at_load} "
                f"({reach:g} V); set at most {reach:g} V",
            )
        )
    return problems
