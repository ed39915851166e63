"""Step models of analog devices as types, and the registry that names them for TOML and JSON.

A model (hil.stepmodels.base.StepModel) holds its parameters and answers the step rates at a
state, its symmetry state, what the simulator's fast engine needs and what a fit needs. The
simulator (simulators/) and the fitter (protocols/fitting.py) call those methods; this
registry is the one place a model's name is looked up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from hil.stepmodels.base import FitStart, StepModel
from hil.stepmodels.classic import LinearStep, PowerStep, SoftBounds, TableSteps
from hil.stepmodels.exp import ExpStep

__all__ = [
    "MODELS",
    "ExpStep",
    "FitStart",
    "LinearStep",
    "PowerStep",
    "SoftBounds",
    "StepModel",
    "TableSteps",
    "model_class",
    "parameter_names",
    "with_parameters",
]

MODELS: Mapping[str, type[StepModel]] = MappingProxyType(
    {cls.name: cls for cls in (SoftBounds, LinearStep, PowerStep, TableSteps, ExpStep)}
)
"""Model name -> class."""


def model_class(name: str) -> type[StepModel]:
    """The class registered under `name`; unknown names raise, listing the models."""
    cls = MODELS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"model must be one of {', '.join(MODELS)}; got {name!r}")
    return cls


def parameter_names() -> tuple[str, ...]:
    """Every parameter name some registered model has, in registry order (no repeats)."""
    return tuple(dict.fromkeys(n for cls in MODELS.values() for n in cls.parameter_names()))


def with_parameters(model: StepModel, changes: Mapping[str, Any]) -> StepModel:
    """`model` with parameters (and, under the key "model", the model's name) changed.

    Switching models keeps the parameters of the old model that the new one has by name (step
    sizes; γ± between linear and power step) and takes the new model's defaults for the rest
    (the values an old model holds fixed, e.g. soft bounds' γ± = 1, are not carried).
    """
    changes = dict(changes)
    cls = model_class(changes.pop("model", model.name))
    own = {f.name: getattr(model, f.name) for f in dataclasses.fields(model)}
    kept = {k: v for k, v in own.items() if k in cls.parameter_names() and k not in cls.fixed}
    return cls.from_parameters({**kept, **changes})
