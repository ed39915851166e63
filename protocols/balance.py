"""Pulse balancing: the down pulse that puts the symmetry point at a chosen conductance.

A device's symmetry point is where its mean up step (of the up pulse) equals its mean down step
(of the down pulse). Weakening the down pulse moves the point up, strengthening it moves it
down, so a bench can place the point by tuning the down pulse alone: SHD's reference sits at the
main array's symmetry point, and a point in the middle of the range lets C span its range
symmetrically.

Method: measure the symmetry point (protocols.symmetry.find_symmetry_point, with the up pulse
and a trial down pulse) at a few settings of the down pulse's amplitude (or width), and solve
for the target on the logit of the normalised point, y = ln(x / (1 - x)), x = (G_sym - G_min) /
(G_max - G_min). Why the logit: with soft bounds x_sym = a⁺m⁺ / (a⁺m⁺ + a⁻m⁻), so y =
ln(a⁺m⁺/a⁻) - ln m⁻, and above threshold ln m⁻ grows about linearly in the amplitude (the
exponential pulse response) and in ln(width) (its power law): y is close to a line in the knob,
and a secant step lands within the noise of the target in two or three points. Each step is
kept within the bracket of points on either side of the target once there is one (a
safeguarded secant) and within the limits always. Each measurement starts where the last
left the devices, near the new point, so it relaxes quickly.

The answer comes from a weighted straight-line fit of y against the knob over the (up to) three
points nearest the target, with its standard error from the fit's covariance (the points'
errors are the symmetry search's standard errors propagated to y); per device the same fit of
that device's points. The array answer places the mean symmetry point of the responsive
devices at the target; per device, each device's own point.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hil.backend import CrossbarBackend, FloatArray
from hil.faults import UsageFault
from hil.pulses import Pulse, PulsePair, as_pulse_pair, pulse_from_state, pulse_state
from hil.recording import Recorder
from hil.results import to_jsonable
from protocols.records.balance import BalancePointRecord
from protocols.symmetry import BoolArray, SymmetryPointResult, find_symmetry_point


class Knob(enum.StrEnum):
    """What of the down pulse is tuned."""

    AMPLITUDE = "amplitude"  # volts; searched on the volts themselves
    WIDTH = "width"  # seconds; searched on ln(width)

    @property
    def unit(self) -> str:
        """The knob's unit: "V" (amplitude) or "s" (width)."""
        return "V" if self is Knob.AMPLITUDE else "s"


class BalanceUnreachable(UsageFault):
    """The target cannot be reached with the down pulse within the limits (or the range tried)."""


@dataclass(frozen=True)
class BalanceSettings:
    """How the down pulse is searched.

    target: siemens, where the symmetry point should sit (None: the middle of the array's
        nominal conductance range).
    knob: Knob.AMPLITUDE (default) or Knob.WIDTH of the down pulse; the other stays as given.
    tolerance: siemens; the search stops once the array's mean symmetry point is this close to
        the target (None: 1 % of the nominal range or 2 standard errors of the mean, the larger).
    max_points: symmetry-point measurements at most (>= 2).
    first_step: the first move of the knob: volts for the amplitude (default 0.25 V), a factor
        for the width (default 1.5).
    lowest: the weakest setting tried, volts or seconds (None: half the up pulse's amplitude, or
        the limits' shortest width). The strongest is the limit (max_pulse_amplitude or
        max_pulse_width), never exceeded.
    symmetry: keyword arguments of find_symmetry_point for every measurement (e.g. max_pairs,
        window); empty: its defaults.
    """

    target: float | None = None
    knob: Knob = Knob.AMPLITUDE
    tolerance: float | None = None
    max_points: int = 6
    first_step: float | None = None
    lowest: float | None = None
    symmetry: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "knob", Knob(self.knob))
        for name in ("target", "tolerance", "first_step", "lowest"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"balance {name} must be a finite number > 0 or None, got {value!r}")
        if isinstance(self.max_points, bool) or not isinstance(self.max_points, int) or self.max_points < 2:
            raise ValueError(f"balance max_points must be a whole number >= 2, got {self.max_points!r}")
        if self.knob is Knob.WIDTH and self.first_step is not None and self.first_step <= 1:
            raise ValueError(f"for the width, first_step is a factor > 1, got {self.first_step!r}")


