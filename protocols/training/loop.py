"""The sample-by-sample training loop every algorithm shares.

The loop does the digital part (bias input, activations, softmax, cross-entropy, error
backpropagation between layers); the layers do the matrix part. A layer's forward and
backward are I and II of the SHD paper; its learn() is whatever the algorithm does with
(x, delta) on its arrays (SGD: update W; SHD: update A, and every tau samples transfer A to C).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from hil.backend import FloatArray
from hil.progress import ProgressCallback
from protocols.training.datasets import Dataset
from protocols.training.network import (
    MLPSpec,
    activation,
    activation_derivative,
    cross_entropy,
    softmax,
    with_bias,
)
from protocols.training.result import EpochRecord, TrainingResult

# Samples between progress calls: a terminal refresh per sample would cost more than the sample.
PROGRESS_EVERY = 64

EpochCallback = Callable[[EpochRecord], None]
"""on_epoch(record): called after every evaluated epoch, epoch 0 included."""


class Layer(Protocol):
    """One weight matrix of shape (n_in + 1, n_out), rows inputs (last row: bias), columns outputs."""

    @property
    def shape(self) -> tuple[int, int]: ...

    def forward(self, x: FloatArray) -> FloatArray:
        """x (rows,) or (batch, rows) -> x @ W."""

    def backward(self, delta: FloatArray) -> FloatArray:
        """delta (cols,) -> W @ delta (rows,)."""

    def learn(self, x: FloatArray, delta: FloatArray) -> None:
        """Move the weights against the gradient outer(x, delta) of one sample."""


def predict(layers: Sequence[Layer], x: FloatArray) -> FloatArray:
    """Class probabilities (batch, classes) for inputs x (batch, features)."""
    h = np.asarray(x, dtype=np.float64)
    for i, layer in enumerate(layers):
        a = layer.forward(with_bias(h))
        h = softmax(a) if i == len(layers) - 1 else activation(a)
    return h


def evaluate(layers: Sequence[Layer], x: FloatArray, y: FloatArray) -> tuple[float, float]:
    """(mean cross-entropy in nats, accuracy fraction) on a labelled set, batched."""
    p = predict(layers, x)
    return float(np.mean(cross_entropy(p, y))), float(np.mean(np.argmax(p, axis=1) == y))


def train_sample(layers: Sequence[Layer], x: FloatArray, label: int) -> float:
    """Forward, backward and learn on one sample; returns its loss (nats) before learning."""
    inputs, outputs = [], []
    h = x
    for i, layer in enumerate(layers):
        xin = with_bias(h)
        a = layer.forward(xin)
        h = softmax(a) if i == len(layers) - 1 else activation(a)
        inputs.append(xin)
        outputs.append(h)
    loss = float(-np.log(max(h[label], 1e-12)))
    delta = h.copy()
    delta[label] -= 1.0  # d(cross-entropy)/d(pre-softmax) for a one-hot target
    for i in range(len(layers) - 1, -1, -1):
        # II before III: the error goes down through the weights used in the forward pass.
        below = None
        if i > 0:
            z = layers[i].backward(delta)[:-1]  # the bias row has no layer below it
            below = z * activation_derivative(outputs[i - 1])
        layers[i].learn(inputs[i], delta)
        if below is not None:
            delta = below
    return loss


def run_training(
    layers: Sequence[Layer],
    spec: MLPSpec,
    data: Dataset,
    epochs: int,
    seed: int,
    result: TrainingResult,
    progress: ProgressCallback | None = None,
    on_epoch: EpochCallback | None = None,
) -> TrainingResult:
    """Train `epochs` passes in a fixed-seed shuffled order, evaluating after each pass.

    Appends to result.epochs (epoch 0 is the untrained network) and returns result.
    """
    if int(epochs) != epochs or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if data.n_features != spec.sizes[0] or data.n_classes != spec.sizes[-1]:
        raise ValueError(
            f"network sizes {spec.sizes} do not fit the data set ({data.n_features} features, "
            f"{data.n_classes} classes)"
        )
    rng = np.random.default_rng([seed, 1])  # the sample order; [seed, 0] draws the weights
    n = len(data.y_train)
    total = int(epochs) * n

    def record(epoch: int, running: float | None, started: float) -> None:
        train_loss, train_acc = evaluate(layers, data.x_train, data.y_train)
        test_loss, test_acc = evaluate(layers, data.x_test, data.y_test)
        rec = EpochRecord(
            epoch, train_loss, train_acc, test_loss, test_acc, running, time.perf_counter() - started
        )
        result.epochs.append(rec)
        if on_epoch is not None:
            on_epoch(rec)

    record(0, None, time.perf_counter())
    started_all = time.perf_counter()
    for epoch in range(1, int(epochs) + 1):
        started = time.perf_counter()
        losses = np.empty(n)
        for k, idx in enumerate(rng.permutation(n)):
            losses[k] = train_sample(layers, data.x_train[idx], int(data.y_train[idx]))
            if progress is not None and ((k + 1) % PROGRESS_EVERY == 0 or k + 1 == n):
                progress((epoch - 1) * n + k + 1, total)
        record(epoch, float(np.mean(losses)), started)
    result.seconds_training = time.perf_counter() - started_all
    return result
