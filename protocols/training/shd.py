"""Stochastic Hamiltonian Descent (the 3-array Tiki-Taka of Onen, Gokmen et al.).

Per layer three arrays from the caller: "L<i>.A_main", "L<i>.A_ref", "L<i>.C_main".
Preparation (serial, once): find A_main's symmetry points (this also parks A_main there),
program A_ref to them so that A = A_main - A_ref starts at 0, and program C_main to
A_ref + the initial weights. Training (fully parallel): see SHDLayer. With centre_reference,
the preparation first tunes A_main's down pulse (protocols.balance) so that its mean symmetry
point, and with it the reference, sits mid-range, and the layer is written with that pulse pair.

Why C_main is programmed rather than left where it is: C is the network, and C = 0 (C_main at
A_ref) is a saddle of an MLP (no error reaches the hidden layer and all hidden units stay
alike), while the as-fabricated state is neither small nor controlled. Programming C_main to
A_ref + Glorot weights gives SHD the same start as the FP and SGD baselines. c_init="as_is"
skips it (C starts wherever C_main is).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Unpack

import numpy as np

from hil.backend import CrossbarBackend, FloatArray
from hil.mapping import DifferentialArray, WeightMapping
from hil.pulses import Pulse, PulsePair, pulse_from_state
from protocols.balance import BalanceSettings, pulse_balance
from protocols.training.analog import SHDLayer
from protocols.training.analog_training import (
    AnalogTrainingConfig,
    LayerRecipe,
    LayerSite,
    build_layers,
    train_analog,
)
from protocols.training.datasets import Dataset
from protocols.training.loop import TrainerOptions
from protocols.training.network import MLPSpec
from protocols.training.preparation import (
    ArraySource,
    calibrate_main,
    program_reference,
    program_weights,
    programming_summary,
    restored_calibration,
)
from protocols.training.result import BackendOps, TrainingResult

C_INIT = ("programmed", "as_is")


@dataclass(frozen=True)
class SHDConfig(AnalogTrainingConfig):
    """SHD hyperparameters (weights are dimensionless; see docs/protocols/training.md).

    eta_a: learning rate of the gradient into A (expected change of A per unit x * delta).
    eta_c: transfer rate: every transfer changes row k of C by eta_c times row k of A.
    tau: samples between transfers (each transfer moves one row; a row recurs every tau * rows).
    c_init: "programmed" (C_main = A_ref + initial weights) or "as_is".
    centre_reference: tune each layer's down pulse first so that A_main's mean symmetry point
        sits mid-range (protocols.balance), and write the layer with that pulse pair: the
        reference is centred and C spans -w_max .. +w_max instead of a range skewed by where the
        devices balance (see docs/protocols/balance.md).
    The other fields as in AnalogTrainingConfig (initial weights are programmed into C).
    """

    eta_a: float = 0.1
    eta_c: float = 0.01
    tau: int = 1
    c_init: str = "programmed"
    centre_reference: bool = False

    def __post_init__(self) -> None:
        if self.c_init not in C_INIT:
            raise ValueError(f"c_init must be one of {C_INIT}, got {self.c_init!r}")


ARRAYS = ("A_main", "A_ref", "C_main")


def prepare_shd_layer(site: LayerSite, config: SHDConfig, w0: FloatArray) -> tuple[SHDLayer, dict[str, Any]]:
    """Prepare the layer's three arrays (the serial writes) and return it with its setup record."""
    arrays = site.arrays(ARRAYS)
    a_main, a_ref, c_main = (arrays[kind] for kind in ARRAYS)
    balance = None
    if config.centre_reference:
        site, balance = _centred(site, a_main, config)
    pulse, settings = site.pulse, config.calibration
    cal = calibrate_main(a_main, pulse, config.w_max, settings)
    prog_ref, n_skipped = program_reference(a_ref, cal.symmetry.g_sym, pulse, cal.step, settings)
    record: dict[str, Any] = {
        "arrays": {kind: site.name(kind) for kind in ARRAYS},
        "shape": list(site.shape),
        "calibration": cal.summary(),
        "c_span_weights": c_span(cal.symmetry.g_sym, a_main.conductance_range, cal.mapping),
        "reference_programming": programming_summary(prog_ref, cal.mapping),
        "reference_devices_outside_range": n_skipped,
    }
    if balance is not None:
        record["balance"] = balance
    if config.c_init == "programmed":
        prog_c, n_clipped = program_weights(
            c_main, a_ref.read(), w0, mapping=cal.mapping, pulse=pulse, step=cal.step, settings=settings
        )
        record["core_programming"] = programming_summary(prog_c, cal.mapping)
        record["initial_weights_at_a_bound"] = n_clipped
    # C_main's step is taken as A_main's: same devices, and C_main's own symmetry point
    # is irrelevant to SHD (the paper drops C_ref), so it is not measured.
    return _layer(site, config, arrays, cal.mapping, cal.dw_min), record


