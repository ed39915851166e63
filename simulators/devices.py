"""Per-device parameters and the population's symmetry points (normalised units).

Everything here works on flat arrays of devices and the normalised state
x = (G - G_min) / (G_max - G_min) of each device's own bounds. Step sizes are fractions of
that device's range per pulse at pulse factor m = 1. The step models' rates and symmetry
states are the models' own (hil.stepmodels); a jump table's crossing is computed here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hil.backend import FloatArray
from hil.jumptable import JumpTable
from simulators.config import DeviceConfig


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
    var, ranges, step = config.variation, config.ranges, config.step
    z_min, z_max, z_step, z_imb = rng.standard_normal((4, n))
    stuck = rng.random(n) < var.stuck_fraction
    u_init = rng.random(n)
    g_min = ranges.g_min * np.exp(var.dtod_bounds * z_min)
    g_max = ranges.g_max * np.exp(var.dtod_bounds * z_max)
    crossed = int(np.sum(g_min >= g_max))
    if crossed:
        raise ValueError(
            f"dtod_bounds {var.dtod_bounds:g} made G_min >= G_max on {crossed} device(s) for the range "
            f"{ranges.g_min:g}-{ranges.g_max:g} S; lower dtod_bounds or widen the range"
        )
    k = np.exp(var.dtod_step * z_step)
    r = var.dtod_imbalance * z_imb
    params = DeviceParameters(
        g_min=g_min,
        g_max=g_max,
        step_up=step.step_up * k * np.exp(r),
        step_down=step.step_down * k * np.exp(-r),
        stuck=stuck,
    )
    x0 = config.initial.init_state + config.initial.init_spread * (2.0 * u_init - 1.0)
    return params, x0


def symmetry_states(config: DeviceConfig, params: DeviceParameters, table: JumpTable | None) -> FloatArray:
    """Normalised state where the mean up and down steps are equal, per device; NaN if not unique.

    The step model's own (closed form or bisection, hil.stepmodels), or for a jump table the
    single crossing of the binned mean steps. Stuck devices get NaN.
    """
    if table is not None:
        x = _table_crossing(table, params)
    else:
        x = config.step.symmetry_states(params.step_up, params.step_down)
    x = np.where((x >= 0.0) & (x <= 1.0), x, np.nan)
    return np.where(params.stuck, np.nan, x)


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
