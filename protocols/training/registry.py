"""Every training algorithm, one row each: what `hil train`, the sweeps and the bench builders
know of it.

A row gives the algorithm's name (as `hil train --algorithm` and a sweep spec write it), its
label, its configuration dataclass (whose fields are its hyperparameters), the array kinds
each layer takes on the bench ("L<i>.<kind>"; none: it trains in memory), the scope its
checkpoints are stored under (TrainingResult.algorithm), and its trainer behind one call:

    row.train(spec, data, config, label=..., arrays=bench.array, pulse=pulse, **options)

A new algorithm joins by adding its row. Variants of an algorithm that prepare their arrays
otherwise are configuration types, not names: SHD with a PlacedSHDConfig places A_ref by its
ReferenceSettings (e.g. off the symmetry point), a plain SHDConfig at the symmetry point.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, Unpack

from hil.pulses import Pulse
from protocols.training import agad, chopped, floating_point, sgd, shd, transfer, ttv2
from protocols.training.datasets import Dataset
from protocols.training.loop import TrainerOptions
from protocols.training.network import MLPSpec
from protocols.training.preparation import ArraySource
from protocols.training.result import TrainingResult


class Trainer(Protocol):
    """One algorithm's training: arrays and pulse are None for an algorithm trained in memory."""

    def __call__(
        self,
        spec: MLPSpec,
        data: Dataset,
        config: Any,
        *,
        label: str,
        arrays: ArraySource | None,
        pulse: Pulse | None,
        **options: Unpack[TrainerOptions],
    ) -> TrainingResult: ...


AnalogTrainer = Callable[..., TrainingResult]
"""train(get_array, spec, data, pulse, config, label, **options): the analog trainers' signature."""


def _in_memory(
    spec: MLPSpec,
    data: Dataset,
    config: Any,
    *,
    label: str,
    arrays: ArraySource | None,
    pulse: Pulse | None,
    **options: Unpack[TrainerOptions],
) -> TrainingResult:
    return floating_point.train_float(spec, data, config, label, **options)


def _on_arrays(trainer: AnalogTrainer) -> Trainer:
    """The uniform call of an analog trainer; it refuses to run without arrays or a pulse."""

    def train(
        spec: MLPSpec,
        data: Dataset,
        config: Any,
        *,
        label: str,
        arrays: ArraySource | None,
        pulse: Pulse | None,
        **options: Unpack[TrainerOptions],
    ) -> TrainingResult:
        if arrays is None or pulse is None:
            raise ValueError(f"{label} trains on a bench's arrays: it needs their source and a write pulse")
        return trainer(arrays, spec, data, pulse, config, label, **options)

    return train


def _shd(
    get_array: ArraySource,
    spec: MLPSpec,
    data: Dataset,
    pulse: Pulse,
    config: shd.SHDConfig,
    label: str,
    **options: Unpack[TrainerOptions],
) -> TrainingResult:
    """SHD; a PlacedSHDConfig prepares A_ref where its ReferenceSettings place it."""
    trainer = transfer.train_placed_shd if isinstance(config, transfer.PlacedSHDConfig) else shd.train_shd
    return trainer(get_array, spec, data, pulse, config, label, **options)


