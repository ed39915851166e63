"""The algorithms a sweep trains, one row each: a new algorithm joins by adding its row.

Each row names the configuration dataclass of its trainer (whose fields are the
hyperparameters a spec may set or sweep as "<name>.<field>"), whether it trains on arrays,
and how to call its trainer through protocols.training's public API.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hil.bench import Bench
from protocols.training import (
    Dataset,
    FloatConfig,
    MLPSpec,
    SGDConfig,
    SHDConfig,
    TrainingResult,
    train_float,
    train_sgd,
    train_shd,
)

Trainer = Callable[[MLPSpec, Dataset, Any, str, Bench | None], TrainingResult]
"""train(spec, data, config, label, bench) -> result; bench is None for a digital algorithm."""


@dataclass(frozen=True)
class Algorithm:
    """One trainable algorithm.

    label: legend text; config: its configuration dataclass (fields epochs and seed are set by
    the sweep); analog: trains on a chip's arrays, so the device axes apply to it; train: the
    call into protocols.training.
    """

    name: str
    label: str
    config: type
    analog: bool
    train: Trainer

    def build_config(self, values: Mapping[str, Any]) -> Any:
        """The configuration of these field values (the rest at the dataclass defaults); a
        nested settings field (e.g. calibration) takes a table of its own fields."""
        fields = {f.name: f for f in dataclasses.fields(self.config)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(
                f"{self.name} has no hyperparameter {', '.join(unknown)}; its fields are: {', '.join(fields)}"
            )
        kwargs = {}
        for name, value in values.items():
            default = _default(fields[name])
            if dataclasses.is_dataclass(default) and isinstance(value, Mapping):
                value = dataclasses.replace(default, **value)  # type: ignore[type-var]
            kwargs[name] = value
        return self.config(**kwargs)


def _default(field: dataclasses.Field) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _pulse(bench: Bench | None) -> Any:
    if bench is None or bench.nominal_pulse is None:
        raise ValueError(
            "an analog algorithm needs a bench with a nominal pulse (the simulated chip has one)"
        )
    return bench.nominal_pulse


def _train_fp(spec: MLPSpec, data: Dataset, config: Any, label: str, bench: Bench | None) -> TrainingResult:
    return train_float(spec, data, config, label)


def _train_sgd(spec: MLPSpec, data: Dataset, config: Any, label: str, bench: Bench | None) -> TrainingResult:
    return train_sgd(bench.array, spec, data, _pulse(bench), config, label)  # type: ignore[union-attr]


def _train_shd(spec: MLPSpec, data: Dataset, config: Any, label: str, bench: Bench | None) -> TrainingResult:
    return train_shd(bench.array, spec, data, _pulse(bench), config, label)  # type: ignore[union-attr]


ALGORITHMS: dict[str, Algorithm] = {
    row.name: row
    for row in (
        Algorithm("fp", "FP (float64)", FloatConfig, analog=False, train=_train_fp),
        Algorithm("sgd", "SGD", SGDConfig, analog=True, train=_train_sgd),
        Algorithm("shd", "SHD", SHDConfig, analog=True, train=_train_shd),
    )
}
"""Algorithm name -> row; the order is the order of legends and tables."""


def algorithm(name: str) -> Algorithm:
    """The row of `name`; ValueError naming the known algorithms otherwise."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; choose from {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]
