"""Named device presets, where their numbers come from, and presets made from fits.

Protonic programmable resistors (Onen et al., Science 2022; talk slides in the project's
seeds): ~1000 states over a ~20x conductance range, pulses of ~5 ns at up to ~10 V on the
gate, a modulation speed that grows steeply with gate voltage and a threshold below which
the state does not move, reads at ~0.1 V. Those facts set the shapes and orders of
magnitude below and the defaults of simulators.config (range 1-20 uS, reads at 0.1 V,
nominal pulse 6 V x 5 ns, threshold 3 V, an e-fold per volt above it). The absolute
conductances, step sizes, pulse-response constants, variation and noise figures are
ILLUSTRATIVE: chosen to match those facts and the usual simulation assumptions (aihwkit
defaults, Gokmen & Vlasov 2016), not fitted to a measured chip. Fit a DeviceConfig (or build a
jump table) from your own measurements before drawing quantitative conclusions.

Each preset states only what differs from DeviceConfig's defaults (`hil presets --full NAME`
prints the rest).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hil.stepmodels import LinearStep, SoftBounds, model_class
from simulators.config import DeviceConfig, InitialState, Noise, Variation
from simulators.preset_files import load_preset

# c2c 0.3 (Gokmen & Vlasov 2016), read noise 0.05 % of the range (half a step at G_sym of
# protonic-asymmetric), VMM output noise 2 % (aihwkit's default is 6 %): illustrative.
_PROTONIC_NOISE = Noise(c2c_noise=0.3, read_noise=5e-4, vmm_noise=0.02)
_PROTONIC_START = InitialState(init_state=0.5, init_spread=0.1)

_PRESETS = {
    # Soft bounds, up steps twice the down steps: G_sym at 2/3 of the range (13.7 uS). At G_sym
    # a step is a⁺ a⁻/(a⁺ + a⁻) = 0.001 of the range, i.e. ~1000 states over the 20x range.
    # Variation: step spread 0.2 and bound spread 0.1 (below aihwkit's 0.3 defaults),
    # imbalance 0.05, 1 % stuck: all illustrative.
    "protonic-asymmetric": DeviceConfig(
        step=SoftBounds(step_up=0.003, step_down=0.0015),
        variation=Variation(dtod_bounds=0.1, dtod_step=0.2, dtod_imbalance=0.05, stuck_fraction=0.01),
        noise=_PROTONIC_NOISE,
        initial=_PROTONIC_START,
    ),
    # Weak saturation (linear step, γ = 0.2) and balanced steps of 0.001 of the range: the
    # "near-ideal modulation" of the slides. Imbalance 1 % (aihwkit's ECRAM presets), so G_sym
    # sits near mid-range with a spread of ~5 % of the range. Other numbers as above: illustrative.
    "protonic-near-symmetric": DeviceConfig(
        step=LinearStep(step_up=0.001, step_down=0.001, gamma_up=0.2, gamma_down=0.2),
        variation=Variation(dtod_bounds=0.1, dtod_step=0.2, dtod_imbalance=0.01, stuck_fraction=0.01),
        noise=_PROTONIC_NOISE,
        initial=_PROTONIC_START,
    ),
    # The mathematical device: constant symmetric step of 0.001 of the range (1000 states),
    # no noise, no variation, no stuck devices; no symmetry point (every state is symmetric).
    "ideal": DeviceConfig(step=LinearStep(step_up=0.001, step_down=0.001, gamma_up=0.0, gamma_down=0.0)),
}

# protonic-asymmetric's variation, noise and start on symmetric devices: a constant step equal
# to protonic-asymmetric's step at its symmetry point (a⁺a⁻/(a⁺ + a⁻) = 0.001 of the range),
# the same spread of bounds and steps, the same stuck fraction and noise. The fair partner of
# protonic-asymmetric when asymmetric devices are compared with symmetric ones ("ideal" has
# no noise and no variation at all). Its imbalance is 0: on a constant-step device an up/down
# imbalance is not variation around a symmetry point but asymmetry itself (it would drift every
# device to a bound under balanced updates).
_PRESETS["protonic-symmetric"] = _PRESETS["protonic-asymmetric"].with_overrides(
    model="linear-step", step_up=0.001, step_down=0.001, gamma_up=0.0, gamma_down=0.0, dtod_imbalance=0.0
)

PRESETS = MappingProxyType(_PRESETS)
"""Preset name -> DeviceConfig (read-only)."""

BASE_PRESET = "protonic-asymmetric"
# Not measured by a pulse-response fit: taken from the base preset unless overridden.
UNMEASURED = (
    "vmm_noise",
    "v_threshold",
    "v_scale",
    "width_exponent",
    "read_voltage",
    "init_state",
    "init_spread",
)


def preset(name: str | Path, **overrides: object) -> DeviceConfig:
    """The named preset's DeviceConfig, with DeviceConfig fields overridden (validated).

    name: a key of PRESETS, or the path of a preset file (*.toml, e.g. written by `hil fit`).
    """
    if str(name).endswith(".toml"):
        return load_preset(name).with_overrides(**overrides)
    if name not in PRESETS:
        raise ValueError(
            f"unknown device preset {name!r}; known presets: {', '.join(sorted(PRESETS))}, "
            "or the path of a preset file (*.toml, as `hil fit` writes)"
        )
    return PRESETS[str(name)].with_overrides(**overrides)


def config_from_fit(fit: Mapping[str, Any], base: str = BASE_PRESET, **overrides: Any) -> DeviceConfig:
    """DeviceConfig of the population a protocols.fitting.ArrayFit describes (pass fit.to_dict()).

    Measured: model and its parameters (nominal values: step_up, step_down and the fitted
    model's shape parameters), g_min, g_max, dtod_bounds (mean of the σ of ln g_min and
    ln g_max: the simulator has one σ for both), dtod_step (σ of ln √(a⁺a⁻)), dtod_imbalance
    (σ of ln √(a⁺/a⁻)), stuck_fraction, c2c_noise, read_noise (σ_r over g_max - g_min), and the
    pulse (v_ref, t_ref: the step sizes hold at the measured pulse, m = 1 there). Not measured:
    UNMEASURED fields come from the preset `base`. overrides: any DeviceConfig field. Values
    outside DeviceConfig's ranges raise (nothing is clipped); a pulse not above the base
    threshold asks for v_threshold.
    """
    model = model_class(fit.get("model"))  # type: ignore[arg-type]
    if model.draws_from_table:
        raise ValueError(f"a fit gives a model with a closed-form step, not {model.name!r}")
    nominal, spread = fit["nominal"], fit["spread"]

    def value(block: Mapping[str, Any], name: str) -> float:
        v = (block.get(name) or {}).get("value")
        if v is None or not math.isfinite(v):
            raise ValueError(
                f"the fit has no finite {name}; it cannot make a preset (too few usable devices?). "
                "Pass the field as an override"
            )
        return float(v)

    g_min, g_max = value(nominal, "g_min"), value(nominal, "g_max")
    measured: dict[str, Any] = {
        "model": model.name,
        "g_min": g_min,
        "g_max": g_max,
        **{name: value(nominal, name) for name in ("step_up", "step_down", *model.shape_parameters)},
        "stuck_fraction": float(fit["stuck_fraction"]),
        "c2c_noise": float(fit["c2c_noise"]["value"]),
        "read_noise": float(fit["read_noise"]["value_S"]) / (g_max - g_min),
    }
    if fit.get("n_moving", 0) >= 2:
        measured["dtod_bounds"] = 0.5 * (value(spread, "log_g_min") + value(spread, "log_g_max"))
        measured["dtod_step"] = value(spread, "log_step")
        measured["dtod_imbalance"] = value(spread, "log_imbalance")
    else:  # one device: no spread was measured
        measured.update(dtod_bounds=0.0, dtod_step=0.0, dtod_imbalance=0.0)
    base_config = preset(base)
    pulse = fit.get("pulse")
    if pulse:
        measured["v_ref"], measured["t_ref"] = float(pulse["amplitude_V"]), float(pulse["width_s"])
        if "v_threshold" not in overrides and measured["v_ref"] <= base_config.v_threshold:
            raise ValueError(
                f"the fitted pulse ({measured['v_ref']:g} V) is not above the base preset's write threshold "
                f"({base_config.v_threshold:g} V): pass v_threshold (volts) below the pulse amplitude"
            )
    return base_config.with_overrides(**{**measured, **overrides})
