"""The sample-by-sample training loop every algorithm shares.

The loop does the digital part (bias input, activations, softmax, cross-entropy, error
backpropagation between layers); the layers do the matrix part. A layer's forward and
backward are I and II of the SHD paper; its learn() is whatever the algorithm does with
(x, delta) on its arrays (SGD: update W; SHD: update A, and every tau samples transfer A to C).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, Protocol

import numpy as np

from hil.backend import FloatArray
from hil.interrupts import critical
from hil.progress import ProgressCallback
from hil.recording import Recorder
from protocols.training.checkpoints import training_state
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

    def state(self) -> dict[str, Any]:
        """The layer's digital state, JSON-ready (what lives on arrays is not part of it)."""

    def restore(self, state: dict[str, Any]) -> None:
        """Set the digital state from state() of the same layer in a stopped run."""


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
    *,
    recorder: Recorder | None = None,
    resume: dict[str, Any] | None = None,
    checkpoint_every: int | None = None,
) -> TrainingResult:
    """Train `epochs` passes in a fixed-seed shuffled order, evaluating after each pass.

    Appends to result.epochs (epoch 0 is the untrained network) and returns result.
    recorder: records an "epoch" point (algorithm and the EpochRecord fields) per evaluated
        epoch and checkpoints the digital state (protocols.training.checkpoints, scope
        result.algorithm) after every epoch, every `checkpoint_every` samples if given, and
        when the loop is left by an exception (at the last completed sample).
    resume: the "loop" part of a training checkpoint; result and the layers' digital state must
        already be restored from the same checkpoint. Samples already trained are not trained
        again. Each sample runs inside hil.interrupts.critical: a first Ctrl-C ends it before
        stopping, so a stop never leaves a sample half-applied.
    """
    if int(epochs) != epochs or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if data.n_features != spec.sizes[0] or data.n_classes != spec.sizes[-1]:
        raise ValueError(
            f"network sizes {spec.sizes} do not fit the data set ({data.n_features} features, "
            f"{data.n_classes} classes)"
        )
    if checkpoint_every is not None and (int(checkpoint_every) != checkpoint_every or checkpoint_every < 1):
        raise ValueError(f"checkpoint_every must be a whole number of samples >= 1, got {checkpoint_every!r}")
    rng = np.random.default_rng([seed, 1])  # the sample order; [seed, 0] draws the weights
    n = len(data.y_train)
    total = int(epochs) * n
    done, position, losses, epoch_seconds = 0, 0, [], 0.0
    if resume is not None:
        done, position = int(resume["epochs_done"]), int(resume["position"])
        losses, epoch_seconds = [float(v) for v in resume["losses"]], float(resume["epoch_seconds"])
        rng.bit_generator.state = resume["order_rng"]
    order_rng = rng.bit_generator.state  # at the start of epoch done + 1, before its permutation
    trained_before = result.seconds_training
    started_all = time.perf_counter()
    started = started_all - epoch_seconds  # start of the epoch in progress

    def save() -> None:
        if recorder is None:
            return
        result.seconds_training = trained_before + time.perf_counter() - started_all
        loop = {
            "epochs_done": done,
            "position": position,
            "order_rng": order_rng,
            "losses": losses[:position],
            "epoch_seconds": time.perf_counter() - started,
        }
        recorder.checkpoint(
            training_state(result, data, [layer.state() for layer in layers], loop), scope=result.algorithm
        )

    def evaluated(epoch: int, running: float | None) -> EpochRecord:
        train_loss, train_acc = evaluate(layers, data.x_train, data.y_train)
        test_loss, test_acc = evaluate(layers, data.x_test, data.y_test)
        return EpochRecord(
            epoch, train_loss, train_acc, test_loss, test_acc, running, time.perf_counter() - started
        )

    def close_epoch(record: EpochRecord) -> None:
        nonlocal done, position, losses, started, order_rng
        result.epochs.append(record)
        done, position, losses = record.epoch, 0, []
        order_rng = rng.bit_generator.state  # the next epoch's permutation is drawn from here
        started = time.perf_counter()
        if recorder is not None:
            recorder.record("epoch", record.epoch, algorithm=result.algorithm, **asdict(record))
        save()
        if on_epoch is not None:
            on_epoch(record)

    try:
        if resume is None:
            close_epoch(evaluated(0, None))
        while done < int(epochs):
            order = rng.permutation(n)
            for k in range(position, n):
                idx = order[k]
                with critical():  # a first Ctrl-C lets the sample finish
                    losses.append(train_sample(layers, data.x_train[idx], int(data.y_train[idx])))
                    position = k + 1
                if checkpoint_every is not None and position % checkpoint_every == 0 and position < n:
                    save()
                if progress is not None and (position % PROGRESS_EVERY == 0 or position == n):
                    progress(done * n + position, total)
            close_epoch(evaluated(done + 1, float(np.mean(losses))))
    except BaseException as exc:
        try:
            save()
        except Exception as failure:  # the original error matters more; say the state is older
            exc.add_note(f"the training state could not be checkpointed on the way out: {failure!r}")
        raise
    result.seconds_training = trained_before + time.perf_counter() - started_all
    return result
