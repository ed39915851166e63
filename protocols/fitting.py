"""Fit the simulator's step models to measured pulse-response traces, per device and over an array.

A trace is what a jump-table measurement records (protocols.traces.PulseTraces): reads G_0, G_1, ...
of a device, G_{k+1} read after pulse k of polarity d_k = +1 (up) or -1 (down). The models
are the simulator's, defined in hil.stepmodels, in the normalised state x = (G - G_min) /
(G_max - G_min) of the device's own bounds: up +a⁺ r⁺(x), down -a⁻ r⁻(x), e.g.

    soft-bounds   r⁺ = 1 - x            r⁻ = x
    linear-step   r⁺ = 1 - γ⁺ x         r⁻ = 1 - γ⁻ (1 - x)
    power-step    r⁺ = (1 - x)^γ⁺       r⁻ = x^γ⁻

times (1 + s ξ) per pulse (cycle-to-cycle noise s), the state then clipped to [0, 1]; every
read adds Gaussian read noise σ_r (siemens). Parameters per device: g_min, g_max (siemens),
step_up a⁺ and step_down a⁻ (fractions of the device's range per pulse, at the measured
pulse) and the model's shape parameters (gamma_up γ⁺ and gamma_down γ⁻ of linear and power
step; 1 for soft bounds). The fitter takes each model's rates, their derivatives, parameter
bounds and starting points from the model class (hil.stepmodels.StepModel).

Method (per device): the one-step conditional model ΔG_k = G_{k+1} - G_k given the read G_k,
fitted by generalised least squares (scipy.optimize.least_squares on whitened residuals).
The residual of a step is η_k = c_k + e_{k+1} - b_k e_k: the c2c noise c_k (std s·|step|)
and the read noise e of the two reads (b_k = 1 + ∂step/∂G: successive steps share a read).
So the residuals are MA(1): Var η_k = s² step_k² + σ_r² (1 + b_k²), Cov(η_k, η_{k+1}) =
-b_{k+1} σ_r². The lag-1 autocovariance therefore measures σ_r and the excess of the
variance over 2σ_r² measures s, without repeated reads; repeated reads, if the trace has
them, are reported beside it as a check. Pass 1 is ordinary least squares; its residuals
give σ_r and s, which give the banded covariance for the GLS passes (two, re-estimating the
noise in between). Parameter standard errors are the square roots of the diagonal of
(Jᵀ Σ⁻¹ J)⁻¹ × χ²/dof at the optimum (J the Jacobian of the model steps). The read G_k
stands in for the true G_k inside the model (errors in variables): the bias this leaves is
of relative order σ_r² / Var(G), negligible unless the read noise is a sizeable part of
the range the trace sweeps.

Model choice: "auto" fits the models of AUTO_MODELS and keeps the one with the lowest BIC summed over the
array's devices (the simulator has one model per population); BIC = -2 ln L + k ln n with
the Gaussian likelihood of the fitted covariance, k = free step parameters + 2 noise
parameters, n = steps. Soft bounds is linear step and power step at γ = 1, so on a
soft-bounds device the other two gain nothing and pay the ln n of two more parameters.

Over the array: mean, standard deviation and relative standard deviation of every parameter;
the device-to-device spread in the simulator's log-normal terms (σ of ln g_min and ln g_max,
of ln √(a⁺a⁻) and of ln √(a⁺/a⁻)) with the fits' own estimation variance subtracted; c2c
noise and read noise pooled (mean of the per-device variances, standard error from their
scatter: the simulator gives every device the same s and σ_r); stuck devices (no net
movement, see STUCK_Z) counted apart.

Pure numpy/scipy; nothing here imports a simulator or a driver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg import cholesky_banded, lapack
from scipy.optimize import least_squares, minimize_scalar
from threadpoolctl import threadpool_limits

from hil import stepmodels
from hil.backend import FloatArray, IntArray
from hil.pulses import Pulse
from hil.results import to_jsonable
from hil.stepmodels import SoftBounds, StepModel
from hil.store import RunStore
from protocols.traces import PulseTraces, traces_from_run

MODELS = tuple(name for name, cls in stepmodels.MODELS.items() if not cls.draws_from_table)
"""The models a fit can request (every registered model with a closed-form step)."""
AUTO_MODELS = tuple(name for name in MODELS if stepmodels.MODELS[name].in_auto_fit)
"""The models "auto" compares."""
STUCK_Z = 5.0  # net movement below 5 read-noise standard errors: the device is called stuck
MIN_PLATEAU = 5  # pulses into a bound while sitting on it, for a clipping model to place that bound
_GLS_PASSES = 2
_START_TOL = 1e-4  # relative cost/step tolerance of the multi-start fits
_VAR_FLOOR = 1e-6  # of the mean squared residual, added to Σ's diagonal


# ---------------------------------------------------------------------- the models
def fit_parameters(model: str) -> tuple[str, ...]:
    """The parameters a fit of `model` reports, in order: g_min, g_max, then the model's own
    (step_up, step_down, its shape parameters, the ones it holds fixed)."""
    return ("g_min", "g_max", *_model(model).parameter_names())


PARAMETERS = ("g_min", "g_max", *SoftBounds.parameter_names())
"""The parameters of soft-bounds, linear-step and power-step fits."""


def model_step(
    model: str, params: dict[str, float], g: ArrayLike, direction: ArrayLike, clip: bool = True
) -> FloatArray:
    """Mean ΔG (siemens) of one pulse from conductance g (siemens), as the simulator's model defines it.

    params: g_min, g_max (siemens), step_up, step_down and the model's shape parameters (a
    DeviceFit's params). direction: +1 up, -1 down (broadcast against g). clip: stop at the
    bounds as the simulator does.
    """
    cls = _model(model)
    shape = (params[p] for p in cls.shape_parameters)
    q = np.array(
        [params["g_min"], params["g_max"] - params["g_min"], params["step_up"], params["step_down"], *shape]
    )
    step, _ = _predict(cls, q, np.asarray(g, dtype=np.float64), np.asarray(direction) > 0, clip)
    return step


def model_trajectory(model: str, params: dict[str, float], g0: float, direction: ArrayLike) -> FloatArray:
    """Noise-free conductance (siemens) after each pulse of `direction`, from g0: (n_pulses + 1,)."""
    d = np.asarray(direction)
    out = np.empty(d.size + 1)
    out[0] = g0
    for k, sign in enumerate(d):
        out[k + 1] = out[k] + float(model_step(model, params, out[k], sign))
    return out


def _predict(
    model: type[StepModel], q: FloatArray, u: FloatArray, up: np.ndarray, clip: bool = True
) -> tuple[FloatArray, FloatArray]:
    """(mean step, c2c scale) at reads u for q = (g_min, span, a⁺, a⁻, *shape parameters).

    The read stands in for the state; x is clipped to [0, 1] so that a read beyond a bound
    gives the bound's step. The c2c scale is |step| where the step is not cut by a bound, else 0
    (a clipped step lands on the bound whatever its noise).
    """
    gmin, span, au, ad = q[:4]
    x = np.clip((u - gmin) / span, 0.0, 1.0)
    ru, rd = model.shape_rates(x, q[4:])
    step = np.where(up, au * ru, -ad * rd) * span
    if not clip:
        return step, np.abs(step)
    target = np.clip(u + step, gmin, gmin + span)
    free = target == u + step
    return target - u, np.where(free, np.abs(step), 0.0)


def _jacobian(model: type[StepModel], q: FloatArray, u: FloatArray, up: np.ndarray) -> FloatArray:
    """∂(mean step)/∂q, (n, len(q)), for q = (g_min, span, a⁺, a⁻, *shape) (derivatives of _predict).

    Where the step is cut at a bound the step is bound - u (∂/∂g_min = 1, ∂/∂span = 1 at the
    top); where the read lies beyond a bound x is clipped and does not move with g_min, span.
    Infinite slopes (a power law at x = 0 or 1 with γ < 1) are set to 0.
    """
    gmin, span, au, ad = q[:4]
    xr = (u - gmin) / span
    x = np.clip(xr, 0.0, 1.0)
    inside = (xr > 0.0) & (xr < 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ru, rd = model.shape_rates(x, q[4:])
        dru, drd, gru, grd = model.rate_gradients(x, q[4:])
    sign = np.where(up, 1.0, -1.0)
    a = np.where(up, au, ad)
    r, dr = np.where(up, ru, rd), np.where(up, dru, drd)
    dr = np.where(inside & np.isfinite(dr), dr, 0.0)
    gru, grd = np.where(np.isfinite(gru), gru, 0.0), np.where(np.isfinite(grd), grd, 0.0)
    jac = np.zeros((u.size, q.size))
    jac[:, 0] = -sign * a * dr
    jac[:, 1] = sign * a * (r - x * dr)
    jac[:, 2] = np.where(up, span * r, 0.0)
    jac[:, 3] = np.where(up, 0.0, -span * r)
    jac[:, 4:] = np.where(up[:, None], au * span * gru, -ad * span * grd)
    step = sign * a * r * span
    top, bottom = u + step > gmin + span, u + step < gmin
    jac[top | bottom] = 0.0
    jac[top | bottom, 0] = 1.0
    jac[top, 1] = 1.0
    return jac


# ---------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class DeviceFit:
    """One device's fit.

    index: position in the traces; device: its (row, col) if known.
    moving: False for a stuck device (no net movement; nothing else is fitted).
    model: the fitted model. params: fit_parameters(model) -> value (g_min, g_max in siemens;
    step sizes as fractions of the device's range per pulse; shape parameters as the model
    defines them, e.g. γ dimensionless, γ = 1 fixed for soft bounds).
    stderr: the same names -> standard error (0 for a fixed or held parameter, inf if not
    identifiable). covariance: (k, k) in that order.
    read_noise: σ_r from the residuals' lag-1 autocovariance, siemens.
    read_noise_repeated: σ_r from repeated reads (NaN if the trace has none), siemens.
    c2c_noise: s, relative std of one pulse's step (NaN where the estimate is not defined).
    n_steps: steps fitted. chi2_reduced: whitened χ²/dof (≈ 1 when the noise model holds).
    bic: model -> BIC of this device (the models tried). converged: least_squares succeeded.
    movement_z: net movement in read-noise standard errors (stuck below STUCK_Z).
    plateau: g_min / g_max -> pulses that pushed into that bound while the device sat on it; for
        linear and power step a bound with fewer than MIN_PLATEAU is not identifiable (inf stderr).
    """

    index: int
    device: tuple[int, int] | None
    moving: bool
    model: str | None
    params: dict[str, float]
    stderr: dict[str, float]
    covariance: FloatArray
    read_noise: float
    read_noise_repeated: float
    c2c_noise: float
    n_steps: int
    chi2_reduced: float
    bic: dict[str, float]
    converged: bool
    movement_z: float
    plateau: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN and inf become null)."""
        return to_jsonable(
            {
                "index": self.index,
                "device": self.device,
                "moving": self.moving,
                "model": self.model,
                "params": self.params,
                "stderr": self.stderr,
                "read_noise_S": self.read_noise,
                "read_noise_repeated_S": self.read_noise_repeated,
                "c2c_noise": self.c2c_noise,
                "n_steps": self.n_steps,
                "chi2_reduced": self.chi2_reduced,
                "bic": self.bic,
                "converged": self.converged,
                "movement_z": self.movement_z,
                "plateau": self.plateau,
            }
        )


