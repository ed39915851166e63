"""What SGD and SHD training share: the analog settings and the run around the layers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from hil.backend import FloatArray
from hil.progress import ProgressCallback
from hil.pulses import Pulse
from hil.recording import Checkpoint, Recorder
from protocols.training.analog import CountedOps, UpdateSettings
from protocols.training.checkpoints import preparation_state, restore_result, state_to_resume
from protocols.training.datasets import Dataset
from protocols.training.loop import EpochCallback, Layer, run_training
from protocols.training.network import MLPSpec, init_rng, init_weights
from protocols.training.preparation import ArraySource, CalibrationSettings
from protocols.training.result import BackendOps, TrainingResult


@dataclass(frozen=True)
class AnalogTrainingConfig:
    """Settings every analog trainer takes.

    epochs: passes over the training set.
    bl_max, update_management, bl_management: stochastic-update settings (hil.update).
    w_max: weight at half the nominal conductance range (sets g_unit = range / (2 w_max)).
    init_scale: multiple of Glorot-uniform initial weights programmed into the arrays.
    seed: initial weights and sample order (the arrays' own randomness is the bench's).
    calibration: symmetry-point and programming settings of the one-time preparation.
    """

    epochs: int = 20
    bl_max: int = 31
    update_management: bool = True
    bl_management: bool = True
    w_max: float = 1.0
    init_scale: float = 1.0
    seed: int = 0
    calibration: CalibrationSettings = field(default_factory=CalibrationSettings)

    def counted_ops(self, pulse: Pulse, ops: BackendOps) -> CountedOps:
        """The VMM/update issuer for these settings, counting into ops."""
        return CountedOps(UpdateSettings(pulse, self.bl_max, self.update_management, self.bl_management), ops)


LayerPrepare = Callable[
    [ArraySource, int, tuple[int, int], FloatArray, Pulse, Any, CountedOps], tuple[Layer, dict[str, Any]]
]
"""prepare(get_array, i, shape, w0, pulse, config, io) -> (layer i, its JSON-ready setup record):
the one-time serial writes (symmetry point, references, initial weights w0)."""

LayerRestore = Callable[[ArraySource, int, tuple[int, int], Any, CountedOps, dict[str, Any]], Layer]
"""restore(get_array, i, shape, config, io, record) -> layer i from its setup record, writing nothing."""


@dataclass(frozen=True)
class LayerRecipe:
    """How an algorithm puts each layer on arrays, and puts it back together when resumed."""

    prepare: LayerPrepare
    restore: LayerRestore


def build_layers(
    recipe: LayerRecipe,
    get_array: ArraySource,
    spec: MLPSpec,
    pulse: Pulse,
    config: AnalogTrainingConfig,
    ops: BackendOps,
    prepared: Sequence[dict[str, Any]] = (),
    on_prepared: Callable[[list[dict[str, Any]]], None] | None = None,
) -> tuple[list[Layer], list[dict[str, Any]]]:
    """Every layer with its setup record: the first len(prepared) restored from their records,
    the others prepared (on_prepared(records so far) after each)."""
    io = config.counted_ops(pulse, ops)
    w0 = init_weights(spec, init_rng(config.seed), config.init_scale)
    if len(prepared) > spec.n_layers:
        raise ValueError(f"{len(prepared)} prepared layers for a network of {spec.n_layers}")
    layers, setup = [], []
    for i, shape in enumerate(spec.layer_shapes):
        if i < len(prepared):
            layer, record = recipe.restore(get_array, i, shape, config, io, prepared[i]), prepared[i]
        else:
            layer, record = recipe.prepare(get_array, i, shape, w0[i], pulse, config, io)
        layers.append(layer)
        setup.append(record)
        if i >= len(prepared) and on_prepared is not None:
            on_prepared(list(setup))
    return layers, setup


def train_analog(
    algorithm: str,
    recipe: LayerRecipe,
    get_array: ArraySource,
    spec: MLPSpec,
    data: Dataset,
    pulse: Pulse,
    config: AnalogTrainingConfig,
    label: str,
    progress: ProgressCallback | None,
    on_epoch: EpochCallback | None,
    recorder: Recorder | None = None,
    resume_from: Checkpoint | None = None,
    checkpoint_every: int | None = None,
) -> tuple[TrainingResult, Sequence[Layer]]:
    """Prepare the layers, train them, and return the result and the layers.

    recorder: checkpoints (scope `algorithm`) after each prepared layer and during training (see
        protocols.training.loop.run_training), and records the "epoch" points.
    resume_from: a stopped run's Checkpoint. Layers it prepared are rebuilt from their records
        without a write; the others are prepared; training continues where it stopped.
    """
    params = asdict(config) | {"pulse": {"amplitude_V": pulse.amplitude, "width_s": pulse.width}}
    result = TrainingResult(
        algorithm=algorithm,
        label=label,
        dataset=data.describe(),
        network=spec.describe(),
        parameters=params,
    )
    state = state_to_resume(resume_from, result, data)
    training = state is not None and state["stage"] == "training"
    if training:
        restore_result(result, state)

    def prepared(records: list[dict[str, Any]]) -> None:
        result.setup = {"layers": records}
        if recorder is not None:
            recorder.checkpoint(preparation_state(result, data), scope=algorithm)

    records = state["setup"]["layers"] if state is not None else []
    layers, setup = build_layers(recipe, get_array, spec, pulse, config, result.ops, records, prepared)
    result.setup = {"layers": setup}
    if training:
        for layer, layer_state in zip(layers, state["layers"], strict=True):
            layer.restore(layer_state)
    run_training(
        layers, spec, data, config.epochs, config.seed, result, progress, on_epoch,
        recorder=recorder, resume=state["loop"] if training else None, checkpoint_every=checkpoint_every,
    )  # fmt: skip
    return result, layers
