"""The same protocols on a bench and on its model, quantity by quantity: how far the model sits
from the chip.

A model is trusted to predict a chip only as far as it reproduces what the chip does under the
same protocol. `compare` runs a jump table (JumpTable cycles on the first `devices` devices) and
a symmetry-point search (every device) on both arrays with the same pulse and settings, and
reports per quantity the bench value, the model value, the residual model − bench and whether it
lies inside the combined uncertainty:

- mean up and mean down step at three conductances (25, 50, 75 % of the bench table's range),
  from each device's own table, averaged over the devices: their standard error is the scatter
  over the devices / sqrt(n), which holds both the measurement noise and the device-to-device
  variation of a population (two populations of devices differ by it, however good the model);
- the cycle-to-cycle spread of an up step at the middle conductance (deconvolved from the read
  noise, hil.jumptable), likewise per device;
- the read noise of one read (the pooled table's estimate and its standard error);
- the mean symmetry point and the mean step there over the responsive devices (scatter / sqrt(n));
- with a TrainingPlan, a short training of the same network with the same data, configuration
  and seed on both sides: the test accuracy and the train loss, each the mean of the last `tail`
  epochs. One training is one draw of what a training gives, so its uncertainty is the run's own
  jitter, the standard deviation over those epochs (not divided by their number: successive
  epochs are not independent), and for the accuracy also the binomial sampling error of the test
  set, sqrt(p (1 − p) / n_test), whichever is larger. A training sees the devices through
  everything at once (steps, noise, asymmetry, the mapping), so it is a coarse check: a model
  can miss a step size by a fifth and train the same (docs/protocols/compare.md).

The combined uncertainty is hypot(bench SE, model SE); a quantity is inside when |residual| is at
most `z_limit` (3) combined uncertainties: with ten quantities a correct model shows a flag by
chance about once in 40 comparisons. Quantities of a population (all but the read noise) compare
the mean of the model's population with the chip's: a model of one device (a jump table) is
compared with the chip's mean device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from hil.backend import CrossbarBackend
from hil.jumptable import JumpTable
from hil.pulses import Pulse, pulse_state
from hil.recording import Recorder
from hil.results import to_jsonable
from protocols.jumptable import JumpTableResult, measure_jump_table
from protocols.records.compare import CompareQuantity
from protocols.symmetry import SymmetryPointResult, find_symmetry_point
from protocols.training.preparation import ArraySource
from protocols.training.result import TrainingResult

STATES = (0.25, 0.5, 0.75)  # fractions of the bench table's conductance range
Z_LIMIT = 3.0
TAIL = 3  # last epochs of the short training whose mean accuracy and loss are compared
TRAINING_QUANTITIES = ("test accuracy", "train loss")  # what the short training is compared on


@dataclass(frozen=True)
class CompareSettings:
    """devices: devices of the bench's jump table (row-major, from (0, 0); None: all), and
    model_devices those of the model's (None: all of the model array, which may be larger than
    the bench's: a simulated model's own population scatter then shrinks); cycles, train: its cycles and
    pulses per train (up and down alike); pairs, window: the symmetry search's budget and window
    (it runs to the budget: a fixed tolerance-free length on both sides); z_limit: residuals up
    to this many combined uncertainties are inside."""

    devices: int | None = None
    model_devices: int | None = None
    cycles: int = 3
    train: int = 400
    pairs: int = 1500
    window: int = 300
    z_limit: float = Z_LIMIT


@dataclass(frozen=True)
class TrainingPlan:
    """The short training compare runs on both sides after the jump table and the symmetry point.

    train: trains on the arrays an ArraySource hands out and returns the TrainingResult; the
        same data, network, configuration and seed on both sides (e.g. analog SGD on Iris).
    bench_arrays, model_arrays: each side's ArraySource (a Bench's array method).
    tail: the last epochs whose mean test accuracy and train loss are compared (at least 2:
        their spread is the uncertainty).
    """

    train: Callable[[ArraySource], TrainingResult]
    bench_arrays: ArraySource
    model_arrays: ArraySource
    tail: int = TAIL


@dataclass(frozen=True)
class Side:
    """What the two protocols measured on one array, and each device's own table."""

    table: JumpTableResult
    symmetry: SymmetryPointResult
    device_tables: list[JumpTable]


