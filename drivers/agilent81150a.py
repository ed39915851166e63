"""Agilent/Keysight 81150A pulse function generator (SCPI), as a bus-triggered PulseGenerator.

Commands follow the Agilent 81150A/81160A User's Guide, "Programming Reference":
[:SOURce]:FUNCtion, :PULSe:PERiod/:WIDTh, :VOLTage:HIGH/:LOW/:LIMit, :OUTPut (state,
:POLarity, :LOAD), :ARM:SOURce and :TRIGger:COUNt. The channel suffix sits on the last
keyword it belongs to (e.g. `:PULS:WIDT2`), as in that guide and in PyMeasure's 81160A driver.
A burst is armed manually: with `:ARM:SOUR MAN` each *TRG starts `:TRIG:COUN` pulses.
Confirmed settings are remembered as in drivers.keysight33500b: a new pulse sends only what
changed, and any error or a shutdown makes the driver forget them.
"""

from __future__ import annotations

from typing import Any

from pymeasure.instruments import Channel, Instrument, SCPIMixin
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from drivers.attributes import FastAttributeAccess
from drivers.errors import InstrumentError, ScpiErrorQueue
from drivers.pulseshape import set_levels, set_timing
from drivers.roles import PulseGenerator, check_real, check_whole
from drivers.safestate import send_all
from drivers.timeouts import timeout_at_least
from hil.pulses import SafetyLimits

_ON_OFF = {True: "ON", False: "OFF"}
HIGH_IMPEDANCE_OHMS = 1e6  # largest expected load :OUTP:LOAD accepts; stands for "high impedance"


class Agilent81150AChannel(Channel):
    """One output channel, `{ch}` = 1 or 2."""

    shape = Channel.control(
        ":FUNC{ch}?", ":FUNC{ch} %s", "Waveform: SIN, SQU, RAMP, PULS, NOIS, DC or USER.",
        validator=strict_discrete_set, values=["SIN", "SQU", "RAMP", "PULS", "NOIS", "DC", "USER"], cast=str,
    )  # fmt: skip
    pulse_period = Channel.control(
        ":PULS:PER{ch}?", ":PULS:PER{ch} %e", "Pulse period in seconds.",
        validator=strict_range, values=[8.33e-9, 1e6],
    )  # fmt: skip
    pulse_width = Channel.control(
        ":PULS:WIDT{ch}?", ":PULS:WIDT{ch} %e", "Pulse width in seconds.",
        validator=strict_range, values=[4.1e-9, 1e6],
    )  # fmt: skip
    voltage_high = Channel.control(
        ":VOLT{ch}:HIGH?", ":VOLT{ch}:HIGH %f", "High level in volts.",
        validator=strict_range, values=[-10, 10],
    )  # fmt: skip
    voltage_low = Channel.control(
        ":VOLT{ch}:LOW?", ":VOLT{ch}:LOW %f", "Low level in volts.",
        validator=strict_range, values=[-10, 10],
    )  # fmt: skip
    polarity = Channel.control(
        ":OUTP{ch}:POL?", ":OUTP{ch}:POL %s", "Output polarity: NORM or INV.",
        validator=strict_discrete_set, values=["NORM", "INV"], cast=str,
    )  # fmt: skip
    output_load = Channel.setting(
        ":OUTP{ch}:LOAD %e", "Expected load impedance in ohms (levels are the volts at that load).",
        validator=strict_range, values=[0.3, HIGH_IMPEDANCE_OHMS],
    )  # fmt: skip
    arm_source = Channel.control(
        ":ARM:SOUR{ch}?", ":ARM:SOUR{ch} %s", "What starts a burst: IMM, INT2, EXT or MAN (*TRG).",
        validator=strict_discrete_set, values=["IMM", "INT2", "EXT", "MAN"], cast=str,
    )  # fmt: skip
    trigger_count = Channel.control(
        ":TRIG{ch}:COUN?", ":TRIG{ch}:COUN %d", "Pulses per burst.",
        validator=strict_range, values=[1, 2_147_483_647], cast=int,
    )  # fmt: skip
    voltage_limit_high = Channel.setting(
        ":VOLT{ch}:LIM:HIGH %f", "Upper voltage limit in volts.", validator=strict_range, values=[-10, 10]
    )
    voltage_limit_low = Channel.setting(
        ":VOLT{ch}:LIM:LOW %f", "Lower voltage limit in volts.", validator=strict_range, values=[-10, 10]
    )
    voltage_limits_enabled = Channel.setting(
        ":VOLT{ch}:LIM:STAT %s", "Whether the voltage limits apply (bool).",
        validator=strict_discrete_set, values=_ON_OFF, map_values=True,
    )  # fmt: skip
    output_enabled = Channel.setting(
        ":OUTP{ch} %s", "Output state (bool).", validator=strict_discrete_set, values=_ON_OFF, map_values=True
    )