@dataclass(frozen=True, eq=False)
class ArrayFit:
    """The fit of an array's devices and the population they form.

    model: the model every device was fitted with. selection: how it was chosen ("requested"
    or BIC summed over moving devices, with the totals). devices: one DeviceFit per trace.
    population: per parameter, over moving devices: mean, std, rel_std (std / |mean|), median,
        the fits' rms standard error, and the intrinsic rel_std with that estimation noise removed.
    spread: the simulator's device-to-device terms, each {"value", "stderr", "observed"}
        (log-normal σ, estimation variance subtracted): log_g_min, log_g_max, log_step (of
        ln √(a⁺a⁻)), log_imbalance (of ln √(a⁺/a⁻)); nominal: geometric means of g_min, g_max,
        step_up, step_down and arithmetic means of γ, each {"value", "stderr"}.
    c2c_noise: {"value", "stderr"} pooled s. read_noise: {"value_S", "stderr_S",
        "repeated_median_S"} pooled σ_r. stuck_fraction: stuck devices / devices.
    pulse: the pulse of the traces, if known.
    """

    model: str
    selection: dict[str, Any]
    devices: list[DeviceFit]
    population: dict[str, dict[str, float]]
    spread: dict[str, dict[str, float]]
    nominal: dict[str, dict[str, float]]
    c2c_noise: dict[str, float]
    read_noise: dict[str, float]
    stuck_fraction: float
    pulse: Pulse | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def moving(self) -> list[DeviceFit]:
        return [d for d in self.devices if d.moving]

    def param_array(self, name: str, stderr: bool = False) -> FloatArray:
        """(n_devices,) values (or standard errors) of one parameter, NaN for stuck devices."""
        names = fit_parameters(self.model)
        if name not in names:
            raise ValueError(f"unknown parameter {name!r}; parameters are {', '.join(names)}")
        return np.array([(d.stderr if stderr else d.params)[name] for d in self.devices])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: everything config_from_fit (simulators.preset_files) needs, and per device."""
        return to_jsonable(
            {
                "model": self.model,
                "selection": self.selection,
                "n_devices": len(self.devices),
                "n_moving": len(self.moving),
                "stuck_fraction": self.stuck_fraction,
                "nominal": self.nominal,
                "spread": self.spread,
                "population": self.population,
                "c2c_noise": self.c2c_noise,
                "read_noise": self.read_noise,
                "pulse": None
                if self.pulse is None
                else {"amplitude_V": self.pulse.amplitude, "width_s": self.pulse.width},
                "notes": self.notes,
                "devices": [d.to_dict() for d in self.devices],
            }
        )


# ---------------------------------------------------------------------- fitting
def fit_traces(traces: PulseTraces, model: str = "auto") -> ArrayFit:
    """Fit every device of `traces` with `model` (one of MODELS; "auto": lowest total BIC of AUTO_MODELS).

    Returns an ArrayFit; stuck devices are reported (moving=False) and left out of the
    population statistics. Raises ValueError if no device moved.
    """
    if not isinstance(traces, PulseTraces):
        raise TypeError(
            "fit_traces takes a PulseTraces (PulseTraces(g, direction, ...) or "
            f"PulseTraces.from_jump_table(result)), got {type(traces).__name__}"
        )
    if model != "auto":
        _check_model(model)
    candidates = AUTO_MODELS if model == "auto" else (model,)
    per_model: dict[str, list[DeviceFit]] = {m: [] for m in candidates}
    # The problems are small (thousands x 6): multithreaded BLAS only adds overhead, up to 100x.
    g_start, dg, linked = traces.steps()
    with threadpool_limits(limits=1, user_api="blas"):
        for k in range(traces.n_devices):
            device = None if traces.devices is None else tuple(int(i) for i in traces.devices[k])
            fits = _fit_device(
                g_start[:, k],
                dg[:, k],
                traces.direction,
                linked,
                models=candidates,
                index=k,
                device=device,
                repeated=traces.read_noise[k],
            )
            for m in candidates:
                per_model[m].append(fits[m])
    moving_idx = [k for k in range(traces.n_devices) if per_model[candidates[0]][k].moving]
    if not moving_idx:
        raise ValueError(
            f"none of the {traces.n_devices} devices moved (net movement below {STUCK_Z:g} read-noise "
            "standard errors): check the pulse is above the write threshold and the wiring"
        )
    totals = {m: float(sum(per_model[m][k].bic[m] for k in moving_idx)) for m in candidates}
    if model == "auto":
        chosen = min(totals, key=lambda m: totals[m])
        best = totals[chosen]
        selection = {
            "criterion": "BIC summed over moving devices (lowest wins)",
            "bic": totals,
            "delta_bic": {m: v - best for m, v in totals.items()},
        }
    else:
        chosen = model
        selection = {"criterion": "requested", "bic": totals}
    fits = per_model[chosen]
    return _summarise(chosen, selection, fits, traces.pulse)


def fit_run(store: RunStore, run: str | int, model: str = "auto") -> ArrayFit:
    """Fit the traces of a stored jump-table run (see traces_from_run)."""
    return fit_traces(traces_from_run(store, run), model=model)


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of: auto, {', '.join(MODELS)}")


def _model(model: str) -> type[StepModel]:
    """The step model class of a fittable model's name."""
    _check_model(model)
    return stepmodels.model_class(model)


