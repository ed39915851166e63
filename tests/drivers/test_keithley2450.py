"""Keithley 2450 driver: exact SCPI exchanges (2450 Reference Manual 2450-901-01, section 6)."""

from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol

from drivers.errors import InstrumentError
from drivers.keithley2450 import Keithley2450SMU
from drivers.roles import AlternatingSequence
from hil.pulses import LimitError, SafetyLimits

LIMITS = SafetyLimits(max_read_voltage=0.2, current_compliance=1e-3)
NO_ERROR = ("SYST:ERR?", '0,"No error;0;0 0"')
CONFIGURE = [
    (":SOUR:FUNC VOLT", None),
    (":SOUR:VOLT:ILIM 0.0001", None),
    (":SOUR:VOLT:LEV 0.1", None),
    (":SENS:FUNC 'CURR';:SENS:CURR:NPLC 1.000000;", None),
    (":SENS:CURR:RANG:AUTO 1;", None),
    NO_ERROR,
]
OUTPUT_ON = [("OUTPUT ON", None), NO_ERROR]


def smu(pairs):
    return expected_protocol(Keithley2450SMU, pairs, limits=LIMITS)


def test_configure_read_sends_voltage_source_current_measure_and_checks_errors():
    with smu(CONFIGURE) as k:
        k.configure_read(0.1, 1e-4)


def test_error_queue_entry_after_configure_raises_naming_instrument_and_error():
    pairs = [*CONFIGURE[:-1], ("SYST:ERR?", '-222,"Data out of range;1;0 0"'), NO_ERROR]
    with smu(pairs) as k, pytest.raises(InstrumentError, match=r"Keithley 2450.*-222 'Data out of range"):
        k.configure_read(0.1, 1e-4)
    with smu([*pairs]) as k:
        with pytest.raises(InstrumentError):
            k.configure_read(0.1, 1e-4)
        with pytest.raises(RuntimeError, match="configure_read"):
            k.output_on()  # a failed configuration leaves the driver unconfigured


@pytest.mark.parametrize(
    ("bias", "compliance", "nplc", "error", "match"),
    [
        (0.3, 1e-4, 1.0, LimitError, "exceeds the limit 0.2 V"),
        (-0.25, 1e-4, 1.0, LimitError, "exceeds the limit"),
        (0.1, 2e-3, 1.0, LimitError, "exceeds the bench limit"),
        (0.1, 1e-10, 1.0, ValueError, "compliance 1e-10 A is outside the instrument's range"),
        (0.1, 1e-4, 20.0, ValueError, "nplc 20 PLC is outside"),
        (float("nan"), 1e-4, 1.0, ValueError, "bias must be a finite number"),
        (True, 1e-4, 1.0, ValueError, "bias must be a finite number"),
    ],
)
def test_out_of_range_read_settings_raise_before_anything_is_written(bias, compliance, nplc, error, match):
    with smu([]) as k, pytest.raises(error, match=match):
        k.configure_read(bias, compliance, nplc)


def test_instrument_window_applies_without_bench_limits():
    with (
        expected_protocol(Keithley2450SMU, []) as k,
        pytest.raises(ValueError, match="outside the instrument"),
    ):
        k.configure_read(250.0, 1e-4)


def test_set_bias_output_and_reads_need_configure_first():
    with smu([]) as k:
        for call in (lambda: k.set_bias(0.1), k.output_on, k.read_current, lambda: k.read_currents([0.1])):
            with pytest.raises(RuntimeError, match="configure_read"):
                call()


def test_read_current_needs_output_on():
    with smu(CONFIGURE) as k:
        k.configure_read(0.1, 1e-4)
        with pytest.raises(RuntimeError, match="output is off"):
            k.read_current()


def test_read_current_returns_amperes():
    with smu([*CONFIGURE, *OUTPUT_ON, (":READ?", "1.234E-06")]) as k:
        k.configure_read(0.1, 1e-4)
        k.output_on()
        assert k.read_current() == pytest.approx(1.234e-6)


def test_unreadable_reading_raises_instrument_error():
    with smu([*CONFIGURE, *OUTPUT_ON, (":READ?", "garbage")]) as k:
        k.configure_read(0.1, 1e-4)
        k.output_on()
        with pytest.raises(InstrumentError, match="unreadable :READ\\? reply 'garbage'"):
            k.read_current()


