"""hil.stepmodels: the registry, each model's rates against its gradients and symmetry state."""

from __future__ import annotations

import numpy as np
import pytest

from hil.stepmodels import (
    MODELS,
    ExpStep,
    LinearStep,
    PowerStep,
    SoftBounds,
    StepModel,
    TableSteps,
    model_class,
    with_parameters,
)
from hil.stepmodels.base import StepModel as Base

# One instance of every model with a closed-form step, away from the special cases (γ = 0, 1).
CLOSED_FORM = [
    SoftBounds(step_up=0.003, step_down=0.0015),
    LinearStep(step_up=0.002, step_down=0.001, gamma_up=0.8, gamma_down=0.6),
    PowerStep(step_up=0.002, step_down=0.001, gamma_up=0.4, gamma_down=1.7),
    ExpStep(step_up=0.002, step_down=0.001, gamma_up=4.0, gamma_down=5.0, A_up=0.1, A_down=0.3),
]


def test_registry_names_every_model_once() -> None:
    assert list(MODELS) == ["soft-bounds", "linear-step", "power-step", "table", "exp-step"]
    assert all(model_class(name).name == name for name in MODELS)
    with pytest.raises(ValueError, match="model must be one of soft-bounds, linear-step"):
        model_class("soft")
    with pytest.raises(TypeError, match="base class"):
        StepModel()
    assert Base is StepModel


@pytest.mark.parametrize("model", CLOSED_FORM, ids=lambda m: m.name)
def test_gradients_are_the_derivatives_of_the_rates(model: StepModel) -> None:
    """Central differences (step 1e-6, truncation ~1e-12) against the analytic gradients."""
    x = np.linspace(0.05, 0.95, 19)
    theta = np.array(model.shape_values())
    dru, drd, gru, grd = model.rate_gradients(x, theta)
    h = 1e-6
    up_p, down_p = model.shape_rates(x + h, theta)
    up_m, down_m = model.shape_rates(x - h, theta)
    np.testing.assert_allclose(dru, (up_p - up_m) / (2 * h), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(drd, (down_p - down_m) / (2 * h), rtol=1e-6, atol=1e-9)
    for k in range(theta.size):
        dt = np.zeros_like(theta)
        dt[k] = h
        up_p, down_p = model.shape_rates(x, theta + dt)
        up_m, down_m = model.shape_rates(x, theta - dt)
        np.testing.assert_allclose(gru[:, k], (up_p - up_m) / (2 * h), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(grd[:, k], (down_p - down_m) / (2 * h), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("model", CLOSED_FORM, ids=lambda m: m.name)
def test_symmetry_state_equalises_the_steps(model: StepModel) -> None:
    rng = np.random.default_rng(0)
    au = model.step_up * np.exp(0.1 * rng.standard_normal(50))
    ad = model.step_down * np.exp(0.1 * rng.standard_normal(50))
    x = model.symmetry_states(au, ad)
    assert np.all((x > 0) & (x < 1))
    ru, rd = model.rates(x)
    np.testing.assert_allclose(au * ru, ad * rd, rtol=1e-12)
    # The closed forms agree with the generic bisection of the base class.
    np.testing.assert_allclose(x, Base.symmetry_states(model, au, ad), rtol=1e-12, atol=1e-15)


def test_burst_forms_are_decided_by_the_model() -> None:
    assert SoftBounds().burst_gammas() == (1.0, 1.0)
    assert LinearStep(gamma_up=0.2, gamma_down=0.0).burst_gammas() == (0.2, 0.0)
    assert PowerStep(gamma_up=1.0, gamma_down=0.0).burst_gammas() == (1.0, 0.0)
    assert PowerStep(gamma_up=0.5).burst_gammas() is None
    assert ExpStep().burst_gammas() is None and TableSteps().burst_gammas() is None


def test_parameters_validate_and_switch() -> None:
    with pytest.raises(ValueError, match=r"step_up must be in \(0, 1\]"):
        SoftBounds(step_up=1.5)
    assert TableSteps(step_up=3.0).step_up == 3.0  # multipliers of a table's steps
    with pytest.raises(ValueError, match="gamma_down must be a finite number"):
        PowerStep(gamma_down=float("nan"))
    linear = LinearStep(step_up=0.002, step_down=0.001, gamma_up=0.3, gamma_down=0.6)
    assert with_parameters(linear, {"model": "power-step"}) == PowerStep(0.002, 0.001, 0.3, 0.6)
    assert with_parameters(linear, {"gamma_up": 0.1}).gamma_up == 0.1
    assert SoftBounds().parameters() == {
        "step_up": 0.001,
        "step_down": 0.001,
        "gamma_up": 1.0,
        "gamma_down": 1.0,
    }
