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
from typing import Any, Unpack

import numpy as np

from hil.backend import FloatArray
from hil.mapping import DifferentialArray
from hil.pulses import Pulse, PulsePair
from protocols.training.analog import SGDLayer
from protocols.training.analog_training import AnalogTrainingConfig, LayerRecipe, LayerSite, train_analog
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
from protocols.training.result import TrainingResult

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


ARRAYS = ("W_main", "W_ref")


def prepare_sgd_layer(site: LayerSite, config: SGDConfig, w0: FloatArray) -> tuple[SGDLayer, dict[str, Any]]:
    """Prepare the layer's pair (the serial writes) and return it with its setup record."""
    arrays = site.arrays(ARRAYS)
    main, ref = arrays["W_main"], arrays["W_ref"]
    pulse, settings = site.pulse, config.calibration
    cal = calibrate_main(main, pulse, config.w_max, settings)
    if config.reference == "symmetry":
        target = cal.symmetry.g_sym
    else:
        target = np.full(site.shape, float(np.mean(ref.conductance_range)))
    prog_ref, n_skipped = program_reference(ref, target, pulse, cal.step, settings)
    prog_w, n_clipped = program_weights(
        main, ref.read(), w0, mapping=cal.mapping, pulse=pulse, step=cal.step, settings=settings
    )
    record = {
        "arrays": {kind: site.name(kind) for kind in ARRAYS},
        "shape": list(site.shape),
        "calibration": cal.summary(),
        "reference": config.reference,
        "reference_programming": programming_summary(prog_ref, cal.mapping),
        "reference_devices_outside_range": n_skipped,
        "weight_programming": programming_summary(prog_w, cal.mapping),
        "initial_weights_at_a_bound": n_clipped,
    }
    return SGDLayer(DifferentialArray(main, ref, cal.mapping), config.lr, cal.dw_min, site.io), record


def restore_sgd_layer(site: LayerSite, config: SGDConfig, record: dict[str, Any]) -> SGDLayer:
    """The layer as prepare_sgd_layer left it, from its setup record; writes nothing."""
    arrays = site.arrays(ARRAYS)
    mapping, dw_min = restored_calibration(record)
    return SGDLayer(DifferentialArray(arrays["W_main"], arrays["W_ref"], mapping), config.lr, dw_min, site.io)


SGD_LAYERS = LayerRecipe("sgd", prepare_sgd_layer, restore_sgd_layer)


def train_sgd(
    get_array: ArraySource,
    spec: MLPSpec,
    data: Dataset,
    pulse: Pulse | PulsePair,
    config: SGDConfig | None = None,
    label: str = "SGD",
    **options: Unpack[TrainerOptions],
) -> TrainingResult:
    """Prepare the pairs and train the MLP with analog SGD (pulse: volts, seconds).

    options: protocols.training.loop.TrainerOptions (checkpoint scope "sgd"); a resumed run
    continues on the same arrays as they stand.
    """
    cfg = config or SGDConfig()
    result, _ = train_analog(
        SGD_LAYERS, get_array, spec, data, pulse=pulse, config=cfg, label=label, **options
    )
    return result
