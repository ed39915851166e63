"""The multilayer perceptron every trainer shares: sizes, activations, loss, initial weights.

Each layer is a (n_in + 1) x n_out weight matrix: rows are inputs (the last row multiplies a
constant input 1, the bias), columns are outputs, the orientation of hil.CrossbarBackend.
Hidden layers use tanh, the output layer softmax with the cross-entropy loss; all of this is
digital (peripheral) arithmetic, only the weight matrices live on arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hil.backend import FloatArray, IntArray

ACTIVATIONS = ("tanh",)


@dataclass(frozen=True)
class MLPSpec:
    """Layer sizes (n_features, hidden..., n_classes) and the hidden activation."""

    sizes: tuple[int, ...]
    activation: str = "tanh"

    def __post_init__(self) -> None:
        if len(self.sizes) < 2 or any(int(n) != n or n < 1 for n in self.sizes):
            raise ValueError(
                f"MLP sizes must be at least two positive integers (inputs, ..., classes), got {self.sizes!r}"
            )
        if self.sizes[-1] < 2:
            raise ValueError(f"the softmax output needs at least 2 classes, got {self.sizes[-1]}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; choose one of: {', '.join(ACTIVATIONS)}"
            )

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def layer_shapes(self) -> list[tuple[int, int]]:
        """(rows, cols) of each layer's array: inputs plus the bias row, outputs."""
        return [(n_in + 1, n_out) for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True)]

    def describe(self) -> dict[str, object]:
        return {
            "sizes": list(self.sizes),
            "hidden_activation": self.activation,
            "output": "softmax + cross-entropy",
            "bias": "extra input row driven with a constant 1",
            "layer_shapes": [list(s) for s in self.layer_shapes],
        }


_BIAS = np.ones(1)


def with_bias(x: FloatArray) -> FloatArray:
    """Append the constant bias input 1: (..., n) -> (..., n + 1)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:  # one sample (the training loop's case): one call
        return np.concatenate((x, _BIAS))
    out = np.empty((*x.shape[:-1], x.shape[-1] + 1))
    out[..., :-1] = x
    out[..., -1] = 1.0
    return out


def activation(a: FloatArray, out: FloatArray | None = None) -> FloatArray:
    """The hidden activation tanh(a), into `out` if given."""
    return np.tanh(a, out=out)


def activation_derivative(h: FloatArray) -> FloatArray:
    """d tanh(a)/da written in terms of the output h = tanh(a)."""
    return 1.0 - h * h


def softmax(a: FloatArray) -> FloatArray:
    if a.ndim == 1:  # one sample: the same arithmetic without the keepdims reductions
        e = np.exp(a - a[a.argmax()])  # the max (a NaN if there is one) without max()'s wrapper
        e /= e.sum()
        return e
    z = a - np.max(a, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=-1, keepdims=True)


def hidden_input(a: FloatArray) -> FloatArray:
    """One sample's hidden activations with the bias input appended: with_bias(activation(a))."""
    out = np.empty(a.shape[0] + 1)
    activation(a, out=out[:-1])
    out[-1] = 1.0
    return out


def output_error(a: FloatArray, label: int) -> tuple[FloatArray, float]:
    """One sample's output error and loss: (softmax(a) - onehot(label), cross-entropy in nats).

    The error is d(cross-entropy)/d(a), what the output layer backpropagates and learns from.
    """
    delta = softmax(a)
    loss = float(-np.log(max(delta[label], 1e-12)))  # cross_entropy of one sample
    delta[label] -= 1.0
    return delta, loss


def hidden_error(z: FloatArray, xin: FloatArray) -> FloatArray:
    """The error of a hidden layer from z = W @ delta of the layer above and that layer's input
    xin (this layer's activations and the bias entry, which has no layer below it)."""
    d = activation_derivative(xin[:-1])
    d *= z[:-1]
    return d


def cross_entropy(probabilities: FloatArray, labels: IntArray) -> FloatArray:
    """Per-sample cross-entropy in nats; probabilities (batch, classes), labels (batch,)."""
    p = probabilities[np.arange(len(labels)), labels]
    return -np.log(np.maximum(p, 1e-12))


def init_rng(seed: int) -> np.random.Generator:
    """The generator of the initial weights: its own stream, apart from the sample order's."""
    return np.random.default_rng([seed, 0])


def init_weights(spec: MLPSpec, rng: np.random.Generator, scale: float = 1.0) -> list[FloatArray]:
    """Glorot-uniform weights times `scale`, bias rows zero (weight units, dimensionless).

    The same draw for the same seed whatever the trainer, so FP, SGD and SHD start alike.
    """
    if not (np.isfinite(scale) and scale >= 0):
        raise ValueError(f"init scale must be a finite number >= 0, got {scale!r}")
    weights = []
    for rows, cols in spec.layer_shapes:
        limit = scale * np.sqrt(6.0 / (rows - 1 + cols))
        w = rng.uniform(-limit, limit, size=(rows, cols))
        w[-1, :] = 0.0
        weights.append(w)
    return weights
