"""The floating-point trainer's sample step as one compiled call (numba).

float_sample does for a network of in-memory float64 weight matrices what
protocols.training.loop's generic step does through the Layer calls, with the formulas of
protocols.training.network (tanh hidden layers, softmax output, cross-entropy of a one-hot
target, its error tanh'(a) = 1 - h^2 backpropagated) and FloatLayer's update
W -= lr * outer(x, delta): the same arithmetic in one pass without a Python call per layer or
per operation. Products are summed in a plain loop over the inputs rather than by BLAS, and
tanh, exp and log are the C library's rather than numpy's vectorised ones, so the weights match
the numpy step's to rounding (a few units in the last place per sample), not bit for bit.

Compiled code is cached (cache=True): the first use on a machine compiles for a few seconds,
later processes load it in a fraction of one. One compilation per network depth, since the
weights travel as a tuple.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from hil.backend import FloatArray

_jit = numba.njit(cache=True, nogil=True, error_model="numpy")
_inline = numba.njit(inline="always", error_model="numpy")


@_inline
def _forward(w: FloatArray, x: FloatArray, out: FloatArray) -> None:
    """out[:cols] = x[:rows] @ w, summed over the rows in order (the inner loop vectorises)."""
    rows, cols = w.shape
    for j in range(cols):
        out[j] = 0.0
    for i in range(rows):
        xi = x[i]
        for j in range(cols):
            out[j] += xi * w[i, j]


@_inline
def _softmax_error(a: FloatArray, cols: int, label: int) -> float:
    """a[:cols] := softmax(a) - onehot(label) in place; returns the cross-entropy (nats)."""
    top = a[0]
    for j in range(1, cols):  # the first maximum, or the first NaN, as numpy's argmax
        if math.isnan(top):
            break
        if a[j] > top or math.isnan(a[j]):
            top = a[j]
    total = 0.0
    for j in range(cols):
        e = math.exp(a[j] - top)
        a[j] = e
        total += e
    for j in range(cols):
        a[j] /= total
    loss = -math.log(max(a[label], 1e-12))
    a[label] -= 1.0
    return loss


@_inline
def _backprop(w: FloatArray, delta: FloatArray, h: FloatArray, below: FloatArray) -> None:
    """below[i] = (w[i] . delta) * (1 - h[i]^2) for the rows that have a layer below (not the bias)."""
    rows, cols = w.shape
    for i in range(rows - 1):
        s = 0.0
        for j in range(cols):
            s += w[i, j] * delta[j]
        below[i] = s * (1.0 - h[i] * h[i])


@_inline
def _learn(w: FloatArray, x: FloatArray, delta: FloatArray, lr: float) -> None:
    """w -= lr * outer(x, delta)."""
    rows, cols = w.shape
    for i in range(rows):
        g = lr * x[i]
        for j in range(cols):
            w[i, j] -= g * delta[j]


@_jit
def float_sample(
    weights: tuple[FloatArray, ...],
    lrs: FloatArray,
    x: FloatArray,
    label: int,
    scratch: FloatArray,
) -> float:
    """Train one sample; returns its cross-entropy (nats) before learning.

    weights: the layers' (rows, cols) float64 matrices, updated in place; lrs: their learning
    rates; x: the input with the bias entry (rows of the first layer); scratch: (layers + 3,
    widest row + 1) float64 work space, rows 0..layers the layer inputs (last: the output
    error), the last two the errors passed down.
    """
    n_layers = len(weights)
    n_in = x.shape[0]
    for i in range(n_in):
        scratch[0, i] = x[i]
    for k in range(n_layers):
        w = weights[k]
        cols = w.shape[1]
        out = scratch[k + 1]
        _forward(w, scratch[k], out)
        if k < n_layers - 1:
            for j in range(cols):
                out[j] = math.tanh(out[j])
            out[cols] = 1.0  # the bias input of the next layer
    loss = _softmax_error(scratch[n_layers], weights[n_layers - 1].shape[1], label)
    delta = scratch[n_layers]
    for k in range(n_layers - 1, -1, -1):
        # The error goes down through the weights of the forward pass before they learn.
        below = scratch[n_layers + 1 + (k % 2)]
        if k > 0:
            _backprop(weights[k], delta, scratch[k], below)
        _learn(weights[k], scratch[k], delta, lrs[k])
        delta = below
    return loss


def scratch_for(weights: tuple[FloatArray, ...]) -> FloatArray:
    """The work space float_sample needs for these weights."""
    widest = max(max(w.shape) for w in weights)
    return np.zeros((len(weights) + 3, widest + 1))