def _movement_z(dg: FloatArray, direction: IntArray) -> float:
    """Net movement along the trains in units of its read-noise standard error.

    Per train, the signed sum of its steps; summed over trains that is ~N(0, 4 σ² n_trains)
    for a stuck device (a train's sum telescopes to end read - start read, and trains share end
    reads), σ = std(ΔG)/√2 (exact for a stuck device, an upper bound on σ_r for a moving one).
    """
    net = float(np.sum(direction * dg))
    n_trains = 1 + int(np.sum(direction[1:] != direction[:-1]))
    sigma = float(np.std(dg)) / math.sqrt(2.0)
    if sigma == 0.0:
        return math.inf if net > 0 else 0.0
    return net / (2.0 * sigma * math.sqrt(n_trains))


def _fit_device(
    g_start: FloatArray,
    dg: FloatArray,
    direction: IntArray,
    linked: np.ndarray,
    *,
    models: tuple[str, ...],
    index: int,
    device: tuple[int, int] | None,
    repeated: float,
) -> dict[str, DeviceFit]:
    """Fit one device's steps with each model, in units where its reads span [0, 1]."""
    z = _movement_z(dg, direction)
    if not z > STUCK_Z:
        return {m: _stuck_fit(m, index=index, device=device, dg=dg, repeated=repeated, z=z) for m in models}
    ends = g_start + dg
    lo = float(min(np.min(g_start), np.min(ends)))
    scale = float(max(np.max(g_start), np.max(ends))) - lo
    y, du, up = (g_start - lo) / scale, dg / scale, direction > 0
    x0 = _soft_bounds_start(y, du, up)
    gmin_floor = -lo / scale  # g_min > 0 siemens
    out = {m: _fit_model(m, y, du, up, linked=linked, x0=x0, gmin_floor=gmin_floor) for m in models}
    bics = {m: out[m]["bic"] for m in models}
    where = {"index": index, "device": device, "repeated": repeated, "z": z}
    return {m: _device_fit(out[m], m, lo=lo, scale=scale, bics=bics, **where) for m in models}


