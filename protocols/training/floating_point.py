"""Floating-point baseline: the same MLP, initial weights and sample order, trained in numpy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from types import ModuleType
from typing import Any, Unpack

import numpy as np

from hil.backend import FloatArray
from protocols.training.checkpoints import resume_into
from protocols.training.datasets import Dataset
from protocols.training.loop import Layer, SampleStep, TrainerOptions, layer_step, run_training
from protocols.training.network import MLPSpec, init_rng, init_weights
from protocols.training.result import TrainingResult

SCOPE = "fp"
"""TrainingResult.algorithm and the checkpoint scope of a floating-point run."""


@dataclass(frozen=True)
class FloatConfig:
    """Plain per-sample SGD in float64.

    lr: learning rate (weight change per unit of x * delta, dimensionless); init_scale:
    multiplier of the Glorot-uniform initial weights; seed: initial weights and sample order.
    """

    epochs: int = 20
    lr: float = 0.05
    init_scale: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"FloatConfig.lr must be a finite number > 0, got {self.lr!r}")


class FloatLayer:
    """A weight matrix in memory, updated exactly: W -= lr * outer(x, delta)."""

    def __init__(self, weights: FloatArray, lr: float):
        self.w = np.array(weights, dtype=np.float64)
        self.lr = lr

    @property
    def shape(self) -> tuple[int, int]:
        return self.w.shape  # type: ignore[return-value]

    def forward(self, x: FloatArray) -> FloatArray:
        return x @ self.w

    def backward(self, delta: FloatArray) -> FloatArray:
        return self.w @ delta

    def learn(self, x: FloatArray, delta: FloatArray) -> None:
        self.w -= self.lr * np.outer(x, delta)

    def state(self) -> dict[str, Any]:
        """The weights themselves: they live in memory (JSON keeps float64 exactly)."""
        return {"w": self.w.tolist()}

    def restore(self, state: dict[str, Any]) -> None:
        w = np.asarray(state["w"], dtype=np.float64)
        if w.shape != self.w.shape:
            raise ValueError(f"FP state: weights of shape {w.shape} for a layer of shape {self.w.shape}")
        self.w = w


@cache
def _kernel() -> ModuleType | None:
    """protocols.training.float_kernel, imported on first use (numba takes a while to import),
    or None without numba: then numpy does the same arithmetic."""
    try:
        from protocols.training import float_kernel
    except ImportError:
        return None
    return float_kernel


def compiled_step(layers: Sequence[Layer]) -> SampleStep:
    """The sample step of FloatLayers as one compiled call (protocols.training.float_kernel);
    the Layer calls (loop.layer_step) for any other layer, or without numba."""
    if not all(isinstance(layer, FloatLayer) for layer in layers):
        return layer_step(layers)
    kernel = _kernel()
    if kernel is None:
        return layer_step(layers)
    for layer in layers:  # the kernel takes C-ordered float64 matrices and updates them in place
        layer.w = np.ascontiguousarray(layer.w, dtype=np.float64)
    weights = tuple(layer.w for layer in layers)
    lrs = np.array([layer.lr for layer in layers], dtype=np.float64)
    scratch, float_sample = kernel.scratch_for(weights), kernel.float_sample

    def step(xin: FloatArray, label: int) -> float:
        return float_sample(weights, lrs, xin, label, scratch)

    return step


def train_float(
    spec: MLPSpec,
    data: Dataset,
    config: FloatConfig | None = None,
    label: str = "FP (float64)",
    **options: Unpack[TrainerOptions],
) -> TrainingResult:
    """Train the MLP in floating point; the reference every analog run is compared with.

    options: protocols.training.loop.TrainerOptions (checkpoint scope SCOPE); a resumed run
    continues with the weights it had reached (same config and data).
    """
    cfg = config or FloatConfig()
    layers = [FloatLayer(w, cfg.lr) for w in init_weights(spec, init_rng(cfg.seed), cfg.init_scale)]
    result = TrainingResult(
        algorithm=SCOPE, label=label, dataset=data.describe(), network=spec.describe(), parameters=asdict(cfg)
    )
    state = resume_into(options.pop("resume_from", None), result, data)
    return run_training(
        layers,
        spec,
        data,
        result,
        epochs=cfg.epochs,
        seed=cfg.seed,
        state=state,
        step=compiled_step,
        **options,
    )
