"""The three instrument roles a hardware backend composes.

SourceMeter reads a device (voltage source, current measure, current compliance),
PulseGenerator writes it (bursts of gate pulses on a bus trigger), SwitchMatrix routes
instrument lines to chip lines. Units: volts, seconds, amperes; matrix lines are 1-based.

Every role method checks its arguments before it sends anything: against the instrument's own
windows (class attributes of each driver) and, when the driver was given them, against the
bench's SafetyLimits. Out-of-range values raise ValueError (LimitError for the bench limits);
nothing is ever clamped. After a configuration a driver reads the instrument's error queue and
raises drivers.errors.InstrumentError if it holds entries.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from drivers.pulseshape import set_levels, set_timing
from drivers.state import KnownState
from hil.pulses import LimitError, Pulse, SafetyLimits


def check_real(instrument: str, what: str, value: object, unit: str) -> float:
    """A finite real number (bool refused), as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{instrument}: {what} must be a finite number of {unit}, got {value!r}")
    return float(value)


def check_window(instrument: str, what: str, value: float, window: tuple[float, float], unit: str) -> float:
    """Raise ValueError unless window[0] <= value <= window[1]; nothing has been sent then."""
    low, high = window
    if not low <= value <= high:
        raise ValueError(
            f"{instrument}: {what} {value:g} {unit} is outside the instrument's range "
            f"[{low:g}, {high:g}] {unit}; nothing was sent"
        )
    return value


