"""The sample-by-sample training loop every algorithm shares.

The loop does the digital part (bias input, activations, softmax, cross-entropy, error
backpropagation between layers); the layers do the matrix part. A layer's forward and
backward are I and II of the SHD paper; its learn() is whatever the algorithm does with
(x, delta) on its arrays (SGD: update W; SHD: update A, and every tau samples transfer A to C).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import cache, partial
from typing import Any, Protocol, TypedDict, Unpack

import numpy as np
from threadpoolctl import ThreadpoolController

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
    cross_entropy,
    hidden_error,
    hidden_input,
    output_error,
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
        """x (rows,) or (batch, rows) -> x @ W.

        Here and in learn, x is the caller's array (the loop passes rows of its training set):
        read it, never write to it."""

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
    """(mean cross-entropy in nats, accuracy fraction) on a labelled set, batched.

    BLAS runs in one thread here: the products are small (a few million multiply-adds), a
    multithreaded BLAS spends more on waking and parking its threads than it saves once the
    cores are busy, and the results do not depend on the thread count."""
    with _blas_threads().limit(limits=1, user_api="blas"):
        p = predict(layers, x)
    return float(np.mean(cross_entropy(p, y))), float(np.mean(np.argmax(p, axis=1) == y))


class SampleStep(Protocol):
    """Forward, backward and learn on one sample of a network's layers."""

    def __call__(self, xin: FloatArray, label: int) -> float:
        """xin: the input with the bias entry (with_bias); returns the loss (nats) before learning."""


StepFactory = Callable[[Sequence[Layer]], SampleStep]
"""Builds the SampleStep of a network's layers (called once the layers hold their state)."""


def layer_step(layers: Sequence[Layer]) -> SampleStep:
    """The step through the Layer calls (forward, backward, learn): any layers."""
    return partial(_train_with_bias, layers)


def _train_with_bias(layers: Sequence[Layer], xin: FloatArray, label: int) -> float:
    inputs = [xin]
    for layer in layers[:-1]:
        xin = hidden_input(layer.forward(xin))
        inputs.append(xin)
    delta, loss = output_error(layers[-1].forward(xin), label)
    for i in range(len(layers) - 1, 0, -1):
        # II before III: the error goes down through the weights used in the forward pass.
        below = hidden_error(layers[i].backward(delta), inputs[i])
        layers[i].learn(inputs[i], delta)
        delta = below
    layers[0].learn(inputs[0], delta)
    return loss


def train_sample(layers: Sequence[Layer], x: FloatArray, label: int) -> float:
    """Forward, backward and learn on one sample x (features, no bias entry); returns its loss
    (nats) before learning."""
    return _train_with_bias(layers, with_bias(x), label)


@cache
def _blas_threads() -> ThreadpoolController:
    """The BLAS libraries loaded, looked up once (a lookup costs more than a limit)."""
    return ThreadpoolController()


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
    step: StepFactory = layer_step,
    **options: Unpack[LoopOptions],
) -> TrainingResult:
    """Train `epochs` passes in a fixed-seed shuffled order, evaluating after each pass.

    Appends to result.epochs (epoch 0 is the untrained network) and returns result.
    state: this training's checkpoint state (checkpoints.resume_into, which has restored the
        result) or None. At stage "training" the layers' digital state and the loop continue
        from it: samples already trained are not trained again.
    step: builds the per-sample step of the layers; layer_step (any layers) unless a trainer
        has a faster one for its own layer type.
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
    return _TrainingLoop(layers, step(layers), data, result, seed, options, loop).run(int(epochs))


class _TrainingLoop:
    """run_training's state between samples: epochs done, the position in the current epoch,
    its losses, and the sample-order generator (its state at the start of the current epoch is
    what a checkpoint stores, so that a resume draws the same permutation)."""

    def __init__(
        self,
        layers: Sequence[Layer],
        step: SampleStep,
        data: Dataset,
        result: TrainingResult,
        seed: int,
        options: LoopOptions,
        resume: dict[str, Any] | None,
    ):
        self.layers, self.step, self.data, self.result, self.options = layers, step, data, result, options
        # The training inputs with their bias entry, and the labels as ints, once for the run.
        self.inputs, self.labels = with_bias(data.x_train), [int(v) for v in data.y_train]
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
        # The digital state moved since the newest checkpoint (a resumed run starts at one).
        self.unsaved = False

    def run(self, epochs: int) -> TrainingResult:
        try:
            if self.fresh:
                self.close_epoch_evaluated(0, None)
            while self.done < epochs:
                self.train_epoch(epochs)
                self.close_epoch_evaluated(self.done + 1, float(np.mean(self.losses)))
        except BaseException as exc:
            try:
                if self.unsaved:
                    self.save()
            except Exception as failure:  # the original error matters more; say the state is older
                exc.add_note(f"the training state could not be checkpointed on the way out: {failure!r}")
            raise
        self.result.seconds_training = self.trained_before + time.perf_counter() - self.started_all
        return self.result

    def train_epoch(self, epochs: int) -> None:
        """The samples of epoch done + 1 from the current position on."""
        every, progress = self.options.get("checkpoint_every"), self.options.get("progress")
        step, inputs, labels, losses, n = self.step, self.inputs, self.labels, self.losses, self.n
        order = self.rng.permutation(n).tolist()
        for k in range(self.position, n):
            idx = order[k]
            with critical():  # a first Ctrl-C lets the sample finish
                losses.append(step(inputs[idx], labels[idx]))
                self.position = position = k + 1
                self.unsaved = True
            if every is not None and position % every == 0 and position < n:
                self.save()
            if progress is not None and (position % PROGRESS_EVERY == 0 or position == n):
                progress(self.done * n + position, epochs * n)

    def close_epoch_evaluated(self, epoch: int, running: float | None) -> None:
        """Checkpoint what the epoch's samples did, then evaluate and record the epoch.

        The evaluation only reads: a stop inside it keeps the checkpoint taken just before it,
        whose chip state has not been read yet (on a simulated chip, its read-noise draws not
        taken), so that the resumed run evaluates the epoch again as an unbroken run does, draw
        for draw. Checkpointing after half the evaluation's reads would make the resumed
        evaluation differ; holding the stop until the evaluation ends would leave Ctrl-C
        unanswered for as long as a bench's evaluation takes."""
        if self.unsaved:
            self.save()
        self.close_epoch(self.evaluated(epoch, running))

    def evaluated(self, epoch: int, running: float | None) -> EpochRecord:
        train_loss, train_acc = evaluate(self.layers, self.data.x_train, self.data.y_train)
        test_loss, test_acc = evaluate(self.layers, self.data.x_test, self.data.y_test)
        seconds = time.perf_counter() - self.started
        return EpochRecord(epoch, train_loss, train_acc, test_loss, test_acc, running, seconds)

    def close_epoch(self, record: EpochRecord) -> None:
        self.unsaved = True
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
        self.unsaved = False