def test_set_bias_checks_limits_then_writes_and_checks_errors():
    with smu([*CONFIGURE, (":SOUR:VOLT:LEV -0.05", None), NO_ERROR]) as k:
        k.configure_read(0.1, 1e-4)
        with pytest.raises(LimitError):
            k.set_bias(0.5)
        k.set_bias(-0.05)


def test_list_sweep_runs_on_the_instrument_and_restores_the_bias():
    pairs = [
        *CONFIGURE,
        *OUTPUT_ON,
        (':TRAC:CLE "defbuffer1"', None),
        (":SOUR:LIST:VOLT 0.1,0.1,0.15", None),
        # Manual 6: :SOURce:SWEep:<function>:LIST <startIndex>, <delay> builds the sweep trigger
        # model from the :SOURce:LIST values; :INIT runs it, *WAI holds the next command until
        # it is done, :TRACe:DATA? <start>, <end>, "<buffer>", READ returns the readings.
        (":SOUR:SWE:VOLT:LIST 1, 0", None),
        NO_ERROR,
        (":INIT", None),
        ("*WAI", None),
        (':TRAC:DATA? 1, 3, "defbuffer1", READ', "1e-06,1.1e-06,1.5e-06"),
        (":SOUR:VOLT:LEV 0.1", None),
        ("OUTPUT ON", None),
        NO_ERROR,
    ]
    with smu(pairs) as k:
        k.configure_read(0.1, 1e-4)
        k.output_on()
        assert k.read_currents([0.1, 0.1, 0.15]) == pytest.approx([1e-6, 1.1e-6, 1.5e-6])


def test_list_sweep_refuses_too_many_points_or_a_bias_over_the_limit_before_writing():
    with smu([*CONFIGURE, *OUTPUT_ON]) as k:
        k.configure_read(0.1, 1e-4)
        k.output_on()
        with pytest.raises(ValueError, match="1 to 100 biases"):
            k.read_currents([0.1] * 101)
        with pytest.raises(LimitError):
            k.read_currents([0.1, 0.3])


def test_list_sweep_with_short_data_raises():
    pairs = [
        *CONFIGURE,
        *OUTPUT_ON,
        (':TRAC:CLE "defbuffer1"', None),
        (":SOUR:LIST:VOLT 0.1,0.1", None),
        (":SOUR:SWE:VOLT:LIST 1, 0", None),
        NO_ERROR,
        (":INIT", None),
        ("*WAI", None),
        (':TRAC:DATA? 1, 2, "defbuffer1", READ', "1e-06"),
        (":SOUR:VOLT:LEV 0.1", None),
        ("OUTPUT ON", None),
        NO_ERROR,
    ]
    with smu(pairs) as k:
        k.configure_read(0.1, 1e-4)
        k.output_on()
        with pytest.raises(InstrumentError, match="returned 1 values, expected 2"):
            k.read_currents([0.1, 0.1])


def test_shutdown_aborts_sources_zero_and_switches_off_twice():
    disarm = ";".join(f":TRIG:DIG{n}:OUT:STIM NONE" for n in range(1, 7))  # no line follows a notify
    safe = [(":ABOR", None), (":SOUR:VOLT:LEV 0", None), ("OUTPUT OFF", None), (disarm, None)]
    with smu([*CONFIGURE, *OUTPUT_ON, *safe, *safe]) as k:
        k.configure_read(0.1, 1e-4)
        k.output_on()
        k.shutdown()
        k.shutdown()
        assert k.isShutdown
        with pytest.raises(RuntimeError, match="output is off"):
            k.read_current()


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("source_voltage", 211),
        ("source_current", -1.1),
        ("compliance_current", 2.0),
        ("compliance_voltage", 300),
        ("current_range", 1.1),
        ("voltage_range", -250),
        ("resistance_range", 1e9),
        ("source_current_range", 2),
        ("source_voltage_range", 300),
        ("source_current_delay", 1000),
        ("source_voltage_delay", -1),
        ("current_nplc", 0.001),
        ("voltage_nplc", 11),
        ("resistance_nplc", 0),
        ("buffer_points", 0),
        ("current_filter_count", 101),
        ("voltage_filter_count", 0),
    ],
)
def test_pymeasure_properties_that_clamped_now_refuse(prop, value):
    with expected_protocol(Keithley2450SMU, []) as k, pytest.raises(ValueError, match="not in range"):
        setattr(k, prop, value)