@dataclass(frozen=True)
class BalancePoint:
    """One symmetry-point measurement: the down pulse's knob value (volts or seconds), the
    points (rows, cols, siemens) with their standard errors, which devices responded and
    converged, and the pairs it took."""

    value: float
    g_sym: FloatArray
    g_sym_std: FloatArray
    responsive: BoolArray
    converged: BoolArray
    pairs: int

    @classmethod
    def of_record(cls, record: BalancePointRecord) -> BalancePoint:
        """The measurement a stored balance_point holds."""
        return cls(
            float(record.value),
            np.asarray(record.g_sym, dtype=float),
            np.asarray(record.g_sym_std, dtype=float),
            np.asarray(record.responsive, dtype=bool),
            np.asarray(record.converged, dtype=bool),
            int(record.pairs),
        )

    def mean(self) -> tuple[float, float]:
        """(mean G_sym over responsive devices, its standard error), siemens."""
        ok = self.responsive & np.isfinite(self.g_sym)
        n = int(np.sum(ok))
        if n == 0:
            return math.nan, math.nan
        return float(np.mean(self.g_sym[ok])), float(np.sqrt(np.sum(self.g_sym_std[ok] ** 2)) / n)


@dataclass(frozen=True)
class BalanceResult:
    """What pulse_balance found. Siemens, volts, seconds.

    pulses: the balanced pair (up as given, down at the array answer).
    value, value_std: the array answer (knob value putting the mean point at the target) and its
        standard error; per_device_value, per_device_std (rows, cols): each device's own answer
        (NaN where its points did not span a usable fit); per_device_reachable: the device's
        answer lies within [lowest, limit].
    predicted, predicted_std: the fit's mean symmetry point at the answer.
    points: every measurement in the order taken.
    """

    pulses: PulsePair
    knob: Knob
    target: float
    value: float
    value_std: float
    predicted: float
    predicted_std: float
    per_device_value: FloatArray
    per_device_std: FloatArray
    per_device_reachable: BoolArray
    points: list[BalancePoint]
    bounds: tuple[float, float]
    g_range: tuple[float, float]

    @classmethod
    def from_summary(cls, summary: dict[str, Any], points: list[BalancePoint]) -> BalanceResult:
        """The result a completed run stored (its summary and its balance_point measurements)."""
        knob = Knob(summary["knob"])
        unit = knob.unit
        per = summary["per_device"]
        return cls(
            pulses=as_pulse_pair(pulse_from_state(summary["pulses"])),
            knob=knob,
            target=float(summary["target_S"]),
            value=float(summary[f"down_{knob}_{unit}"]),
            value_std=_float(summary[f"down_{knob}_std_{unit}"]),
            predicted=_float(summary["predicted_mean_g_sym_S"]),
            predicted_std=_float(summary["predicted_mean_g_sym_std_S"]),
            per_device_value=np.array(per[f"down_{knob}_{unit}"], dtype=float),  # JSON null: NaN
            per_device_std=np.array(per[f"down_{knob}_std_{unit}"], dtype=float),
            per_device_reachable=np.array(per["reachable"], dtype=bool),
            points=points,
            bounds=(float(summary["bounds"][0]), float(summary["bounds"][1])),
            g_range=(float(summary["g_range_S"][0]), float(summary["g_range_S"][1])),
        )

    def summary(self) -> dict[str, Any]:
        """JSON-ready key numbers and per-device answers."""
        unit = self.knob.unit
        finite = np.isfinite(self.per_device_value)
        return to_jsonable(
            {
                "protocol": "balance",
                "knob": str(self.knob),
                "pulses": pulse_state(self.pulses),
                "target_S": self.target,
                f"down_{self.knob}_{unit}": self.value,
                f"down_{self.knob}_std_{unit}": self.value_std,
                "predicted_mean_g_sym_S": self.predicted,
                "predicted_mean_g_sym_std_S": self.predicted_std,
                "bounds": list(self.bounds),
                "g_range_S": list(self.g_range),
                "points": [
                    {"value": p.value, "mean_g_sym_S": p.mean()[0], "sem_S": p.mean()[1], "pairs": p.pairs}
                    for p in self.points
                ],
                "n_devices_with_answer": int(np.sum(finite)),
                "n_devices_reachable": int(np.sum(self.per_device_reachable)),
                "per_device": {
                    f"down_{self.knob}_{unit}": self.per_device_value,
                    f"down_{self.knob}_std_{unit}": self.per_device_std,
                    "reachable": self.per_device_reachable,
                },
            }
        )


