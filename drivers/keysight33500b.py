"""Keysight 33500B waveform generator: PyMeasure's Agilent33500 as a bus-triggered PulseGenerator.

Commands follow the Keysight 33500 Series Operating and Service Guide, "SCPI Programming
Reference": SOURce:FUNCtion:PULSe, SOURce:VOLTage (HIGH, LOW, LIMit), SOURce:BURSt,
TRIGger:SOURce, OUTPut (LOAD, POLarity). PyMeasure's channel properties are reused; this
module adds the few the pulse role needs and widens the level windows to the high-impedance
range (levels are refused outside it, never clamped).

The sequence is drivers.templates.ScpiPulseGenerator's. The driver remembers the settings the
instrument confirmed (error queue empty afterwards), so a new pulse sends only what changed: a
polarity flip is the output off, three level writes and the error query. Any error while
talking to the instrument, and shutdown, make it forget them, so the next configuration sends
everything. Bursts fire on the bus (*TRG) or, after arm_external_trigger(), on the rear Ext
Trig input (TRIGger:SOURce EXTernal), one pulse per edge.
"""

from __future__ import annotations

from pymeasure.instruments import Instrument
from pymeasure.instruments.agilent import Agilent33500
from pymeasure.instruments.agilent.agilent33500 import Agilent33500Channel
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from drivers.state import KnownSetting, StateChange
from drivers.templates import ScpiPulseGenerator
from hil.pulses import Pulse

# The 33500B refuses a pulse width above period - 16 ns (programming guide, FUNC:PULS:WIDT).
MIN_GAP = 16e-9
EDGE_TIME = 8.4e-9  # s, the shortest edge, so the tightest period


def _load_text(ohms: float | str) -> str:
    """OUTPut:LOAD's argument: ohms as the shortest number ("50"), or a keyword such as INF."""
    return ohms if isinstance(ohms, str) else f"{ohms:g}"


class Keysight33500BChannel(Agilent33500Channel):
    """One output channel, `{ch}` = 1 or 2."""

    # With OUTP:LOAD INF the levels are open-circuit volts, +-10 V (PyMeasure's window is the 50 ohm one).
    voltage_high_values = (-10.0, 10.0)
    voltage_low_values = (-10.0, 10.0)
    burst_ncycles_values = (1, 100_000_000)  # BURSt:NCYCles 1 to 100,000,000
    output_load_set_process = staticmethod(_load_text)

    polarity = Instrument.control(
        "OUTP{ch}:POL?",
        "OUTP{ch}:POL %s",
        "Output polarity: NORM, or INV (inverted about the offset).",
        validator=strict_discrete_set,
        values=["NORM", "INV"],
        cast=str,
    )
    trigger_source = Instrument.control(
        "TRIG{ch}:SOUR?",
        "TRIG{ch}:SOUR %s",
        "Trigger source of the channel: IMM, EXT, TIM or BUS.",
        validator=strict_discrete_set,
        values=["IMM", "EXT", "TIM", "BUS"],
        cast=str,
    )
    voltage_limit_high = Instrument.control(
        "SOUR{ch}:VOLT:LIM:HIGH?",
        "SOUR{ch}:VOLT:LIM:HIGH %f",
        "Upper output voltage limit in volts.",
        validator=strict_range,
        values=[-10.0, 10.0],
    )
    voltage_limit_low = Instrument.control(
        "SOUR{ch}:VOLT:LIM:LOW?",
        "SOUR{ch}:VOLT:LIM:LOW %f",
        "Lower output voltage limit in volts.",
        validator=strict_range,
        values=[-10.0, 10.0],
    )
    trigger_slope = Instrument.control(
        "TRIG{ch}:SLOP?",
        "TRIG{ch}:SLOP %s",
        "The Ext Trig edge that starts a burst: POS (rising) or NEG (falling).",
        validator=strict_discrete_set,
        values=["POS", "NEG"],
        cast=str,
    )
    trigger_delay = Instrument.control(
        "TRIG{ch}:DEL?",
        "TRIG{ch}:DEL %g",
        "Seconds from the trigger to the burst's start.",
        validator=strict_range,
        values=[0.0, 1000.0],
    )
    combine_feed = Instrument.control(
        "SOUR{ch}:COMB:FEED?",
        "SOUR{ch}:COMB:FEED %s",
        "The other channel whose waveform this output adds to its own: CH1, CH2 or NONE.",
        validator=strict_discrete_set,
        values=["CH1", "CH2", "NONE"],
        cast=str,
    )
    voltage_limits_enabled = Instrument.control(
        "SOUR{ch}:VOLT:LIM:STAT?",
        "SOUR{ch}:VOLT:LIM:STAT %d",
        "Whether the voltage limits apply (bool).",
        validator=strict_discrete_set,
        values={True: 1, False: 0},
        map_values=True,
    )


