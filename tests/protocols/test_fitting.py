"""Device-model fitting: simulate devices of known parameters, measure jump-table traces, fit, compare.

Tolerances are 4 standard errors, the errors being the fit's own reported ones (that is what
is under test) or, for statistics of n devices, the closed forms: the mean of n unit z-scores
has standard error 1/√n and their standard deviation 1/√(2(n - 1)).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from hil.store import RunStore
from protocols.fitting import PARAMETERS, ArrayFit, PulseTraces, fit_run, fit_traces, traces_from_run
from protocols.fitting_plots import plot_fit
from protocols.jumptable import measure_jump_table
from simulators.config import DeviceConfig
from simulators.crossbar import SimulatedCrossbar
from simulators.preset_files import load_preset, preset_source, save_preset
from simulators.presets import config_from_fit, preset

Z = 4.0  # tolerance in standard errors

# Soft bounds as protonic-asymmetric (c2c 0.3, read noise 5e-4 of the range, variation of bounds
# 0.1, steps 0.2, imbalance 0.05) with steps doubled so that 400/800-pulse trains sweep the range.
SOFT = preset("protonic-asymmetric", stuck_fraction=0.0, step_up=0.006, step_down=0.003)
# γ = 0.5 for both clipping models: far enough from soft bounds (γ = 1) and from each other to tell.
LINEAR = preset("protonic-near-symmetric", stuck_fraction=0.0, step_up=0.004, step_down=0.004,
                gamma_up=0.5, gamma_down=0.5)  # fmt: skip
POWER = LINEAR.with_overrides(model="power-step")


def measure(config: DeviceConfig, shape: tuple[int, int], n_up: int, n_down: int, seed: int = 3):
    sim = SimulatedCrossbar(shape, config, seed=seed)
    res = measure_jump_table(sim, sim.nominal_pulse, np.ones(shape, dtype=bool), n_cycles=2, n_up=n_up,
                             n_down=n_down, noise_reads=10)  # fmt: skip
    return sim, res


def truth(sim: SimulatedCrossbar) -> dict[str, np.ndarray]:
    dp = sim.device_parameters()
    n = dp.g_min.size
    return {
        "g_min": dp.g_min.ravel(),
        "g_max": dp.g_max.ravel(),
        "step_up": dp.step_up.ravel(),
        "step_down": dp.step_down.ravel(),
        "gamma_up": np.full(n, sim.config.gamma_up),
        "gamma_down": np.full(n, sim.config.gamma_down),
    }


@pytest.fixture(scope="module")
def soft() -> tuple[SimulatedCrossbar, PulseTraces, ArrayFit]:
    sim, res = measure(SOFT, (6, 8), 400, 800)
    traces = PulseTraces.from_jump_table(res)
    return sim, traces, fit_traces(traces, model="soft-bounds")


def test_soft_bounds_parameters_and_their_uncertainties_are_honest(soft) -> None:
    sim, _, fit = soft
    t = truth(sim)
    n = len(fit.devices)
    for p in ("g_min", "g_max", "step_up", "step_down"):
        z = (fit.param_array(p) - t[p]) / fit.param_array(p, stderr=True)
        assert abs(np.mean(z)) < Z / math.sqrt(n), (p, np.mean(z))
        assert abs(np.std(z, ddof=1) - 1.0) < Z / math.sqrt(2 * (n - 1)), (p, np.std(z, ddof=1))
    for p in ("gamma_up", "gamma_down"):  # fixed by the model
        np.testing.assert_array_equal(fit.param_array(p), 1.0)
        np.testing.assert_array_equal(fit.param_array(p, stderr=True), 0.0)


def test_noise_and_device_to_device_spread_are_recovered(soft) -> None:
    sim, _, fit = soft
    c = sim.config
    assert abs(fit.c2c_noise["value"] - c.c2c_noise) < Z * fit.c2c_noise["stderr"]
    sigma_r = c.read_noise * (c.g_max - c.g_min)
    assert abs(fit.read_noise["value_S"] - sigma_r) < Z * fit.read_noise["stderr_S"]
    # The repeated reads (10 per device, 9 degrees of freedom) agree with the residuals' estimate.
    assert abs(fit.read_noise["repeated_median_S"] / sigma_r - 1.0) < Z * math.sqrt(1 / 18) / math.sqrt(
        len(fit.devices)
    ) * 1.25  # median: √(π/2) ≈ 1.25 times the standard error of the mean
    for name, expected in (
        ("log_g_min", c.dtod_bounds),
        ("log_g_max", c.dtod_bounds),
        ("log_step", c.dtod_step),
        ("log_imbalance", c.dtod_imbalance),
    ):
        got = fit.spread[name]
        assert abs(got["value"] - expected) < Z * got["stderr"], (name, got, expected)
    assert fit.stuck_fraction == 0.0
    summary = fit.population["step_up"]
    assert summary["n"] == len(fit.devices)
    assert summary["rel_std"] == pytest.approx(summary["std"] / summary["mean"])


@pytest.mark.parametrize(
    ("config", "n_up", "n_down"), [(SOFT, 400, 800), (LINEAR, 600, 600), (POWER, 600, 600)],
    ids=lambda v: v.model if isinstance(v, DeviceConfig) else None,
)  # fmt: skip
def test_auto_picks_the_simulated_model_and_recovers_gamma(
    config: DeviceConfig, n_up: int, n_down: int
) -> None:
    sim, res = measure(config, (2, 3), n_up, n_down, seed=11)
    fit = fit_traces(PulseTraces.from_jump_table(res), model="auto")
    assert fit.model == config.model, fit.selection
    assert fit.selection["delta_bic"][config.model] == 0.0
    if config.model != "soft-bounds":
        for p in ("gamma_up", "gamma_down"):
            got = fit.nominal[p]
            assert abs(got["value"] - getattr(config, p)) < Z * got["stderr"], (p, got)
    t = truth(sim)
    for p in ("g_max", "step_up"):  # the array's values, within 4 of their reported standard errors
        z = (fit.param_array(p) - t[p]) / fit.param_array(p, stderr=True)
        assert np.all(np.abs(z) < Z + 1.0), (p, z)  # 12 values: P(any |z| > 5) ≈ 7e-6


def test_preset_file_round_trip_reproduces_the_mean_step(soft, tmp_path: Path) -> None:
    sim, _, fit = soft
    config = config_from_fit(fit.to_dict())
    path = save_preset(tmp_path / "preset.toml", config, {"run": "test", "fit": {"model": fit.model}})
    loaded = load_preset(path)
    assert loaded == config
    assert preset_source(path) == {"run": "test", "fit": {"model": "soft-bounds"}}
    assert loaded.model == "soft-bounds" and loaded.v_ref == sim.config.v_ref

    shape = (32, 32)
    original = SimulatedCrossbar(shape, sim.config, seed=5)
    rebuilt = SimulatedCrossbar(shape, loaded, seed=6)
    n = shape[0] * shape[1]
    c = sim.config
    for g in np.linspace(2e-6, 12e-6, 6):  # inside every device's bounds (4 σ of the bound spread)
        original.set_conductance(g)
        rebuilt.set_conductance(g)
        pulse = original.nominal_pulse
        for k, (name, gb) in enumerate((("step_up", c.g_max), ("step_down", c.g_min))):
            a = np.mean(original.expected_step(pulse)[k])
            b = np.mean(rebuilt.expected_step(pulse)[k])
            # Relative standard error: the fit's nominal step and bound, the device average of each
            # simulator (steps σ 0.2, imbalance 0.05, bound σ 0.1 over n devices), the spread's effect
            # on the log-normal mean (σ · SE(σ)).
            bound = fit.nominal["g_max" if k == 0 else "g_min"]
            distance = abs(gb - g)
            rel = math.sqrt(
                (fit.nominal[name]["stderr"] / fit.nominal[name]["value"]) ** 2
                + (bound["stderr"] / distance) ** 2
                + 2 * (c.dtod_step**2 + c.dtod_imbalance**2 + (c.dtod_bounds * gb / distance) ** 2) / n
                + (fit.spread["log_step"]["value"] * fit.spread["log_step"]["stderr"]) ** 2
            )
            assert abs(b / a - 1.0) < Z * rel, (name, g, a, b, rel)


def test_preset_overrides_of_the_named_preset_build_the_same_simulator(soft) -> None:
    _, _, fit = soft
    config = config_from_fit(fit.to_dict())
    via_overrides = SimulatedCrossbar.from_preset("ideal", (2, 2), seed=1, **config.to_dict())
    assert via_overrides.config == config


def test_stuck_devices_are_found_and_left_out() -> None:
    sim, res = measure(SOFT.with_overrides(stuck_fraction=0.3), (3, 4), 400, 800, seed=2)
    fit = fit_traces(PulseTraces.from_jump_table(res), model="soft-bounds")
    stuck = sim.device_parameters().stuck.ravel()
    assert 0 < stuck.sum() < stuck.size
    np.testing.assert_array_equal([not d.moving for d in fit.devices], stuck)
    assert fit.stuck_fraction == pytest.approx(stuck.mean())
    assert np.all(np.isnan(fit.param_array("step_up")[stuck]))
    assert config_from_fit(fit.to_dict()).stuck_fraction == pytest.approx(stuck.mean())


def test_traces_from_a_stored_run_match_the_measurement(tmp_path: Path) -> None:
    sim = SimulatedCrossbar((2, 2), SOFT, seed=4)
    devices = [(0, 0), (1, 1)]
    pulse = sim.nominal_pulse
    with RunStore(tmp_path / "runs.sqlite") as store:
        with store.start_run("jump-table", {"devices": devices, "pulse": pulse}, {}) as run:
            res = measure_jump_table(sim, pulse, devices, n_cycles=2, n_up=150, n_down=300, recorder=run)
            run_id = run.uid
        traces = traces_from_run(store, run_id)
        np.testing.assert_array_equal(traces.g, res.g)
        np.testing.assert_array_equal(traces.direction, res.direction)
        np.testing.assert_array_equal(traces.devices, devices)
        np.testing.assert_array_equal(traces.read_noise, res.read_noise)
        assert traces.pulse == pulse
        fit = fit_run(store, run_id, model="soft-bounds")
    assert [d.device for d in fit.devices] == devices
    assert fit.to_dict()["pulse"] == {"amplitude_V": pulse.amplitude, "width_s": pulse.width}


def test_a_resume_read_starts_the_next_step_and_breaks_the_link() -> None:
    g = np.arange(51, dtype=float)[:, None] * 1e-8 + 1e-6
    direction = np.tile(np.repeat([1, -1], 25), 1)
    traces = PulseTraces(g, direction, resumed_at=[10], resume_reads=[[5e-6]])
    g_start, dg, linked = traces.steps()
    assert g_start[10, 0] == 5e-6 and dg[10, 0] == pytest.approx(g[11, 0] - 5e-6)
    assert not linked[10] and linked[11] and not linked[0]


def test_plots_are_written(soft, tmp_path: Path) -> None:
    _, traces, fit = soft
    paths = plot_fit(fit, traces, tmp_path)
    assert [p.name for p in paths] == ["fit_traces.png", "fit_parameters.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)


def test_fit_to_dict_is_json_ready(soft) -> None:
    import json

    _, _, fit = soft
    d = json.loads(json.dumps(fit.to_dict(), allow_nan=False))
    assert d["model"] == "soft-bounds" and len(d["devices"]) == len(fit.devices)
    assert set(d["devices"][0]["params"]) == set(PARAMETERS)


# ---------------------------------------------------------------------- bad input
GOOD_DIRECTION = np.repeat([1, -1], 30)


@pytest.mark.parametrize(
    ("g", "direction", "match"),
    [
        (np.ones((11, 2)), np.repeat([1, -1], 5), "too short"),
        (np.ones((61, 2)), np.repeat([1, -1], 20), r"direction must be \(n_pulses,\)"),
        (np.ones((61, 2, 1)), GOOD_DIRECTION, "g must be"),
        (np.ones((61, 2)), np.repeat([1, 0], 30), r"only \+1"),
        (np.where(np.arange(61)[:, None] == 7, np.nan, np.ones((61, 2))), GOOD_DIRECTION, "NaN or inf"),
    ],
)
def test_bad_traces_raise_clear_errors(g: np.ndarray, direction: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PulseTraces(g, direction)


def test_bad_requests_raise_clear_errors() -> None:
    flat = PulseTraces(np.full((61, 2), 5e-6), GOOD_DIRECTION)
    with pytest.raises(ValueError, match="unknown model"):
        fit_traces(flat, model="soft")
    with pytest.raises(ValueError, match="none of the 2 devices moved"):
        fit_traces(flat)
    with pytest.raises(TypeError, match="PulseTraces"):
        fit_traces(np.ones((61, 2)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"devices must be \(2, 2\)"):
        PulseTraces(np.ones((61, 2)), GOOD_DIRECTION, devices=[(0, 0)])


def test_bad_preset_files_raise_clear_errors(soft, tmp_path: Path) -> None:
    _, _, fit = soft
    d = fit.to_dict()
    with pytest.raises(ValueError, match="not above the base preset's write threshold"):
        config_from_fit({**d, "pulse": {"amplitude_V": 2.0, "width_s": 1e-6}})
    low = {**d, "pulse": {"amplitude_V": 2.0, "width_s": 1e-6}}
    assert config_from_fit(low, v_threshold=1.0).v_ref == 2.0
    path = save_preset(tmp_path / "p.toml", config_from_fit(d))
    path.write_text(path.read_text().replace("c2c_noise", "c2c"))
    with pytest.raises(ValueError, match="unknown: c2c; missing: c2c_noise"):
        load_preset(path)
    (tmp_path / "other.toml").write_text('format = "bench"\n')
    with pytest.raises(ValueError, match="not a protonic-hil preset file"):
        load_preset(tmp_path / "other.toml")
    with pytest.raises(FileNotFoundError):
        load_preset(tmp_path / "missing.toml")


# The file `hil fit` and save_preset wrote for a soft-bounds population before DeviceConfig was
# composed of groups: it must keep loading, and the same config must write the same text.
FIRST_FORMAT = """\
# protonic-hil device preset: simulators.preset_files.load_preset reads it.
# [device] holds simulators.config.DeviceConfig fields in SI units (siemens, volts, seconds).
format = "protonic-hil-preset"
version = 1

[device]
model = "soft-bounds"
g_min = 1e-06
g_max = 2e-05
step_up = 0.003
step_down = 0.0015
gamma_up = 1.0
gamma_down = 1.0
dtod_bounds = 0.1
dtod_step = 0.2
dtod_imbalance = 0.05
stuck_fraction = 0.01
c2c_noise = 0.3
read_noise = 0.0005
vmm_noise = 0.02
v_threshold = 3.0
v_ref = 6.0
t_ref = 5e-09
v_scale = 1.0
width_exponent = 1.0
read_voltage = 0.1
init_state = 0.5
init_spread = 0.1

[source]
run = "x"

"""


def test_preset_files_of_the_first_format_load_and_are_written_alike(tmp_path: Path) -> None:
    (tmp_path / "old.toml").write_text(FIRST_FORMAT)
    assert load_preset(tmp_path / "old.toml") == preset("protonic-asymmetric")
    written = save_preset(tmp_path / "new.toml", preset("protonic-asymmetric"), {"run": "x"})
    assert written.read_text() == FIRST_FORMAT