# ---------------------------------------------------------------------- the search
def check_balance(
    backend: CrossbarBackend, pulses: Pulse | PulsePair, settings: BalanceSettings
) -> tuple[float, tuple[float, float]]:
    """(target siemens, (lowest, highest) knob values) of a valid balance; raises before anything
    is written if the target lies outside the nominal range or the pulses outside the limits."""
    pair = as_pulse_pair(pulses)
    backend.limits.check_pulse(pair)
    g_min, g_max = backend.conductance_range
    target = (g_min + g_max) / 2 if settings.target is None else settings.target
    if not g_min < target < g_max:
        raise UsageFault(
            f"balance target {target:g} S lies outside the array's nominal range ({g_min:g}, {g_max:g}) S; "
            "a symmetry point can only sit inside it"
        )
    limits = backend.limits
    if settings.knob is Knob.AMPLITUDE:
        low = pair.up.amplitude / 2 if settings.lowest is None else settings.lowest
        high = limits.max_pulse_amplitude
    else:
        low = limits.min_pulse_width if settings.lowest is None else settings.lowest
        high = limits.max_pulse_width
        low = max(low, limits.min_pulse_width)
    if not low < high:
        raise UsageFault(
            f"balance: the weakest down {settings.knob} tried ({low:g}) is not below the limit ({high:g})"
        )
    return target, (low, high)


def pulse_balance(
    backend: CrossbarBackend,
    pulses: Pulse | PulsePair,
    settings: BalanceSettings | None = None,
    *,
    recorder: Recorder | None = None,
    on_point: Callable[[BalancePoint], None] | None = None,
) -> BalanceResult:
    """Find the down pulse (amplitude or width, settings.knob) that puts the symmetry point of
    `backend`'s devices at settings.target (see the module docstring for the method).

    pulses: the up pulse and the first down pulse tried (a Pulse: both the same).
    recorder: optional; every measurement is recorded as a "balance_point" point
        (protocols.records.balance). on_point: called after every measurement.
    Leaves the devices near their symmetry points under the last down pulse tried. Raises
    BalanceUnreachable (nothing more is pulsed; the measurements so far are recorded) when the
    target lies beyond the strongest or the weakest setting allowed.
    """
    settings = settings or BalanceSettings()
    target, bounds = check_balance(backend, pulses, settings)
    pair = as_pulse_pair(pulses)
    search = _Search(
        backend, pair, settings, target=target, bounds=bounds, recorder=recorder, on_point=on_point
    )
    search.run()
    return search.result()


