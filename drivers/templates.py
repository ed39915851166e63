"""Templates for the two instrument roles whose drivers share a command sequence.

A driver is the template plus a table: its PyMeasure channel class (the instrument's own
commands, under the names the template uses) and a few class attributes naming what differs,
such as the settings that select a function or the commands that make the instrument safe.
The template holds the order of the steps, which is what the safety rules depend on:
compliance before bias, limits off before the output load, every step of the safe state tried.

ScpiPulseGenerator programs bus-triggered bursts on one channel of a SCPI pulse or function
generator (Agilent 81150A, Keysight 33500B). SourceMeterTemplate reads currents on a
source-measure unit, ChannelSourceMeter on one channel of a multi-channel one (Keysight
B2902A, Keithley 2636B); the single-channel Keithley 2450 uses SourceMeterTemplate.

Command texts in the tables may hold "{ch}", replaced by the channel's id as in PyMeasure's
channel commands. Units: volts, seconds, amperes, ohms.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Hashable, Sequence
from typing import Any, ClassVar

from pymeasure.instruments import Instrument

from drivers.attributes import FastAttributeAccess
from drivers.errors import InstrumentError, ScpiErrorQueue, UnreadableReply
from drivers.pulseshape import set_levels
from drivers.roles import PulseGenerator, SourceMeter, check_real
from drivers.safestate import send_all
from drivers.state import ScpiSettings
from drivers.timeouts import timeout_at_least
from hil.pulses import SafetyLimits

#: (channel property, value) pairs, written in order
Settings = tuple[tuple[str, Any], ...]


def apply_settings(channel: Any, settings: Settings) -> None:
    """Write each (property, value) of `settings` to `channel`, in order."""
    for prop, value in settings:
        setattr(channel, prop, value)


def check_channel(instrument: str, channel: object, ids: Sequence[Hashable]) -> Hashable:
    """The channel id among `ids` that equals `channel`; ValueError if there is none."""
    if not isinstance(channel, bool) and channel in ids:
        return ids[list(ids).index(channel)]
    choices = " or ".join(repr(i) for i in ids)
    raise ValueError(
        f"{instrument}: channel {channel!r} is outside the instrument's channels: must be {choices}"
    )


def visa_defaults(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The VISA keywords every driver defaults: newline terminations (raw sockets need them;
    GPIB and USB do not mind), and SCPI basics from SCPIMixin where a driver inherits it,
    never from PyMeasure's deprecated includeSCPI."""
    kwargs.setdefault("read_termination", "\n")
    kwargs.setdefault("write_termination", "\n")
    kwargs.setdefault("includeSCPI", False)
    return kwargs


