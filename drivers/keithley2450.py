"""Keithley 2450 SourceMeter: PyMeasure's Keithley2450 with strict validators, as a SourceMeter.

Commands follow the Keithley 2450 Reference Manual (2450-901-01), section 6 "SCPI command
reference"; the instrument must run its native SCPI command set (not TSP, not "SCPI 2400").
PyMeasure's driver clamps out-of-range values (truncated_range) or does not check them at
all; every such property is redefined here with strict_range, same commands.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymeasure.instruments import Instrument
from pymeasure.instruments.keithley import Keithley2450
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from drivers.errors import ScpiErrorQueue, UnreadableReply, parse_floats
from drivers.roles import AlternatingSequence, check_real, check_whole, check_window
from drivers.state import KnownSetting, ScpiSettings
from drivers.templates import SourceMeterTemplate
from drivers.timeouts import timeout_at_least

_ON_OFF = {True: "ON", False: "OFF"}
MAX_BLOCKS = 63  # trigger-model blocks the 2450 holds (manual 6, :TRIGger:BLOCk commands)


def _strict(get: str, set_: str, doc: str, values: tuple[float, float], cast: type = float) -> Any:
    return Instrument.control(get, set_, doc, validator=strict_range, values=values, cast=cast)


class Keithley2450SMU(ScpiSettings, SourceMeterTemplate, Keithley2450, ScpiErrorQueue):
    """Keithley 2450 as the bench's read instrument (voltage source, current measure).

    limits: the bench's SafetyLimits; bias and compliance outside them are refused.
    Other keyword arguments go to the VISA connection (e.g. timeout in ms).
    """

    model = "Keithley 2450 SourceMeter"
    bias_range = (-210.0, 210.0)
    compliance_range = (1e-9, 1.05)  # :SOUR:VOLT:ILIM, 1 nA to 1.05 A
    nplc_range = (0.01, 10.0)
    max_list_points = 100  # :SOUR:LIST:VOLT holds up to 100 values (manual 6, :SOURce[1]:LIST)

    # ------------------------------------------------ PyMeasure properties, strict instead of clamped
    source_voltage = _strict(":SOUR:VOLT?", ":SOUR:VOLT:LEV %g", "Source voltage in volts.", (-210, 210))
    source_current = _strict(":SOUR:CURR?", ":SOUR:CURR:LEV %g", "Source current in amperes.", (-1.05, 1.05))
    compliance_current = _strict(
        ":SOUR:VOLT:ILIM?", ":SOUR:VOLT:ILIM %g", "Current limit of the voltage source, A.", (1e-9, 1.05)
    )
    compliance_voltage = _strict(
        ":SOUR:CURR:VLIM?", ":SOUR:CURR:VLIM %g", "Voltage limit of the current source, volts.", (0.02, 210)
    )
    current_range = _strict(
        ":SENS:CURR:RANG?",
        ":SENS:CURR:RANG:AUTO 0;:SENS:CURR:RANG %g",
        "Current measurement range in amperes (disables auto range).",
        (-1.05, 1.05),
    )
    voltage_range = _strict(
        ":SENS:VOLT:RANG?",
        ":SENS:VOLT:RANG:AUTO 0;:SENS:VOLT:RANG %g",
        "Voltage measurement range in volts (disables auto range).",
        (-210, 210),
    )
    resistance_range = _strict(
        ":SENS:RES:RANG?",
        ":SENS:RES:RANG:AUTO 0;:SENS:RES:RANG %g",
        "Resistance measurement range in ohms (disables auto range).",
        (0, 210e6),
    )
    source_current_range = _strict(
        ":SOUR:CURR:RANG?",
        ":SOUR:CURR:RANG:AUTO 0;:SOUR:CURR:RANG %g",
        "Current source range in amperes (disables auto range).",
        (-1.05, 1.05),
    )
    source_voltage_range = _strict(
        ":SOUR:VOLT:RANG?",
        ":SOUR:VOLT:RANG:AUTO 0;:SOUR:VOLT:RANG %g",
        "Voltage source range in volts (disables auto range).",
        (-210, 210),
    )
    source_current_delay = _strict(
        ":SOUR:CURR:DEL?", ":SOUR:CURR:DEL %g", "Current source delay in seconds.", (0, 999.9999)
    )
    source_voltage_delay = _strict(
        ":SOUR:VOLT:DEL?", ":SOUR:VOLT:DEL %g", "Voltage source delay in seconds.", (0, 999.9999)
    )
    current_nplc = _strict(":SENS:CURR:NPLC?", ":SENS:CURR:NPLC %g", "Current integration, PLC.", (0.01, 10))
    voltage_nplc = _strict(":SENS:VOLT:NPLC?", ":SENS:VOLT:NPLC %g", "Voltage integration, PLC.", (0.01, 10))
    resistance_nplc = _strict(":SENS:RES:NPLC?", ":SENS:RES:NPLC %g", "Ohms integration, PLC.", (0.01, 10))
    buffer_points = _strict(":TRAC:POIN?", ":TRAC:POIN %d", "Buffer size in readings.", (1, 6875000), int)
    current_filter_count = _strict(
        ":SENS:CURR:AVER:COUNT?", ":SENS:CURR:AVER:COUNT %d", "Readings the filter averages.", (1, 100), int
    )
    voltage_filter_count = _strict(
        ":SENS:VOLT:AVER:COUNT?", ":SENS:VOLT:AVER:COUNT %d", "Readings the filter averages.", (1, 100), int
    )

    output_enabled = Instrument.setting(
        "OUTPUT %s", "Output state (bool).", validator=strict_discrete_set, values=_ON_OFF, map_values=True
    )

    # ------------------------------------------------ the template's table
    read_query = ":READ?"
    # No ramp down (PyMeasure's shutdown ramps): this driver only sources small read biases.
    # Then every digital I/O line stops following a notify (none can fire another instrument).
    safe_state = (
        ":ABOR",
        ":SOUR:VOLT:LEV 0",
        "OUTPUT OFF",
        ";".join(f":TRIG:DIG{n}:OUT:STIM NONE" for n in range(1, 7)),
    )
    # What identifies the confirmed trigger model: (readings, line, settle s, wait line, switch
    # source) of a triggered read sequence, or an AlternatingSequence; None: send it (again)
    _triggered: tuple[int, int, float, int | None, bool] | AlternatingSequence | None = None
    # (readings, seconds the run may take at most, whether it switches the source) of the
    # confirmed model, for run_triggered_reads
    _run_plan: tuple[int, float, bool] = (0, 0.0, False)
    _notify_line: int | None = None  # the line a sequence last made follow notify 1

    @property
    def smu(self) -> Keithley2450SMU:
        """The 2450's one source-measure channel is the instrument itself."""
        return self

    def known_settings(self) -> list[KnownSetting]:
        """What the driver relies on (manual 6): the native SCPI command set (*LANG; changing it
        takes a power cycle), output off, a voltage source with auto source delay and 0 V when
        off (:OUTP:VOLT:SMOD NORM), current measured once per trigger (:SENS:COUN 1) without
        the averaging filter and with autozero, ASCII replies, and no digital I/O line firing
        on a notify (:TRIG:DIG<n>:OUT:STIM NONE) until a trigger sequence asks for one."""
        lines = [
            KnownSetting(
                f"digital I/O line {n} trigger out",
                f":TRIG:DIG{n}:OUT:STIM?",
                f":TRIG:DIG{n}:OUT:STIM NONE",
                "NONE",
            )
            for n in range(1, self.digital_lines + 1)
        ]
        return [
            KnownSetting(
                "command set",
                "*LANG?",
                None,
                "SCPI",
                fix="select SCPI on the front panel (MENU > System > Settings > Command Set) and "
                "power-cycle the 2450, then connect again",
            ),
            KnownSetting("output", ":OUTP?", ":OUTP OFF", "0"),
            KnownSetting("source function", ":SOUR:FUNC?", ":SOUR:FUNC VOLT", "VOLT"),
            KnownSetting("source delay auto", ":SOUR:VOLT:DEL:AUTO?", ":SOUR:VOLT:DEL:AUTO ON", "1"),
            KnownSetting("output-off state", ":OUTP:VOLT:SMOD?", ":OUTP:VOLT:SMOD NORM", "NORM"),
            KnownSetting("measure function", ":SENS:FUNC?", ':SENS:FUNC "CURR"', "CURR:DC"),
            KnownSetting("readings per trigger", ":SENS:COUN?", ":SENS:COUN 1", "1"),
            KnownSetting("current filter", ":SENS:CURR:AVER?", ":SENS:CURR:AVER OFF", "0"),
            KnownSetting("current autozero", ":SENS:CURR:AZER?", ":SENS:CURR:AZER ON", "1"),
            KnownSetting("reply format", ":FORM:DATA?", ":FORM:DATA ASC", "ASC"),
            *lines,
        ]

    def establish_state(self) -> list:
        changes = super().establish_state()
        self._triggered, self._notify_line = None, None  # every line reads NONE now
        return changes

    def check_errors(self) -> list:
        """Raise InstrumentError if the error queue holds entries (PyMeasure's version only logs)."""
        self.raise_on_errors("a configuration")
        return []

    # ------------------------------------------------------------------ SourceMeter role
    def _setup_read(self, volts: float, amps: float, cycles: float) -> None:
        self._triggered = None  # a fresh read set-up (as after an error) sends the sequence again too
        self.source_mode = "voltage"
        self.compliance_current = amps
        self.source_voltage = volts
        self.measure_current(nplc=cycles)  # sense CURR, NPLC, auto range, then the error queue

    def read_current_switched(self) -> float:
        """One query: output on, :READ? (after the source delay, auto since connect), output off,
        and the error count (:SYST:ERR:COUN?); InstrumentError if the count is not 0 (an output
        the instrument refused to switch on, say by its interlock)."""
        self._require_configured("read_current_switched()")
        self._output_enabled = True
        try:
            reply = self.ask(":OUTP ON;:READ?;:OUTP OFF;:SYST:ERR:COUN?")
        finally:
            self._output_enabled = False
        parts = reply.strip().split(";")
        try:
            amps, count = float(parts[0]), int(float(parts[1]))
        except (ValueError, IndexError):
            raise UnreadableReply(self.name, f"unreadable reply {reply!r} to a switched reading") from None
        if count:
            self.raise_on_errors("a switched reading")
        return amps

    def read_currents(self, biases: Sequence[float]) -> list[float]:
        self._require_output("read_currents()")
        bias = self._require_configured("read_currents()")
        values = self._check_biases(biases)
        n = len(values)
        self._triggered = None  # the sweep builds its own trigger model in place of a configured one
        # Readings of earlier :READ? calls sit in defbuffer1; clear it so points 1..n are this sweep's.
        self.write(':TRAC:CLE "defbuffer1"')
        self.write(":SOUR:LIST:VOLT " + ",".join(f"{v:g}" for v in values))
        # Manual 6, :SOURce[1]:SWEep:<function>:LIST <startIndex>, <delay>: builds the trigger model.
        self.write(":SOUR:SWE:VOLT:LIST 1, 0")
        self.raise_on_errors("setting up a list sweep")
        self.write(":INIT")
        self.write("*WAI")
        with timeout_at_least(self, self._list_duration(n)):
            reply = self.ask(f':TRAC:DATA? 1, {n}, "defbuffer1", READ')
        # The sweep leaves the last list level (and may switch the output off): restore both.
        self.source_voltage = bias
        self.output_enabled = True
        self.raise_on_errors("a list sweep")
        return parse_floats(self.name, reply, n, "list sweep")

    supports_triggered_reads = True
    max_triggered_reads = 10_000  # readings one sequence may take (defbuffer1 holds far more)
    digital_lines = 6  # rear-panel digital I/O lines

    def configure_triggered_reads(
        self,
        count: int,
        line: int,
        settle: float,
        *,
        wait_line: int | None = None,
        switch_source: bool = False,
    ) -> None:
        """A trigger model (manual 6, :TRIGger:BLOCk commands) looping `count` times over
        {notify 1 -> a pulse out of digital I/O `line`; wait for a falling edge on digital input
        `wait_line` (:TRIG:BLOC:WAIT ..., DIG<n>), or without one a constant delay `settle` s;
        with switch_source the output on (:TRIG:BLOC:SOUR:STAT, the source delay applying); one
        reading into defbuffer1; with switch_source the output off}. `line` becomes a trigger
        output on notify event 1, active low (falling edge first, 10 us), `wait_line` a trigger
        input detecting falling edges; a line an earlier sequence used stops following notify 1.
        One message (a compound of the commands) and one error query; nothing when the
        instrument already holds this sequence (confirmed since the last configure_read).
        """
        self._require_configured("configure_triggered_reads()")
        n = check_whole(self.name, "reading count", count, 1, self.max_triggered_reads)
        dio = check_whole(self.name, "digital I/O line", line, 1, self.digital_lines)
        delay = check_real(self.name, "settle time", settle, "seconds")
        check_window(self.name, "settle time", delay, (0.0, 10.0), "s")
        ready = (
            None
            if wait_line is None
            else check_whole(self.name, "wait line", wait_line, 1, self.digital_lines)
        )
        if ready == dio:
            raise ValueError(f"{self.name}: the wait line must differ from the trigger line {dio}")
        wanted = (n, dio, delay, ready, bool(switch_source))
        if self._triggered == wanted:
            return
        self._triggered = None
        self.write(";".join(self._trigger_model(n, dio, delay, ready, bool(switch_source))))
        self._notify_line = dio
        self.raise_on_errors("setting up a triggered read sequence")
        self._triggered = wanted
        self._run_plan = (n, n * delay + self._list_duration(n), bool(switch_source))

    def _trigger_lines(self, dio: int, ready: int | None) -> list[str]:
        """Line `dio` a trigger output on notify 1 (active low, 10 us), `ready` a trigger input
        detecting falling edges; first, the line an earlier model used stops following notify 1,
        so that notify 1 pulses `dio` only (another line may be cabled to another instrument)."""
        release = [] if self._notify_line in (None, dio) else [f":TRIG:DIG{self._notify_line}:OUT:STIM NONE"]
        lines = [
            f":DIG:LINE{dio}:MODE TRIG, OUT",
            f":TRIG:DIG{dio}:OUT:LOG NEG",
            f":TRIG:DIG{dio}:OUT:PULS 1e-05",
            f":TRIG:DIG{dio}:OUT:STIM NOT1",
        ]
        if ready is not None:
            lines += [f":DIG:LINE{ready}:MODE TRIG, IN", f":TRIG:DIG{ready}:IN:EDGE FALL"]
        return release + lines

    def _trigger_model(self, n: int, dio: int, delay: float, ready: int | None, switch: bool) -> list[str]:
        """The commands of configure_triggered_reads, in order."""
        lines = self._trigger_lines(dio, ready)
        body = [":TRIG:BLOC:NOT {}, 1", f":TRIG:BLOC:DEL:CONS {{}}, {delay:g}"]
        if ready is not None:
            body[1] = f":TRIG:BLOC:WAIT {{}}, DIG{ready}"
        if switch:
            body.append(":TRIG:BLOC:SOUR:STAT {}, ON")
        body.append(':TRIG:BLOC:MEAS {}, "defbuffer1"')
        if switch:
            body.append(":TRIG:BLOC:SOUR:STAT {}, OFF")
        blocks = [command.format(k) for k, command in enumerate(body, 2)]
        # back to block 2 until the body has run n times
        loop = f":TRIG:BLOC:BRAN:COUN {len(body) + 2}, {n}, 2"
        return [*lines, ':TRIG:LOAD "Empty"', ':TRIG:BLOC:BUFF:CLE 1, "defbuffer1"', *blocks, loop]

    def run_triggered_reads(self) -> list[float]:
        """:INIT;*WAI;:TRAC:DATA? in one query: runs the trigger model, returns its readings.
        The output must be on, or off for a sequence that switches the source itself."""
        if self._triggered is None:
            raise RuntimeError(f"{self.name}: call configure_triggered_reads() before run_triggered_reads()")
        n, seconds, switch = self._run_plan
        if switch:
            self._require_configured("run_triggered_reads()")
        else:
            self._require_output("run_triggered_reads()")
        try:
            with timeout_at_least(self, seconds):
                reply = self.ask(f':INIT;*WAI;:TRAC:DATA? 1, {n}, "defbuffer1", READ')
        except BaseException:
            self._triggered = None  # what the instrument holds after a failed run is not known
            raise
        return parse_floats(self.name, reply, n, "triggered read sequence")

    supports_alternating = True

    def configure_alternating(self, sequence: AlternatingSequence) -> None:
        """The trigger model of `sequence` (drivers.roles.AlternatingSequence; manual 6,
        :TRIGger:BLOCk commands): the pulse line a digital output (:DIG:LINE<n>:MODE DIG, OUT)
        set high first, whose Digital I/O blocks (:TRIG:BLOC:DIG:IO) make the edges; the switch
        line a trigger output on notify 1 and the wait line a trigger input, as for scans; nested
        loops by branch-on-counter blocks, each inner counter reset by a counter-reset block
        (:TRIG:BLOC:BRAN:COUN:RES) before its loop. One message and one error query; nothing
        when the instrument already holds this sequence (confirmed since the last configure_read).
        """
        self._require_configured("configure_alternating()")
        seq = self._check_sequence(sequence)
        if self._triggered == seq:
            return
        self._triggered = None
        self.write(";".join(self._alternating_model(seq)))
        self._notify_line = seq.switch_line
        self.raise_on_errors("setting up an alternating pulse sequence")
        self._triggered = seq
        # Generous, as for list sweeps: 50 ms more per scan step than its relays' settle time.
        step = seq.settle + 0.05
        seconds = 2 * seq.pairs * seq.gap + seq.scan_steps * step + self._list_duration(seq.readings)
        self._run_plan = (seq.readings, seconds, True)

    def _check_sequence(self, seq: object) -> AlternatingSequence:
        if not isinstance(seq, AlternatingSequence):
            raise TypeError(f"{self.name}: expected an AlternatingSequence, got {seq!r}")
        check_whole(self.name, "pairs", seq.pairs, 1, self.max_triggered_reads)
        check_whole(self.name, "read_every", seq.read_every, 1, seq.pairs)
        check_whole(self.name, "devices", seq.devices, 1, self.max_triggered_reads)
        if seq.pairs % seq.read_every:
            raise ValueError(
                f"{self.name}: pairs {seq.pairs} is not a multiple of read_every {seq.read_every}"
            )
        check_whole(self.name, "readings", seq.readings, 1, self.max_triggered_reads)
        lines = [seq.pulse_line, seq.switch_line] + ([] if seq.wait_line is None else [seq.wait_line])
        for line in lines:
            check_whole(self.name, "digital I/O line", line, 1, self.digital_lines)
        if len(set(lines)) != len(lines):
            raise ValueError(f"{self.name}: the pulse, switch and wait lines must differ, got {lines}")
        for what, value in (("gap", seq.gap), ("settle time", seq.settle)):
            check_window(self.name, what, check_real(self.name, what, value, "seconds"), (0.0, 10.0), "s")
        return seq

    def _alternating_model(self, seq: AlternatingSequence) -> list[str]:
        """The commands of configure_alternating, in order."""
        bit = 1 << (seq.pulse_line - 1)
        settle = (
            f":TRIG:BLOC:DEL:CONS {{}}, {seq.settle:g}"
            if seq.wait_line is None
            else f":TRIG:BLOC:WAIT {{}}, DIG{seq.wait_line}"
        )
        blocks = [':TRIG:BLOC:BUFF:CLE {}, "defbuffer1"']

        def loop(body: list[str], count: int) -> None:
            """`body` run `count` times: a reset of its counter, the body, the counter."""
            first = len(blocks) + 2  # the body's first block, after the reset
            counter = first + len(body)
            blocks.extend([f":TRIG:BLOC:BRAN:COUN:RES {{}}, {counter}", *body])
            blocks.append(f":TRIG:BLOC:BRAN:COUN {{}}, {count}, {first}")

        up = [f":TRIG:BLOC:DIG:IO {{}}, 0, {bit}", f":TRIG:BLOC:DEL:CONS {{}}, {seq.gap:g}"]
        down = [f":TRIG:BLOC:DIG:IO {{}}, {bit}, {bit}", f":TRIG:BLOC:DEL:CONS {{}}, {seq.gap:g}"]
        step = [":TRIG:BLOC:NOT {}, 1", settle]  # the scan's next step, and its relays settled
        reading = [*step, ":TRIG:BLOC:SOUR:STAT {}, ON", ':TRIG:BLOC:MEAS {}, "defbuffer1"']
        reading.append(":TRIG:BLOC:SOUR:STAT {}, OFF")
        outer = len(blocks) + 1
        blocks.extend(step)  # back to the pulse routing
        if seq.read_every > 1:
            loop(up + down, seq.read_every - 1)
        blocks.extend(up)
        loop(reading, seq.devices)
        blocks.extend(step + down)
        loop(reading, seq.devices)
        blocks.append(f":TRIG:BLOC:BRAN:COUN {{}}, {seq.reads // 2}, {outer}")
        if len(blocks) > MAX_BLOCKS:
            raise ValueError(
                f"{self.name}: the sequence needs {len(blocks)} trigger-model blocks, more than {MAX_BLOCKS}"
            )
        lines = self._trigger_lines(seq.switch_line, seq.wait_line)
        level = [f":DIG:LINE{seq.pulse_line}:MODE DIG, OUT", f":DIG:LINE{seq.pulse_line}:STAT 1"]
        numbered = [command.format(k) for k, command in enumerate(blocks, 1)]
        return [*lines, *level, ':TRIG:LOAD "Empty"', *numbered]

    def fetch_triggered_reads(self, count: int) -> list[float]:
        """:TRAC:DATA? of the first `count` readings of defbuffer1, where the last sequence put
        them (its first block clears the buffer); the trigger model does not run again."""
        n = check_whole(self.name, "reading count", count, 1, self.max_triggered_reads)
        reply = self.ask(f':TRAC:DATA? 1, {n}, "defbuffer1", READ')
        return parse_floats(self.name, reply, n, "triggered read sequence")

    def shutdown(self) -> None:
        """Abort any sweep, source 0 V, output off, no digital line following a notify; the
        trigger sequence is forgotten."""
        self._triggered, self._notify_line = None, None
        super().shutdown()
