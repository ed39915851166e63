"""The instrument templates: every driver fills in the template's table, and the steps the
template owns (channel and load checks, the safe state, the pulse-write bookkeeping) behave the
same for each instrument."""

from __future__ import annotations

import numpy as np
import pytest
from pymeasure.test import expected_protocol

from drivers.agilent81150a import Agilent81150A
from drivers.errors import PartialWriteError, PulseGroup, WriteProgress, WriteStage
from drivers.keithley2450 import Keithley2450SMU
from drivers.keithley2636b import Keithley2636B
from drivers.keysight33500b import Keysight33500B
from drivers.keysight_b2902a import KeysightB2902A
from drivers.registry import DRIVERS
from drivers.templates import ChannelSourceMeter, ScpiPulseGenerator, SourceMeterTemplate, check_channel

TEMPLATES = (ScpiPulseGenerator, SourceMeterTemplate, ChannelSourceMeter)


def table_entries(template: type) -> set[str]:
    """The ClassVars a template declares without a value: each driver must give them.
    (drivers.templates postpones its annotations, so each is the text written there.)"""
    hints = template.__annotations__
    return {
        name for name, hint in hints.items() if hint.startswith("ClassVar") and name not in vars(template)
    }


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_every_templated_driver_fills_in_its_template_table(name):
    cls = DRIVERS[name].load()
    templates = [t for t in TEMPLATES if issubclass(cls, t)]
    if name in ("keithley707b", "serialrelay"):
        assert templates == []  # switch matrices share no command sequence
        return
    assert templates, f"{name} uses no template"
    for template in templates:
        missing = sorted(e for e in table_entries(template) if not hasattr(cls, e))
        assert missing == [], f"{name} lacks {missing} of {template.__name__}"


def test_table_entries_are_found():
    # The check above is only as good as this list: the pulse template's table is not empty.
    assert {"bus_burst_setup", "safe_state", "trigger_command"} <= table_entries(ScpiPulseGenerator)
    assert {"read_query", "safe_state"} <= table_entries(SourceMeterTemplate)
    assert "channel_ids" in table_entries(ChannelSourceMeter)


def test_check_channel_returns_the_instruments_own_id():
    assert check_channel("X", np.int64(2), (1, 2)) == 2
    assert type(check_channel("X", np.int64(2), (1, 2))) is int
    assert check_channel("X", "b", ("a", "b")) == "b"
    with pytest.raises(ValueError, match="channel True is outside the instrument's channels: must be 1 or 2"):
        check_channel("X", True, (1, 2))
    with pytest.raises(ValueError, match=r"channel 'c' is outside .*must be 'a' or 'b'"):
        check_channel("X", "c", ("a", "b"))


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (Agilent81150A, {"channel": 3}),
        (Keysight33500B, {"channel": 0}),
        (Agilent81150A, {"load_ohms": 1e6}),  # 1 Mohm is the 81150A's high-impedance setting: use None
        (Agilent81150A, {"load_ohms": 0.2}),
        (Keysight33500B, {"load_ohms": 10_001}),
        (Keysight33500B, {"load_ohms": float("nan")}),
    ],
)
def test_a_channel_or_load_the_generator_lacks_is_refused_before_connecting(cls, options):
    with pytest.raises(ValueError, match=r"channel|load_ohms"):
        cls("not an address", **options)  # no VISA resource is opened


@pytest.mark.parametrize(
    ("cls", "load", "amplitude"),
    [(Agilent81150A, 0.3, 10 * 0.3 / 50.3), (Keysight33500B, 10e3, 10 * 10e3 / 10_050)],
)
def test_the_ends_of_the_load_window_are_accepted(cls, load, amplitude):
    with expected_protocol(cls, [], load_ohms=load) as generator:
        assert generator.max_amplitude == pytest.approx(amplitude)


@pytest.mark.parametrize(
    ("cls", "options", "expected"),
    [
        (Keithley2636B, {}, "a"),
        (KeysightB2902A, {}, 1),
        (Agilent81150A, {}, 1),
        (Keysight33500B, {"channel": 2}, 2),
    ],
)
def test_the_default_channel_is_the_first(cls, options, expected):
    with expected_protocol(cls, [], **options) as driver:
        assert driver.channel_number == expected
        assert driver.name == cls.model


@pytest.mark.parametrize(
    ("cls", "options", "sent"),
    [
        (
            Keithley2450SMU,
            {},
            [
                ":ABOR",
                ":SOUR:VOLT:LEV 0",
                "OUTPUT OFF",
                ";".join(f":TRIG:DIG{n}:OUT:STIM NONE" for n in range(1, 7)),
            ],
        ),
        (KeysightB2902A, {"channel": 2}, [":ABOR (@2)", ":SOUR2:VOLT 0", ":OUTP2 OFF"]),
        (
            Keithley2636B,
            {"channel": "b"},
            ["smub.abort()", "smub.source.levelv = 0", "smub.source.output = smub.OUTPUT_OFF"],
        ),
    ],
)
def test_every_smu_tries_each_safe_state_step_when_one_fails(cls, options, sent):
    seen = []

    def flaky_write(command: str) -> None:
        seen.append(command)
        if len(seen) == 2:
            raise ConnectionError("link dropped")

    with expected_protocol(cls, [], **options) as smu:
        smu.write = flaky_write
        with pytest.raises(ConnectionError):
            smu.shutdown()
    assert seen == sent


GROUPS = (PulseGroup(1, ((0, 0),)), PulseGroup(2, ((0, 1),)), PulseGroup(-1, ((1, 1),)))


def test_write_progress_says_which_groups_were_applied_in_flight_and_not_started():
    progress = WriteProgress(GROUPS)
    assert progress.not_applied == GROUPS and progress.in_flight is None
    progress.start(GROUPS[0])
    progress.stage = WriteStage.FIRING
    progress.finish()
    progress.start(GROUPS[1])
    progress.stage = WriteStage.CONFIGURING
    assert progress.applied == [GROUPS[0]] and progress.not_applied == GROUPS[2:]
    err = PartialWriteError("A", progress, TimeoutError("no reply"), ["SMU output off: gone"])
    assert (err.applied, err.in_flight, err.stage, err.not_applied) == (
        (GROUPS[0],),
        GROUPS[1],
        "configuring",
        GROUPS[2:],
    )
    assert "in flight while configuring, its burst was not triggered" in str(err)
    assert "making the bench safe failed too: SMU output off: gone" in str(err)


def test_a_write_stopped_while_firing_says_the_pulses_may_have_reached_the_devices():
    progress = WriteProgress(GROUPS[:1])
    progress.start(GROUPS[0])
    progress.stage = WriteStage.FIRING
    err = PartialWriteError("A", progress, TimeoutError("no reply"))
    assert err.stage == "firing" and err.not_applied == ()
    assert "reached the devices or not (unknown)" in str(err) and "the bench is in its safe state" in str(err)