class Agilent81150A(FastAttributeAccess, SCPIMixin, Instrument, ScpiErrorQueue, PulseGenerator):
    """Agilent 81150A as the bench's pulse generator on output `channel` (1 or 2).

    limits: the bench's SafetyLimits; pulses outside them are refused, and the generator's own
        voltage limit is set to +-max_pulse_amplitude as a second guard.
    load_ohms: the load on the output; None (default) for a high-impedance load such as a gate.
    Other keyword arguments go to the VISA connection.
    """

    max_open_circuit_level = 10.0
    width_range = (4.1e-9, 1e6)
    period_range = (8.33e-9, 1e6)
    edge_time = 2.5e-9  # the shortest edge; a longer one set by hand shows up in the error queue
    max_count = 2_147_483_647

    ch_1 = Instrument.ChannelCreator(Agilent81150AChannel, 1)
    ch_2 = Instrument.ChannelCreator(Agilent81150AChannel, 2)

    def __init__(
        self,
        adapter: Any,
        limits: SafetyLimits | None = None,
        channel: int = 1,
        load_ohms: float | None = None,
        name: str = "Agilent 81150A",
        **kwargs: Any,
    ):
        check_whole(name, "channel", channel, 1, 2)
        if load_ohms is not None:
            load_ohms = check_real(name, "load_ohms", load_ohms, "ohms")
            if not 0.3 <= load_ohms < HIGH_IMPEDANCE_OHMS:
                raise ValueError(f"{name}: load_ohms must be 0.3 to 1e6 ohms, or None for high impedance")
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        super().__init__(adapter, name, **kwargs)
        self.limits = limits
        self.load_ohms = load_ohms
        self.channel_number = int(channel)
        self.ch: Agilent81150AChannel = self.channels[self.channel_number]
        self._pulse: tuple[float, float, int, float] | None = None
        self._count: int | None = None
        self._trigger: str | None = None  # bursts are armed manually (*TRG) only
        self._output_enabled = False

    # ------------------------------------------------------------------ PulseGenerator role
    def _configure_all(self, a: float, w: float, pol: int, p: float) -> None:
        guard = None
        if self.limits is not None:
            guard = min(self.limits.max_pulse_amplitude, self.max_amplitude)
        self._count = None
        ch = self.ch
        ch.voltage_limits_enabled = False
        ch.output_load = HIGH_IMPEDANCE_OHMS if self.load_ohms is None else self.load_ohms
        ch.shape = "PULS"
        set_timing(ch, w, p, self.edge_time, self.name)
        set_levels(ch, a, pol)
        ch.arm_source = "MAN"
        ch.trigger_count = 1
        if guard is not None:
            ch.voltage_limit_high = guard
            ch.voltage_limit_low = -guard
            ch.voltage_limits_enabled = True
        self.raise_on_errors("configure_pulse()")
        self._count = 1

    def fire(self, count: int) -> None:
        _, _, _, period = self._require_configured("fire()")
        n = self._check_count(count)
        if not self._output_enabled:
            raise RuntimeError(f"{self.name}: the output is off; call output_on() before fire()")
        with self._forget_on_error():
            if n != self._count:
                self._count = None
                self.ch.trigger_count = n
                self.raise_on_errors("setting the burst count")
                self._count = n
            with timeout_at_least(self, n * period):
                self.write("*TRG")
                done = self.ask("*OPC?")
            if done.strip() != "1":
                raise InstrumentError(self.name, f"*OPC? answered {done!r} after the burst, expected '1'")

    def _switch_output(self, on: bool) -> None:
        self.ch.output_enabled = on

    def shutdown(self) -> None:
        """Switch the role's output off; the next configuration sends everything."""
        self._output_enabled = False
        self.forget_settings()
        send_all(self.write, [f":OUTP{self.channel_number} OFF"])
        super().shutdown()