def _stuck_fit(
    model: str, *, index: int, device: tuple[int, int] | None, dg: FloatArray, repeated: float, z: float
) -> DeviceFit:
    """A device that did not move: NaN parameters, σ_r from its steps."""
    names = fit_parameters(model)
    return DeviceFit(
        index=index,
        device=device,
        moving=False,
        model=None,
        params=dict.fromkeys(names, math.nan),
        stderr=dict.fromkeys(names, math.nan),
        covariance=np.full((len(names), len(names)), np.nan),
        read_noise=float(np.std(dg) / math.sqrt(2.0)),
        read_noise_repeated=float(repeated),
        c2c_noise=math.nan,
        n_steps=dg.size,
        chi2_reduced=math.nan,
        bic={},
        converged=False,
        movement_z=z,
    )


def _soft_bounds_start(y: FloatArray, du: FloatArray, up: np.ndarray) -> FloatArray:
    """Starting (g_min, span, a⁺, a⁻) from straight lines through ΔG(G) per direction (soft
    bounds, no clipping)."""
    su, iu = np.polyfit(y[up], du[up], 1)  # up: ΔG = a⁺ g_max - a⁺ G
    sd, id_ = np.polyfit(y[~up], du[~up], 1)  # down: ΔG = a⁻ g_min - a⁻ G
    au, ad = -su, -sd
    if not (0 < au < 1 and 0 < ad < 1):
        au, ad = (float(np.clip(np.mean(np.abs(du[sel])) * 2.0, 1e-6, 1.0)) for sel in (up, ~up))
        return np.array([0.0, 1.0, au, ad])
    gmax, gmin = iu / au, id_ / ad
    if not gmax > gmin:
        gmin, gmax = 0.0, 1.0
    gmin, gmax = min(gmin, 0.0), max(gmax, 1.0)  # the bounds enclose what was read
    return np.array([gmin, gmax - gmin, au, ad])


