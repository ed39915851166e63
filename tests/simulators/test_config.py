"""DeviceConfig validation, presets and the pulse-response factor."""

from __future__ import annotations

import dataclasses
import math

import pytest

from hil.cli import main as hil_main
from hil.pulses import Pulse
from hil.stepmodels import MODELS as STEP_MODELS
from hil.stepmodels import LinearStep, PowerStep, SoftBounds
from simulators.config import MODELS, OPTIONAL_FIELDS, DeviceConfig, Noise
from simulators.presets import PRESETS, preset


def test_presets_exist_and_print() -> None:
    assert set(PRESETS) == {"protonic-asymmetric", "protonic-near-symmetric", "protonic-symmetric", "ideal"}
    for name, config in PRESETS.items():
        text = str(config)
        assert config.model in text and "V" in text, name
        assert config.to_dict()["model"] == config.model
        # Round trip: the printed dict rebuilds the same config.
        assert DeviceConfig.from_dict(config.to_dict()) == config


def test_preset_overrides_and_unknown_names() -> None:
    c = preset("protonic-asymmetric", read_noise=0.0, c2c_noise=0.1)
    assert c.read_noise == 0.0 and c.c2c_noise == 0.1
    assert PRESETS["protonic-asymmetric"].read_noise > 0  # the preset itself is untouched
    with pytest.raises(
        ValueError, match="known presets: ideal, protonic-asymmetric, protonic-near-symmetric"
    ):
        preset("protonic")
    with pytest.raises(TypeError, match=r"unknown DeviceConfig field.*read_nois.*the fields are: model"):
        preset("ideal", read_nois=0.0)


def test_ideal_preset_is_quiet_and_constant() -> None:
    c = PRESETS["ideal"]
    assert c.model == "linear-step" and c.gamma_up == c.gamma_down == 0.0 and c.step_up == c.step_down
    quiet = (
        "c2c_noise",
        "read_noise",
        "vmm_noise",
        "dtod_bounds",
        "dtod_step",
        "dtod_imbalance",
        "stuck_fraction",
    )
    assert all(getattr(c, f) == 0.0 for f in quiet)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("model", "soft", "model must be one of soft-bounds, linear-step, power-step, table"),
        ("g_min", 0.0, "g_min must be a conductance in siemens > 0"),
        ("g_max", 0.5e-6, "g_max must exceed g_min"),
        ("step_up", 0.0, r"step_up must be in \(0, 1\]"),
        ("step_down", 1.5, r"step_down must be in \(0, 1\]"),
        ("dtod_bounds", 0.5, r"dtod_bounds must be in \[0, 0.3\]"),
        ("dtod_step", -0.1, "dtod_step must be"),
        ("stuck_fraction", 1.2, "stuck_fraction must be"),
        ("c2c_noise", -0.3, "c2c_noise must be"),
        ("read_noise", math.nan, "read_noise must be a finite number"),
        ("vmm_noise", math.inf, "vmm_noise must be a finite number"),
        ("v_threshold", 0.05, "v_threshold must exceed read_voltage"),
        ("v_ref", 2.0, "v_ref must exceed v_threshold"),
        ("v_scale", 0.0, "v_scale must be > 0 volts"),
        ("t_ref", -5e-9, "t_ref must be > 0 seconds"),
        ("width_exponent", -1.0, "width_exponent must be >= 0"),
        ("init_state", 1.5, r"init_state must be in \[0, 1\]"),
        ("init_spread", 0.6, "init_spread must be in"),
        ("read_voltage", True, "read_voltage must be a finite number"),
    ],
)
def test_invalid_values_name_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        preset("protonic-asymmetric", **{field: value})


def test_gamma_limits_depend_on_the_model() -> None:
    with pytest.raises(ValueError, match=r"gamma_up must be in \[0, 1\] for linear-step"):
        preset("protonic-near-symmetric", gamma_up=1.5)
    assert preset("protonic-asymmetric", model="power-step", gamma_up=1.5).gamma_up == 1.5
    with pytest.raises(ValueError, match="gamma_down must be >= 0"):
        preset("protonic-asymmetric", model="power-step", gamma_down=-0.5)
    # Table steps are multipliers of measured steps, so they may exceed 1.
    assert preset("protonic-asymmetric", model="table", step_up=2.0).step_up == 2.0
    assert set(MODELS) == {"soft-bounds", "linear-step", "power-step", "table", "exp-step"}


