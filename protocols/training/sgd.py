"""Analog SGD baseline: each layer on one conductance pair, the update on the main array.

Per layer two arrays from the caller: "L<i>.W_main", "L<i>.W_ref". Preparation: measure the
main array's symmetry point (for the step, dw_min), program W_ref, then program W_main to
W_ref + the same initial weights as SHD and FP.

Reference choice, reference="symmetry" (default): W_ref at W_main's symmetry point, so that
the drift every update causes on an asymmetric device pulls W towards 0 rather than towards
an arbitrary offset. This is the strongest SGD baseline on asymmetric devices
("zero-shifting", Kim et al.); reference="midrange" puts W_ref at the middle of the nominal
range as in conventional SGD hardware (the paper: not critical for SGD as long as mid-range),
and is the choice for ideal devices, whose symmetry point is undefined.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hil.mapping import DifferentialArray
from hil.progress import ProgressCallback
from hil.pulses import Pulse
from protocols.training.analog import SGDLayer
from protocols.training.analog_training import AnalogTrainingConfig, train_analog
from protocols.training.datasets import Dataset
from protocols.training.loop import EpochCallback
from protocols.training.network import MLPSpec, init_rng, init_weights
from protocols.training.preparation import (
    ArraySource,
    calibrate_main,
    program_reference,
    program_weights,
    programming_summary,
)
from protocols.training.result import BackendOps, TrainingResult

REFERENCES = ("symmetry", "midrange")


@dataclass(frozen=True)
class SGDConfig(AnalogTrainingConfig):
    """Analog SGD hyperparameters.

    lr: learning rate (expected weight change per unit x * delta); reference: "symmetry" or
    "midrange" (see the module docstring); the other fields as in AnalogTrainingConfig.
    """

    lr: float = 0.02
    reference: str = "symmetry"

    def __post_init__(self) -> None:
        if self.reference not in REFERENCES:
            raise ValueError(f"reference must be one of {REFERENCES}, got {self.reference!r}")


def build_sgd_layers(
    get_array: ArraySource, spec: MLPSpec, pulse: Pulse, config: SGDConfig, ops: BackendOps
) -> tuple[list[SGDLayer], list[dict[str, Any]]]:
    """Prepare every layer's pair and return the layers with a JSON-ready setup record each."""
    io = config.counted_ops(pulse, ops)
    w0 = init_weights(spec, init_rng(config.seed), config.init_scale)
    layers, setup = [], []
    for i, shape in enumerate(spec.layer_shapes):
        names = {k: f"L{i}.{k}" for k in ("W_main", "W_ref")}
        main, ref = get_array(names["W_main"], shape), get_array(names["W_ref"], shape)
        cal = calibrate_main(main, pulse, config.w_max, config.calibration)
        if config.reference == "symmetry":
            target = cal.symmetry.g_sym
        else:
            target = np.full(shape, float(np.mean(ref.conductance_range)))
        prog_ref, n_skipped = program_reference(ref, target, pulse, cal.step, config.calibration)
        prog_w, n_clipped = program_weights(
            main, ref.read(), w0[i], cal.mapping, pulse, cal.step, config.calibration
        )
        setup.append(
            {
                "arrays": names,
                "shape": list(shape),
                "calibration": cal.summary(),
                "reference": config.reference,
                "reference_programming": programming_summary(prog_ref, cal.mapping),
                "reference_devices_outside_range": n_skipped,
                "weight_programming": programming_summary(prog_w, cal.mapping),
                "initial_weights_at_a_bound": n_clipped,
            }
        )
        layers.append(SGDLayer(DifferentialArray(main, ref, cal.mapping), config.lr, cal.dw_min, io))
    return layers, setup


def train_sgd(
    get_array: ArraySource,
    spec: MLPSpec,
    data: Dataset,
    pulse: Pulse,
    config: SGDConfig | None = None,
    label: str = "SGD",
    progress: ProgressCallback | None = None,
    on_epoch: EpochCallback | None = None,
) -> TrainingResult:
    """Prepare the pairs and train the MLP with analog SGD (pulse: volts, seconds)."""
    cfg = config or SGDConfig()
    result, _ = train_analog(
        "sgd", build_sgd_layers, get_array, spec, data, pulse, cfg, label, progress, on_epoch
    )
    return result
