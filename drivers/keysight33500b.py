"""Keysight 33500B waveform generator: PyMeasure's Agilent33500 as a bus-triggered PulseGenerator.

Commands follow the Keysight 33500 Series Operating and Service Guide, "SCPI Programming
Reference": SOURce:FUNCtion:PULSe, SOURce:VOLTage (HIGH, LOW, LIMit), SOURce:BURSt,
TRIGger:SOURce, OUTPut (LOAD, POLarity). PyMeasure's channel properties are reused; this
module adds the few the pulse role needs and widens the level windows to the high-impedance
range (levels are refused outside it, never clamped).

The driver remembers the settings the instrument confirmed (error queue empty afterwards), so
a new pulse sends only what changed: a polarity flip is the output off, three level writes
and the error query. Any error while talking to the instrument, and shutdown, make it forget
them, so the next configuration sends everything. Bursts fire on the bus (*TRG) or, after
arm_external_trigger(), on the rear Ext Trig input (TRIGger:SOURce EXTernal), one pulse per edge.
"""

from __future__ import annotations

from typing import Any

from pymeasure.instruments import Instrument
from pymeasure.instruments.agilent import Agilent33500
from pymeasure.instruments.agilent.agilent33500 import Agilent33500Channel
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from drivers.attributes import FastAttributeAccess
from drivers.errors import InstrumentError, ScpiErrorQueue
from drivers.pulseshape import set_levels, set_timing
from drivers.roles import PulseGenerator, check_real, check_whole
from drivers.safestate import send_all
from drivers.timeouts import timeout_at_least
from hil.pulses import SafetyLimits

# The 33500B refuses a pulse width above period - 16 ns (programming guide, FUNC:PULS:WIDT).
MIN_GAP = 16e-9


class Keysight33500BChannel(Agilent33500Channel):
    """One output channel, `{ch}` = 1 or 2."""

    # With OUTP:LOAD INF the levels are open-circuit volts, +-10 V (PyMeasure's window is the 50 ohm one).
    voltage_high_values = (-10.0, 10.0)
    voltage_low_values = (-10.0, 10.0)
    burst_ncycles_values = (1, 100_000_000)  # BURSt:NCYCles 1 to 100,000,000

    polarity = Instrument.control(
        "OUTP{ch}:POL?", "OUTP{ch}:POL %s", "Output polarity: NORM, or INV (inverted about the offset).",
        validator=strict_discrete_set, values=["NORM", "INV"], cast=str,
    )  # fmt: skip
    trigger_source = Instrument.control(
        "TRIG{ch}:SOUR?", "TRIG{ch}:SOUR %s", "Trigger source of the channel: IMM, EXT, TIM or BUS.",
        validator=strict_discrete_set, values=["IMM", "EXT", "TIM", "BUS"], cast=str,
    )  # fmt: skip
    voltage_limit_high = Instrument.control(
        "SOUR{ch}:VOLT:LIM:HIGH?", "SOUR{ch}:VOLT:LIM:HIGH %f", "Upper output voltage limit in volts.",
        validator=strict_range, values=[-10.0, 10.0],
    )  # fmt: skip
    voltage_limit_low = Instrument.control(
        "SOUR{ch}:VOLT:LIM:LOW?", "SOUR{ch}:VOLT:LIM:LOW %f", "Lower output voltage limit in volts.",
        validator=strict_range, values=[-10.0, 10.0],
    )  # fmt: skip
    voltage_limits_enabled = Instrument.control(
        "SOUR{ch}:VOLT:LIM:STAT?", "SOUR{ch}:VOLT:LIM:STAT %d", "Whether the voltage limits apply (bool).",
        validator=strict_discrete_set, values={True: 1, False: 0}, map_values=True,
    )  # fmt: skip