# ---------------------------------------------------------------------- triggered read sequences
TRIGGER_MODEL = (
    ":DIG:LINE3:MODE TRIG, OUT;:TRIG:DIG3:OUT:LOG NEG;:TRIG:DIG3:OUT:PULS 1e-05;:TRIG:DIG3:OUT:STIM NOT1;"
    ':TRIG:LOAD "Empty";:TRIG:BLOC:BUFF:CLE 1, "defbuffer1";:TRIG:BLOC:NOT 2, 1;'
    ':TRIG:BLOC:DEL:CONS 3, 0.001;:TRIG:BLOC:MEAS 4, "defbuffer1";:TRIG:BLOC:BRAN:COUN 5, 3, 2'
)


def test_triggered_reads_build_the_trigger_model_in_one_message_and_fetch_in_one_query():
    # Manual 6, :TRIGger:BLOCk: notify 1 pulses digital line 3, delay, measure; the counter block
    # sends the model back to block 2 until blocks 2-4 have run 3 times.
    pairs = [
        *CONFIGURE,
        (TRIGGER_MODEL, None),
        NO_ERROR,
        *OUTPUT_ON,
        (':INIT;*WAI;:TRAC:DATA? 1, 3, "defbuffer1", READ', "1.0E-06,1.1E-06,1.2E-06"),
    ]
    with smu(pairs) as k:
        k.configure_read(0.1, 1e-4)
        k.configure_triggered_reads(3, 3, 1e-3)
        k.output_on()
        assert k.run_triggered_reads() == [1e-6, 1.1e-6, 1.2e-6]


@pytest.mark.parametrize(
    ("count", "line", "settle", "match"),
    [(0, 1, 1e-3, "reading count 0"), (1, 7, 1e-3, "digital I/O line 7"), (1, 1, -1.0, "settle time"),
     (10_001, 1, 1e-3, "reading count 10001"), (1, True, 1e-3, "whole number")],
)  # fmt: skip
def test_triggered_read_settings_are_checked_before_anything_is_written(count, line, settle, match):
    with smu(CONFIGURE) as k:
        k.configure_read(0.1, 1e-4)
        with pytest.raises(ValueError, match=match):
            k.configure_triggered_reads(count, line, settle)


def test_a_refused_trigger_model_cannot_be_run_and_a_short_reply_raises():
    pairs = [
        *CONFIGURE,
        (TRIGGER_MODEL, None),
        ("SYST:ERR?", '-113,"Undefined header;1;0 0"'),
        NO_ERROR,
        *OUTPUT_ON,
        (TRIGGER_MODEL, None),
        NO_ERROR,
        (':INIT;*WAI;:TRAC:DATA? 1, 3, "defbuffer1", READ', "1.0E-06,1.1E-06"),
    ]
    with smu(pairs) as k:
        k.configure_read(0.1, 1e-4)
        with pytest.raises(InstrumentError, match="-113"):
            k.configure_triggered_reads(3, 3, 1e-3)
        k.output_on()
        with pytest.raises(RuntimeError, match="configure_triggered_reads"):
            k.run_triggered_reads()
        k.configure_triggered_reads(3, 3, 1e-3)
        with pytest.raises(InstrumentError, match="returned 2 values, expected 3"):
            k.run_triggered_reads()


def model(line: int, count: int, settle: str = "0.001") -> str:
    return (f":DIG:LINE{line}:MODE TRIG, OUT;:TRIG:DIG{line}:OUT:LOG NEG;:TRIG:DIG{line}:OUT:PULS 1e-05;"
            f':TRIG:DIG{line}:OUT:STIM NOT1;:TRIG:LOAD "Empty";:TRIG:BLOC:BUFF:CLE 1, "defbuffer1";'
            f':TRIG:BLOC:NOT 2, 1;:TRIG:BLOC:DEL:CONS 3, {settle};:TRIG:BLOC:MEAS 4, "defbuffer1";'
            f":TRIG:BLOC:BRAN:COUN 5, {count}, 2")  # fmt: skip


def run(count: int, reply: str) -> tuple[str, str]:
    return (f':INIT;*WAI;:TRAC:DATA? 1, {count}, "defbuffer1", READ', reply)


