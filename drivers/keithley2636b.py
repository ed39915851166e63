"""Keithley 2636B two-channel SourceMeter (TSP), as a SourceMeter on smua or smub.

Commands follow the Series 2600B Reference Manual (2600BS-901-01), section 7 "TSP command
reference" (smuX.source.*, smuX.measure.*, smuX.trigger.*, smuX.nvbuffer1, errorqueue) and
section 4 "Sweep operation" for the list sweep.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymeasure.instruments import Channel, Instrument
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from drivers.attributes import FastAttributeAccess
from drivers.errors import InstrumentError, TspErrorQueue, parse_floats
from drivers.roles import SourceMeter
from drivers.safestate import send_all
from drivers.timeouts import timeout_at_least
from hil.pulses import SafetyLimits


class K2636BChannel(Channel):
    """One SMU, `smu{ch}` with {ch} = a or b."""

    source_voltage = Channel.setting(
        "smu{ch}.source.levelv = %g", "DC voltage level in volts.", validator=strict_range, values=[-202, 202]
    )
    current_limit = Channel.setting(
        "smu{ch}.source.limiti = %g", "Current compliance of the voltage source in amperes.",
        validator=strict_range, values=[1e-11, 1.5],
    )  # fmt: skip
    nplc = Channel.setting(
        "smu{ch}.measure.nplc = %g", "Integration time in power-line cycles.",
        validator=strict_range, values=[0.001, 25],
    )  # fmt: skip
    output_enabled = Channel.setting(
        "smu{ch}.source.output = %s", "Output state (bool).",
        validator=strict_discrete_set, values={True: "smu{ch}.OUTPUT_ON", False: "smu{ch}.OUTPUT_OFF"},
        map_values=True,
    )  # fmt: skip


class Keithley2636B(FastAttributeAccess, Instrument, TspErrorQueue, SourceMeter):
    """Keithley 2636B as the bench's read instrument on SMU `channel` ("a" or "b").

    limits: the bench's SafetyLimits; bias and compliance outside them are refused.
    Other keyword arguments go to the VISA connection.
    """

    bias_range = (-202.0, 202.0)  # 200 V range, 101 % overrange
    compliance_range = (1e-11, 1.5)
    nplc_range = (0.001, 25.0)
    max_list_points = 1000  # keeps the Lua table of one listv() command to a few kB

    smua = Instrument.ChannelCreator(K2636BChannel, "a")
    smub = Instrument.ChannelCreator(K2636BChannel, "b")

    def __init__(
        self,
        adapter: Any,
        limits: SafetyLimits | None = None,
        channel: str = "a",
        name: str = "Keithley 2636B",
        **kwargs: Any,
    ):
        if channel not in ("a", "b"):
            raise ValueError(f"{name}: channel must be 'a' or 'b' (smua or smub), got {channel!r}")
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        super().__init__(adapter, name, includeSCPI=False, **kwargs)
        self.limits = limits
        self.prefix = f"smu{channel}"
        self.smu: K2636BChannel = self.channels[channel]
        self._bias: float | None = None
        self._nplc = 1.0
        self._output_enabled = False

    # ------------------------------------------------------------------ SourceMeter role
    def configure_read(self, bias: float, compliance: float, nplc: float = 1.0) -> None:
        volts = self._check_bias(bias)
        amps = self._check_compliance(compliance)
        cycles = self._check_nplc(nplc)
        self._bias = None
        smu = self.prefix
        self.write(f"{smu}.source.func = {smu}.OUTPUT_DCVOLTS")
        self.write(f"{smu}.source.autorangev = {smu}.AUTORANGE_ON")
        self.smu.current_limit = amps
        self.smu.source_voltage = volts
        self.write(f"{smu}.measure.autorangei = {smu}.AUTORANGE_ON")
        self.smu.nplc = cycles
        self.raise_on_errors("configure_read()")
        self._bias, self._nplc = volts, cycles

    def _write_bias(self, volts: float) -> None:
        self.smu.source_voltage = volts

    def _switch_output(self, on: bool) -> None:
        self.smu.output_enabled = on

    def read_current(self) -> float:
        self._require_output("read_current()")
        reply = self.ask(f"print({self.prefix}.measure.i())")
        try:
            return float(reply)
        except ValueError:
            raise InstrumentError(self.name, f"unreadable measure.i() reply {reply!r}") from None

    def read_currents(self, biases: Sequence[float]) -> list[float]:
        self._require_output("read_currents()")
        values = self._check_biases(biases)
        n, smu = len(values), self.prefix
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

    def shutdown(self) -> None:
        """Abort any sweep, source 0 V, output off, on the role's SMU."""
        self._output_enabled = False
        smu = self.prefix
        off = f"{smu}.source.output = {smu}.OUTPUT_OFF"
        send_all(self.write, [f"{smu}.abort()", f"{smu}.source.levelv = 0", off])
        super().shutdown()