def check_whole(instrument: str, what: str, value: object, low: int, high: int) -> int:
    """An integer in [low, high] (bool refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{instrument}: {what} must be a whole number, got {value!r}")
    if not low <= int(value) <= high:
        raise ValueError(f"{instrument}: {what} {value} is outside [{low}, {high}]; nothing was sent")
    return int(value)


@dataclass(frozen=True)
class AlternatingSequence:
    """Alternating pulse pairs with whole-array reads, as a source-measure unit's trigger model
    runs them on its own (SourceMeter.configure_alternating).

    pairs: cycles of {a falling edge on `pulse_line` (the generator's up pulse), `gap` seconds,
    a rising edge (its down pulse), `gap` seconds}. After the up and after the down pulse of
    every read_every-th pair the whole array is read: `devices` readings, each after a trigger
    pulse out of `switch_line` has stepped the switch matrix's scan to that device and the
    relays settled (an edge on digital input `wait_line`, the matrix's Channel Ready; without
    one, `settle` seconds), with the output on for the reading only. Before each group of
    pulses one more trigger steps the scan back to the pulse routing. Lines are 1-based digital
    I/O lines; pulse_line is driven as a level (high between pairs), the others are trigger lines.
    """

    pairs: int
    read_every: int
    devices: int
    pulse_line: int
    switch_line: int
    wait_line: int | None
    gap: float  # s, after each edge of pulse_line
    settle: float  # s, after each scan step when there is no wait_line

    @property
    def reads(self) -> int:
        """Whole-array reads: after the up and after the down pulse of every read_every-th pair."""
        return 2 * (self.pairs // self.read_every)

    @property
    def readings(self) -> int:
        """Readings the sequence leaves in the buffer, in order: per read, one per device."""
        return self.reads * self.devices

    @property
    def scan_steps(self) -> int:
        """Scan steps the matrix runs: per read, the pulse routing then each device's."""
        return self.reads * (self.devices + 1)


class SourceMeter(KnownState, ABC):
    """A source-measure unit that reads a device: source a voltage, measure the current.

    Drivers define the instrument's windows below and send the bias and the output state
    (_write_bias, _switch_output); the checks and the bookkeeping around them live here, and
    so does the state they keep, with its value before the first configuration.
    """

    bias_range: ClassVar[tuple[float, float]]  # V, voltages the source can be set to
    compliance_range: ClassVar[tuple[float, float]]  # A, current limits the instrument accepts
    nplc_range: ClassVar[tuple[float, float]]  # integration time in power-line cycles
    max_list_points: ClassVar[int]  # most biases one read_currents call may take

    name: str
    limits: SafetyLimits | None = None  # the bench's limits, if the driver was given them
    _bias: float | None = None  # V, the configured read bias; None: not configured
    _nplc: float = 1.0  # power-line cycles per reading
    _output_enabled: bool = False
    raise_on_errors: Callable[[str], None]  # drivers.errors.ScpiErrorQueue: InstrumentError if any

    @abstractmethod
    def configure_read(self, bias: float, compliance: float, nplc: float = 1.0) -> None:
        """Source `bias` volts, measure current (auto range) limited to `compliance` amperes.

        Each reading integrates over `nplc` power-line cycles. The output state is unchanged.
        Raises InstrumentError if the instrument's error queue holds entries afterwards.
        """

    def set_bias(self, volts: float) -> None:
        """Change the source voltage (volts); configure_read must have run."""
        self._require_configured("set_bias()")
        value = self._check_bias(volts)
        self._write_bias(value)
        self.raise_on_errors("set_bias()")
        self._bias = value

    def output_on(self) -> None:
        """Switch the output on; refused before configure_read, so that no unknown setting is applied."""
        self._require_configured("output_on()")
        self._switch_output(True)
        self.raise_on_errors("output_on()")
        self._output_enabled = True

    def output_off(self) -> None:
        """Switch the output off."""
        self._switch_output(False)
        self._output_enabled = False

    @abstractmethod
    def _write_bias(self, volts: float) -> None:
        """Send the source voltage (checked by the caller)."""

    @abstractmethod
    def _switch_output(self, on: bool) -> None:
        """Send output on or off."""

    @abstractmethod
    def read_current(self) -> float:
        """One current reading in amperes at the present bias; the output must be on."""

    def read_current_switched(self) -> float:
        """Switch the output on, take one current reading (amperes), switch it off: a device
        read whose routing is complete. Needs configure_read; the output is off afterwards
        whatever happens."""
        self.output_on()
        try:
            return self.read_current()
        finally:
            self.output_off()

    @abstractmethod
    def read_currents(self, biases: Sequence[float]) -> list[float]:
        """Currents (amperes) at each bias (volts) in turn, as one list sweep run by the instrument.

        The output must be on. Afterwards the source is back at the configured bias.
        """

    @abstractmethod
    def shutdown(self) -> None:
        """Source 0 V and switch the output off. Safe to call repeatedly."""

    #: True if configure_triggered_reads() and run_triggered_reads() are implemented
    supports_triggered_reads: ClassVar[bool] = False
    #: readings one triggered sequence may take (0: none)
    max_triggered_reads: ClassVar[int] = 0

    def configure_triggered_reads(
        self,
        count: int,
        line: int,
        settle: float,
        *,
        wait_line: int | None = None,
        switch_source: bool = False,
    ) -> None:
        """Set up a sequence the instrument runs on its own, `count` times: a trigger pulse out
        of digital I/O `line`; then an edge on digital input `wait_line` (the switch matrix's
        Channel Ready), or, without one, `settle` seconds; one current reading at the present
        bias. switch_source: the output goes on for each reading only and off after it (so that
        relays never switch with the bias live); run_triggered_reads() then needs the output
        off. Raises InstrumentError if the error queue holds entries afterwards.
        """
        raise NotImplementedError(f"{self.name}: this driver cannot run triggered read sequences")

    def run_triggered_reads(self) -> list[float]:
        """Run the configured sequence and return its currents (amperes). The output must be on,
        unless the sequence switches the source itself."""
        raise NotImplementedError(f"{self.name}: this driver cannot run triggered read sequences")

    #: True if configure_alternating() is implemented (run and fetch as for triggered reads)
    supports_alternating: ClassVar[bool] = False

    def configure_alternating(self, sequence: AlternatingSequence) -> None:
        """Set up `sequence` for run_triggered_reads() (which then needs the output off: the
        sequence switches the source itself) and fetch_triggered_reads(sequence.readings).
        Raises InstrumentError if the error queue holds entries afterwards."""
        raise NotImplementedError(f"{self.name}: this driver cannot run alternating pulse sequences")

    def fetch_triggered_reads(self, count: int) -> list[float]:
        """The `count` currents (amperes) the last sequence left in the instrument's buffer,
        fetched again (after a reply to run_triggered_reads() that could not be read). Changes
        nothing on the instrument."""
        raise NotImplementedError(f"{self.name}: this driver cannot run triggered read sequences")

    # ------------------------------------------------------------------ shared checks
    def _check_bias(self, volts: object) -> float:
        value = check_real(self.name, "bias", volts, "volts")
        check_window(self.name, "bias", value, self.bias_range, "V")
        if self.limits is not None:
            self.limits.check_read_voltage(value)
        return value

    def _check_compliance(self, amps: object) -> float:
        value = check_real(self.name, "compliance", amps, "amperes")
        check_window(self.name, "compliance", value, self.compliance_range, "A")
        if self.limits is not None and value > self.limits.current_compliance:
            raise LimitError(
                f"{self.name}: compliance {value:g} A exceeds the bench limit "
                f"{self.limits.current_compliance:g} A; nothing was sent"
            )
        return value

    def _check_nplc(self, nplc: object) -> float:
        value = check_real(self.name, "nplc", nplc, "power-line cycles")
        return check_window(self.name, "nplc", value, self.nplc_range, "PLC")

    def _check_biases(self, biases: Sequence[float]) -> list[float]:
        values = [self._check_bias(v) for v in biases]
        if not 1 <= len(values) <= self.max_list_points:
            raise ValueError(
                f"{self.name}: a list sweep takes 1 to {self.max_list_points} biases, got {len(values)}; "
                "split it into several calls"
            )
        return values

    def _require_configured(self, action: str) -> float:
        if self._bias is None:
            raise RuntimeError(f"{self.name}: call configure_read() before {action}")
        return self._bias

    def _list_duration(self, points: int) -> float:
        """Generous estimate of a list sweep in seconds: 50 Hz mains (the slower) plus 50 ms per point."""
        return points * (self._nplc / 50.0 + 0.05)

    def _require_output(self, action: str) -> None:
        self._require_configured(action)
        if not self._output_enabled:
            raise RuntimeError(f"{self.name}: the output is off; call output_on() before {action}")


class PulseGenerator(KnownState, ABC):
    """A pulse generator that writes a device: bursts of gate pulses fired by a bus trigger.

    Pulses start and end at 0 V and reach +amplitude (polarity +1) or -amplitude (polarity -1).
    Drivers define the windows below and `load_ohms` (None for a high-impedance load such as
    a gate); the state the role keeps is declared here with its value before the first
    configuration.
    """

    max_open_circuit_level: ClassVar[float]  # V, largest |level| into a high-impedance load
    source_impedance: ClassVar[float] = 50.0  # ohms, in series with the output
    width_range: ClassVar[tuple[float, float]]  # s
    period_range: ClassVar[tuple[float, float]]  # s
    edge_time: ClassVar[float]  # s, the edge the driver programs; period >= width + 1.6 edge
    max_count: ClassVar[int]  # most pulses in one burst
    min_gap: ClassVar[float] = 0.0  # s, least period - width the instrument accepts
    # s, from an edge on the external trigger input to the output's first edge (an upper bound)
    trigger_latency: ClassVar[float] = 1e-6

    #: True if arm_external_trigger() is implemented (bursts on the rear trigger input)
    supports_external_trigger: ClassVar[bool] = False
    #: True if arm_alternating() is implemented (up and down pulses on the trigger input's edges)
    supports_alternating: ClassVar[bool] = False

    name: str
    limits: SafetyLimits | None = None  # the bench's limits, if the driver was given them
    load_ohms: float | None = None  # ohms; None: a high-impedance load
    ch: Any  # the output channel: PyMeasure channel properties set_timing and set_levels use
    # The settings the instrument confirmed (error queue empty afterwards); None: unknown, so
    # the next configuration sends everything. _pulse: (amplitude, width, polarity, period);
    # _count: pulses per burst; _trigger: what starts a burst (e.g. "BUS", "EXT").
    _pulse: tuple[float, float, int, float] | None = None
    _count: int | None = None
    _trigger: str | None = None
    _output_enabled: bool = False
    raise_on_errors: Callable[[str], None]  # drivers.errors.ScpiErrorQueue: InstrumentError if any

    def configure_pulse(
        self, amplitude: float, width: float, polarity: int, period: float | None = None
    ) -> None:
        """Set up bus-triggered bursts of pulses of `amplitude` volts and `width` seconds.

        polarity: +1 or -1. period: seconds from one pulse start to the next within a burst
        (default twice the width, or the shortest the instrument allows). Switches the output
        off first, because changing levels and polarity passes through shapes that do not rest
        at 0 V; call output_on() afterwards. Raises InstrumentError if the error queue holds
        entries afterwards. Once a configuration has been confirmed, the next one sends only
        what changed (a polarity flip: the levels), then reads the error queue.
        """
        a, w, pol, p = self._check_pulse(amplitude, width, polarity, period)
        self._configure_output(a, w, pol, p, single=True)

    def _configure_output(self, a: float, w: float, pol: int, p: float, *, single: bool) -> None:
        """configure_pulse of checked values; single: undo arm_alternating() first."""
        known, self._pulse = self._pulse, None
        with self._forget_on_error():
            self.output_off()
            if single:
                self._single_polarity()
            if known is None:
                self._configure_all(a, w, pol, p)
            else:  # only what changed since the confirmed configuration
                changed = False
                if (known[1], known[3]) != (w, p):
                    self._write_timing(w, p, present=known[3])
                    changed = True
                if (known[0], known[2]) != (a, pol):
                    set_levels(self.ch, a, pol)
                    changed = True
                if changed:
                    self.raise_on_errors("configure_pulse()")
        self._pulse = (a, w, pol, p)

    @abstractmethod
    def _configure_all(self, a: float, w: float, pol: int, p: float) -> None:
        """Send the whole pulse configuration (checked values) and read the error queue."""

    def _write_timing(
        self, width: float, period: float, present: float | None = None, channel: Any = None
    ) -> None:
        """Width and period in seconds, in an order valid from the `present` period (None: ask),
        on `channel` (default the role's output channel)."""
        set_timing(
            self.ch if channel is None else channel,
            width,
            period,
            edge_time=self.edge_time,
            instrument=self.name,
            present=present,
            min_gap=self.min_gap,
        )

    @abstractmethod
    def fire(self, count: int) -> None:
        """Fire one burst of `count` pulses on a bus trigger and return once it has finished.

        Needs configure_pulse and the output on. Never retried: on any error the number of
        pulses that reached the device is unknown, and the caller must read the device.
        """

    def arm_external_trigger(self) -> None:
        """Fire one pulse of the configured shape per edge on the external trigger input.

        Needs configure_pulse; the output state is unchanged (switch it on to deliver pulses).
        The next fire() returns to bus triggering. Raises InstrumentError if the error queue
        holds entries afterwards.
        """
        raise NotImplementedError(f"{self.name}: this driver cannot fire on an external trigger")

    def arm_alternating(self, up: Pulse, down: Pulse) -> None:
        """Pulse `up` (positive, from 0 V) on each falling edge at the external trigger input and
        `down` (negative, from 0 V) on each rising edge, out of the role's output. Switches the
        output off first; switch it on to deliver pulses. Any later configure_pulse(),
        arm_external_trigger() or fire() returns to pulses of one polarity first. Raises
        InstrumentError if the error queue holds entries afterwards."""
        raise NotImplementedError(f"{self.name}: this driver cannot alternate pulses on trigger edges")

    def _single_polarity(self) -> None:
        """Undo what arm_alternating() set up, if it may be set up (default: nothing to undo)."""

    def forget_settings(self) -> None:
        """Forget what the instrument is set to: the next configure_pulse sends everything.

        Called on any error while talking to the instrument, by shutdown, and by a bench that
        made itself safe after an error.
        """
        self._pulse, self._count, self._trigger = None, None, None

    @contextmanager
    def _forget_on_error(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self.forget_settings()
            raise

    def output_on(self) -> None:
        """Switch the output on; refused before configure_pulse."""
        self._require_configured("output_on()")
        with self._forget_on_error():
            self._switch_output(True)
            self.raise_on_errors("output_on()")
        self._output_enabled = True

    def output_off(self) -> None:
        """Switch the output off."""
        self._output_enabled = False
        with self._forget_on_error():
            self._switch_output(False)

    @abstractmethod
    def shutdown(self) -> None:
        """Switch the output off. Safe to call repeatedly."""

    @abstractmethod
    def _switch_output(self, on: bool) -> None:
        """Send output on or off."""

    # ------------------------------------------------------------------ shared checks
    @property
    def max_amplitude(self) -> float:
        """Largest pulse magnitude in volts at the load (open-circuit level divided by the source)."""
        if self.load_ohms is None:
            return self.max_open_circuit_level
        return self.max_open_circuit_level * self.load_ohms / (self.load_ohms + self.source_impedance)

    def _check_pulse(
        self, amplitude: object, width: object, polarity: object, period: object
    ) -> tuple[float, float, int, float]:
        a = check_real(self.name, "pulse amplitude", amplitude, "volts")
        w = check_real(self.name, "pulse width", width, "seconds")
        if a <= 0:
            raise ValueError(f"{self.name}: pulse amplitude must be > 0 V, got {a:g}; polarity sets the sign")
        check_window(self.name, "pulse amplitude", a, (0.0, self.max_amplitude), "V")
        check_window(self.name, "pulse width", w, self.width_range, "s")
        if isinstance(polarity, bool) or polarity not in (1, -1):
            raise ValueError(f"{self.name}: polarity must be +1 or -1, got {polarity!r}")
        if self.limits is not None:
            self.limits.check_pulse(Pulse(a, w))
        shortest = w + 1.6 * self.edge_time
        if period is None:
            p = max(2.0 * w, shortest, self.period_range[0])
        else:
            p = check_real(self.name, "pulse period", period, "seconds")
        check_window(self.name, "pulse period", p, self.period_range, "s")
        if p < shortest:
            raise ValueError(
                f"{self.name}: pulse period {p:g} s is shorter than width + 1.6 x edge time = "
                f"{shortest:g} s; nothing was sent"
            )
        return a, w, int(polarity), p

    def _check_count(self, count: object) -> int:
        most = self.max_count
        if self.limits is not None:
            most = min(most, self.limits.max_pulses_per_call)
        return check_whole(self.name, "pulse count", count, 1, most)

    def _require_configured(self, action: str) -> tuple[float, float, int, float]:
        if self._pulse is None:
            raise RuntimeError(f"{self.name}: call configure_pulse() before {action}")
        return self._pulse


class SwitchMatrix(KnownState, ABC):
    """A switch matrix: crosspoint (row, col) joins instrument line `row` to chip line `col`.

    Rows and columns are 1-based, as in the bench configuration's [wiring] and [chip] tables.
    """

    name: str
    # s, from a switching command until the relays have settled (nominal; a bench file's [timing]
    # matrix_settle, measured, takes precedence)
    settle_time: ClassVar[float]

    @property
    @abstractmethod
    def size(self) -> tuple[int, int]:
        """(rows, cols): number of instrument lines and of chip lines."""

    @abstractmethod
    def close_crosspoint(self, row: int, col: int) -> None:
        """Connect instrument line `row` to chip line `col` (other crosspoints unchanged)."""

    @abstractmethod
    def open_crosspoint(self, row: int, col: int) -> None:
        """Disconnect instrument line `row` from chip line `col`."""

    @abstractmethod
    def open_all(self) -> None:
        """Open every crosspoint (a matrix that can scan first stops a scan it may be running)."""

    @abstractmethod
    def closed_crosspoints(self) -> frozenset[tuple[int, int]]:
        """The closed crosspoints as (row, col) pairs, read from the instrument."""

    @abstractmethod
    def shutdown(self) -> None:
        """Open every crosspoint. Safe to call repeatedly."""

    #: True if configure_scan(), start_scan() and check_scan() are implemented
    supports_scans: ClassVar[bool] = False

    def configure_scan(
        self,
        steps: Sequence[Iterable[tuple[int, int]]],
        line: int,
        ready_line: int | None = None,
        *,
        passes: int = 1,
    ) -> None:
        """Set up a scan the matrix runs on its own: step k closes exactly the crosspoints
        steps[k] (the previous step's open), each step on a trigger at its digital I/O `line`;
        with `ready_line`, a trigger pulse out of that line once each step's relays settled.
        passes: times the list runs, each pass's steps on triggers as the first's.
        Every crosspoint is checked before anything is sent; raises InstrumentError if the
        instrument queued an error.
        """
        raise NotImplementedError(f"{self.name}: this driver cannot run scans")

    def start_scan(self) -> None:
        """Start the configured scan: every crosspoint opens, then each trigger runs one step."""
        raise NotImplementedError(f"{self.name}: this driver cannot run scans")

    def check_scan(self, steps: int, passes: int = 1) -> None:
        """After the triggers: InstrumentError unless the scan ran all `passes` passes of its
        `steps` steps without an error. Its last step stays closed."""
        raise NotImplementedError(f"{self.name}: this driver cannot run scans")

    def connect_exactly(
        self, points: Iterable[tuple[int, int]], previous: frozenset[tuple[int, int]] | None = None
    ) -> frozenset[tuple[int, int]]:
        """Close exactly `points` (row, col); every other crosspoint ends up open.

        previous: the crosspoints known to be closed now (None: unknown, e.g. after an error);
        a matrix without a one-command routing changes only the difference, opening before
        closing. Returns once every relay has settled, or raises InstrumentError. All
        crosspoints are checked before anything is sent. Returns the closed set.
        """
        wanted = frozenset(self._check_crosspoint(r, c) for r, c in points)
        if previous is None:
            self.open_all()
            previous = frozenset()
        for point in sorted(previous - wanted):
            self.open_crosspoint(*point)
        for point in sorted(wanted - previous):
            self.close_crosspoint(*point)
        return wanted

    def _check_crosspoint(self, row: object, col: object) -> tuple[int, int]:
        rows, cols = self.size
        return (
            check_whole(self.name, "row (instrument line)", row, 1, rows),
            check_whole(self.name, "column (chip line)", col, 1, cols),
        )
