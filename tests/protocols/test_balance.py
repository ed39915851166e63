"""Pulse balancing on the simulator, against the closed form of the symmetry point under a pair.

With soft bounds a device's point under the pair (up, down) is
G_sym = (a⁺m⁺ G_max + a⁻m⁻ G_min) / (a⁺m⁺ + a⁻m⁻), m± the pulse factors of each polarity
(SimulatedCrossbar.symmetry_points(pair)); the down amplitude that puts the array's mean point at
the target is found from it by bracketing (scipy.optimize.brentq).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq

from hil import Pulse, PulsePair
from hil.cli import main
from hil.store import RunStore
from protocols.balance import (
    BalancePoint,
    BalanceResult,
    BalanceSettings,
    BalanceUnreachable,
    Knob,
    pulse_balance,
)
from protocols.records.balance import BalancePointRecord
from protocols.replay import replot_run
from simulators.crossbar import SimulatedCrossbar

UP = Pulse(6.0, 5e-9)
SHAPE = (4, 4)


def closed_form(sim: SimulatedCrossbar, target: float, knob: Knob, lo: float, hi: float) -> float:
    """The down amplitude (or width) putting the mean analytic point of the moving devices at target."""
    moving = ~sim.device_parameters().stuck

    def down(v: float) -> Pulse:
        return Pulse(v, UP.width) if knob is Knob.AMPLITUDE else Pulse(UP.amplitude, v)

    def error(v: float) -> float:
        return float(np.mean(sim.symmetry_points(PulsePair(UP, down(v)))[moving])) - target

    return brentq(error, lo, hi, xtol=1e-12 * hi)


@pytest.mark.parametrize(
    ("overrides", "seed"),
    [({}, 1), ({"v_threshold_down": 3.5, "v_scale_down": 0.8}, 2)],
    ids=["same-response", "own-down-response"],
)
def test_the_down_amplitude_is_the_closed_form_within_its_uncertainty(overrides: dict, seed: int) -> None:
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", SHAPE, seed=seed, **overrides)
    g_min, g_max = sim.conductance_range
    target = (g_min + g_max) / 2
    truth = closed_form(sim, target, Knob.AMPLITUDE, 5.0, 9.0)
    result = pulse_balance(sim, UP)
    # Its own standard error (about 3-4 mV here) and 5 mV for the estimator's bias (the logit
    # line's curvature): over seeds 1-6 of both arrays the error stayed within 1.5 standard errors.
    assert abs(result.value - truth) <= 4 * result.value_std + 0.005, (result.value, truth)
    assert result.pulses == PulsePair(UP, Pulse(result.value, UP.width))
    assert abs(result.predicted - target) <= 0.01 * (g_max - g_min)
    assert 2 <= len(result.points) <= 6
    # Each device's own answer: the closed form of its own point, within 60 mV (its points
    # are single symmetry searches, noisier than the mean, and some lie beyond the span measured).
    moving = ~sim.device_parameters().stuck
    devices = [divmod(k, SHAPE[1]) for k in np.flatnonzero(moving)]
    for r, c in devices[:6]:
        one = brentq(
            lambda v, r=r, c=c: sim.symmetry_points(PulsePair(UP, Pulse(v, UP.width)))[r, c] - target,
            4.0,
            10.0,
        )
        assert abs(result.per_device_value[r, c] - one) <= 0.06, (r, c)


def test_the_down_width_is_the_closed_form() -> None:
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", SHAPE, seed=3)
    g_min, g_max = sim.conductance_range
    target = g_min + 0.45 * (g_max - g_min)
    truth = closed_form(sim, target, Knob.WIDTH, 1e-9, 5e-8)
    result = pulse_balance(sim, UP, BalanceSettings(target=target, knob=Knob.WIDTH))
    assert result.pulses.down.amplitude == UP.amplitude
    assert abs(np.log(result.value / truth)) <= 4 * result.value_std / result.value + 0.02


def test_a_target_beyond_the_limit_is_refused_naming_it() -> None:
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", SHAPE, seed=1)
    limits = sim.limits
    capped = SimulatedCrossbar.from_preset(
        "protonic-asymmetric",
        SHAPE,
        seed=1,
        limits=type(limits)(**{**limits.__dict__, "max_pulse_amplitude": 6.3}),
    )
    g_min, g_max = capped.conductance_range
    with pytest.raises(BalanceUnreachable, match=r"max_pulse_amplitude \(6\.3 V\)"):
        pulse_balance(capped, UP, BalanceSettings(target=g_min + 0.3 * (g_max - g_min)))
    before = capped.conductance
    with pytest.raises(ValueError, match="outside the array's nominal range"):
        pulse_balance(capped, UP, BalanceSettings(target=g_max * 1.01))
    np.testing.assert_array_equal(capped.conductance, before)  # refused before any pulse


def test_every_measurement_is_stored_as_a_point(tmp_path: Path) -> None:
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", (2, 3), seed=4)
    with RunStore(tmp_path / "runs.sqlite") as store:
        run = store.start_run("balance", {}, {})
        result = pulse_balance(sim, UP, recorder=run)
        records = BalancePointRecord.read(store.points(run.uid))
    assert [r.step for r in records] == list(range(1, len(result.points) + 1))
    for record, point in zip(records, result.points, strict=True):
        back = BalancePoint.of_record(record)
        assert back.value == point.value and back.pairs == point.pairs
        np.testing.assert_array_equal(back.g_sym, point.g_sym)
        np.testing.assert_array_equal(back.responsive, point.responsive)


def test_the_command_balances_and_refuses_a_bad_pulse_in_plain_words(tmp_path: Path, capsys) -> None:
    common = ["--shape", "2x3", "--store", str(tmp_path / "runs.sqlite"), "--no-progress"]
    assert (
        main(
            ["run", "balance", "--up", "6V,5ns", "--down", "6.2V,5ns", "--out", str(tmp_path / "b"), *common]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "down amplitude" in out and "puts the mean symmetry point at" in out
    assert (tmp_path / "b" / "balance.png").exists() and (tmp_path / "b" / "summary.json").exists()
    # The stored run rebuilds its figure from its summary and its measurements.
    with RunStore(tmp_path / "runs.sqlite") as store:
        (info,) = [r for r in store.runs() if r.protocol == "balance"]
        assert [p.name for p in replot_run(store, info.uid, tmp_path / "again")] == ["balance.png"]
        stored = BalanceResult.from_summary(info.summary, [])
    assert stored.pulses.down.amplitude == pytest.approx(
        float(out.split("down amplitude ")[1].split(" V")[0]), abs=1e-3
    )
    with pytest.raises(SystemExit) as stop:
        main(["run", "balance", "--down", "6X,5ns", *common])
    assert stop.value.code == 2
    assert "cannot read the amplitude '6X'" in capsys.readouterr().err


@pytest.mark.slow
def test_shd_with_a_centred_reference_spans_c_symmetrically() -> None:
    """protonic-asymmetric balances about two thirds up its range: C then spans about -1.3 to
    +0.7 (w_max = 1); with the reference centred, -1 to +1 within the balance's tolerance (1 % of
    the range is 0.02 in weight units) plus the devices' spread about their mean."""
    from protocols.training import CalibrationSettings, MLPSpec
    from protocols.training.analog_training import LayerSite
    from protocols.training.result import BackendOps
    from protocols.training.shd import SHDConfig, build_shd_layers, restore_shd_layer
    from simulators.chip import SimulatedChip

    spec = MLPSpec((4, 3))  # one layer, a 5 x 3 array of each kind
    cal = CalibrationSettings(symmetry_max_pairs=2000, symmetry_window=500)
    spans = {}
    for centre in (False, True):
        chip = SimulatedChip("protonic-asymmetric", seed=0)
        config = SHDConfig(init_scale=0.5, calibration=cal, centre_reference=centre)
        layers, setup = build_shd_layers(chip.array, spec, UP, config, BackendOps())
        spans[centre] = [record["c_span_weights"] for record in setup]
        if centre:
            pulses = PulsePair(UP, Pulse(setup[0]["balance"]["down_amplitude_V"], UP.width))
            assert layers[0].io.settings.pulse == pulses  # the layer writes with the balanced pair
            site = LayerSite(chip.array, 0, spec.layer_shapes[0], UP, config.counted_ops(UP, BackendOps()))
            assert restore_shd_layer(site, config, setup[0]).io.settings.pulse == pulses
    for span in spans[False]:
        assert span["high"] < 0.8 and span["low"] < -1.2
    for span in spans[True]:
        assert abs(span["low"] + 1) < 0.1 and abs(span["high"] - 1) < 0.1