def _fit_model(
    name: str,
    y: FloatArray,
    du: FloatArray,
    up: np.ndarray,
    *,
    linked: np.ndarray,
    x0: FloatArray,
    gmin_floor: float,
) -> dict[str, Any]:
    """OLS, then GLS passes with the MA(1) covariance of the residuals; all in normalised units.

    x0: the soft-bounds start (g_min, span, a⁺, a⁻); the shape parameters start as the model's
    fit_starts say, those it does not fit stay at the model's defaults.
    """
    model = _model(name)
    shape = model.shape_parameters
    free = [0, 1, 2, 3] + [4 + shape.index(p) for p in model.fit_free]
    lower = np.array([gmin_floor, 1e-6, 1e-9, 1e-9, *(model.fit_bounds[p][0] for p in model.fit_free)])
    upper = np.array([np.inf, np.inf, 1.0, 1.0, *(model.fit_bounds[p][1] for p in model.fit_free)])
    x0 = np.concatenate([x0, model().shape_values()])
    x0[0] = max(x0[0], gmin_floor + 1e-9)

    def full(p: FloatArray) -> FloatArray:
        q = x0.copy()
        q[free] = p
        return q

    def starts() -> list[FloatArray]:
        observed = np.array([0.0, 1.0, *x0[2:]])  # clipping models: bounds where it stopped
        out = []
        for start in model.fit_starts:
            s = (observed if start.observed_bounds else x0).copy()
            for p, v in start.values.items():
                s[4 + shape.index(p)] = v
            out.append(np.clip(s[free], lower, upper))
        return out

    chol: FloatArray | None = None  # banded Cholesky factor of Σ; None: ordinary least squares

    def whiten(r: FloatArray) -> FloatArray:
        if chol is None:
            return r
        x, info = lapack.dtbtrs(chol, r.reshape(r.shape[0], -1), uplo="L")
        if info != 0:
            raise np.linalg.LinAlgError(f"whitening failed (LAPACK dtbtrs info {info})")
        return x.reshape(r.shape)

    def residual(p: FloatArray) -> FloatArray:
        return whiten(du - _predict(model, full(p), y, up)[0])

    def jacobian(p: FloatArray) -> FloatArray:
        return whiten(-_jacobian(model, full(p), y, up)[:, free])

    def solve(p0: FloatArray, tol: float = 1e-8) -> Any:
        return least_squares(
            residual, p0, jac=jacobian, bounds=(lower, upper), x_scale="jac", ftol=tol, xtol=tol
        )

    # Rough fits from every start pick the basin; the GLS passes below polish the best.
    best = min((solve(s, _START_TOL) for s in starts()), key=lambda sol: sol.cost)
    noise = _noise_from_residuals(model, full(best.x), y, du, up, linked)
    for _ in range(_GLS_PASSES):
        chol, logdet = _whitener(noise, linked)
        best = solve(best.x)
        noise = _noise_from_residuals(model, full(best.x), y, du, up, linked)
    # Covariance, likelihood and χ² use the noise the last fit was weighted with.
    return _fit_summary(best, q=full(best.x), free=free, noise=noise, logdet=logdet, y=y, up=up)