class Keysight33500B(FastAttributeAccess, Agilent33500, ScpiErrorQueue, PulseGenerator):
    """Keysight 33500B as the bench's pulse generator on output `channel` (1 or 2).

    limits: the bench's SafetyLimits; pulses outside them are refused, and the generator's own
        voltage limit is set to +-max_pulse_amplitude as a second guard.
    load_ohms: the load on the output; None (default) for a high-impedance load such as a gate,
        so that the programmed levels are the volts the gate sees.
    Other keyword arguments go to the VISA connection.
    """

    max_open_circuit_level = 10.0
    width_range = (16e-9, 1e6)
    period_range = (33e-9, 1e6)
    edge_time = 8.4e-9  # programmed by configure_pulse: the shortest edge, so the tightest period
    max_count = 100_000_000

    ch_1 = Instrument.ChannelCreator(Keysight33500BChannel, 1)
    ch_2 = Instrument.ChannelCreator(Keysight33500BChannel, 2)

    def __init__(
        self,
        adapter: Any,
        limits: SafetyLimits | None = None,
        channel: int = 1,
        load_ohms: float | None = None,
        name: str = "Keysight 33500B",
        **kwargs: Any,
    ):
        check_whole(name, "channel", channel, 1, 2)
        if load_ohms is not None:
            load_ohms = check_real(name, "load_ohms", load_ohms, "ohms")
            if not 1.0 <= load_ohms <= 10e3:  # OUTPut:LOAD takes 1 ohm to 10 kohm, or INFinity
                raise ValueError(f"{name}: load_ohms must be 1 to 10000 ohms, or None for high impedance")
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        super().__init__(adapter, name=name, **kwargs)
        self.limits = limits
        self.load_ohms = load_ohms
        self.channel_number = int(channel)
        self.ch: Keysight33500BChannel = self.channels[self.channel_number]
        self._pulse: tuple[float, float, int, float] | None = None
        self._count: int | None = None
        self._trigger: str | None = None
        self._output_enabled = False

    # ------------------------------------------------------------------ PulseGenerator role
    supports_external_trigger = True
    min_gap = MIN_GAP

    def _configure_all(self, a: float, w: float, pol: int, p: float) -> None:
        guard = None
        if self.limits is not None:
            # The generator's own limit is only ever tighter than the instrument's window.
            guard = min(self.limits.max_pulse_amplitude, self.max_amplitude)
        self._count, self._trigger = None, None
        ch = self.ch
        ch.voltage_limits_enabled = False  # OUTP:LOAD cannot change while limits are on
        ch.output_load = "INF" if self.load_ohms is None else f"{self.load_ohms:g}"
        ch.shape = "PULS"
        ch.pulse_transition = self.edge_time
        set_timing(ch, w, p, self.edge_time, self.name, min_gap=self.min_gap)
        set_levels(ch, a, pol)
        ch.burst_mode = "TRIG"
        ch.burst_ncycles = 1
        ch.trigger_source = "BUS"
        ch.burst_state = True
        if guard is not None:
            ch.voltage_limit_high = guard
            ch.voltage_limit_low = -guard
            ch.voltage_limits_enabled = True
        self.raise_on_errors("configure_pulse()")
        self._count, self._trigger = 1, "BUS"

    def fire(self, count: int) -> None:
        _, _, _, period = self._require_configured("fire()")
        n = self._check_count(count)
        if not self._output_enabled:
            raise RuntimeError(f"{self.name}: the output is off; call output_on() before fire()")
        with self._forget_on_error():
            self._set_burst(n, "BUS")
            with timeout_at_least(self, n * period):
                self.trigger()  # *TRG;*WAI
                done = self.complete  # *OPC? answers once the burst is out
            if done.strip() != "1":
                raise InstrumentError(self.name, f"*OPC? answered {done!r} after the burst, expected '1'")

    def arm_external_trigger(self) -> None:
        """TRIGger:SOURce EXTernal with bursts of one pulse: each edge on the rear Ext Trig
        input fires one pulse (when the output is on)."""
        self._require_configured("arm_external_trigger()")
        with self._forget_on_error():
            self._set_burst(1, "EXT")

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
        send_all(self.write, [f"OUTP{self.channel_number} 0"])
        super().shutdown()