class ScpiPulseGenerator(FastAttributeAccess, ScpiSettings, ScpiErrorQueue, PulseGenerator):
    """A SCPI pulse generator as the bench's PulseGenerator on output `channel`.

    limits: the bench's SafetyLimits; pulses outside them are refused, and the generator's own
        voltage limit is set to +-max_pulse_amplitude as a second guard.
    load_ohms: the load on the output; None (default) for a high-impedance load such as a gate,
        so that the programmed levels are the volts the gate sees.
    name: defaults to the model. Other keyword arguments go to the VISA connection.

    A driver subclasses it before its PyMeasure base and gives: its channel class (properties
    shape, pulse_width, pulse_period, voltage_high, voltage_low, polarity, output_load,
    output, burst_ncycles, trigger_source, voltage_limit_high, voltage_limit_low,
    voltage_limits_enabled), created as `ch_1`, `ch_2`, and the table below.
    """

    model: ClassVar[str]  # the default name
    channel_ids: ClassVar[tuple[int, ...]] = (1, 2)
    load_range: ClassVar[tuple[float, float]]  # ohms a finite load_ohms may take
    high_impedance_load: ClassVar[float | str]  # output_load for a high-impedance load
    pulse_setup: ClassVar[Settings]  # selects the pulse function (and the edges, if programmed)
    bus_burst_setup: ClassVar[Settings]  # bursts of one pulse, each started by *TRG
    bus_trigger_source: ClassVar[str]  # trigger_source once bus_burst_setup has run
    trigger_command: ClassVar[str]  # starts a burst
    safe_state: ClassVar[tuple[str, ...]]  # output off

    def __init__(
        self,
        adapter: Any,
        limits: SafetyLimits | None = None,
        channel: int | None = None,
        load_ohms: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ):
        name = name or self.model
        number = check_channel(name, self.channel_ids[0] if channel is None else channel, self.channel_ids)
        if load_ohms is not None:
            load_ohms = check_real(name, "load_ohms", load_ohms, "ohms")
            low, high = self.load_range
            if not low <= load_ohms <= high:
                raise ValueError(
                    f"{name}: load_ohms must be {low:g} to {high:g} ohms, or None for high impedance"
                )
        super().__init__(adapter, name, **visa_defaults(kwargs))
        self.limits = limits
        self.load_ohms = load_ohms
        self.channel_number = number
        self.ch = self.channels[number]

    def _configure_all(self, a: float, w: float, pol: int, p: float) -> None:
        self._count, self._trigger = None, None
        self._configure_channel(self.ch, a, w, pol, p)
        self.raise_on_errors("configure_pulse()")
        self._count, self._trigger = 1, self.bus_trigger_source

    def _configure_channel(self, ch: Any, a: float, w: float, pol: int, p: float) -> None:
        """The whole pulse configuration of channel `ch` (checked values), bursts of one pulse
        on the bus trigger, the generator's own voltage limit at the bench limit."""
        guard = None
        if self.limits is not None:
            # The generator's own limit is only ever tighter than the instrument's window.
            guard = min(self.limits.max_pulse_amplitude, self.max_amplitude)
        ch.voltage_limits_enabled = False  # the 33500B refuses a new output load while they are on
        ch.output_load = self.high_impedance_load if self.load_ohms is None else self.load_ohms
        apply_settings(ch, self.pulse_setup)
        self._write_timing(w, p, channel=ch)
        set_levels(ch, a, pol)
        apply_settings(ch, self.bus_burst_setup)
        if guard is not None:
            ch.voltage_limit_high = guard
            ch.voltage_limit_low = -guard
            ch.voltage_limits_enabled = True

    def fire(self, count: int) -> None:
        _, _, _, period = self._require_configured("fire()")
        n = self._check_count(count)
        if not self._output_enabled:
            raise RuntimeError(f"{self.name}: the output is off; call output_on() before fire()")
        with self._forget_on_error():
            self._single_polarity()
            self._set_burst(n, self.bus_trigger_source)
            with timeout_at_least(self, n * period):
                self.write(self.trigger_command)
                self._await_burst(n, period)
                done = self.ask("*OPC?")  # answers once the burst is out
            if done.strip() != "1":
                raise InstrumentError(self.name, f"*OPC? answered {done!r} after the burst, expected '1'")

    def _await_burst(self, count: int, period: float) -> None:
        """Between the trigger and *OPC?: nothing where *OPC? is documented to wait for the burst."""

    def _set_burst(self, count: int, trigger: str) -> None:
        """Burst count and trigger source, written only if they differ from the confirmed ones."""
        changed = []
        if count != self._count:
            self._count = None
            self.ch.burst_ncycles = count
            changed.append("the burst count")
        if trigger != self._trigger:
            self._trigger = None
            self.ch.trigger_source = trigger
            changed.append("the trigger source")
        if changed:
            self.raise_on_errors("setting " + " and ".join(changed))
        self._count, self._trigger = count, trigger

    def _switch_output(self, on: bool) -> None:
        self.ch.output = on

    def shutdown(self) -> None:
        """Switch the role's output off; the next configuration sends everything."""
        self._output_enabled = False
        self.forget_settings()
        send_all(self.write, [self.ch.insert_id(command) for command in self.safe_state])
        Instrument.shutdown(self)  # PyMeasure's bookkeeping; the safe state is the table's