def _fit_summary(
    best: Any,
    *,
    q: FloatArray,
    free: list[int],
    noise: dict[str, Any],
    logdet: float,
    y: FloatArray,
    up: np.ndarray,
) -> dict[str, Any]:
    """What _fit_model reports of the final least-squares solution `best` (parameters q): the
    covariance of q (zero for parameters not fitted), the pulses spent on each bound, χ², BIC."""
    n, k = y.size, len(free)
    chi2 = float(2.0 * best.cost)
    dof = max(n - k, 1)
    jw = best.jac
    try:
        cov_free = np.linalg.inv(jw.T @ jw) * (chi2 / dof)
    except np.linalg.LinAlgError:
        cov_free = np.full((k, k), np.inf)
    if not np.all(np.isfinite(cov_free)) or np.any(np.diag(cov_free) < 0):
        cov_free = np.full((k, k), np.inf)
    cov = np.zeros((q.size, q.size))
    cov[np.ix_(free, free)] = cov_free
    # Pulses pushing into a fitted bound from reads within 3 σ_r of it: the device sat on that bound.
    near = 3.0 * max(math.sqrt(noise["var_r"]), 1e-9)
    plateau = {
        "g_min": int(np.sum(~up & (y <= q[0] + near))),
        "g_max": int(np.sum(up & (y >= q[0] + q[1] - near))),
    }
    # Gaussian likelihood maximised over a common scale c of Σ (c = χ²/n): a model whose moment
    # estimates of the noise came out wrong is judged by its residuals, not by Σ alone.
    log_l = -0.5 * (n + logdet + n * math.log(max(chi2, 1e-300) / n) + n * math.log(2.0 * math.pi))
    return {
        "q": q,
        "cov": cov,
        "plateau": plateau,
        "noise": noise,
        "chi2_reduced": chi2 / dof,
        "bic": -2.0 * log_l + (k + 2) * math.log(n),
        "n": n,
        "converged": bool(best.success),
    }


def _noise_from_residuals(
    model: type[StepModel], q: FloatArray, y: FloatArray, du: FloatArray, up: np.ndarray, linked: np.ndarray
) -> dict[str, Any]:
    """σ_r² from the lag-1 autocovariance of linked steps, s² from the variance left over.

    Normalised units. b_k = 1 + ∂step/∂G is a secant over ±σ_r (the model may have a kink at a
    bound). A negative moment estimate (noise below what the data resolve) is reported as 0.
    """
    pred, c2c_scale = _predict(model, q, y, up)
    eta = du - pred
    pair = linked[1:]  # step k - 1 and step k share the read between them
    var_r = 0.0
    for _ in range(2):  # b depends on σ_r through the secant width, σ_r only weakly on b
        h = max(math.sqrt(var_r), 1e-6 * q[1])
        b = 1.0 + (_predict(model, q, y + h, up)[0] - _predict(model, q, y - h, up)[0]) / (2.0 * h)
        denom = float(np.sum(b[1:][pair]))
        var_r = max(-float(np.sum((eta[:-1] * eta[1:])[pair])) / denom, 0.0) if denom > 0 else 0.0
    m4 = float(np.sum(c2c_scale**4))
    excess = eta**2 - var_r * (1.0 + b**2)
    var_s = max(float(np.sum(c2c_scale**2 * excess)) / m4, 0.0) if m4 > 0 else math.nan
    floor = _VAR_FLOOR * float(np.mean(eta**2)) + 1e-300  # Σ stays positive definite at zero noise
    return {"var_r": var_r, "var_s": var_s, "b": b, "scale": c2c_scale, "floor": floor}


def _whitener(noise: dict[str, Any], linked: np.ndarray) -> tuple[FloatArray, float]:
    """Lower banded Cholesky factor of the residuals' covariance, and log det Σ.

    Σ = diag(s² step²) + σ_r² D Dᵀ with D the bidiagonal map from reads to step residuals:
    tridiagonal and positive definite (D has unit entries on one diagonal).
    """
    var_r, var_s, b, scale = noise["var_r"], noise["var_s"], noise["b"], noise["scale"]
    var_s = 0.0 if not math.isfinite(var_s) else var_s
    band = np.zeros((2, b.size))
    band[0] = var_s * scale**2 + var_r * (1.0 + b**2) + noise["floor"]
    band[1, :-1] = -var_r * b[1:] * linked[1:]
    chol = cholesky_banded(band, lower=True, check_finite=False)
    return chol, float(2.0 * np.sum(np.log(chol[0])))


