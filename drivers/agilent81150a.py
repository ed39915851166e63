"""Agilent/Keysight 81150A pulse function generator (SCPI), as a bus-triggered PulseGenerator.

Commands follow the Agilent 81150A/81160A User's Guide, "Programming Reference":
[:SOURce]:FUNCtion, :PULSe:PERiod/:WIDTh, :VOLTage:HIGH/:LOW/:LIMit, :OUTPut (state,
:POLarity), :ARM:SOURce and :TRIGger:COUNt. The channel suffix sits on the last keyword it
belongs to (e.g. `:PULS:WIDT2`), as in that guide and in PyMeasure's 81160A driver. A burst is
armed manually: with `:ARM:SOUR MAN` each *TRG starts `:TRIG:COUN` pulses. The sequence
(drivers.templates.ScpiPulseGenerator) is the 33500B's: a new pulse sends only what changed,
and any error or a shutdown makes the driver forget the confirmed settings.

Two commands could not be checked against the 81150A's own programming reference (not found
with the sources at hand), so the driver does not trust them blindly:

- The expected load is `:OUTPut<n>:IMPedance:EXTernal <ohms>`, the 8110x family's command
  ("Set load impedance at OUTPUT", HP 81101A Reference Manual, Programming Reference,
  :OUTPut[1]:IMPedance:EXTernal, 0.1 ohm to 1 Mohm), which independent 81150A drivers derived
  from the vendor's LabVIEW driver send as well; PyMeasure's 81160A driver sends `:OUTP:LOAD`
  instead. The amplifier path `:OUTPut<n>:ROUTe HIV` comes from those independent drivers only.
- Whether `*OPC?` after `*TRG` waits for the burst to end. fire() therefore waits the burst's
  own duration (count x period) on the computer before it asks `*OPC?`, so the next read never
  overlaps a pulse whichever way the instrument answers.

The first configuration after connecting (establish_state) writes each setting on its own and
reads `SYST:ERR?` after it, so a command a real 81150A refuses is named in the error.
"""

from __future__ import annotations

import math
import time

from pymeasure.instruments import Channel, Instrument, SCPIMixin
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from drivers.state import KnownSetting, ScpiSettingsOneByOne
from drivers.templates import ScpiPulseGenerator

_ON_OFF = {True: "ON", False: "OFF"}
HIGH_IMPEDANCE_OHMS = 1e6  # largest expected load :OUTP:IMP:EXT accepts; stands for "high impedance"


class Agilent81150AChannel(Channel):
    """One output channel, `{ch}` = 1 or 2, under the names of PyMeasure's 33500 channel."""

    shape = Channel.control(
        ":FUNC{ch}?",
        ":FUNC{ch} %s",
        "Waveform: SIN, SQU, RAMP, PULS, NOIS, DC or USER.",
        validator=strict_discrete_set,
        values=["SIN", "SQU", "RAMP", "PULS", "NOIS", "DC", "USER"],
        cast=str,
    )
    pulse_period = Channel.control(
        ":PULS:PER{ch}?",
        ":PULS:PER{ch} %e",
        "Pulse period in seconds.",
        validator=strict_range,
        values=[8.33e-9, 1e6],
    )
    pulse_width = Channel.control(
        ":PULS:WIDT{ch}?",
        ":PULS:WIDT{ch} %e",
        "Pulse width in seconds.",
        validator=strict_range,
        values=[4.1e-9, 1e6],
    )
    voltage_high = Channel.control(
        ":VOLT{ch}:HIGH?",
        ":VOLT{ch}:HIGH %f",
        "High level in volts.",
        validator=strict_range,
        values=[-10, 10],
    )
    voltage_low = Channel.control(
        ":VOLT{ch}:LOW?", ":VOLT{ch}:LOW %f", "Low level in volts.", validator=strict_range, values=[-10, 10]
    )
    polarity = Channel.control(
        ":OUTP{ch}:POL?",
        ":OUTP{ch}:POL %s",
        "Output polarity: NORM or INV.",
        validator=strict_discrete_set,
        values=["NORM", "INV"],
        cast=str,
    )
    output_load = Channel.setting(
        ":OUTP{ch}:IMP:EXT %e",
        "Expected load impedance in ohms (levels are the volts at that load).",
        validator=strict_range,
        values=[0.3, HIGH_IMPEDANCE_OHMS],
    )
    # The 81150A's :TRIGger:SOURce times the pulses within a burst; what starts the burst is
    # its arm source, the counterpart of the 33500's trigger source.
    trigger_source = Channel.control(
        ":ARM:SOUR{ch}?",
        ":ARM:SOUR{ch} %s",
        "What starts a burst (the arm source): IMM, INT2, EXT or MAN (*TRG).",
        validator=strict_discrete_set,
        values=["IMM", "INT2", "EXT", "MAN"],
        cast=str,
    )
    burst_ncycles = Channel.control(
        ":TRIG{ch}:COUN?",
        ":TRIG{ch}:COUN %d",
        "Pulses per burst (the trigger count of one arm event).",
        validator=strict_range,
        values=[1, 2_147_483_647],
        cast=int,
    )
    voltage_limit_high = Channel.setting(
        ":VOLT{ch}:LIM:HIGH %f", "Upper voltage limit in volts.", validator=strict_range, values=[-10, 10]
    )
    voltage_limit_low = Channel.setting(
        ":VOLT{ch}:LIM:LOW %f", "Lower voltage limit in volts.", validator=strict_range, values=[-10, 10]
    )
    voltage_limits_enabled = Channel.setting(
        ":VOLT{ch}:LIM:STAT %s",
        "Whether the voltage limits apply (bool).",
        validator=strict_discrete_set,
        values=_ON_OFF,
        map_values=True,
    )
    output = Channel.setting(
        ":OUTP{ch} %s", "Output state (bool).", validator=strict_discrete_set, values=_ON_OFF, map_values=True
    )


