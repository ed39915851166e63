"""What TTv2, chopped TTv2 and AGAD share: the digital transfer buffer, the layer, the preparation.

The three algorithms of the Tiki-Taka family that followed SHD (Gokmen 2021; Rasch et al. 2024)
keep SHD's arrays and its steps I-IV: forward and backward on C, the gradient into A, and
every tau samples a forward VMM of a one-hot row vector e_k that reads row k of A. They differ
in step V: instead of a stochastic update of C proportional to the read, the read goes into a
digital buffer H (one number per weight) and C gets whole pulses only where H crosses a
threshold (TransferBuffer). Chopped TTv2 multiplies A's inputs and the buffer's increments by
a sign per row that flips on a schedule (Chopper); AGAD subtracts from each read a reference
tracked from earlier reads (ReferenceTracker). One layer class, BufferedTransferLayer, does all
three; protocols.training.ttv2, .chopped and .agad give each its config and trainer.

Every array operation is one of the contract's parallel ones: VMMs, stochastic updates, and
pulse counts on one row of C_main (CrossbarBackend.apply_pulses).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Unpack

import numpy as np

from hil.backend import CrossbarBackend, FloatArray, IntArray
from hil.mapping import DifferentialArray, WeightMapping
from hil.pulses import Pulse, PulsePair
from protocols.training.analog import CountedOps, SHDLayer
from protocols.training.analog_training import AnalogTrainingConfig, LayerRecipe, LayerSite, train_analog
from protocols.training.datasets import Dataset
from protocols.training.loop import TrainerOptions
from protocols.training.network import MLPSpec
from protocols.training.preparation import (
    ArraySource,
    calibrate_main,
    program_reference,
    program_weights,
    programming_summary,
    restored_calibration,
)
from protocols.training.result import TrainingResult
from protocols.training.shd import SHDConfig

ARRAYS = ("A_main", "A_ref", "C_main")
PLACEMENTS = ("symmetry", "midrange")


@dataclass(frozen=True)
class ReferenceSettings:
    """Where A_ref is programmed (C = C_main - A_ref shares it).

    placement: "symmetry" (A_main's measured symmetry points) or "midrange" (the middle of the
        nominal conductance range: no symmetry point is used, AGAD's setting).
    offset: added to the target, as a fraction of the nominal range G_max - G_min (signed;
        0.03 puts the reference 3 % of the range above the placement: a deliberately
        mis-programmed reference, for robustness studies).
    """

    placement: str = "symmetry"
    offset: float = 0.0

    def __post_init__(self) -> None:
        if self.placement not in PLACEMENTS:
            raise ValueError(f"reference placement must be one of {PLACEMENTS}, got {self.placement!r}")
        if not (np.isfinite(self.offset) and abs(self.offset) < 1.0):
            raise ValueError(
                f"reference offset must be a fraction of the range in (-1, 1), got {self.offset!r}"
            )


@dataclass(frozen=True)
class BufferSettings:
    """The digital buffer between A and C (aihwkit's BufferedTransferCompound, in weight units).

    eta_h: buffer gain: each read v of row k adds eta_h * v to H_k (dimensionless; at threshold
        1 the expected change of C per read is eta_h * v, SHD's eta_c).
    threshold: theta in units of C's step dw_min: n = trunc(H / theta) pulses (aihwkit thres_scale).
    n_max: most pulses per device and transfer (aihwkit transfer_update.desired_bl, 1 there:
        with one row read per sample, 1 caps C's speed at one step per row read, which on the
        digits network is slower than the gradient; see docs/protocols/ttv2.md).
    momentum: fraction of H kept where pulses fired (see forget_buffer).
    forget_buffer: True: H <- momentum * H where pulses fired; False: H -= (1 - momentum) n theta.
    """

    eta_h: float = 0.03
    threshold: float = 1.0
    n_max: int = 15
    momentum: float = 0.0
    forget_buffer: bool = True

    def __post_init__(self) -> None:
        _check_positive(eta_h=self.eta_h, threshold=self.threshold)
        if isinstance(self.n_max, bool) or int(self.n_max) != self.n_max or self.n_max < 1:
            raise ValueError(f"n_max must be a whole number of pulses >= 1, got {self.n_max!r}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")


@dataclass(frozen=True)
class TransferConfig(AnalogTrainingConfig):
    """Settings TTv2, chopped TTv2 and AGAD share (weights dimensionless).

    eta_a: learning rate of the gradient into A (as SHD's). tau: samples between transfers,
    one row per transfer. buffer: BufferSettings. reference: ReferenceSettings. The other
    fields as in AnalogTrainingConfig; the initial weights are programmed into C.
    """

    eta_a: float = 0.1
    tau: int = 1
    buffer: BufferSettings = field(default_factory=BufferSettings)
    reference: ReferenceSettings = field(default_factory=ReferenceSettings)

    def __post_init__(self) -> None:
        _check_positive(eta_a=self.eta_a)
        if isinstance(self.tau, bool) or int(self.tau) != self.tau or self.tau < 1:
            raise ValueError(f"tau must be a positive whole number of samples, got {self.tau!r}")


class TransferBuffer:
    """H, one float per weight, and the threshold arithmetic of TTv2 (weight units).

    add(k, increment): H_k += increment; n = clip(trunc(H_k / theta), -n_max, n_max); where
    n != 0, H_k <- momentum H_k (forget_buffer) or H_k -= (1 - momentum) n theta. Returns n.
    """

    def __init__(self, shape: tuple[int, int], theta: float, settings: BufferSettings):
        _check_positive(theta=theta)
        self.h = np.zeros(shape)
        self.theta, self.settings = float(theta), settings

    def add(self, k: int, increment: FloatArray) -> IntArray:
        s = self.settings
        h = self.h[k] + increment
        n = np.clip(np.trunc(h / self.theta), -s.n_max, s.n_max)
        fired = n != 0
        if s.forget_buffer:
            kept = s.momentum * h
        else:
            kept = h - (1.0 - s.momentum) * n * self.theta
        self.h[k] = np.where(fired, kept, h)
        return n.astype(np.int64)


class Chopper:
    """A sign per input row, flipped after every `period`-th read of the row (regular), or with
    probability 1/period after each read (random, from a seeded generator)."""

    def __init__(self, rows: int, period: int, random: bool = False, seed: int = 0):
        if isinstance(period, bool) or int(period) != period or period < 1:
            raise ValueError(f"chopper period must be a whole number of reads >= 1, got {period!r}")
        self.period, self.random = int(period), bool(random)
        self.signs = np.ones(rows)
        self.reads = np.zeros(rows, dtype=np.int64)
        self.flipped = np.zeros(rows, dtype=bool)  # flipped since the row's last read
        self.rng = np.random.default_rng([seed, 2])

    def after_read(self, k: int) -> None:
        self.reads[k] += 1
        flip = self.rng.random() < 1.0 / self.period if self.random else self.reads[k] % self.period == 0
        if flip:
            self.signs[k] = -self.signs[k]
            self.flipped[k] = True

    def state(self) -> dict[str, Any]:
        return {
            "signs": self.signs.tolist(),
            "reads": self.reads.tolist(),
            "flipped": self.flipped.tolist(),
            "rng": self.rng.bit_generator.state,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.signs = np.asarray(state["signs"], dtype=np.float64)
        self.reads = np.asarray(state["reads"], dtype=np.int64)
        self.flipped = np.asarray(state["flipped"], dtype=bool)
        self.rng.bit_generator.state = state["rng"]


class ReferenceTracker:
    """AGAD's reference per weight: M, a running mean of the raw reads (M <- (1 - beta) M +
    beta v after every read), and P, the reference the reads are taken against, set to M on
    the first read of a row after its chopper flipped."""

    def __init__(self, shape: tuple[int, int], beta: float):
        if not 0.0 < beta <= 1.0:
            raise ValueError(f"beta must lie in (0, 1], got {beta!r}")
        self.beta = float(beta)
        self.mean = np.zeros(shape)
        self.reference = np.zeros(shape)

    def deviation(self, k: int, v: FloatArray, flipped: bool) -> FloatArray:
        """v - P_k (P_k refreshed from M_k first if the chopper flipped), then M_k updated."""
        if flipped:
            self.reference[k] = self.mean[k]
        d = v - self.reference[k]
        self.mean[k] = (1.0 - self.beta) * self.mean[k] + self.beta * v
        return d

    def state(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "reference": self.reference.tolist()}

    def restore(self, state: dict[str, Any]) -> None:
        self.mean = np.asarray(state["mean"], dtype=np.float64)
        self.reference = np.asarray(state["reference"], dtype=np.float64)


@dataclass
class TransferParts:
    """The digital parts of a layer beyond TTv2's buffer: a chopper (c-TTv2, AGAD), a reference
    tracker (AGAD), and the number of reads of a row before its crossings are written to C."""

    chopper: Chopper | None = None
    tracker: ReferenceTracker | None = None
    warmup_reads: int = 0


class BufferedTransferLayer:
    """TTv2 (and with TransferParts, c-TTv2 and AGAD): A = A_main - A_ref, C = C_main - A_ref.

    I, II: forward y = x C and backward z = C delta (VMMs on C). III: A_main gets the stochastic
    update eta_a (c o x) (x) (-delta), c the chopper signs (all +1 without one). Every tau
    samples, for the next row k: IV v = e_k A (forward VMM of the one-hot e_k); V the buffer
    gets eta_h c_k v (AGAD: eta_h c_k (v - P_k)) and row k of C_main gets n_j pulses of sign
    n_j where the buffer crossed its threshold (apply_pulses on that row alone).
    """

    def __init__(
        self,
        a: DifferentialArray,
        c: DifferentialArray,
        *,
        config: TransferConfig,
        dw_min: float,
        io: CountedOps,
        parts: TransferParts | None = None,
    ):
        if a.shape != c.shape:
            raise ValueError(f"A {a.shape} and C {c.shape} differ in shape")
        _check_positive(dw_min=dw_min)
        self.a, self.c, self.config, self.dw_min, self.io = a, c, config, dw_min, io
        self.buffer = TransferBuffer(a.shape, config.buffer.threshold * dw_min, config.buffer)
        self.parts = parts or TransferParts()
        self.samples = self.next_row = self.transfers = self.writes = 0

    @property
    def shape(self) -> tuple[int, int]:
        return self.c.shape

    def forward(self, x: FloatArray) -> FloatArray:
        return self.io.forward(self.c, x)

    def backward(self, delta: FloatArray) -> FloatArray:
        return self.io.backward(self.c, delta)

    def learn(self, x: FloatArray, delta: FloatArray) -> None:
        chopper = self.parts.chopper
        x_in = x if chopper is None else chopper.signs * x
        self.io.update(self.a, x_in, -delta, self.config.eta_a, self.dw_min)
        self.samples += 1
        if self.samples % self.config.tau == 0:
            self.transfer()

    def transfer(self) -> None:
        """Steps IV and V for the next row of A."""
        k, chopper, tracker = self.next_row, self.parts.chopper, self.parts.tracker
        u = np.zeros(self.shape[0])
        u[k] = 1.0
        v = self.io.forward(self.a, u)
        reads_before = 0 if chopper is None else int(chopper.reads[k])
        if tracker is not None and chopper is not None:
            v = tracker.deviation(k, v, bool(chopper.flipped[k]))
            chopper.flipped[k] = False
        sign = 1.0 if chopper is None else chopper.signs[k]
        n = self.buffer.add(k, self.config.buffer.eta_h * sign * v)
        if np.any(n) and reads_before >= self.parts.warmup_reads:
            write_row(self.io, self.c.main, k, n)
            self.writes += 1
        if chopper is not None:
            chopper.after_read(k)
        self.next_row = (k + 1) % self.shape[0]
        self.transfers += 1

    def state(self) -> dict[str, Any]:
        """The digital state: counters, the buffer, and the chopper and tracker if present."""
        state: dict[str, Any] = {
            "samples": self.samples,
            "next_row": self.next_row,
            "transfers": self.transfers,
            "writes": self.writes,
            "buffer": self.buffer.h.tolist(),
        }
        if self.parts.chopper is not None:
            state["chopper"] = self.parts.chopper.state()
        if self.parts.tracker is not None:
            state["tracker"] = self.parts.tracker.state()
        return state

    def restore(self, state: dict[str, Any]) -> None:
        next_row = int(state["next_row"])
        if not 0 <= next_row < self.shape[0]:
            raise ValueError(f"transfer state: next_row {next_row} outside the layer's {self.shape[0]} rows")
        self.samples, self.next_row = int(state["samples"]), next_row
        self.transfers, self.writes = int(state["transfers"]), int(state["writes"])
        self.buffer.h = np.asarray(state["buffer"], dtype=np.float64)
        if self.parts.chopper is not None:
            self.parts.chopper.restore(state["chopper"])
        if self.parts.tracker is not None:
            self.parts.tracker.restore(state["tracker"])

    def weights(self) -> FloatArray:
        """C, the trained network, from conductance reads (diagnostics only)."""
        return self.c.weights()

    def auxiliary(self) -> FloatArray:
        """A, from conductance reads (diagnostics only)."""
        return self.a.weights()


def write_row(io: CountedOps, main: CrossbarBackend, k: int, n: IntArray) -> None:
    """Give row k of `main` n_j pulses of sign n_j (one apply_pulses call; the others untouched),
    with the write pulse of io's settings, and count the pulses."""
    counts = np.zeros(main.shape, dtype=np.int64)
    counts[k] = n
    main.apply_pulses(counts, io.settings.pulse)
    io.ops.pulses += int(np.abs(n).sum())


# ---------------------------------------------------------------------- preparation
@dataclass(frozen=True)
class PreparedArrays:
    """A layer's three arrays after preparation: A and C sharing A_ref, and A_main's step."""

    a: DifferentialArray
    c: DifferentialArray
    dw_min: float


def prepare_arrays(
    site: LayerSite, config: AnalogTrainingConfig, reference: ReferenceSettings, w0: FloatArray
) -> tuple[PreparedArrays, dict[str, Any]]:
    """The serial writes of a layer: A_main's symmetry point and step, A_ref programmed where
    `reference` says, C_main programmed to A_ref + w0. Returns the arrays and the setup record."""
    arrays = site.arrays(ARRAYS)
    a_main, a_ref, c_main = (arrays[kind] for kind in ARRAYS)
    pulse, settings = site.pulse, config.calibration
    cal = calibrate_main(a_main, pulse, config.w_max, settings)
    g_min, g_max = a_ref.conductance_range
    if reference.placement == "symmetry":
        base = cal.symmetry.g_sym
    else:
        base = np.full(site.shape, 0.5 * (g_min + g_max))
    target = base + reference.offset * (g_max - g_min)
    prog_ref, n_skipped = program_reference(a_ref, target, pulse, cal.step, settings)
    prog_c, n_clipped = program_weights(
        c_main, a_ref.read(), w0, mapping=cal.mapping, pulse=pulse, step=cal.step, settings=settings
    )
    record: dict[str, Any] = {
        "arrays": {kind: site.name(kind) for kind in ARRAYS},
        "shape": list(site.shape),
        "calibration": cal.summary(),
        "reference": {"placement": reference.placement, "offset_of_range": reference.offset},
        "reference_programming": programming_summary(prog_ref, cal.mapping),
        "reference_devices_outside_range": n_skipped,
        "core_programming": programming_summary(prog_c, cal.mapping),
        "initial_weights_at_a_bound": n_clipped,
    }
    return _differential(arrays, cal.mapping, cal.dw_min), record


def restore_arrays(site: LayerSite, record: dict[str, Any]) -> PreparedArrays:
    """The arrays as prepare_arrays left them, from its setup record; writes nothing."""
    mapping, dw_min = restored_calibration(record)
    return _differential(site.arrays(ARRAYS), mapping, dw_min)


def _differential(
    arrays: dict[str, CrossbarBackend], mapping: WeightMapping, dw_min: float
) -> PreparedArrays:
    a = DifferentialArray(arrays["A_main"], arrays["A_ref"], mapping)
    c = DifferentialArray(arrays["C_main"], arrays["A_ref"], mapping)
    return PreparedArrays(a, c, dw_min)


PartsMaker = Callable[[LayerSite, Any], TransferParts]
"""parts(site, config) -> the layer's TransferParts (a fresh chopper, tracker)."""


def transfer_recipe(algorithm: str, parts: PartsMaker) -> LayerRecipe:
    """The LayerRecipe of a buffered-transfer algorithm: prepare_arrays, then the layer."""

    def layer(site: LayerSite, config: TransferConfig, prepared: PreparedArrays) -> BufferedTransferLayer:
        return BufferedTransferLayer(
            prepared.a,
            prepared.c,
            config=config,
            dw_min=prepared.dw_min,
            io=site.io,
            parts=parts(site, config),
        )

    def prepare(site: LayerSite, config: TransferConfig, w0: FloatArray) -> tuple[Any, dict[str, Any]]:
        prepared, record = prepare_arrays(site, config, config.reference, w0)
        return layer(site, config, prepared), record

    def restore(site: LayerSite, config: TransferConfig, record: dict[str, Any]) -> Any:
        return layer(site, config, restore_arrays(site, record))

    return LayerRecipe(algorithm, prepare, restore)


def train_transfer(
    recipe: LayerRecipe,
    get_array: ArraySource,
    spec: MLPSpec,
    data: Dataset,
    *,
    pulse: Pulse | PulsePair,
    config: AnalogTrainingConfig,
    label: str,
    **options: Unpack[TrainerOptions],
) -> TrainingResult:
    """Prepare and train with a transfer recipe; records transfers and C writes per layer."""
    result, layers = train_analog(
        recipe, get_array, spec, data, pulse=pulse, config=config, label=label, **options
    )
    result.setup["transfers_per_layer"] = [layer.transfers for layer in layers]  # type: ignore[attr-defined]
    if all(hasattr(layer, "writes") for layer in layers):
        result.setup["c_writes_per_layer"] = [layer.writes for layer in layers]  # type: ignore[attr-defined]
    return result


# ---------------------------------------------------------------------- SHD with a placed reference
@dataclass(frozen=True)
class PlacedSHDConfig(SHDConfig):
    """SHD (SHDConfig) with A_ref placed by ReferenceSettings, e.g. off the symmetry point.

    For comparisons with the buffered algorithms under the same reference error; with the
    default ReferenceSettings it prepares the arrays as train_shd does.
    """

    reference: ReferenceSettings = field(default_factory=ReferenceSettings)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.c_init != "programmed":
            raise ValueError(
                f"PlacedSHDConfig programs C_main (c_init 'programmed'), got c_init {self.c_init!r}"
            )


def _placed_shd_layer(site: LayerSite, config: PlacedSHDConfig, prepared: PreparedArrays) -> SHDLayer:
    return SHDLayer(
        prepared.a,
        prepared.c,
        eta_a=config.eta_a,
        eta_c=config.eta_c,
        tau=config.tau,
        dw_min_a=prepared.dw_min,
        dw_min_c=prepared.dw_min,
        io=site.io,
    )


def _prepare_placed_shd(
    site: LayerSite, config: PlacedSHDConfig, w0: FloatArray
) -> tuple[Any, dict[str, Any]]:
    prepared, record = prepare_arrays(site, config, config.reference, w0)
    return _placed_shd_layer(site, config, prepared), record


def _restore_placed_shd(site: LayerSite, config: PlacedSHDConfig, record: dict[str, Any]) -> Any:
    return _placed_shd_layer(site, config, restore_arrays(site, record))


PLACED_SHD_LAYERS = LayerRecipe("shd", _prepare_placed_shd, _restore_placed_shd)


def train_placed_shd(
    get_array: ArraySource,
    spec: MLPSpec,
    data: Dataset,
    pulse: Pulse | PulsePair,
    config: PlacedSHDConfig | None = None,
    label: str = "SHD",
    **options: Unpack[TrainerOptions],
) -> TrainingResult:
    """SHD with A_ref placed by config.reference (pulse: volts, seconds); see train_shd."""
    cfg = config or PlacedSHDConfig()
    return train_transfer(
        PLACED_SHD_LAYERS, get_array, spec, data, pulse=pulse, config=cfg, label=label, **options
    )


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