@dataclass(frozen=True)
class Algorithm:
    """One trainable algorithm.

    name: as the command line and sweep specs write it. label: legend and table text.
    config: its configuration dataclass; variants: subclasses of it that prepare the arrays
        otherwise, built when the values name a field only they have (build_config).
    arrays: the array kinds every layer takes on the bench, in the order the trainer asks for
        them; empty for an algorithm trained in memory.
    scope: the checkpoint scope (and TrainingResult.algorithm) of its runs.
    trainer: the training call (see Trainer).
    qualifier: the configuration in words for the label, e.g. SGD's reference placement.
    legend: its name in words in learning-curve legends (empty: the run's own label).
    """

    name: str
    label: str
    config: type
    arrays: tuple[str, ...]
    scope: str
    trainer: Trainer
    variants: tuple[type, ...] = ()
    qualifier: Callable[[Any], str] | None = None
    legend: str = ""

    @property
    def analog(self) -> bool:
        """Trains on a chip's arrays (device settings apply to it)."""
        return bool(self.arrays)

    def label_for(self, config: Any) -> str:
        """The label with the configuration's qualifier, e.g. "SGD (symmetry reference)"."""
        return self.label if self.qualifier is None else f"{self.label} ({self.qualifier(config)})"

    def build_config(self, values: Mapping[str, Any]) -> Any:
        """The configuration of these field values (the rest at the dataclass defaults), of the
        first of config and its variants that has every field named; a nested settings field
        (e.g. calibration, buffer, reference) takes a table of its own fields."""
        for cls in (self.config, *self.variants):
            fields = {f.name: f for f in dataclasses.fields(cls)}
            if set(values) <= set(fields):
                return cls(**{name: _value(fields[name], value) for name, value in values.items()})
        known = list(
            dict.fromkeys(f.name for cls in (self.config, *self.variants) for f in dataclasses.fields(cls))
        )
        unknown = sorted(set(values) - set(known))
        if unknown:
            fields = ", ".join(known)
            raise ValueError(
                f"{self.name} has no hyperparameter {', '.join(unknown)}; its fields are: {fields}"
            )
        raise ValueError(f"{self.name}: no one configuration has all of {', '.join(sorted(values))}")

    def train(
        self,
        spec: MLPSpec,
        data: Dataset,
        config: Any,
        *,
        label: str | None = None,
        arrays: ArraySource | None = None,
        pulse: Pulse | None = None,
        **options: Unpack[TrainerOptions],
    ) -> TrainingResult:
        """Train `spec` on `data` with `config` (pulse: volts, seconds; arrays: the bench's
        array source, e.g. Bench.array; both unused in memory). label: default label_for(config)."""
        if not isinstance(config, self.config):
            raise TypeError(
                f"{self.name} trains with a {self.config.__name__}, got a {type(config).__name__}"
            )
        label = self.label_for(config) if label is None else label
        return self.trainer(spec, data, config, label=label, arrays=arrays, pulse=pulse, **options)


def _value(field: dataclasses.Field, value: Any) -> Any:
    """value, or for a nested settings field given as a table, its default with those fields."""
    default = _default(field)
    if not (dataclasses.is_dataclass(default) and isinstance(value, Mapping)):
        return value
    names = [f.name for f in dataclasses.fields(default)]
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise ValueError(
            f"{field.name} has no field {', '.join(unknown)}; its fields are: {', '.join(names)}"
        )
    return dataclasses.replace(default, **value)  # type: ignore[type-var]


def _default(field: dataclasses.Field) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _reference(config: sgd.SGDConfig) -> str:
    return f"{config.reference} reference"


ALGORITHMS: dict[str, Algorithm] = {
    row.name: row
    for row in (
        Algorithm(
            "shd",
            "SHD",
            shd.SHDConfig,
            shd.ARRAYS,
            shd.SHD_LAYERS.algorithm,
            _on_arrays(_shd),
            variants=(transfer.PlacedSHDConfig,),
            legend="SHD",
        ),
        Algorithm(
            "ttv2",
            "TTv2",
            ttv2.TTv2Config,
            transfer.ARRAYS,
            ttv2.TTV2_LAYERS.algorithm,
            _on_arrays(ttv2.train_ttv2),
        ),
        Algorithm(
            "cttv2",
            "c-TTv2",
            chopped.ChoppedConfig,
            transfer.ARRAYS,
            chopped.CHOPPED_LAYERS.algorithm,
            _on_arrays(chopped.train_chopped),
        ),
        Algorithm(
            "agad",
            "AGAD",
            agad.AGADConfig,
            transfer.ARRAYS,
            agad.AGAD_LAYERS.algorithm,
            _on_arrays(agad.train_agad),
        ),
        Algorithm(
            "sgd",
            "SGD",
            sgd.SGDConfig,
            sgd.ARRAYS,
            sgd.SGD_LAYERS.algorithm,
            _on_arrays(sgd.train_sgd),
            qualifier=_reference,
            legend="analog SGD",
        ),
        Algorithm(
            "fp",
            "FP (float64)",
            floating_point.FloatConfig,
            (),
            floating_point.SCOPE,
            _in_memory,
            legend="floating point (float64)",
        ),
    )
}
"""Algorithm name -> row; the order is `hil train`'s."""


def algorithm(name: str) -> Algorithm:
    """The row of `name`; ValueError naming the known algorithms otherwise."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; choose from {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]


def scoped(scope: str) -> Algorithm | None:
    """The row whose runs are stored under `scope` (TrainingResult.algorithm), if any."""
    return next((row for row in ALGORITHMS.values() if row.scope == scope), None)
