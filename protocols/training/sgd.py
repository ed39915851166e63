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

from hil.backend import FloatArray
from hil.mapping import DifferentialArray
from hil.progress import ProgressCallback
from hil.pulses import Pulse
from hil.recording import Checkpoint, Recorder
from protocols.training.analog import CountedOps, SGDLayer
from protocols.training.analog_training import AnalogTrainingConfig, LayerRecipe, train_analog
from protocols.training.datasets import Dataset
from protocols.training.loop import EpochCallback
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


def prepare_sgd_layer(
    get_array: ArraySource,
    i: int,
    shape: tuple[int, int],
    w0: FloatArray,
    pulse: Pulse,
    config: SGDConfig,
    io: CountedOps,
) -> tuple[SGDLayer, dict[str, Any]]:
    """Prepare layer i's pair (the serial writes) and return it with its setup record."""
    names = _array_names(i)
    main, ref = get_array(names["W_main"], shape), get_array(names["W_ref"], shape)
    cal = calibrate_main(main, pulse, config.w_max, config.calibration)
    if config.reference == "symmetry":
        target = cal.symmetry.g_sym
    else:
        target = np.full(shape, float(np.mean(ref.conductance_range)))
    prog_ref, n_skipped = program_reference(ref, target, pulse, cal.step, config.calibration)
    prog_w, n_clipped = program_weights(
        main, ref.read(), w0, cal.mapping, pulse, cal.step, config.calibration
    )
    record = {
        "arrays": names,
        "shape": list(shape),
        "calibration": cal.summary(),
        "reference": config.reference,
        "reference_programming": programming_summary(prog_ref, cal.mapping),
        "reference_devices_outside_range": n_skipped,
        "weight_programming": programming_summary(prog_w, cal.mapping),
        "initial_weights_at_a_bound": n_clipped,
    }
    return SGDLayer(DifferentialArray(main, ref, cal.mapping), config.lr, cal.dw_min, io), record


def restore_sgd_layer(
    get_array: ArraySource,
    i: int,
    shape: tuple[int, int],
    config: SGDConfig,
    io: CountedOps,
    record: dict[str, Any],
) -> SGDLayer:
    """Layer i as prepare_sgd_layer left it, from its setup record; writes nothing."""
    names = _array_names(i)
    main, ref = get_array(names["W_main"], shape), get_array(names["W_ref"], shape)
    mapping, dw_min = restored_calibration(record)
    return SGDLayer(DifferentialArray(main, ref, mapping), config.lr, dw_min, io)


def _array_names(i: int) -> dict[str, str]:
    return {k: f"L{i}.{k}" for k in ("W_main", "W_ref")}


SGD_LAYERS = LayerRecipe(prepare_sgd_layer, restore_sgd_layer)


def train_sgd(
    get_array: ArraySource,
    spec: MLPSpec,
    data: Dataset,
    pulse: Pulse,
    config: SGDConfig | None = None,
    label: str = "SGD",
    progress: ProgressCallback | None = None,
    on_epoch: EpochCallback | None = None,
    *,
    recorder: Recorder | None = None,
    resume_from: Checkpoint | None = None,
    checkpoint_every: int | None = None,
) -> TrainingResult:
    """Prepare the pairs and train the MLP with analog SGD (pulse: volts, seconds).

    recorder, resume_from, checkpoint_every: see protocols.training.analog_training.train_analog
        (checkpoint scope "sgd"); a resumed run continues on the same arrays as they stand.
    """
    cfg = config or SGDConfig()
    result, _ = train_analog(
        "sgd", SGD_LAYERS, get_array, spec, data, pulse, cfg, label, progress, on_epoch,
        recorder, resume_from, checkpoint_every,
    )  # fmt: skip
    return result