class Agilent81150A(ScpiSettingsOneByOne, ScpiPulseGenerator, SCPIMixin, Instrument):
    """Agilent 81150A as the bench's pulse generator on output `channel` (1 or 2).

    limits: the bench's SafetyLimits; pulses outside them are refused, and the generator's own
        voltage limit is set to +-max_pulse_amplitude as a second guard.
    load_ohms: the load on the output; None (default) for a high-impedance load such as a gate.
    Other keyword arguments go to the VISA connection.
    """

    model = "Agilent 81150A"
    max_open_circuit_level = 10.0
    width_range = (4.1e-9, 1e6)
    period_range = (8.33e-9, 1e6)
    edge_time = 2.5e-9  # the shortest edge; a longer one set by hand shows up in the error queue
    max_count = 2_147_483_647

    ch_1 = Instrument.ChannelCreator(Agilent81150AChannel, 1)
    ch_2 = Instrument.ChannelCreator(Agilent81150AChannel, 2)

    # 1 Mohm itself is the high-impedance setting: a finite load stays below it.
    load_range = (0.3, math.nextafter(HIGH_IMPEDANCE_OHMS, 0.0))
    high_impedance_load = HIGH_IMPEDANCE_OHMS
    pulse_setup = (("shape", "PULS"),)
    bus_burst_setup = (("trigger_source", "MAN"), ("burst_ncycles", 1))
    bus_trigger_source = "MAN"
    trigger_command = "*TRG"
    # Output off, then bursts armed by *TRG only: nothing outside starts one.
    safe_state = (":OUTP{ch} OFF", ":ARM:SOUR{ch} MAN")
    # Seconds from a trigger to the first edge, as an upper bound (none is relied on: the
    # 81150A fires on the bus only here).
    trigger_latency = 1e-6

    def known_settings(self) -> list[KnownSetting]:
        """Output off; the high-voltage amplifier (:OUTP:ROUT HIV: +-10 V into high impedance,
        what max_open_circuit_level assumes); the 50 ohm source (:OUTP:IMP, which the level
        arithmetic assumes); the expected load of the bench file (:OUTP:IMP:EXT); the edge time
        the period checks assume (:PULS:TRAN); pulses within a burst paced by the internal
        period (:TRIG:SOUR IMM); a burst armed by an edge (:ARM:SENS EDGE)."""
        ch = self.channel_number
        load = HIGH_IMPEDANCE_OHMS if self.load_ohms is None else self.load_ohms
        return [
            KnownSetting("output", f":OUTP{ch}?", f":OUTP{ch} OFF", "0"),
            KnownSetting("amplifier", f":OUTP{ch}:ROUT?", f":OUTP{ch}:ROUT HIV", "HIV"),
            KnownSetting("source impedance", f":OUTP{ch}:IMP?", f":OUTP{ch}:IMP 50", "50"),
            KnownSetting("expected load", f":OUTP{ch}:IMP:EXT?", f":OUTP{ch}:IMP:EXT {load:g}", f"{load:g}"),
            KnownSetting(
                "edge time", f":PULS:TRAN{ch}?", f":PULS:TRAN{ch} {self.edge_time:g}", f"{self.edge_time:g}"
            ),
            KnownSetting("pulse pacing", f":TRIG{ch}:SOUR?", f":TRIG{ch}:SOUR IMM", "IMM"),
            KnownSetting("arm sense", f":ARM:SENS{ch}?", f":ARM:SENS{ch} EDGE", "EDGE"),
        ]

    def _await_burst(self, count: int, period: float) -> None:
        """Wait the burst's own duration before *OPC? (module docstring)."""
        time.sleep(count * period)
