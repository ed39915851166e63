"""Keithley 2636B two-channel SourceMeter (TSP), as a SourceMeter on smua or smub.

Commands follow the Series 2600B Reference Manual (2600BS-901-01), section 7 "TSP command
reference" (smuX.source.*, smuX.measure.*, smuX.trigger.*, smuX.nvbuffer1, errorqueue) and
section 4 "Sweep operation" for the list sweep.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymeasure.instruments import Channel, Instrument
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from drivers.errors import TspErrorQueue, parse_floats
from drivers.state import KnownSetting, TspSettings
from drivers.templates import ChannelSourceMeter
from drivers.timeouts import timeout_at_least

_AUTORANGE = {True: "smu{ch}.AUTORANGE_ON", False: "smu{ch}.AUTORANGE_OFF"}


class K2636BChannel(Channel):
    """One SMU, `smu{ch}` with {ch} = a or b."""

    source_function = Channel.setting(
        "smu{ch}.source.func = %s",
        "What the SMU sources: DCVOLTS or DCAMPS.",
        validator=strict_discrete_set,
        values={"DCVOLTS": "smu{ch}.OUTPUT_DCVOLTS", "DCAMPS": "smu{ch}.OUTPUT_DCAMPS"},
        map_values=True,
    )
    source_autorange = Channel.setting(
        "smu{ch}.source.autorangev = %s",
        "Auto range of the voltage source (bool).",
        validator=strict_discrete_set,
        values=_AUTORANGE,
        map_values=True,
    )
    source_voltage = Channel.setting(
        "smu{ch}.source.levelv = %g", "DC voltage level in volts.", validator=strict_range, values=[-202, 202]
    )
    compliance_current = Channel.setting(
        "smu{ch}.source.limiti = %g",
        "Current compliance of the voltage source in amperes.",
        validator=strict_range,
        values=[1e-11, 1.5],
    )
    measure_autorange = Channel.setting(
        "smu{ch}.measure.autorangei = %s",
        "Auto range of the current measurement (bool).",
        validator=strict_discrete_set,
        values=_AUTORANGE,
        map_values=True,
    )
    current_nplc = Channel.setting(
        "smu{ch}.measure.nplc = %g",
        "Integration time in power-line cycles.",
        validator=strict_range,
        values=[0.001, 25],
    )
    output_enabled = Channel.setting(
        "smu{ch}.source.output = %s",
        "Output state (bool).",
        validator=strict_discrete_set,
        values={True: "smu{ch}.OUTPUT_ON", False: "smu{ch}.OUTPUT_OFF"},
        map_values=True,
    )


class Keithley2636B(TspSettings, ChannelSourceMeter, TspErrorQueue, Instrument):
    """Keithley 2636B as the bench's read instrument on SMU `channel` ("a" or "b").

    limits: the bench's SafetyLimits; bias and compliance outside them are refused.
    Other keyword arguments go to the VISA connection.
    """

    model = "Keithley 2636B"
    bias_range = (-202.0, 202.0)  # 200 V range, 101 % overrange
    compliance_range = (1e-11, 1.5)
    nplc_range = (0.001, 25.0)
    max_list_points = 1000  # keeps the Lua table of one listv() command to a few kB

    smua = Instrument.ChannelCreator(K2636BChannel, "a")
    smub = Instrument.ChannelCreator(K2636BChannel, "b")
    channel_ids = ("a", "b")

    voltage_source_setup = (("source_function", "DCVOLTS"), ("source_autorange", True))
    current_measure_setup = (("measure_autorange", True),)
    read_query = "print(smu{ch}.measure.i())"
    safe_state = (
        "smu{ch}.abort()",
        "smu{ch}.source.levelv = 0",
        "smu{ch}.source.output = smu{ch}.OUTPUT_OFF",
    )

    def known_settings(self) -> list[KnownSetting]:
        """What the driver relies on (manual 7, smuX.*): output off, a DC voltage source whose
        output-off state is the normal one, one reading per measurement, no filter, and a
        trigger model that waits for nothing (stimuli 0, arm count 1) and returns the source to
        its idle level after each point (endpulse.action = SOURCE_IDLE)."""
        smu = self._command("smu{ch}")

        def constant(name: str, attribute: str, value: str) -> KnownSetting:
            return KnownSetting(
                name,
                f"{smu}.{attribute}",
                f"{smu}.{attribute} = {smu}.{value}",
                wanted_query=f"{smu}.{value}",
            )

        def number(name: str, attribute: str, value: str) -> KnownSetting:
            return KnownSetting(name, f"{smu}.{attribute}", f"{smu}.{attribute} = {value}", value)

        return [
            constant("output", "source.output", "OUTPUT_OFF"),
            constant("source function", "source.func", "OUTPUT_DCVOLTS"),
            constant("output-off state", "source.offmode", "OUTPUT_NORMAL"),
            number("readings per measurement", "measure.count", "1"),
            constant("filter", "measure.filter.enable", "FILTER_OFF"),
            constant("end-of-pulse action", "trigger.endpulse.action", "SOURCE_IDLE"),
            number("arm count", "trigger.arm.count", "1"),
            *(
                number(f"{stage} trigger stimulus", f"trigger.{stage}.stimulus", "0")
                for stage in ("arm", "source", "measure", "endpulse")
            ),
        ]

    def read_currents(self, biases: Sequence[float]) -> list[float]:
        self._require_output("read_currents()")
        values = self._check_biases(biases)
        n, smu = len(values), self._command("smu{ch}")
        table = ", ".join(f"{v:g}" for v in values)
        self.write(f"{smu}.nvbuffer1.clear()")
        self.write(f"{smu}.trigger.source.listv({{{table}}})")
        self.write(f"{smu}.trigger.source.action = {smu}.ENABLE")
        self.write(f"{smu}.trigger.measure.i({smu}.nvbuffer1)")
        self.write(f"{smu}.trigger.measure.action = {smu}.ENABLE")
        # SOURCE_IDLE: after the last point the source returns to source.levelv, the read bias.
        self.write(f"{smu}.trigger.endsweep.action = {smu}.SOURCE_IDLE")
        self.write(f"{smu}.trigger.count = {n}")
        self.raise_on_errors("setting up a list sweep")
        self.write(f"{smu}.trigger.initiate()")
        self.write("waitcomplete()")
        with timeout_at_least(self, self._list_duration(n)):
            reply = self.ask(f"printbuffer(1, {n}, {smu}.nvbuffer1.readings)")
        self.raise_on_errors("a list sweep")
        return parse_floats(self.name, reply, n, "list sweep")