def test_a_confirmed_sequence_is_not_sent_again_and_a_new_line_releases_the_old_one():
    # Scans (line 2 to the switch matrix) and trains (line 1 to the pulse generator) take turns:
    # notify 1 must pulse only the line of the present sequence (manual 6,
    # :TRIGger:DIGital<n>:OUTput:STIMulus NONE), and an unchanged sequence costs nothing.
    pairs = [
        *CONFIGURE,
        (model(2, 2), None), NO_ERROR,
        *OUTPUT_ON,
        run(2, "1.0E-06,2.0E-06"),
        run(2, "1.5E-06,2.5E-06"),
        (":TRIG:DIG2:OUT:STIM NONE;" + model(1, 3), None), NO_ERROR,
        (":TRIG:DIG1:OUT:STIM NONE;" + model(2, 2), None), NO_ERROR,
    ]  # fmt: skip
    with smu(pairs) as k:
        k.configure_read(0.1, 1e-4)
        k.configure_triggered_reads(2, 2, 1e-3)
        k.output_on()
        assert k.run_triggered_reads() == [1e-6, 2e-6]
        k.configure_triggered_reads(2, 2, 1e-3)  # held by the instrument: nothing sent
        assert k.run_triggered_reads() == [1.5e-6, 2.5e-6]
        k.configure_triggered_reads(3, 1, 1e-3)
        k.configure_triggered_reads(2, 2, 1e-3)


def test_the_sequence_is_sent_again_after_a_new_read_setup_a_list_sweep_or_a_failed_run():
    pairs = [
        *CONFIGURE,
        (model(2, 2), None), NO_ERROR,
        *CONFIGURE,  # as after an error: the bench sets the read up again
        (model(2, 2), None), NO_ERROR,
        *OUTPUT_ON,
        (':TRAC:CLE "defbuffer1"', None), (":SOUR:LIST:VOLT 0.1", None), (":SOUR:SWE:VOLT:LIST 1, 0", None),
        NO_ERROR, (":INIT", None), ("*WAI", None), (':TRAC:DATA? 1, 1, "defbuffer1", READ', "1e-06"),
        (":SOUR:VOLT:LEV 0.1", None), ("OUTPUT ON", None), NO_ERROR,
        (model(2, 2), None), NO_ERROR,  # the sweep replaced the trigger model
        run(2, "not numbers"),
    ]  # fmt: skip
    with smu(pairs) as k:
        k.configure_read(0.1, 1e-4)
        k.configure_triggered_reads(2, 2, 1e-3)
        k.configure_read(0.1, 1e-4)
        k.configure_triggered_reads(2, 2, 1e-3)
        k.output_on()
        k.read_currents([0.1])
        k.configure_triggered_reads(2, 2, 1e-3)
        with pytest.raises(InstrumentError, match="unreadable"):
            k.run_triggered_reads()
    # A run that failed on the wire forgets the sequence as well.
    with smu([*CONFIGURE, (model(2, 2), None), NO_ERROR, *OUTPUT_ON]) as k:
        k.configure_read(0.1, 1e-4)
        k.configure_triggered_reads(2, 2, 1e-3)
        k.output_on()

        def lost(command: str, *args, **kwargs):
            raise ConnectionResetError("link dropped")

        k.ask = lost
        with pytest.raises(ConnectionResetError):
            k.run_triggered_reads()
        with pytest.raises(RuntimeError, match="configure_triggered_reads"):
            k.run_triggered_reads()


SCAN_MODEL = (
    ":DIG:LINE2:MODE TRIG, OUT;:TRIG:DIG2:OUT:LOG NEG;:TRIG:DIG2:OUT:PULS 1e-05;:TRIG:DIG2:OUT:STIM NOT1;"
    ":DIG:LINE3:MODE TRIG, IN;:TRIG:DIG3:IN:EDGE FALL;"
    ':TRIG:LOAD "Empty";:TRIG:BLOC:BUFF:CLE 1, "defbuffer1";:TRIG:BLOC:NOT 2, 1;:TRIG:BLOC:WAIT 3, DIG3;'
    ':TRIG:BLOC:SOUR:STAT 4, ON;:TRIG:BLOC:MEAS 5, "defbuffer1";:TRIG:BLOC:SOUR:STAT 6, OFF;'
    ":TRIG:BLOC:BRAN:COUN 7, 16, 2"
)


def test_a_scan_waits_for_channel_ready_and_has_the_output_on_only_for_each_reading():
    # Manual 6, :TRIGger:BLOCk:WAIT <block>, DIGio<n> and :TRIGger:DIGital<n>:IN:EDGE: each reading
    # waits for the matrix's Channel Ready edge on line 3, the source block switches the output.
    pairs = [
        *CONFIGURE,
        (SCAN_MODEL, None),
        NO_ERROR,
        (':INIT;*WAI;:TRAC:DATA? 1, 16, "defbuffer1", READ', ",".join(["1.0E-06"] * 16)),
    ]
    with smu(pairs) as k:
        k.configure_read(0.1, 1e-4)
        k.configure_triggered_reads(16, 2, 5e-3, wait_line=3, switch_source=True)
        assert k.run_triggered_reads() == [1e-6] * 16  # with the output off: the model switches it