def test_configs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRESETS["ideal"].step_up = 0.1  # type: ignore[misc]


def reference_m(c: DeviceConfig, amplitude: float, width: float) -> float:
    """The documented formula, written out independently of the implementation."""
    if amplitude <= c.v_threshold:
        return 0.0
    num = math.exp((amplitude - c.v_threshold) / c.v_scale) - 1
    den = math.exp((c.v_ref - c.v_threshold) / c.v_scale) - 1
    return num / den * (width / c.t_ref) ** c.width_exponent


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_pulse_factor(name: str) -> None:
    c = PRESETS[name]
    assert c.pulse_factor(c.nominal_pulse) == pytest.approx(1.0, rel=1e-12)
    assert c.pulse_factor(Pulse(c.v_threshold, 1e-3)) == 0.0  # at the threshold: nothing
    assert c.pulse_factor(Pulse(0.5 * c.v_threshold, 1e-3)) == 0.0
    for amplitude, width in [(c.v_ref + 1, c.t_ref), (c.v_ref, 3 * c.t_ref), (c.v_threshold + 0.1, 1e-9)]:
        assert c.pulse_factor(Pulse(amplitude, width)) == pytest.approx(
            reference_m(c, amplitude, width), rel=1e-12
        )
    # Steeper than linear in amplitude: one volt above nominal is e^(1/V0)-fold (almost).
    assert c.pulse_factor(Pulse(c.v_ref + 1, c.t_ref)) > math.exp(1 / c.v_scale) * 0.9


def test_pulse_factor_overflow_is_a_clear_error() -> None:
    c = preset("ideal", v_scale=0.001, v_ref=3.1)
    with pytest.raises(ValueError, match="too far above the threshold"):
        c.pulse_factor(Pulse(10.0, 5e-9))


# ------------------------------------------------------------------ groups, defaults, flat names
def test_defaults_are_a_quiet_uniform_population_and_presets_state_the_rest() -> None:
    d = DeviceConfig()
    assert d.model == "soft-bounds" and d.noise == Noise() and d.c2c_noise == d.dtod_step == 0.0
    assert PRESETS["ideal"] == DeviceConfig(step=LinearStep(gamma_up=0.0, gamma_down=0.0))
    assert PRESETS["protonic-asymmetric"].ranges == d.ranges  # the protonic range is the default
    assert PRESETS["protonic-asymmetric"].pulse_response == d.pulse_response


@pytest.mark.parametrize("model", list(STEP_MODELS))
def test_flat_names_round_trip_for_every_model(model: str) -> None:
    c = preset("protonic-asymmetric", model=model)
    d = c.to_dict()
    assert next(iter(d)) == "model"
    assert set(d) == set(DeviceConfig.field_names(model)) - set(OPTIONAL_FIELDS)  # unset: left out
    assert DeviceConfig.from_dict(d) == c
    assert all(getattr(c, name) == value for name, value in d.items())


def test_switching_models_keeps_what_they_share() -> None:
    near = PRESETS["protonic-near-symmetric"]
    power = near.with_overrides(model="power-step")
    assert power.step == PowerStep(step_up=0.001, step_down=0.001, gamma_up=0.2, gamma_down=0.2)
    soft = near.with_overrides(model="soft-bounds")
    assert soft.step == SoftBounds(step_up=0.001, step_down=0.001) and soft.gamma_up == 1.0
    assert soft.with_overrides(gamma_up=1.0) == soft  # the value soft bounds holds may be restated
    with pytest.raises(ValueError, match="soft-bounds holds gamma_up = 1"):
        soft.with_overrides(gamma_down=1.0, gamma_up=0.5)
    with pytest.raises(ValueError, match="table has no parameter 'gamma_up'"):
        soft.with_overrides(model="table", gamma_up=0.5)


def test_presets_full_prints_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert hil_main(["presets", "--full", "protonic-near-symmetric"]) == 0
    out = capsys.readouterr().out
    config = PRESETS["protonic-near-symmetric"]
    for name, value in config.to_dict().items():
        if name != "model":
            assert f"  {name} = {value!r}" in out, name
    assert "step model: linear-step" in out and "pulse response:" in out
    assert "  g_max = 2e-05  # S\n" in out and "  t_ref = 5e-09  # s\n" in out
    assert "  c2c_noise = 0.3\n" in out  # dimensionless: no unit
