"""aihwkit device configs as presets: pulse-by-pulse agreement with aihwkit's update rules,
the up_down convention, the symmetry point, refusals naming the field, and the command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hil.cli import main
from simulators.aihwkit_import import ImportRefused, convert, read_config
from simulators.preset_files import load_preset, preset_source

# No device-to-device variation and no cycle-to-cycle noise: the step rules alone.
QUIET = {"dw_min_dtod": 0.0, "up_down_dtod": 0.0, "w_max_dtod": 0.0, "w_min_dtod": 0.0, "dw_min_std": 0.0}


def aihwkit_step(cls: str, f: dict, w: float, up: bool) -> float:
    """One noise-free pulse as aihwkit's update_once computes it (weight units, nominal bounds),
    written from its C++ (rpu_linearstep_device.cpp, rpu_powstep_device.cpp,
    rpu_expstep_device.cpp) and PulsedRPUDevice::populate for up_down."""
    b_max, b_min, ud = f["w_max"], f["w_min"], f.get("up_down", 0.0)
    dw_up, dw_down = f["dw_min"] * (1 + min(ud, 0.0)), f["dw_min"] * (1 - max(ud, 0.0))
    if cls in ("SoftBoundsDevice", "LinearStepDevice"):
        g_up, g_down = (1.0, 1.0) if cls == "SoftBoundsDevice" else (f["gamma_up"], f["gamma_down"])
        # slope = -gamma * scale / bound; the step is slope * w + scale
        step = dw_up * (1 - g_up * w / b_max) if up else -dw_down * (1 - g_down * w / b_min)
    elif cls == "PowStepDevice":
        omega = (b_max - w) / (b_max - b_min)
        g, bias = f["pow_gamma"], f.get("pow_up_down", 0.0)
        step = dw_up * omega ** (g * (1 + bias)) if up else -dw_down * (1 - omega) ** (g * (1 - bias))
    else:
        z = 2 * f["a"] * w / (b_max - b_min) + f["b"]
        if up:
            step = dw_up * max(1 - f["A_up"] * np.exp(f["gamma_up"] * z), 0.0)
        else:
            step = -dw_down * max(1 - f["A_down"] * np.exp(-f["gamma_down"] * z), 0.0)
    return float(np.clip(w + step, b_min, b_max))


def our_step(config, x: float, up: bool) -> float:
    """One noise-free pulse of the converted model (normalised state)."""
    model = config.step
    theta = [getattr(model, name) for name in model.shape_parameters]
    r_up, r_down = type(model).shape_rates(np.array([x]), theta)
    step = model.step_up * r_up[0] if up else -model.step_down * r_down[0]
    return float(np.clip(x + step, 0.0, 1.0))


CASES = [
    ("SoftBoundsDevice", {"dw_min": 0.002, "w_min": -0.75, "w_max": 1.25, "up_down": 0.1}),
    ("SoftBoundsDevice", {"dw_min": 0.003, "w_min": -1.0, "w_max": 0.5, "up_down": -0.3}),
    ("LinearStepDevice", {"dw_min": 0.004, "w_min": -0.8, "w_max": 1.0, "gamma_up": 0.4, "gamma_down": 0.9,
                          "up_down": 0.05, "gamma_up_dtod": 0.0, "gamma_down_dtod": 0.0}),
    ("PowStepDevice", {"dw_min": 0.005, "w_min": -0.6, "w_max": 0.9, "pow_gamma": 1.7, "pow_up_down": 0.2,
                       "pow_gamma_dtod": 0.0}),
    ("ExpStepDevice", {"dw_min": 0.004, "w_min": -0.7, "w_max": 1.1, "up_down": -0.1}),
]  # fmt: skip


@pytest.mark.parametrize(("cls", "fields"), CASES, ids=[c for c, _ in CASES])
def test_converted_device_follows_aihwkit_pulse_by_pulse(cls: str, fields: dict) -> None:
    given = {**QUIET, **fields}
    config = convert(cls, given).config
    f = {**read_defaults(cls), **given}
    b_min, r = f["w_min"], f["w_max"] - f["w_min"]
    w, x = 0.0, -b_min / r
    for n in range(1200):  # up to near the upper bound, then down past the start
        up = n < 600
        w, x = aihwkit_step(cls, f, w, up), our_step(config, x, up)
        assert b_min + x * r == pytest.approx(w, abs=1e-9), f"pulse {n}"


def read_defaults(cls: str) -> dict:
    from simulators.aihwkit_import import DEFAULTS

    return DEFAULTS[cls]


def test_up_down_shrinks_one_direction_only() -> None:
    base = {**QUIET, "dw_min": 0.002, "w_min": -1.0, "w_max": 1.0}
    plain = convert("SoftBoundsDevice", base).config
    up_heavy = convert("SoftBoundsDevice", {**base, "up_down": 0.2}).config
    down_heavy = convert("SoftBoundsDevice", {**base, "up_down": -0.2}).config
    assert (up_heavy.step_up, up_heavy.step_down) == pytest.approx((plain.step_up, 0.8 * plain.step_down))
    assert (down_heavy.step_up, down_heavy.step_down) == pytest.approx((0.8 * plain.step_up, plain.step_down))


def test_soft_bounds_symmetry_point_is_aihwkits() -> None:
    # aihwkit (SoftBoundsReferenceDevice): w* = (a+ - a-) / (a+ / b_max - a- / b_min).
    f = {**QUIET, "dw_min": 0.002, "w_min": -0.75, "w_max": 1.25, "up_down": 0.3}
    config = convert("SoftBoundsDevice", f).config
    a_up, a_down = f["dw_min"], f["dw_min"] * (1 - 0.3)
    w_star = (a_up - a_down) / (a_up / f["w_max"] - a_down / f["w_min"])
    x_star = config.step.symmetry_states(np.array([config.step_up]), np.array([config.step_down]))[0]
    assert f["w_min"] + x_star * (f["w_max"] - f["w_min"]) == pytest.approx(w_star, rel=1e-12)


def test_variation_and_noise_map_to_their_fields() -> None:
    f = {"dw_min": 0.002, "w_min": -0.6, "w_max": 0.6, "dw_min_dtod": 0.2, "dw_min_dtod_log_normal": True,
         "up_down_dtod": 0.05, "w_max_dtod": 0.2, "dw_min_std": 0.1,
         "corrupt_devices_prob": 0.02}  # fmt: skip
    imported = convert("SoftBoundsDevice", f, ignore=["w_min_dtod"])
    c = imported.config
    assert (c.dtod_step, c.dtod_imbalance, c.c2c_noise, c.stuck_fraction) == (0.2, 0.05, 0.1, 0.02)
    # The upper bound's spread in units of the range: 0.2 x 0.6 / 1.2 there, s' G_max / dG here.
    assert c.dtod_bounds * c.g_max / (c.g_max - c.g_min) == pytest.approx(0.2 * 0.6 / 1.2)
    assert imported.ignored == ["w_min_dtod"]
    assert any("w_min_dtod ignored" in note for note in imported.approximations)


@pytest.mark.parametrize(
    ("cls", "fields", "named"),
    [
        ("SoftBoundsDevice", {}, "w_min_dtod"),  # aihwkit's default lower-bound spread
        ("SoftBoundsDevice", {**QUIET, "dw_min_std": 0.2, "mult_noise": False}, "mult_noise"),
        ("SoftBoundsDevice", {**QUIET, "write_noise_std": 0.1}, "write_noise_std"),
        ("SoftBoundsDevice", {**QUIET, "diffusion": 0.01}, "diffusion"),
        ("SoftBoundsDevice", {**QUIET, "w_min": 0.0}, "w_min"),
        ("SoftBoundsDevice", {**QUIET, "dw_minn": 0.1}, "dw_minn"),
        ("SoftBoundsDevice", {**QUIET, "dw_min_std": 1.5}, "dw_min_std"),
        ("SoftBoundsDevice", {**QUIET, "w_max_dtod": 0.9}, "w_max_dtod"),
        ("LinearStepDevice", {**QUIET}, "gamma_up_dtod"),
        ("PowStepDevice", {**QUIET}, "pow_gamma_dtod"),
        ("ExpStepDevice", {**QUIET, "dw_min_std_add": 0.1}, "dw_min_std_add"),
        ("PiecewiseStepDevice", {}, "PiecewiseStepDevice"),
    ],
)
def test_what_cannot_be_represented_is_refused_by_name(cls: str, fields: dict, named: str) -> None:
    with pytest.raises(ImportRefused, match=named):
        convert(cls, fields)


def test_read_config_takes_both_shapes(tmp_path: Path) -> None:
    flat, nested = tmp_path / "flat.json", tmp_path / "nested.json"
    flat.write_text(json.dumps({"class": "PowStepDevice", "pow_gamma": 2.0}))
    nested.write_text(json.dumps({"PowStepDevice": {"pow_gamma": 2.0}}))
    assert read_config(flat) == read_config(nested) == ("PowStepDevice", {"pow_gamma": 2.0})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"pow_gamma": 2.0, "dw_min": 0.1}))
    with pytest.raises(ImportRefused, match="name the device class"):
        read_config(bad)


def test_command_writes_a_preset_the_simulator_loads(tmp_path: Path, capsys) -> None:
    config = tmp_path / "rram.json"
    config.write_text(
        json.dumps({"class": "SoftBoundsDevice", "dw_min": 0.002, "w_min": -0.75, "w_max": 1.25})
    )
    assert main(["presets", "import-aihwkit", str(config)]) == 2
    assert "w_min_dtod" in capsys.readouterr().err
    out = tmp_path / "rram-preset.toml"
    assert main(["presets", "import-aihwkit", str(config), "--ignore", "w_min_dtod", "--out", str(out)]) == 0
    loaded = load_preset(out)
    assert loaded == convert("SoftBoundsDevice", read_config(config)[1], ignore=["w_min_dtod"]).config
    source = preset_source(out)
    assert source["converted_from"] == "aihwkit SoftBoundsDevice" and source["ignored_fields"] == [
        "w_min_dtod"
    ]
    assert main(["presets", "--full", str(out)]) == 0
