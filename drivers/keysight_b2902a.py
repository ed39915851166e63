"""Keysight B2902A two-channel SMU (SCPI), as a SourceMeter on one of its channels.

Commands follow the Keysight B2900 SCPI Command Reference: SOURce, SENSe, OUTPut,
TRIGger, READ and MEASure subsystems. `channel` picks the channel the role uses;
both channels are reachable as `smu1` and `smu2`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymeasure.instruments import Channel, Instrument, SCPIMixin
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from drivers.errors import ScpiErrorQueue, parse_floats
from drivers.state import KnownSetting, ScpiSettings
from drivers.templates import ChannelSourceMeter
from drivers.timeouts import timeout_at_least

_ON_OFF = {True: "ON", False: "OFF"}


class B2902AChannel(Channel):
    """One SMU channel; `{ch}` is 1 or 2."""

    source_mode = Channel.control(
        ":SOUR{ch}:FUNC:MODE?",
        ":SOUR{ch}:FUNC:MODE %s",
        "Source function, VOLT or CURR.",
        validator=strict_discrete_set,
        values=["VOLT", "CURR"],
        cast=str,
    )
    voltage_mode = Channel.control(
        ":SOUR{ch}:VOLT:MODE?",
        ":SOUR{ch}:VOLT:MODE %s",
        "Voltage output mode: FIX (level), LIST (list sweep) or SWE (linear sweep).",
        validator=strict_discrete_set,
        values=["FIX", "LIST", "SWE"],
        cast=str,
    )
    source_voltage = Channel.control(
        ":SOUR{ch}:VOLT?",
        ":SOUR{ch}:VOLT %g",
        "Voltage level in volts.",
        validator=strict_range,
        values=[-210, 210],
    )
    compliance_current = Channel.control(
        ":SENS{ch}:CURR:PROT?",
        ":SENS{ch}:CURR:PROT %g",
        "Current compliance in amperes.",
        validator=strict_range,
        values=[1e-9, 3.03],
    )
    sense_function = Channel.setting(
        ':SENS{ch}:FUNC "%s"',
        "Measurement function: CURR, VOLT or RES.",
        validator=strict_discrete_set,
        values=["CURR", "VOLT", "RES"],
    )
    current_auto_range = Channel.setting(
        ":SENS{ch}:CURR:RANG:AUTO %s",
        "Auto range of the current measurement (bool).",
        validator=strict_discrete_set,
        values=_ON_OFF,
        map_values=True,
    )
    current_nplc = Channel.control(
        ":SENS{ch}:CURR:NPLC?",
        ":SENS{ch}:CURR:NPLC %g",
        "Integration time in power-line cycles.",
        validator=strict_range,
        values=[4e-4, 100],
    )
    auto_output_on = Channel.setting(
        ":OUTP{ch}:ON:AUTO %s",
        "Whether :INIT/:READ switch the output on by themselves (bool).",
        validator=strict_discrete_set,
        values=_ON_OFF,
        map_values=True,
    )
    output_enabled = Channel.setting(
        ":OUTP{ch} %s", "Output state (bool).", validator=strict_discrete_set, values=_ON_OFF, map_values=True
    )
    trigger_count = Channel.control(
        ":TRIG{ch}:COUN?",
        ":TRIG{ch}:COUN %d",
        "Trigger count of the channel (points of a list sweep).",
        validator=strict_range,
        values=[1, 100000],
        cast=int,
    )


class KeysightB2902A(ScpiSettings, ChannelSourceMeter, ScpiErrorQueue, SCPIMixin, Instrument):
    """Keysight B2902A as the bench's read instrument on channel `channel` (1 or 2).

    limits: the bench's SafetyLimits; bias and compliance outside them are refused.
    Other keyword arguments go to the VISA connection.
    """

    model = "Keysight B2902A"
    bias_range = (-210.0, 210.0)
    compliance_range = (1e-9, 3.03)
    nplc_range = (4e-4, 100.0)
    max_list_points = 2500  # [:SOURce]:LIST:VOLTage takes up to 2500 values

    smu1 = Instrument.ChannelCreator(B2902AChannel, 1)
    smu2 = Instrument.ChannelCreator(B2902AChannel, 2)
    channel_ids = (1, 2)

    voltage_source_setup = (
        ("auto_output_on", False),  # by default :INIT switches the output on; the role decides that
        ("source_mode", "VOLT"),
        ("voltage_mode", "FIX"),
    )
    current_measure_setup = (("sense_function", "CURR"), ("current_auto_range", True))
    read_query = ":MEAS:CURR? (@{ch})"
    safe_state = (":ABOR (@{ch})", ":SOUR{ch}:VOLT 0", ":OUTP{ch} OFF")

    def known_settings(self) -> list[KnownSetting]:
        """What the driver relies on (B2900 SCPI Command Reference): output off and not switched
        on by :INIT/:READ, a voltage source, a trigger and arm layer that wait for nothing
        (source AINT, count 1), and replies that carry the current only (:FORM:ELEM:SENS CURR,
        so :MEAS:CURR? answers one number)."""
        ch = self.channel_number
        return [
            KnownSetting("output", f":OUTP{ch}?", f":OUTP{ch} OFF", "0"),
            KnownSetting("automatic output on", f":OUTP{ch}:ON:AUTO?", f":OUTP{ch}:ON:AUTO OFF", "0"),
            KnownSetting("source function", f":SOUR{ch}:FUNC:MODE?", f":SOUR{ch}:FUNC:MODE VOLT", "VOLT"),
            KnownSetting("arm source", f":ARM{ch}:SOUR?", f":ARM{ch}:SOUR AINT", "AINT"),
            KnownSetting("arm count", f":ARM{ch}:COUN?", f":ARM{ch}:COUN 1", "1"),
            KnownSetting("trigger source", f":TRIG{ch}:SOUR?", f":TRIG{ch}:SOUR AINT", "AINT"),
            KnownSetting("trigger count", f":TRIG{ch}:COUN?", f":TRIG{ch}:COUN 1", "1"),
            KnownSetting("reply elements", ":FORM:ELEM:SENS?", ":FORM:ELEM:SENS CURR", "CURR"),
        ]

    def read_currents(self, biases: Sequence[float]) -> list[float]:
        self._require_output("read_currents()")
        bias = self._require_configured("read_currents()")
        values = self._check_biases(biases)
        ch, smu = self.channel_number, self.smu
        self.write(f":SOUR{ch}:LIST:VOLT " + ",".join(f"{v:g}" for v in values))
        smu.voltage_mode = "LIST"
        smu.trigger_count = len(values)  # one trigger (default source AINT) per list point
        self.raise_on_errors("setting up a list sweep")
        # READ:ARRay runs :INITiate then :FETCh:ARRay in series, so it answers after the last point.
        with timeout_at_least(self, self._list_duration(len(values))):
            reply = self.ask(f":READ:ARR:CURR? (@{ch})")
        smu.voltage_mode = "FIX"
        smu.source_voltage = bias
        smu.trigger_count = 1
        self.raise_on_errors("a list sweep")
        return parse_floats(self.name, reply, len(values), "list sweep")