class SourceMeterTemplate(FastAttributeAccess, SourceMeter):
    """A source-measure unit as the bench's SourceMeter (voltage source, current measure).

    limits: the bench's SafetyLimits; bias and compliance outside them are refused.
    name: defaults to the model. Other keyword arguments go to the VISA connection.

    A driver subclasses it before its PyMeasure base and gives `smu`, the object holding the
    properties source_voltage (V) and output_enabled (bool), the table below and _setup_read.
    """

    model: ClassVar[str]  # the default name
    read_query: ClassVar[str]  # one current reading in amperes at the present bias
    safe_state: ClassVar[tuple[str, ...]]  # abort any sweep, source 0 V, output off
    smu: Any
    channel_number: Hashable | None = None  # the "{ch}" of the tables' commands

    def __init__(
        self, adapter: Any, limits: SafetyLimits | None = None, name: str | None = None, **kwargs: Any
    ):
        super().__init__(adapter, name or self.model, **visa_defaults(kwargs))
        self.limits = limits

    def configure_read(self, bias: float, compliance: float, nplc: float = 1.0) -> None:
        volts = self._check_bias(bias)
        amps = self._check_compliance(compliance)
        cycles = self._check_nplc(nplc)
        self._bias = None  # unconfigured until the error queue comes back empty
        self._setup_read(volts, amps, cycles)
        self._bias, self._nplc = volts, cycles

    @abstractmethod
    def _setup_read(self, volts: float, amps: float, cycles: float) -> None:
        """Send the read configuration (checked values), then read the error queue."""

    def _write_bias(self, volts: float) -> None:
        self.smu.source_voltage = volts

    def _switch_output(self, on: bool) -> None:
        self.smu.output_enabled = on

    def read_current(self) -> float:
        self._require_output("read_current()")
        query = self._command(self.read_query)
        reply = self.ask(query)
        try:
            return float(reply)
        except ValueError:
            raise UnreadableReply(self.name, f"unreadable {query} reply {reply!r}") from None

    def shutdown(self) -> None:
        """Abort any sweep, source 0 V, output off, on the role's SMU; each step is tried."""
        self._output_enabled = False
        send_all(self.write, [self._command(command) for command in self.safe_state])
        # PyMeasure's bookkeeping only: a PyMeasure driver's own shutdown (the 2450's ramps the
        # source down) is not wanted, the safe-state table is the whole sequence.
        Instrument.shutdown(self)

    def _command(self, text: str) -> str:
        return text.format_map({"ch": self.channel_number})


class ChannelSourceMeter(SourceMeterTemplate):
    """SourceMeterTemplate on one channel of a multi-channel SMU: `channel` (default the first
    of channel_ids) picks it, and `smu` is that PyMeasure channel, with the properties
    compliance_current (A), source_voltage (V), current_nplc (PLC) and output_enabled (bool).
    """

    channel_ids: ClassVar[tuple[Hashable, ...]]
    voltage_source_setup: ClassVar[Settings]  # makes `smu` a voltage source (before compliance, bias)
    current_measure_setup: ClassVar[Settings]  # makes it measure current, auto range (before NPLC)

    def __init__(
        self,
        adapter: Any,
        limits: SafetyLimits | None = None,
        channel: int | str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ):
        name = name or self.model
        number = check_channel(name, self.channel_ids[0] if channel is None else channel, self.channel_ids)
        super().__init__(adapter, limits, name, **kwargs)
        self.channel_number = number
        self.smu = self.channels[number]

    def _setup_read(self, volts: float, amps: float, cycles: float) -> None:
        smu = self.smu
        apply_settings(smu, self.voltage_source_setup)
        smu.compliance_current = amps  # before the bias, so that the bias never meets an old limit
        smu.source_voltage = volts
        apply_settings(smu, self.current_measure_setup)
        smu.current_nplc = cycles
        self.raise_on_errors("configure_read()")