class _Search:
    """The safeguarded secant on y = logit(x) of the array's mean point against the knob u."""

    def __init__(
        self,
        backend: CrossbarBackend,
        pair: PulsePair,
        settings: BalanceSettings,
        *,
        target: float,
        bounds: tuple[float, float],
        recorder: Recorder | None,
        on_point: Callable[[BalancePoint], None] | None,
    ):
        self.backend, self.pair, self.settings, self.target = backend, pair, settings, target
        self.bounds, self.recorder, self.on_point = bounds, recorder, on_point
        self.g_range = backend.conductance_range
        self.points: list[BalancePoint] = []

    # knob <-> search coordinate u: volts, or ln(seconds)
    def _u(self, value: float) -> float:
        return value if self.settings.knob is Knob.AMPLITUDE else math.log(value)

    def _value(self, u: float) -> float:
        return u if self.settings.knob is Knob.AMPLITUDE else math.exp(u)

    def down(self, value: float) -> Pulse:
        d = self.pair.down
        return Pulse(value, d.width) if self.settings.knob is Knob.AMPLITUDE else Pulse(d.amplitude, value)

    def start(self) -> float:
        d = self.pair.down
        value = d.amplitude if self.settings.knob is Knob.AMPLITUDE else d.width
        return min(max(value, self.bounds[0]), self.bounds[1])

    def measure(self, value: float) -> BalancePoint:
        pulses = PulsePair(self.pair.up, self.down(value))
        sym: SymmetryPointResult = find_symmetry_point(self.backend, pulses, **self.settings.symmetry)
        point = BalancePoint(
            value, sym.g_sym, sym.g_sym_std, sym.responsive, sym.converged, int(sym.pairs_used)
        )
        if not np.any(point.responsive):
            raise UsageFault(
                f"no device responded to the pulses {pulses} (no measurable step); check the pulses "
                "(above the write threshold?) and the wiring"
            )
        self.points.append(point)
        if self.recorder is not None:
            BalancePointRecord.of(point, len(self.points)).write(self.recorder)
        if self.on_point is not None:
            self.on_point(point)
        return point

    def error(self, point: BalancePoint) -> float:
        """The mean point's distance from the target in y (positive: the point is too high)."""
        return logit(self._x(point.mean()[0])) - logit(self._x(self.target))

    def _x(self, g: float | FloatArray) -> Any:
        """Normalised in the nominal range, kept off 0 and 1 (a device's own bounds vary)."""
        g_min, g_max = self.g_range
        return np.clip((np.asarray(g) - g_min) / (g_max - g_min), 1e-6, 1 - 1e-6)

    def tolerance(self, point: BalancePoint) -> float:
        if self.settings.tolerance is not None:
            return self.settings.tolerance
        return max(0.01 * (self.g_range[1] - self.g_range[0]), 2 * point.mean()[1])

    def run(self) -> None:
        point = self.measure(self.start())
        while abs(point.mean()[0] - self.target) > self.tolerance(point):
            if len(self.points) >= self.settings.max_points:
                return
            u = self.next_u()
            if u is None:
                self.unreachable()
            point = self.measure(self._value(u))

    def next_u(self) -> float | None:
        """The next trial in u, kept in the bracket and the bounds; None if the target lies beyond
        a bound already measured. y falls as u grows (a stronger down pulse lowers the point)."""
        lo, hi = (self._u(b) for b in self.bounds)
        us = np.array([self._u(p.value) for p in self.points])
        ys = np.array([self.error(p) for p in self.points])
        first = self.settings.first_step or (0.25 if self.settings.knob is Knob.AMPLITUDE else 1.5)
        step = first if self.settings.knob is Knob.AMPLITUDE else math.log(first)
        i, j = np.argsort(np.abs(ys))[:2] if len(us) > 1 else (len(us) - 1, len(us) - 1)
        slope = (ys[i] - ys[j]) / (us[i] - us[j]) if us[i] != us[j] else math.nan
        u = us[i] - ys[i] / slope if slope < 0 else us[i] + math.copysign(step, ys[i])
        high, low = us[ys > 0], us[ys < 0]  # points too high (weaker) and too low (stronger)
        if high.size and low.size:
            a, b = float(high.max()), float(low.min())
            if not min(a, b) < u < max(a, b):
                u = (a + b) / 2
        u = min(max(u, lo), hi)
        seen = np.isclose(us, u, rtol=0, atol=1e-9 * max(1.0, abs(u)))
        if not np.any(seen):
            return u
        if u in (lo, hi):
            return None  # the bound that the secant asks to pass has been measured already
        return float((u + us[np.argsort(np.abs(us - u))[1]]) / 2) if len(us) > 1 else None

    def unreachable(self) -> None:
        """Raise BalanceUnreachable from the measurement nearest the target, which sits at the
        bound the secant asks to pass."""
        point = min(self.points, key=lambda p: abs(self.error(p)))
        mean = point.mean()[0]
        too_high = mean > self.target  # the last trial sits at the bound the secant wanted to pass
        what = self.settings.knob
        limit = "max_pulse_amplitude" if what is Knob.AMPLITUDE else "max_pulse_width"
        value = f"{point.value:g} {what.unit}"
        bound = f"the limit {limit} ({value})" if too_high else f"the weakest down {what} tried ({value})"
        raise BalanceUnreachable(
            f"balance: the target {self.target:g} S is out of reach: at {bound} the mean symmetry "
            f"point is still {mean:g} S, {'above' if too_high else 'below'} it. The "
            f"{len(self.points)} measurements are kept with the run; "
            + (
                f"raise {limit} in the bench limits if the chip allows it, or choose a higher target"
                if too_high
                else "lower `lowest`, or choose a lower target"
            )
        )

    def result(self) -> BalanceResult:
        u_star, u_std, pred, pred_std = self.array_fit()
        per_u, per_std = self.device_fits()
        lo, hi = (self._u(b) for b in self.bounds)
        reachable = np.isfinite(per_u) & (per_u >= lo) & (per_u <= hi)
        value = min(max(self._value(u_star), self.bounds[0]), self.bounds[1])
        return BalanceResult(
            pulses=PulsePair(self.pair.up, self.down(value)),
            knob=self.settings.knob,
            target=self.target,
            value=value,
            value_std=self._std(u_star, u_std),
            predicted=pred,
            predicted_std=pred_std,
            per_device_value=np.vectorize(self._value)(per_u) if per_u.size else per_u,
            per_device_std=np.vectorize(self._std)(per_u, per_std) if per_u.size else per_std,
            per_device_reachable=reachable,
            points=list(self.points),
            bounds=self.bounds,
            g_range=self.g_range,
        )

    def _std(self, u: float, u_std: float) -> float:
        """A standard error in u as one of the knob's values (seconds: through d width / d ln width)."""
        return (
            u_std
            if self.settings.knob is Knob.AMPLITUDE
            else math.exp(u) * u_std
            if math.isfinite(u)
            else math.nan
        )

    def nearest(self) -> list[BalancePoint]:
        order = np.argsort([abs(self.error(p)) for p in self.points])
        return [self.points[i] for i in order[:3]]

    def array_fit(self) -> tuple[float, float, float, float]:
        """(u*, its standard error, the fitted mean point at u* and its standard error)."""
        pts = self.nearest()
        us = np.array([self._u(p.value) for p in pts])
        x = np.array([self._x(p.mean()[0]) for p in pts], dtype=float)
        sx = np.array([p.mean()[1] for p in pts]) / (self.g_range[1] - self.g_range[0])
        y, sy = logit(x), sx / np.clip(x * (1 - x), 1e-12, None)
        return _solve(us, y, sy, float(logit(self._x(self.target))), self._g)

    def device_fits(self) -> tuple[FloatArray, FloatArray]:
        """Per device (u*, standard error) from the points where it responded (NaN where fewer
        than two did or its fit has no slope). A device judged unresponsive at one setting (its
        step there not clear of its noise) is still fitted from the others."""
        pts = self.nearest()
        us = np.array([self._u(p.value) for p in pts])
        x = np.stack([self._x(p.g_sym) for p in pts])
        sx = np.stack([p.g_sym_std for p in pts]) / (self.g_range[1] - self.g_range[0])
        usable = np.stack([p.responsive & np.isfinite(p.g_sym) for p in pts])
        y_t = float(logit(self._x(self.target)))
        shape = x.shape[1:]
        u_star, u_std = np.full(shape, np.nan), np.full(shape, np.nan)
        for idx in zip(*np.nonzero(usable.sum(axis=0) >= 2), strict=True):
            column = (slice(None), *idx)
            keep = usable[column]
            xi = x[column][keep]
            sy = sx[column][keep] / (xi * (1 - xi))
            u_star[idx], u_std[idx], _, _ = _solve(us[keep], logit(xi), sy, y_t, None)
        return u_star, u_std

    def _g(self, y: float) -> float:
        g_min, g_max = self.g_range
        return g_min + (g_max - g_min) / (1 + math.exp(-y))


