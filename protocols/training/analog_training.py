"""What SGD and SHD training share: the analog settings and the run around the layers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Unpack

from hil.backend import CrossbarBackend, FloatArray
from hil.pulses import Pulse, PulsePair, pulse_state
from protocols.training.analog import CountedOps, UpdateSettings
from protocols.training.checkpoints import preparation_state, resume_into
from protocols.training.datasets import Dataset
from protocols.training.loop import Layer, TrainerOptions, run_training
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

    def counted_ops(self, pulse: Pulse | PulsePair, ops: BackendOps) -> CountedOps:
        """The VMM/update issuer for these settings, counting into ops."""
        return CountedOps(UpdateSettings(pulse, self.bl_max, self.update_management, self.bl_management), ops)


@dataclass(frozen=True)
class LayerSite:
    """Where layer `index` of shape (rows, cols) lives: its arrays come from get_array, every
    write uses `pulse` (a Pulse, or a PulsePair of up and down pulses), and its VMMs and updates
    go through `io`."""

    get_array: ArraySource
    index: int
    shape: tuple[int, int]
    pulse: Pulse | PulsePair
    io: CountedOps

    def arrays(self, kinds: Sequence[str]) -> dict[str, CrossbarBackend]:
        """The layer's arrays "L<index>.<kind>" by kind, e.g. kinds ("W_main", "W_ref")."""
        return {kind: self.get_array(self.name(kind), self.shape) for kind in kinds}

    def name(self, kind: str) -> str:
        return layer_array_name(self.index, kind)


def layer_array_name(index: int, kind: str) -> str:
    """The bench array of layer `index` in the role `kind`, e.g. (0, "A_main") -> "L0.A_main"."""
    return f"L{index}.{kind}"


LayerPrepare = Callable[[LayerSite, Any, FloatArray], tuple[Layer, dict[str, Any]]]
"""prepare(site, config, w0) -> (the layer, its JSON-ready setup record): the one-time serial
writes (symmetry point, references, initial weights w0)."""

LayerRestore = Callable[[LayerSite, Any, dict[str, Any]], Layer]
"""restore(site, config, record) -> the layer from its setup record, writing nothing."""


@dataclass(frozen=True)
class LayerRecipe:
    """How an algorithm puts each layer on arrays, and puts it back together when resumed;
    `algorithm` is its checkpoint scope (the registry row's scope)."""

    algorithm: str
    prepare: LayerPrepare
    restore: LayerRestore


def build_layers(
    recipe: LayerRecipe,
    get_array: ArraySource,
    spec: MLPSpec,
    *,
    pulse: Pulse | PulsePair,
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
        site = LayerSite(get_array, i, shape, pulse, io)
        if i < len(prepared):
            layer, record = recipe.restore(site, config, prepared[i]), prepared[i]
        else:
            layer, record = recipe.prepare(site, config, w0[i])
        layers.append(layer)
        setup.append(record)
        if i >= len(prepared) and on_prepared is not None:
            on_prepared(list(setup))
    return layers, setup


def train_analog(
    recipe: LayerRecipe,
    get_array: ArraySource,
    spec: MLPSpec,
    data: Dataset,
    *,
    pulse: Pulse | PulsePair,
    config: AnalogTrainingConfig,
    label: str,
    **options: Unpack[TrainerOptions],
) -> tuple[TrainingResult, Sequence[Layer]]:
    """Prepare the layers, train them, and return the result and the layers.

    options: protocols.training.loop.TrainerOptions, checkpoint scope recipe.algorithm; the
        recorder also gets a checkpoint after each prepared layer, and a resumed run rebuilds
        the layers it prepared from their records without a write and prepares the others.
    """
    params = asdict(config) | {"pulse": pulse_state(pulse)}
    result = TrainingResult(
        algorithm=recipe.algorithm,
        label=label,
        dataset=data.describe(),
        network=spec.describe(),
        parameters=params,
    )
    state = resume_into(options.pop("resume_from", None), result, data)
    recorder = options.get("recorder")

    def prepared(records: list[dict[str, Any]]) -> None:
        result.setup = {"layers": records}
        if recorder is not None:
            recorder.checkpoint(preparation_state(result, data), scope=recipe.algorithm)

    records = state["setup"]["layers"] if state is not None else []
    layers, setup = build_layers(
        recipe,
        get_array,
        spec,
        pulse=pulse,
        config=config,
        ops=result.ops,
        prepared=records,
        on_prepared=prepared,
    )
    result.setup = {"layers": setup}
    run_training(layers, spec, data, result, epochs=config.epochs, seed=config.seed, state=state, **options)
    return result, layers