def test_without_the_ready_cable_a_scan_waits_a_fixed_delay():
    model = SCAN_MODEL.replace(":DIG:LINE3:MODE TRIG, IN;:TRIG:DIG3:IN:EDGE FALL;", "").replace(
        ":TRIG:BLOC:WAIT 3, DIG3", ":TRIG:BLOC:DEL:CONS 3, 0.005"
    )
    with smu([*CONFIGURE, (model, None), NO_ERROR]) as k:
        k.configure_read(0.1, 1e-4)
        k.configure_triggered_reads(16, 2, 5e-3, switch_source=True)
    with smu([*CONFIGURE]) as k, pytest.raises(ValueError, match="wait line must differ"):
        k.configure_read(0.1, 1e-4)
        k.configure_triggered_reads(16, 2, 5e-3, wait_line=2)


def test_a_switched_read_is_one_query_and_a_refused_output_raises():
    ok = (":OUTP ON;:READ?;:OUTP OFF;:SYST:ERR:COUN?", "1.500000E-06;0")
    refused = (":OUTP ON;:READ?;:OUTP OFF;:SYST:ERR:COUN?", "0.000000E+00;1")
    interlock = ("SYST:ERR?", '-2002,"Interlock engaged;0;0 0"')
    with smu([*CONFIGURE, ok, refused, interlock, NO_ERROR]) as k:
        k.configure_read(0.1, 1e-4)
        assert k.read_current_switched() == 1.5e-6
        with pytest.raises(InstrumentError, match="Interlock"):
            k.read_current_switched()
        assert not k._output_enabled


# ---------------------------------------------------------------------- alternating pulse pairs
def sequence(**changes) -> AlternatingSequence:
    fields = {"pairs": 4, "read_every": 2, "devices": 2, "pulse_line": 1, "switch_line": 2,
              "wait_line": 3, "gap": 1e-3, "settle": 5e-3} | changes  # fmt: skip
    return AlternatingSequence(**fields)


# Manual 6: line 1 a digital output set high (:DIG:LINE1:STAT 1), its Digital I/O blocks the edges
# (pattern 0 over mask 1: low, the up pulse; pattern 1: high, the down pulse); notify 1 pulses
# line 2 (a scan step), the wait block waits for Channel Ready on line 3. Two reads per 2 pairs:
# the pulse routing, 1 pair (blocks 5-8, run read_every - 1 = 1 time by the counter at 9, reset
# by block 4), an up pulse, 2 device readings (13-17, counter 18, reset 12), the pulse routing,
# a down pulse, 2 readings (24-29), then back to block 2 for the second group (counter 30).
PAIRS_MODEL = (
    ":DIG:LINE2:MODE TRIG, OUT;:TRIG:DIG2:OUT:LOG NEG;:TRIG:DIG2:OUT:PULS 1e-05;:TRIG:DIG2:OUT:STIM NOT1;"
    ":DIG:LINE3:MODE TRIG, IN;:TRIG:DIG3:IN:EDGE FALL;:DIG:LINE1:MODE DIG, OUT;:DIG:LINE1:STAT 1;"
    ':TRIG:LOAD "Empty";:TRIG:BLOC:BUFF:CLE 1, "defbuffer1";:TRIG:BLOC:NOT 2, 1;:TRIG:BLOC:WAIT 3, DIG3;'
    ":TRIG:BLOC:BRAN:COUN:RES 4, 9;:TRIG:BLOC:DIG:IO 5, 0, 1;:TRIG:BLOC:DEL:CONS 6, 0.001;"
    ":TRIG:BLOC:DIG:IO 7, 1, 1;:TRIG:BLOC:DEL:CONS 8, 0.001;:TRIG:BLOC:BRAN:COUN 9, 1, 5;"
    ":TRIG:BLOC:DIG:IO 10, 0, 1;:TRIG:BLOC:DEL:CONS 11, 0.001;:TRIG:BLOC:BRAN:COUN:RES 12, 18;"
    ":TRIG:BLOC:NOT 13, 1;:TRIG:BLOC:WAIT 14, DIG3;:TRIG:BLOC:SOUR:STAT 15, ON;"
    ':TRIG:BLOC:MEAS 16, "defbuffer1";:TRIG:BLOC:SOUR:STAT 17, OFF;:TRIG:BLOC:BRAN:COUN 18, 2, 13;'
    ":TRIG:BLOC:NOT 19, 1;:TRIG:BLOC:WAIT 20, DIG3;:TRIG:BLOC:DIG:IO 21, 1, 1;:TRIG:BLOC:DEL:CONS 22, 0.001;"
    ":TRIG:BLOC:BRAN:COUN:RES 23, 29;:TRIG:BLOC:NOT 24, 1;:TRIG:BLOC:WAIT 25, DIG3;"
    ':TRIG:BLOC:SOUR:STAT 26, ON;:TRIG:BLOC:MEAS 27, "defbuffer1";:TRIG:BLOC:SOUR:STAT 28, OFF;'
    ":TRIG:BLOC:BRAN:COUN 29, 2, 24;:TRIG:BLOC:BRAN:COUN 30, 2, 2"
)
PAIRS_RUN = (':INIT;*WAI;:TRAC:DATA? 1, 8, "defbuffer1", READ', ",".join(["1.0E-06"] * 8))


