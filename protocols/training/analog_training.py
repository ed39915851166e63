"""What SGD and SHD training share: the analog settings and the run around the layers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from hil.progress import ProgressCallback
from hil.pulses import Pulse
from protocols.training.analog import CountedOps, UpdateSettings
from protocols.training.datasets import Dataset
from protocols.training.loop import EpochCallback, Layer, run_training
from protocols.training.network import MLPSpec
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


LayerBuilder = Callable[
    [ArraySource, MLPSpec, Pulse, Any, BackendOps], tuple[Sequence[Layer], list[dict[str, Any]]]
]


def train_analog(
    algorithm: str,
    build: LayerBuilder,
    get_array: ArraySource,
    spec: MLPSpec,
    data: Dataset,
    pulse: Pulse,
    config: AnalogTrainingConfig,
    label: str,
    progress: ProgressCallback | None,
    on_epoch: EpochCallback | None,
) -> tuple[TrainingResult, Sequence[Layer]]:
    """Prepare the layers with `build`, train them, and return the result and the layers."""
    ops = BackendOps()
    layers, setup = build(get_array, spec, pulse, config, ops)
    params = asdict(config) | {"pulse": {"amplitude_V": pulse.amplitude, "width_s": pulse.width}}
    result = TrainingResult(
        algorithm=algorithm,
        label=label,
        dataset=data.describe(),
        network=spec.describe(),
        parameters=params,
        ops=ops,
        setup={"layers": setup},
    )
    run_training(layers, spec, data, config.epochs, config.seed, result, progress, on_epoch)
    return result, layers