class Keysight33500B(ScpiPulseGenerator, Agilent33500):
    """Keysight 33500B as the bench's pulse generator on output `channel` (1 or 2).

    limits: the bench's SafetyLimits; pulses outside them are refused, and the generator's own
        voltage limit is set to +-max_pulse_amplitude as a second guard.
    load_ohms: the load on the output; None (default) for a high-impedance load such as a gate,
        so that the programmed levels are the volts the gate sees.
    Other keyword arguments go to the VISA connection.
    """

    model = "Keysight 33500B"
    max_open_circuit_level = 10.0
    width_range = (16e-9, 1e6)
    period_range = (33e-9, 1e6)
    edge_time = EDGE_TIME
    max_count = 100_000_000
    min_gap = MIN_GAP
    supports_external_trigger = True

    ch_1 = Instrument.ChannelCreator(Keysight33500BChannel, 1)
    ch_2 = Instrument.ChannelCreator(Keysight33500BChannel, 2)

    load_range = (1.0, 10e3)  # OUTPut:LOAD takes 1 ohm to 10 kohm, or INFinity
    high_impedance_load = "INF"
    pulse_setup = (("shape", "PULS"), ("pulse_transition", EDGE_TIME))
    bus_burst_setup = (
        ("burst_mode", "TRIG"),
        ("burst_ncycles", 1),
        ("trigger_source", "BUS"),
        ("burst_state", True),
    )
    bus_trigger_source = "BUS"
    trigger_command = "*TRG;*WAI"
    # Output off, then bursts back on the bus trigger: an edge on Ext Trig fires nothing.
    safe_state = ("OUTP{ch} 0", "TRIG{ch}:SOUR BUS")

    # Seconds from an edge on Ext Trig to the output's first edge, as an upper bound (the 33500
    # Series data sheet gives well under a microsecond); HardwareCrossbar adds it to a pulse's end.
    trigger_latency = 1e-6
    supports_alternating = True
    # Whether the other channel feeds this output and fires on Ext Trig (arm_alternating):
    # False known not, True known so, None unknown (an error came while it was set or undone).
    _combined: bool | None = False
    _down: tuple[float, float, float] | None = (
        None  # (amplitude, width, period) confirmed on the other channel
    )

    def known_settings(self) -> list[KnownSetting]:
        """What the driver relies on (33500 Series guide, "SCPI Programming Reference"): output
        off; bursts started by a trigger (BURSt:MODE TRIGgered) with the pulse width held when the
        period changes (FUNCtion:PULSe:HOLD WIDTh); an external trigger fired by the falling edge
        (TRIGger:SLOPe NEGative: the 2450's trigger output is active low, so its falling edge is
        the first one) with no added delay (TRIGger:DELay 0); and the expected load the bench
        file's gate load gives (OUTPut:LOAD, refused while the voltage limits are on: they are
        switched off first and come back with the first pulse configuration)."""
        ch, other = self.channel_number, self._other_number
        load = self.high_impedance_load if self.load_ohms is None else self.load_ohms
        load_reply = "9.9E+37" if self.load_ohms is None else f"{self.load_ohms:g}"
        return [
            KnownSetting("output", f"OUTP{ch}?", f"OUTP{ch} 0", "0"),
            KnownSetting("burst mode", f"SOUR{ch}:BURS:MODE?", f"SOUR{ch}:BURS:MODE TRIG", "TRIG"),
            KnownSetting("pulse hold", f"SOUR{ch}:FUNC:PULS:HOLD?", f"SOUR{ch}:FUNC:PULS:HOLD WIDT", "WIDT"),
            KnownSetting("trigger slope", f"TRIG{ch}:SLOP?", f"TRIG{ch}:SLOP NEG", "NEG"),
            KnownSetting("trigger delay", f"TRIG{ch}:DEL?", f"TRIG{ch}:DEL 0", "0"),
            KnownSetting(
                "expected load",
                f"OUTP{ch}:LOAD?",
                f"SOUR{ch}:VOLT:LIM:STAT 0;:OUTP{ch}:LOAD {_load_text(load)}",
                load_reply,
            ),
            # Nothing from the other channel on this output, and nothing it fires on Ext Trig,
            # until arm_alternating() sets them up (SOURce:COMBine:FEED, TRIGger:SOURce).
            KnownSetting("combined channel", f"SOUR{ch}:COMB:FEED?", f"SOUR{ch}:COMB:FEED NONE", "NONE"),
            KnownSetting(f"channel {other} trigger", f"TRIG{other}:SOUR?", f"TRIG{other}:SOUR BUS", "BUS"),
        ]

    def establish_state(self) -> list[StateChange]:
        changes = super().establish_state()
        self._combined, self._down = False, None
        return changes

    @property
    def _other_number(self) -> int:
        return 2 if self.channel_number == 1 else 1

    def arm_external_trigger(self) -> None:
        """TRIGger:SOURce EXTernal with bursts of one pulse: each edge on the rear Ext Trig
        input fires one pulse (when the output is on)."""
        self._require_configured("arm_external_trigger()")
        with self._forget_on_error():
            self._single_polarity()
            self._set_burst(1, "EXT")

    def arm_alternating(self, up: Pulse, down: Pulse) -> None:
        """Up pulses from this channel, down pulses from the other one added to this output
        (SOURce:COMBine:FEED): this channel configured for `up` (configure_pulse) and fired by
        the falling edge on Ext Trig (TRIGger:SLOPe NEGative, as at connect); the other channel
        configured in full for `down` (levels 0 V and -amplitude, inverted output, its own width
        and the bench's voltage limit), fired by the rising edge (TRIGger<m>:SOURce EXTernal,
        :SLOPe POSitive, :DELay 0); its own output stays off. The other channel is configured
        only when `down` differs from its confirmed set-up. Both outputs off meanwhile."""
        a, w, _, p = self._check_pulse(down.amplitude, down.width, -1, None)
        # this output off, the up pulse (what changed since the confirmed set-up)
        self._configure_output(*self._check_pulse(up.amplitude, up.width, +1, None), single=False)
        other = self.channels[self._other_number]
        with self._forget_on_error():
            if self._combined is not True or self._down != (a, w, p):
                self._combined, self._down = None, None
                other.output = False
                self._configure_channel(other, a, w, -1, p)
                other.trigger_source = "EXT"
                other.trigger_slope = "POS"
                other.trigger_delay = 0
                self.ch.combine_feed = f"CH{self._other_number}"
                self.raise_on_errors("arm_alternating()")
                self._combined, self._down = True, (a, w, p)
            self._set_burst(1, "EXT")

    def _single_polarity(self) -> None:
        """Unless known undone: this output stops adding the other channel, which goes back to
        the bus trigger (so that no edge on Ext Trig fires it), then the error queue."""
        if self._combined is False:
            return
        self._combined = None
        self.ch.combine_feed = "NONE"
        self.channels[self._other_number].trigger_source = "BUS"
        self.raise_on_errors("returning to pulses of one polarity")
        self._combined = False

    def forget_settings(self) -> None:
        super().forget_settings()
        if self._combined:
            self._combined = None  # what the instrument holds after an error is not known
        self._down = None