def test_alternating_pairs_are_one_trigger_model_message_and_one_fetch():
    pairs = [*CONFIGURE, (PAIRS_MODEL, None), NO_ERROR, PAIRS_RUN, PAIRS_RUN]
    with smu(pairs) as k:
        k.configure_read(0.1, 1e-4)
        k.configure_alternating(sequence())
        assert k.run_triggered_reads() == [1e-6] * 8  # output off: the model switches the source
        k.configure_alternating(sequence())  # held by the instrument: nothing sent
        assert k.run_triggered_reads() == [1e-6] * 8


def test_reading_every_pair_needs_no_inner_loop_and_no_ready_cable_a_fixed_settle():
    model = (
        PAIRS_MODEL.replace(":DIG:LINE3:MODE TRIG, IN;:TRIG:DIG3:IN:EDGE FALL;", "")
        .replace("WAIT 3, DIG3", "DEL:CONS 3, 0.005")
        .split(";:TRIG:BLOC:BRAN:COUN:RES 4, 9;")[0]
    )
    blocks = (
        ":TRIG:BLOC:DIG:IO 4, 0, 1;:TRIG:BLOC:DEL:CONS 5, 0.001;:TRIG:BLOC:BRAN:COUN:RES 6, 12;"
        ":TRIG:BLOC:NOT 7, 1;:TRIG:BLOC:DEL:CONS 8, 0.005;:TRIG:BLOC:SOUR:STAT 9, ON;"
        ':TRIG:BLOC:MEAS 10, "defbuffer1";:TRIG:BLOC:SOUR:STAT 11, OFF;:TRIG:BLOC:BRAN:COUN 12, 2, 7;'
        ":TRIG:BLOC:NOT 13, 1;:TRIG:BLOC:DEL:CONS 14, 0.005;:TRIG:BLOC:DIG:IO 15, 1, 1;"
        ":TRIG:BLOC:DEL:CONS 16, 0.001;:TRIG:BLOC:BRAN:COUN:RES 17, 23;:TRIG:BLOC:NOT 18, 1;"
        ":TRIG:BLOC:DEL:CONS 19, 0.005;:TRIG:BLOC:SOUR:STAT 20, ON;"
        ':TRIG:BLOC:MEAS 21, "defbuffer1";:TRIG:BLOC:SOUR:STAT 22, OFF;:TRIG:BLOC:BRAN:COUN 23, 2, 18;'
        ":TRIG:BLOC:BRAN:COUN 24, 3, 2"
    )
    with smu([*CONFIGURE, (f"{model};{blocks}", None), NO_ERROR]) as k:
        k.configure_read(0.1, 1e-4)
        k.configure_alternating(sequence(pairs=3, read_every=1, wait_line=None))


@pytest.mark.parametrize(
    ("changes", "match"),
    [({"pairs": 5}, "not a multiple"), ({"wait_line": 1}, "must differ"), ({"switch_line": 7}, "line 7"),
     ({"devices": 2000, "read_every": 1}, "readings 16000"), ({"gap": -1e-3}, "gap")],
)  # fmt: skip
def test_an_alternating_sequence_is_checked_before_anything_is_written(changes, match):
    with smu(CONFIGURE) as k:
        k.configure_read(0.1, 1e-4)
        with pytest.raises(ValueError, match=match):
            k.configure_alternating(sequence(**changes))
