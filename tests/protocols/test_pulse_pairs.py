"""Pulse pairs through the protocols and the command line; one pulse stored and read as before."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from hil import Pulse, PulsePair
from hil.cli.common import UsageError, pulse_from
from hil.pulses import parse_pulse, pulse_from_state, pulse_state
from protocols.jumptable import measure_jump_table
from protocols.records.jumptable import JumpPlan
from simulators.crossbar import SimulatedCrossbar

PAIR = PulsePair(Pulse(6.0, 5e-9), Pulse(5.0, 10e-9))


def test_one_pulse_is_stored_as_before_and_a_pair_as_up_and_down() -> None:
    one = Pulse(6.0, 2e-8)
    assert pulse_state(one) == pulse_state(PulsePair.symmetric(one)) == {"amplitude_V": 6.0, "width_s": 2e-8}
    assert pulse_from_state(pulse_state(one)) == one
    assert pulse_from_state(pulse_state(PAIR)) == PAIR
    assert pulse_from_state({"amplitude": 6.0, "width": 2e-8}) == one  # a run's params (Pulse fields)
    assert (
        pulse_from_state({"up": {"amplitude": 6.0, "width": 5e-9}, "down": {"amplitude": 5.0, "width": 1e-8}})
        == PAIR
    )


@pytest.mark.parametrize(
    ("text", "pulse"),
    [
        ("6V,20ns", Pulse(6.0, 20e-9)),
        ("5.5 V, 1e-8 s", Pulse(5.5, 1e-8)),
        ("6,2e-8", Pulse(6.0, 2e-8)),
        ("6 V x 2e-08 s", Pulse(6.0, 2e-8)),  # as str(Pulse) writes it
        ("500mV,1us", Pulse(0.5, 1e-6)),
    ],
)
def test_pulse_texts_parse_with_units(text: str, pulse: Pulse) -> None:
    assert parse_pulse(text).amplitude == pytest.approx(pulse.amplitude, rel=1e-12)
    assert parse_pulse(text).width == pytest.approx(pulse.width, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("6V", "AMPLITUDE,WIDTH"),
        ("6A,20ns", "amplitude '6A'"),
        ("6V,20nV", "width '20nV'"),
        ("0V,1ns", "> 0 V"),
    ],
)
def test_bad_pulse_texts_are_refused_in_plain_words(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_pulse(text)


class _Bench:
    nominal_pulse = Pulse(6.0, 5e-9)


def _args(**given: object) -> argparse.Namespace:
    return argparse.Namespace(**{"amplitude": None, "width": None, "up": None, "down": None, **given})


def test_the_command_line_pulses() -> None:
    bench = _Bench()
    assert pulse_from(_args(), bench) == bench.nominal_pulse  # type: ignore[arg-type]
    assert pulse_from(_args(amplitude=5.0, width=1e-8), bench) == Pulse(5.0, 1e-8)  # type: ignore[arg-type]
    pair = pulse_from(_args(up="6V,20ns", down="5.5V,20ns"), bench)  # type: ignore[arg-type]
    assert pair == PulsePair(Pulse(6.0, 20e-9), Pulse(5.5, 20e-9))
    # One polarity given: the other takes --amplitude/--width, or the bench's nominal pulse.
    assert pulse_from(_args(down="5.5V,5ns"), bench) == PulsePair(bench.nominal_pulse, Pulse(5.5, 5e-9))  # type: ignore[arg-type]
    assert pulse_from(_args(up="6V,5ns"), bench) == bench.nominal_pulse  # type: ignore[arg-type]  # equal: one pulse
    with pytest.raises(UsageError, match="both --amplitude"):
        pulse_from(_args(amplitude=5.0), bench)  # type: ignore[arg-type]


def test_a_jump_table_takes_a_pair_each_train_with_its_polarity_s_pulse() -> None:
    """Noise-free protonic devices with the down polarity's own response: the mean up step is the
    simulator's expected step of the up pulse, the mean down step that of the down pulse."""
    overrides = {"c2c_noise": 0.0, "read_noise": 0.0, "v_threshold_down": 3.5, "v_scale_down": 0.8}
    sim = SimulatedCrossbar.from_preset(
        "protonic-asymmetric", (1, 2), seed=1, stuck_fraction=0.0, **overrides
    )
    twin = SimulatedCrossbar.from_preset(
        "protonic-asymmetric", (1, 2), seed=1, stuck_fraction=0.0, **overrides
    )
    result = measure_jump_table(sim, PAIR, [(0, 0)], n_cycles=1, n_up=3, n_down=3, noise_reads=2, n_bins=4)
    g = result.g[:, 0]
    up = twin.expected_step(PAIR)[0]
    assert g[1] - g[0] == pytest.approx(up[0, 0], rel=1e-9)
    twin.apply_pulses(np.array([[3, 0]]), PAIR)
    down_now = twin.expected_step(PAIR)[1][0, 0]
    assert g[3] - g[4] == pytest.approx(down_now, rel=1e-9)
    assert result.table.pulse is None  # a table keeps one pulse; the pair is in the result
    assert result.summary()["pulse"] == pulse_state(PAIR)


def test_a_jump_plan_stores_a_pair_and_reads_an_old_plan() -> None:
    plan = JumpPlan(((0, 0),), 1, 3, 3, 2, PAIR, True)
    assert JumpPlan.from_dict(plan.to_dict()) == plan
    old = {**plan.to_dict(), "pulse": {"amplitude_V": 6.0, "width_s": 5e-9}}
    assert JumpPlan.from_dict(old).pulse == Pulse(6.0, 5e-9)