def _solve(
    u: FloatArray, y: FloatArray, sy: FloatArray, y_target: float, to_g: Callable[[float], float] | None
) -> tuple[float, float, float, float]:
    """Weighted line y = a + b u through the points; (u where it meets y_target, its standard
    error, the fitted G there and its standard error; NaN where no slope). Two points give the
    line through them; the error of u* comes from the fit's covariance (delta method)."""
    w = 1 / np.clip(sy, 1e-12, None) ** 2
    design = np.stack([np.ones_like(u), u], axis=1)
    cov = np.linalg.pinv(design.T @ (design * w[:, None]))
    a, b = cov @ (design.T @ (w * y))
    if not (np.isfinite(b) and abs(b) > 1e-12):
        return math.nan, math.nan, math.nan, math.nan
    u_star = (y_target - a) / b
    grad = np.array([-1 / b, -(y_target - a) / b**2])  # d u* / d (a, b)
    u_std = float(np.sqrt(max(grad @ cov @ grad, 0.0)))
    y_std = float(np.sqrt(max(np.array([1, u_star]) @ cov @ np.array([1, u_star]), 0.0)))
    if to_g is None:
        return float(u_star), u_std, math.nan, math.nan
    g = to_g(y_target)
    slope = (to_g(y_target + 1e-6) - to_g(y_target - 1e-6)) / 2e-6
    return float(u_star), u_std, g, abs(slope) * y_std


def _float(value: Any) -> float:
    """A stored number; JSON null (a non-finite value) is NaN."""
    return math.nan if value is None else float(value)


def logit(x: Any) -> Any:
    """ln(x / (1 - x)) of normalised conductances (elementwise)."""
    x = np.asarray(x, dtype=float)
    return np.log(x / (1 - x))
