"""The sample-by-sample training loop every algorithm shares.

The loop does the digital part (bias input, activations, softmax, cross-entropy, error
backpropagation between layers); the layers do the matrix part. A layer's forward and
backward are I and II of the SHD paper; its learn() is whatever the algorithm does with
(x, delta) on its arrays (SGD: update W; SHD: update A, and every tau samples transfer A to C).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypedDict, Unpack

import numpy as np

from hil.backend import FloatArray
from hil.interrupts import critical
from hil.progress import ProgressCallback
from hil.recording import Checkpoint, Recorder
from protocols.records.training import Epoch
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


class LoopOptions(TypedDict, total=False):
    """What a caller attaches to a training loop; every trainer takes these keywords too.

    progress: progress(done, total) in samples over all epochs.
    on_epoch: on_epoch(record) after every evaluated epoch, epoch 0 included.
    recorder: records an "epoch" point (algorithm and the EpochRecord fields) per evaluated
        epoch and checkpoints the digital state (protocols.training.checkpoints, scope
        result.algorithm) after every epoch, every `checkpoint_every` samples if given, and
        when the loop is left by an exception (at the last completed sample).
    checkpoint_every: samples between checkpoints inside an epoch (None: at epoch ends only).
    """

    progress: ProgressCallback | None
    on_epoch: EpochCallback | None
    recorder: Recorder | None
    checkpoint_every: int | None


class TrainerOptions(LoopOptions, total=False):
    """The keywords of train_float, train_sgd and train_shd: LoopOptions, and

    resume_from: a stopped run's Checkpoint (hil.store.RunStore.load_checkpoint). The call must
        repeat the run's settings; training continues from the trainer's state in it (an analog
        trainer first rebuilds the layers it prepared, without a write, and prepares the others).
    """

    resume_from: Checkpoint | None


def run_training(
    layers: Sequence[Layer],
    spec: MLPSpec,
    data: Dataset,
    result: TrainingResult,
    *,
    epochs: int,
    seed: int,
    state: dict[str, Any] | None = None,
    **options: Unpack[LoopOptions],
) -> TrainingResult:
    """Train `epochs` passes in a fixed-seed shuffled order, evaluating after each pass.

    Appends to result.epochs (epoch 0 is the untrained network) and returns result.
    state: this training's checkpoint state (checkpoints.resume_into, which has restored the
        result) or None. At stage "training" the layers' digital state and the loop continue
        from it: samples already trained are not trained again.
    Each sample runs inside hil.interrupts.critical: a first Ctrl-C ends it before stopping,
    so a stop never leaves a sample half-applied. See LoopOptions for the other keywords.
    """
    if int(epochs) != epochs or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if data.n_features != spec.sizes[0] or data.n_classes != spec.sizes[-1]:
        raise ValueError(
            f"network sizes {spec.sizes} do not fit the data set ({data.n_features} features, "
            f"{data.n_classes} classes)"
        )
    every = options.get("checkpoint_every")
    if every is not None and (int(every) != every or every < 1):
        raise ValueError(f"checkpoint_every must be a whole number of samples >= 1, got {every!r}")
    loop = None
    if state is not None and state["stage"] == "training":
        for layer, layer_state in zip(layers, state["layers"], strict=True):
            layer.restore(layer_state)
        loop = state["loop"]
    return _TrainingLoop(layers, data, result, seed, options, loop).run(int(epochs))


class _TrainingLoop:
    """run_training's state between samples: epochs done, the position in the current epoch,
    its losses, and the sample-order generator (its state at the start of the current epoch is
    what a checkpoint stores, so that a resume draws the same permutation)."""

    def __init__(
        self,
        layers: Sequence[Layer],
        data: Dataset,
        result: TrainingResult,
        seed: int,
        options: LoopOptions,
        resume: dict[str, Any] | None,
    ):
        self.layers, self.data, self.result, self.options = layers, data, result, options
        self.rng = np.random.default_rng([seed, 1])  # the sample order; [seed, 0] draws the weights
        self.n = len(data.y_train)
        self.done, self.position, self.losses, epoch_seconds = 0, 0, [], 0.0
        if resume is not None:
            self.done, self.position = int(resume["epochs_done"]), int(resume["position"])
            self.losses = [float(v) for v in resume["losses"]]
            epoch_seconds = float(resume["epoch_seconds"])
            self.rng.bit_generator.state = resume["order_rng"]
        self.order_rng = self.rng.bit_generator.state  # at the start of epoch done + 1
        self.trained_before = result.seconds_training
        self.started_all = time.perf_counter()
        self.started = self.started_all - epoch_seconds  # start of the epoch in progress
        self.fresh = resume is None

    def run(self, epochs: int) -> TrainingResult:
        try:
            if self.fresh:
                self.close_epoch_evaluated(0, None)
            while self.done < epochs:
                self.train_epoch(epochs)
                self.close_epoch_evaluated(self.done + 1, float(np.mean(self.losses)))
        except BaseException as exc:
            try:
                self.save()
            except Exception as failure:  # the original error matters more; say the state is older
                exc.add_note(f"the training state could not be checkpointed on the way out: {failure!r}")
            raise
        self.result.seconds_training = self.trained_before + time.perf_counter() - self.started_all
        return self.result

    def train_epoch(self, epochs: int) -> None:
        """The samples of epoch done + 1 from the current position on."""
        every, progress = self.options.get("checkpoint_every"), self.options.get("progress")
        order = self.rng.permutation(self.n)
        for k in range(self.position, self.n):
            idx = order[k]
            with critical():  # a first Ctrl-C lets the sample finish
                loss = train_sample(self.layers, self.data.x_train[idx], int(self.data.y_train[idx]))
                self.losses.append(loss)
                self.position = k + 1
            if every is not None and self.position % every == 0 and self.position < self.n:
                self.save()
            if progress is not None and (self.position % PROGRESS_EVERY == 0 or self.position == self.n):
                progress(self.done * self.n + self.position, epochs * self.n)

    def close_epoch_evaluated(self, epoch: int, running: float | None) -> None:
        """Evaluate, record and checkpoint the epoch as one step that a first Ctrl-C/SIGTERM waits
        for: a stop inside the evaluation would otherwise checkpoint a chip whose reads (their
        noise draws on a simulated chip) were half taken, and the resumed evaluation would differ
        from an unbroken run's. The evaluation only reads, so the wait is bounded and harmless."""
        with critical():
            self.close_epoch(self.evaluated(epoch, running))

    def evaluated(self, epoch: int, running: float | None) -> EpochRecord:
        train_loss, train_acc = evaluate(self.layers, self.data.x_train, self.data.y_train)
        test_loss, test_acc = evaluate(self.layers, self.data.x_test, self.data.y_test)
        seconds = time.perf_counter() - self.started
        return EpochRecord(epoch, train_loss, train_acc, test_loss, test_acc, running, seconds)

    def close_epoch(self, record: EpochRecord) -> None:
        self.result.epochs.append(record)
        self.done, self.position, self.losses = record.epoch, 0, []
        self.order_rng = self.rng.bit_generator.state  # the next epoch's permutation is drawn from here
        self.started = time.perf_counter()
        recorder, on_epoch = self.options.get("recorder"), self.options.get("on_epoch")
        if recorder is not None:
            Epoch(self.result.algorithm, record).write(recorder)
        self.save()
        if on_epoch is not None:
            on_epoch(record)

    def save(self) -> None:
        """Checkpoint the digital state into the recorder, if there is one."""
        recorder = self.options.get("recorder")
        if recorder is None:
            return
        self.result.seconds_training = self.trained_before + time.perf_counter() - self.started_all
        loop = {
            "epochs_done": self.done,
            "position": self.position,
            "order_rng": self.order_rng,
            "losses": self.losses[: self.position],
            "epoch_seconds": time.perf_counter() - self.started,
        }
        layer_states = [layer.state() for layer in self.layers]
        recorder.checkpoint(
            training_state(self.result, self.data, layer_states, loop), scope=self.result.algorithm
        )