def _device_fit(
    out: dict[str, Any],
    name: str,
    *,
    index: int,
    device: tuple[int, int] | None,
    lo: float,
    scale: float,
    repeated: float,
    bics: dict[str, float],
    z: float,
) -> DeviceFit:
    """Back from normalised units to siemens: G = lo + scale·u; (g_min, span) -> (g_min, g_max).

    The model's fixed parameters are appended with zero variance."""
    model = _model(name)
    names = fit_parameters(name)
    q, k = out["q"], out["q"].size
    params = {
        "g_min": lo + scale * q[0],
        "g_max": lo + scale * (q[0] + q[1]),
        "step_up": q[2],
        "step_down": q[3],
        **dict(zip(model.shape_parameters, q[4:], strict=True)),
        **model.fixed,
    }
    t = np.eye(k)
    t[0, 0] = scale
    t[1, :2] = scale
    cov_p = np.zeros((len(names), len(names)))
    with np.errstate(invalid="ignore"):  # inf covariance stays inf
        cov_p[:k, :k] = t @ out["cov"] @ t.T
    cov_p[np.isnan(cov_p)] = np.inf
    if model.bounds_by_clipping:
        # Clipping models place a bound only by the device stopping there; a bound never sat on
        # is known only to lie beyond the reads (the fit would otherwise put it at the last read).
        for i, name in ((0, "g_min"), (1, "g_max")):
            if out["plateau"][name] < MIN_PLATEAU:
                cov_p[i, :] = cov_p[:, i] = np.inf
    var = np.diag(cov_p)
    # A negative variance is round-off of a (near-)singular covariance: not identifiable.
    stderr = {p: math.sqrt(var[i]) if var[i] >= 0 else math.inf for i, p in enumerate(names)}
    var_s = out["noise"]["var_s"]
    return DeviceFit(
        index=index,
        device=device,
        moving=True,
        model=name,
        params={p: float(v) for p, v in params.items()},
        stderr=stderr,
        covariance=cov_p,
        read_noise=scale * math.sqrt(out["noise"]["var_r"]),
        read_noise_repeated=float(repeated),
        c2c_noise=math.sqrt(var_s) if math.isfinite(var_s) else math.nan,
        n_steps=out["n"],
        chi2_reduced=out["chi2_reduced"],
        bic=bics,
        converged=out["converged"],
        movement_z=z,
        plateau=out["plateau"],
    )


# ---------------------------------------------------------------------- population
def _summarise(model: str, selection: dict[str, Any], fits: list[DeviceFit], pulse: Pulse | None) -> ArrayFit:
    """Population statistics over the moving devices (random-effects: each weighted by its stderr)."""
    moving = [d for d in fits if d.moving]
    names = fit_parameters(model)
    notes: list[str] = []
    unidentified = sum(not all(math.isfinite(d.stderr[p]) for p in names) for d in moving)
    if unidentified:
        notes.append(
            f"{unidentified} device(s) have a parameter that is not identifiable (infinite standard error; "
            "no weight in the population estimates): for models that stop at their bounds by clipping "
            "(all but soft bounds) the trains must drive the devices into their bounds"
        )
    if len(moving) < 2:
        notes.append("one moving device: no device-to-device spread and no pooled noise standard errors")
    vals = {p: np.array([d.params[p] for d in moving]) for p in names}
    errs = {p: np.array([d.stderr[p] for d in moving]) for p in names}
    population = {p: _describe(vals[p]) for p in names}

    # Log-normal terms of the simulator: Var(ln p) ≈ Var(p) / p²; the step combinations need Cov(a⁺, a⁻).
    au, ad = vals["step_up"], vals["step_down"]
    iu, id_ = names.index("step_up"), names.index("step_down")
    with np.errstate(invalid="ignore"):  # inf - inf of unidentified devices: no weight either way
        c_ud = np.array([d.covariance[iu, id_] for d in moving]) / (au * ad)
        v_u, v_d = (errs["step_up"] / au) ** 2, (errs["step_down"] / ad) ** 2
        se_step = np.sqrt(np.maximum(0.25 * (v_u + v_d + 2 * c_ud), 0.0))
        se_imb = np.sqrt(np.maximum(0.25 * (v_u + v_d - 2 * c_ud), 0.0))
    logs = {p: _random_effects(np.log(vals[p]), errs[p] / vals[p]) for p in ("g_min", "g_max")}
    for p in ("step_up", "step_down"):
        logs[p] = _random_effects(np.log(vals[p]), errs[p] / vals[p])
    spread = {
        "log_g_min": logs["g_min"]["sigma"],
        "log_g_max": logs["g_max"]["sigma"],
        "log_step": _random_effects(0.5 * np.log(au * ad), np.nan_to_num(se_step, nan=np.inf))["sigma"],
        "log_imbalance": _random_effects(0.5 * np.log(au / ad), np.nan_to_num(se_imb, nan=np.inf))["sigma"],
    }
    # The simulator's g_min, g_max, a± are medians of log-normal draws: exp of the mean log.
    nominal = {}
    for p in ("g_min", "g_max", "step_up", "step_down"):
        mean, se = logs[p]["mean"]["value"], logs[p]["mean"]["stderr"]
        nominal[p] = {"value": math.exp(mean), "stderr": math.exp(mean) * se}
    for p in names[4:]:  # the shape parameters: arithmetic means
        nominal[p] = _random_effects(vals[p], errs[p])["mean"]

    var_s = np.array([d.c2c_noise**2 for d in moving])
    var_s = var_s[np.isfinite(var_s)]
    s = math.sqrt(float(np.mean(var_s))) if var_s.size else math.nan
    c2c = {"value": s, "stderr": _sem(var_s) / (2 * s) if s > 0 else math.nan}
    var_r = np.array([d.read_noise**2 for d in moving])
    r = math.sqrt(float(np.mean(var_r)))
    repeated = np.array([d.read_noise_repeated for d in fits])
    repeated = repeated[np.isfinite(repeated)]
    read = {
        "value_S": r,
        "stderr_S": _sem(var_r) / (2 * r) if r > 0 else math.nan,
        "repeated_median_S": float(np.median(repeated)) if repeated.size else math.nan,
    }
    return ArrayFit(
        model=model,
        selection=selection,
        devices=fits,
        population=population,
        spread=spread,
        nominal=nominal,
        c2c_noise=c2c,
        read_noise=read,
        stuck_fraction=(len(fits) - len(moving)) / len(fits),
        pulse=pulse,
        notes=notes,
    )


