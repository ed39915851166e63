"""Named device presets and where their numbers come from.

Protonic programmable resistors (Onen et al., Science 2022; talk slides in the project's
seeds): ~1000 states over a ~20x conductance range, pulses of ~5 ns at up to ~10 V on the
gate, a modulation speed that grows steeply with gate voltage and a threshold below which
the state does not move, reads at ~0.1 V. Those facts set the shapes and orders of
magnitude below. The absolute conductances (1-20 uS), step sizes, pulse-response constants,
variation and noise figures are ILLUSTRATIVE: chosen to match those facts and the usual
simulation assumptions (aihwkit defaults, Gokmen & Vlasov 2016), not fitted to a measured
chip. Fit a DeviceConfig (or build a jump table) from your own measurements before drawing
quantitative conclusions.
"""

from __future__ import annotations

from types import MappingProxyType

from simulators.config import DeviceConfig

# Shared by all presets: 20x range (slides), reads at 0.1 V (physics notes), nominal pulse
# 6 V x 5 ns inside the reported <= 10 V / ~5 ns operating window; threshold 3 V and an
# e-fold per volt above it are illustrative.
_PROTONIC_RANGE = {"g_min": 1e-6, "g_max": 20e-6}
_PULSE_RESPONSE = {
    "v_threshold": 3.0,
    "v_ref": 6.0,
    "t_ref": 5e-9,
    "v_scale": 1.0,
    "width_exponent": 1.0,
    "read_voltage": 0.1,
}

_PRESETS = {
    # Soft bounds, up steps twice the down steps: G_sym at 2/3 of the range (13.7 uS). At G_sym
    # a step is a⁺ a⁻/(a⁺ + a⁻) = 0.001 of the range, i.e. ~1000 states over the 20x range.
    # Variation and noise: c2c 0.3 (Gokmen & Vlasov 2016), step spread 0.2 and bound spread
    # 0.1 (below aihwkit's 0.3 defaults), imbalance 0.05, 1 % stuck, read noise 0.05 % of the
    # range (half a step), VMM output noise 2 % (aihwkit's default is 6 %): all illustrative.
    "protonic-asymmetric": DeviceConfig(
        model="soft-bounds",
        **_PROTONIC_RANGE,
        step_up=0.003,
        step_down=0.0015,
        gamma_up=1.0,
        gamma_down=1.0,
        dtod_bounds=0.1,
        dtod_step=0.2,
        dtod_imbalance=0.05,
        stuck_fraction=0.01,
        c2c_noise=0.3,
        read_noise=5e-4,
        vmm_noise=0.02,
        **_PULSE_RESPONSE,
        init_state=0.5,
        init_spread=0.1,
    ),
    # Weak saturation (linear step, γ = 0.2) and balanced steps of 0.001 of the range: the
    # "near-ideal modulation" of the slides. Imbalance 1 % (aihwkit's ECRAM presets), so G_sym
    # sits near mid-range with a spread of ~5 % of the range. Other numbers as above: illustrative.
    "protonic-near-symmetric": DeviceConfig(
        model="linear-step",
        **_PROTONIC_RANGE,
        step_up=0.001,
        step_down=0.001,
        gamma_up=0.2,
        gamma_down=0.2,
        dtod_bounds=0.1,
        dtod_step=0.2,
        dtod_imbalance=0.01,
        stuck_fraction=0.01,
        c2c_noise=0.3,
        read_noise=5e-4,
        vmm_noise=0.02,
        **_PULSE_RESPONSE,
        init_state=0.5,
        init_spread=0.1,
    ),
    # The mathematical device: constant symmetric step of 0.001 of the range (1000 states),
    # no noise, no variation, no stuck devices; no symmetry point (every state is symmetric).
    "ideal": DeviceConfig(
        model="linear-step",
        **_PROTONIC_RANGE,
        step_up=0.001,
        step_down=0.001,
        gamma_up=0.0,
        gamma_down=0.0,
        dtod_bounds=0.0,
        dtod_step=0.0,
        dtod_imbalance=0.0,
        stuck_fraction=0.0,
        c2c_noise=0.0,
        read_noise=0.0,
        vmm_noise=0.0,
        **_PULSE_RESPONSE,
        init_state=0.5,
        init_spread=0.0,
    ),
}

PRESETS = MappingProxyType(_PRESETS)
"""Preset name -> DeviceConfig (read-only)."""


def preset(name: str, **overrides: object) -> DeviceConfig:
    """The named preset's DeviceConfig, with DeviceConfig fields overridden (validated).

    name: a key of PRESETS, or the path of a preset file (*.toml, e.g. written by `hil fit`).
    """
    if str(name).endswith(".toml"):
        from simulators.preset_files import load_preset

        return load_preset(name).with_overrides(**overrides)
    if name not in PRESETS:
        raise ValueError(
            f"unknown device preset {name!r}; known presets: {', '.join(sorted(PRESETS))}, "
            "or the path of a preset file (*.toml, as `hil fit` writes)"
        )
    return PRESETS[name].with_overrides(**overrides)