def restore_shd_layer(site: LayerSite, config: SHDConfig, record: dict[str, Any]) -> SHDLayer:
    """The layer as prepare_shd_layer left it, from its setup record; writes nothing."""
    mapping, dw_min = restored_calibration(record)
    if "balance" in record:  # the layer was written with the pulses its balance found
        site = _with_pulses(site, config, pulse_from_state(record["balance"]["pulses"]))
    return _layer(site, config, site.arrays(ARRAYS), mapping, dw_min)


def _centred(site: LayerSite, a_main: CrossbarBackend, config: SHDConfig) -> tuple[LayerSite, dict[str, Any]]:
    """The site with the pulse pair that puts A_main's mean symmetry point mid-range, and the
    balance's summary (without its per-device arrays) for the setup record."""
    s = config.calibration
    symmetry = {"max_pairs": s.symmetry_max_pairs, "window": s.symmetry_window}
    result = pulse_balance(a_main, site.pulse, BalanceSettings(symmetry=symmetry))
    summary = {k: v for k, v in result.summary().items() if k != "per_device"}
    return _with_pulses(site, config, result.pulses), summary


def _with_pulses(site: LayerSite, config: SHDConfig, pulses: Pulse | PulsePair) -> LayerSite:
    """The site writing with `pulses`: its updates through a new issuer counting into the same ops."""
    return replace(site, pulse=pulses, io=config.counted_ops(pulses, site.io.ops))


def c_span(g_ref: FloatArray, g_range: tuple[float, float], mapping: WeightMapping) -> dict[str, float]:
    """The weights C can reach on each device, (G_min - G_ref) / g_unit to (G_max - G_ref) / g_unit
    over the nominal range, as medians over the devices with a reference ("low", "high")."""
    ref = g_ref[np.isfinite(g_ref)]
    if ref.size == 0:
        return {"low": float("nan"), "high": float("nan")}
    g_min, g_max = g_range
    return {
        "low": float(np.median((g_min - ref) / mapping.g_unit)),
        "high": float(np.median((g_max - ref) / mapping.g_unit)),
    }


def _layer(
    site: LayerSite,
    config: SHDConfig,
    arrays: dict[str, CrossbarBackend],
    mapping: WeightMapping,
    dw_min: float,
) -> SHDLayer:
    """A = A_main - A_ref and C = C_main - A_ref, both with A_main's step."""
    a = DifferentialArray(arrays["A_main"], arrays["A_ref"], mapping)
    c = DifferentialArray(arrays["C_main"], arrays["A_ref"], mapping)
    return SHDLayer(
        a,
        c,
        eta_a=config.eta_a,
        eta_c=config.eta_c,
        tau=config.tau,
        dw_min_a=dw_min,
        dw_min_c=dw_min,
        io=site.io,
    )


SHD_LAYERS = LayerRecipe("shd", prepare_shd_layer, restore_shd_layer)


def build_shd_layers(
    get_array: ArraySource, spec: MLPSpec, pulse: Pulse | PulsePair, config: SHDConfig, ops: BackendOps
) -> tuple[list[SHDLayer], list[dict[str, Any]]]:
    """Prepare every layer's arrays and return the layers with a JSON-ready setup record each."""
    layers, setup = build_layers(SHD_LAYERS, get_array, spec, pulse=pulse, config=config, ops=ops)
    return layers, setup  # type: ignore[return-value]


def train_shd(
    get_array: ArraySource,
    spec: MLPSpec,
    data: Dataset,
    pulse: Pulse | PulsePair,
    config: SHDConfig | None = None,
    label: str = "SHD",
    **options: Unpack[TrainerOptions],
) -> TrainingResult:
    """Prepare the arrays and train the MLP with SHD; C is evaluated after every epoch.

    pulse: the write pulse (volts, seconds) for every write, serial and parallel.
    options: protocols.training.loop.TrainerOptions (checkpoint scope "shd"); a resumed run
    continues on the same arrays as they stand.
    """
    cfg = config or SHDConfig()
    result, layers = train_analog(
        SHD_LAYERS, get_array, spec, data, pulse=pulse, config=cfg, label=label, **options
    )
    result.setup["transfers_per_layer"] = [layer.transfers for layer in layers]  # type: ignore[attr-defined]
    return result