def _describe(v: FloatArray) -> dict[str, float]:
    """Mean, std, rel_std (std / |mean|) and median of the fitted values over devices."""
    mean = float(np.mean(v))
    std = float(np.std(v, ddof=1)) if v.size > 1 else math.nan
    return {
        "mean": mean,
        "std": std,
        "rel_std": std / abs(mean) if mean != 0 else math.nan,
        "median": float(np.median(v)),
        "n": v.size,
    }


def _sem(v: FloatArray) -> float:
    return float(np.std(v, ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan


def _random_effects(v: FloatArray, se: FloatArray) -> dict[str, dict[str, float]]:
    """Values v_i ~ N(μ, σ² + se_i²): μ and the device-to-device σ by REML, with standard errors.

    Devices with an infinite se get no weight. stderr of μ: 1/√Σw; of σ: from the Fisher
    information of σ², ½ Σ w², by the delta method (σ·√(SE(σ²)) near σ = 0).
    """
    with np.errstate(over="ignore"):
        var_e = se**2
    ok = np.isfinite(v) & np.isfinite(var_e)
    v, var_e = v[ok], var_e[ok]
    nan = {"value": math.nan, "stderr": math.nan}
    if v.size == 0:
        return {"mean": nan, "sigma": nan}
    if v.size == 1 or np.any(var_e == 0):  # a fixed parameter (γ of soft bounds): plain statistics
        mean = float(np.mean(v))
        sigma = float(np.std(v, ddof=1)) if v.size > 1 else math.nan
        return {"mean": {"value": mean, "stderr": _sem(v)}, "sigma": {"value": sigma, "stderr": math.nan}}

    def weights(sigma: float) -> FloatArray:
        return 1.0 / (sigma**2 + var_e)

    def neg_reml(sigma: float) -> float:
        w = weights(sigma)
        mu = np.sum(w * v) / np.sum(w)
        return 0.5 * float(np.sum(np.log(1.0 / w)) + np.sum(w * (v - mu) ** 2) + math.log(np.sum(w)))

    top = 3.0 * float(np.std(v)) + 1e-12 * (abs(float(np.mean(v))) + 1.0)
    sigma = float(minimize_scalar(neg_reml, bounds=(0.0, top), method="bounded").x)
    if neg_reml(0.0) <= neg_reml(sigma):
        sigma = 0.0  # the bounded search never evaluates the end point itself
    w = weights(sigma)
    mean = float(np.sum(w * v) / np.sum(w))
    se_var = 1.0 / math.sqrt(0.5 * float(np.sum(w**2)))
    se_sigma = se_var / (2.0 * sigma) if sigma > math.sqrt(se_var) else math.sqrt(se_var)
    return {
        "mean": {"value": mean, "stderr": 1.0 / math.sqrt(float(np.sum(w)))},
        "sigma": {"value": sigma, "stderr": se_sigma},
    }
