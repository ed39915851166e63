"""Per-device parameters and the step models' mean steps and symmetry points (normalised units).

Everything here works on flat arrays of devices and the normalised state
x = (G - G_min) / (G_max - G_min) of each device's own bounds. Step sizes are fractions of
that device's range per pulse at pulse factor m = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hil.backend import FloatArray
from hil.jumptable import JumpTable
from simulators.config import DeviceConfig

_BISECTION_STEPS = 60  # halves [0, 1] down to 1e-18, below double precision


@dataclass(frozen=True, eq=False)
class DeviceParameters:
    """What device-to-device variation drew for each device (arrays of one shape).

    g_min, g_max: the device's bounds, siemens.
    step_up, step_down: its a⁺, a⁻ (for the table model: multipliers of the table's steps).
    stuck: True where the state never moves.
    """

    g_min: FloatArray
    g_max: FloatArray
    step_up: FloatArray
    step_down: FloatArray
    stuck: np.ndarray

    @property
    def span(self) -> FloatArray:
        return self.g_max - self.g_min

    def reshaped(self, shape: tuple[int, int]) -> DeviceParameters:
        """Copies shaped like the array."""
        return DeviceParameters(
            *(
                np.array(getattr(self, n)).reshape(shape)
                for n in ("g_min", "g_max", "step_up", "step_down", "stuck")
            )
        )


def draw_devices(
    config: DeviceConfig, n: int, rng: np.random.Generator
) -> tuple[DeviceParameters, FloatArray]:
    """Draw n devices' parameters and initial normalised states.

    Every random array is drawn whatever its spread, so that changing one spread in the
    config leaves the other draws (e.g. which devices are stuck) as they were.
    """
    z_min, z_max, z_step, z_imb = rng.standard_normal((4, n))
    stuck = rng.random(n) < config.stuck_fraction
    u_init = rng.random(n)
    g_min = config.g_min * np.exp(config.dtod_bounds * z_min)
    g_max = config.g_max * np.exp(config.dtod_bounds * z_max)
    crossed = int(np.sum(g_min >= g_max))
    if crossed:
        raise ValueError(
            f"dtod_bounds {config.dtod_bounds:g} made G_min >= G_max on {crossed} device(s) for the range "
            f"{config.g_min:g}-{config.g_max:g} S; lower dtod_bounds or widen the range"
        )
    k = np.exp(config.dtod_step * z_step)
    r = config.dtod_imbalance * z_imb
    params = DeviceParameters(
        g_min=g_min,
        g_max=g_max,
        step_up=config.step_up * k * np.exp(r),
        step_down=config.step_down * k * np.exp(-r),
        stuck=stuck,
    )
    x0 = config.init_state + config.init_spread * (2.0 * u_init - 1.0)
    return params, x0


def mean_rates(config: DeviceConfig, x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Shape of the up and down step magnitudes at state x, before a⁺ / a⁻ and m (analytic models)."""
    gu, gd = config.gamma_up, config.gamma_down
    if config.model == "soft-bounds":
        return 1.0 - x, x.copy()
    if config.model == "linear-step":
        return 1.0 - gu * x, 1.0 - gd * (1.0 - x)
    if config.model == "power-step":
        return (1.0 - x) ** gu, x**gd
    raise ValueError(f"model {config.model!r} has no closed-form step; it is drawn from its jump table")


def symmetry_states(config: DeviceConfig, params: DeviceParameters, table: JumpTable | None) -> FloatArray:
    """Normalised state where the mean up and down steps are equal, per device; NaN if not unique.

    Closed form for soft bounds (a⁺ / (a⁺ + a⁻)) and linear step, bisection for power step,
    the single crossing of the binned mean steps for a table. Stuck devices get NaN.
    """
    au, ad = params.step_up, params.step_down
    if config.model == "soft-bounds":
        x = au / (au + ad)
    elif config.model == "linear-step":
        # a⁺(1 - γ⁺x) = a⁻(1 - γ⁻(1 - x))  =>  x = (a⁺ - a⁻ + a⁻γ⁻) / (a⁺γ⁺ + a⁻γ⁻)
        num = au - ad + ad * config.gamma_down
        den = au * config.gamma_up + ad * config.gamma_down
        x = np.full(au.shape, np.nan)
        np.divide(num, den, out=x, where=den > 0)
    elif config.model == "power-step":
        x = _power_step_root(config, au, ad)
    else:
        assert table is not None
        x = _table_crossing(table, params)
    x = np.where((x >= 0.0) & (x <= 1.0), x, np.nan)
    return np.where(params.stuck, np.nan, x)


def _power_step_root(config: DeviceConfig, au: FloatArray, ad: FloatArray) -> FloatArray:
    gu, gd = config.gamma_up, config.gamma_down
    x = np.full(au.shape, np.nan)
    if gu == 0.0 and gd == 0.0:
        return x  # constant steps: equal everywhere or nowhere

    def f(s: FloatArray) -> FloatArray:
        return au * (1.0 - s) ** gu - ad * s**gd

    # f decreases strictly when one exponent is > 0: a root in [0, 1] iff f(0) >= 0 >= f(1).
    has_root = (f(np.zeros_like(au)) >= 0) & (f(np.ones_like(au)) <= 0)
    lo, hi = np.zeros_like(au), np.ones_like(au)
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        above = f(mid) > 0
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    x[has_root] = 0.5 * (lo + hi)[has_root]
    return x


def _table_crossing(table: JumpTable, params: DeviceParameters) -> FloatArray:
    """Where k⁺ mean_up(G) = k⁻ |mean_down(G)| crosses once between bin centres, per device."""
    up, down = table.mean(1), -table.mean(-1)
    diff = params.step_up[:, None] * up[None, :] - params.step_down[:, None] * down[None, :]
    positive = diff > 0
    changes = positive[:, 1:] != positive[:, :-1]
    single = np.sum(changes, axis=1) == 1
    k = np.argmax(changes, axis=1)
    rows = np.arange(diff.shape[0])
    d0, d1 = diff[rows, k], diff[rows, np.minimum(k + 1, diff.shape[1] - 1)]
    centers = table.centers
    c0, c1 = centers[k], centers[np.minimum(k + 1, centers.size - 1)]
    denom = np.where(single, d0 - d1, 1.0)
    g = np.where(single, c0 + (c1 - c0) * d0 / denom, np.nan)
    return (g - params.g_min) / params.span