@dataclass(frozen=True)
class Comparison:
    """The quantities (CompareQuantity records, in report order) and each side's measurements."""

    quantities: list[CompareQuantity]
    bench: Side
    model: Side
    pulse: Pulse
    settings: CompareSettings
    parameters: dict[str, Any] = field(default_factory=dict)
    training: dict[str, TrainingResult] | None = None  # "bench", "model"; None: not trained
    training_tail: int = 0  # the last epochs compared (TrainingPlan.tail); 0: not trained

    @property
    def training_quantities(self) -> list[CompareQuantity]:
        """The quantities of the short training (accuracy, loss); empty if it did not run."""
        return self.quantities[-len(TRAINING_QUANTITIES) :] if self.training is not None else []

    @property
    def flagged(self) -> list[str]:
        """Names of the quantities outside their combined uncertainty."""
        return [q.name for q in self.quantities if not q.inside]

    def summary(self) -> dict[str, Any]:
        return to_jsonable(
            {
                "protocol": "compare",
                "pulse": pulse_state(self.pulse),
                "settings": asdict(self.settings),
                "parameters": self.parameters,
                "quantities": [q.to_row().values for q in self.quantities],
                "flagged": self.flagged,
                "all_inside": not self.flagged,
                "training": None
                if self.training is None
                else {side: result.summary() for side, result in self.training.items()},
            }
        )


def compare(
    bench: CrossbarBackend,
    model: CrossbarBackend,
    pulse: Pulse,
    settings: CompareSettings = CompareSettings(),
    *,
    recorder: Recorder | None = None,
    training: TrainingPlan | None = None,
) -> Comparison:
    """Run the jump table and the symmetry search on bench and model, and the short training of
    `training` if given; compare (module docstring).

    bench, model: the arrays (the model's may be larger); pulse (volts, seconds) must be within
    both arrays' limits.
    recorder: receives one CompareQuantity point per quantity at the end (the protocols' own
    points are not stored: a comparison is repeated, not resumed).
    """
    if training is not None and training.tail < 2:
        raise ValueError(f"the training's tail must be at least 2 epochs (a spread), got {training.tail}")
    counts = {}
    for name, array, wanted in (("bench", bench, settings.devices), ("model", model, settings.model_devices)):
        size = array.shape[0] * array.shape[1]
        counts[name] = size if wanted is None else wanted
        if not 2 <= counts[name] <= size:
            raise ValueError(f"{name} devices must lie in 2..{size} (a scatter needs two), got {wanted}")
        array.limits.check_pulse(pulse)
    sides = {
        "bench": _measure(bench, pulse, settings, counts["bench"]),
        "model": _measure(model, pulse, settings, counts["model"]),
    }
    quantities = _quantities(sides["bench"], sides["model"], settings.z_limit)
    trained = None
    if training is not None:
        trained = {
            "bench": training.train(training.bench_arrays),
            "model": training.train(training.model_arrays),
        }
        quantities += _training_quantities(
            trained["bench"], trained["model"], training.tail, settings.z_limit
        )
    if recorder is not None:
        for q in quantities:
            q.write(recorder)
    return Comparison(
        quantities,
        sides["bench"],
        sides["model"],
        pulse,
        settings,
        training=trained,
        training_tail=0 if training is None else training.tail,
    )


def _measure(array: CrossbarBackend, pulse: Pulse, s: CompareSettings, n_devices: int) -> Side:
    cols = array.shape[1]
    devices = [(k // cols, k % cols) for k in range(n_devices)]
    table = measure_jump_table(array, pulse, devices, n_cycles=s.cycles, n_up=s.train, n_down=s.train)
    # A tolerance no drift can meet: both sides run the same number of pairs.
    symmetry = find_symmetry_point(array, pulse, max_pairs=s.pairs, window=s.window, tolerance=1e-30)
    return Side(table, symmetry, [table.device_table(k) for k in range(n_devices)])


def _quantities(bench: Side, model: Side, z_limit: float) -> list[CompareQuantity]:
    edges = bench.table.table.g_edges
    rows = []
    for fraction in STATES:
        g = float(edges[0] + fraction * (edges[-1] - edges[0]))
        for sign, word in ((1, "up"), (-1, "down")):
            values = [
                _per_device(side, lambda t, g=g, sign=sign: sign * t.mean_at(g, sign))
                for side in (bench, model)
            ]
            rows.append((f"mean {word} step at {fraction:.0%} of the range", "S", *values))
    g_mid = float(edges[0] + 0.5 * (edges[-1] - edges[0]))
    spread = [_per_device(side, lambda t: float(t.spread(1)[t.bin_of(g_mid)])) for side in (bench, model)]
    rows.append(("cycle-to-cycle spread of an up step at 50 % of the range", "S", *spread))
    rows.append(("read noise of one read", "S", *(_read_noise(side.table.table) for side in (bench, model))))
    for name, values in (("symmetry point", "g_sym"), ("mean step at the symmetry point", "step")):
        rows.append((name, "S", *(_population(side.symmetry, values) for side in (bench, model))))
    return [_quantity(name, unit, b, m, z_limit) for name, unit, b, m in rows]


def _training_quantities(
    bench: TrainingResult, model: TrainingResult, tail: int, z_limit: float
) -> list[CompareQuantity]:
    """Test accuracy (percent) and train loss, each the mean of the last `tail` epochs."""
    for result in (bench, model):
        if len(result.epochs) < tail:
            raise ValueError(
                f"the training has {len(result.epochs)} evaluated epochs, fewer than the tail {tail}"
            )
    accuracy = [_tail_accuracy(result, tail) for result in (bench, model)]
    loss = [_tail(np.array([e.train_loss for e in r.epochs[-tail:]])) for r in (bench, model)]
    rows = [
        (f"{TRAINING_QUANTITIES[0]}, mean of the last {tail} epochs", "%", *accuracy),
        (f"{TRAINING_QUANTITIES[1]}, mean of the last {tail} epochs", "", *loss),
    ]
    return [_quantity(name, unit, b, m, z_limit) for name, unit, b, m in rows]


def _tail_accuracy(result: TrainingResult, tail: int) -> tuple[float, float]:
    """Mean test accuracy of the last epochs in percent, and the larger of their spread and the
    test set's binomial sampling error."""
    mean, spread = _tail(np.array([e.test_accuracy for e in result.epochs[-tail:]]))
    n_test = int(result.dataset.get("n_test", 0))
    binomial = np.sqrt(mean * (1.0 - mean) / n_test) if n_test > 0 else float("inf")
    return 100.0 * mean, 100.0 * float(max(spread, binomial))


def _tail(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation (the run's own jitter) of the last epochs' values."""
    return float(values.mean()), float(values.std(ddof=1))


def _per_device(side: Side, value: Any) -> tuple[float, float]:
    """Mean over the devices of value(device table) and its standard error (scatter / sqrt(n))."""
    per = np.array([value(t) for t in side.device_tables])
    per = per[np.isfinite(per)]
    return _mean_se(per)


def _read_noise(table: JumpTable) -> tuple[float, float]:
    if table.read_noise is None:
        return float("nan"), float("nan")
    return float(table.read_noise), float(table.read_noise_se or 0.0)


def _population(result: SymmetryPointResult, name: str) -> tuple[float, float]:
    values = np.asarray(getattr(result, name))[result.responsive]
    return _mean_se(values[np.isfinite(values)])


def _mean_se(values: np.ndarray) -> tuple[float, float]:
    if values.size < 2:
        return (float(values[0]) if values.size else float("nan")), float("inf")
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))


def _quantity(
    name: str, unit: str, bench: tuple[float, float], model: tuple[float, float], z_limit: float
) -> CompareQuantity:
    residual = model[0] - bench[0]
    uncertainty = float(np.hypot(bench[1], model[1]))
    z = residual / uncertainty if uncertainty > 0 else (0.0 if residual == 0 else float("inf"))
    return CompareQuantity(
        name=name,
        unit=unit,
        bench=bench[0],
        bench_se=bench[1],
        model=model[0],
        model_se=model[1],
        residual=residual,
        uncertainty=uncertainty,
        z=float(z),
        inside=bool(abs(z) <= z_limit),
    )
