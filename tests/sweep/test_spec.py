"""A sweep spec expands to the points it names, each once, and a wrong spec is refused in
plain words before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.cli.sweep import SimulatedDevices
from hil.faults import ExitStatus, exit_status
from protocols.sweep import SpecError, device_overrides, expand, load_spec, parse_spec, validate
from protocols.training.registry import ALGORITHMS

ROOT = Path(__file__).resolve().parents[2]


def _raw(**changes: object) -> dict:
    raw = {
        "name": "t",
        "base": {
            "preset": "protonic-asymmetric",
            "dataset": "iris",
            "hidden": [4],
            "epochs": 2,
            "algorithms": ["sgd", "shd", "fp"],
        },
        "axes": {"device.asymmetry": [0.0, 0.5, 1.0], "shd.eta_c": [0.01, 0.05], "seed": [0, 1]},
    }
    raw.update(changes)
    return raw


def test_a_grid_expands_to_every_combination_with_each_axis_where_it_applies() -> None:
    tasks = expand(parse_spec(_raw()))
    by_algorithm = {name: [t for t in tasks if t.algorithm == name] for name in ("sgd", "shd", "fp")}
    # SGD: 3 asymmetries x 2 seeds (eta_c is SHD's); SHD: 3 x 2 x 2; FP: one per seed.
    assert [len(by_algorithm[n]) for n in ("sgd", "shd", "fp")] == [6, 12, 2]
    assert len({t.key for t in tasks}) == len(tasks) == 20
    assert [t.index for t in tasks] == list(range(20))
    assert all("device.asymmetry" not in t.coords and t.preset is None for t in by_algorithm["fp"])
    assert all("shd.eta_c" not in t.coords for t in by_algorithm["sgd"])
    shd = by_algorithm["shd"][1]
    assert shd.config == {"eta_c": shd.coords["shd.eta_c"], "epochs": 2, "seed": shd.coords["seed"]}


def test_a_list_spec_runs_its_rows() -> None:
    raw = _raw(
        mode="list", points=[{"device.c2c_noise": 0.1, "seed": 3}, {"device.c2c_noise": 0.2, "seed": 4}]
    )
    del raw["axes"]
    tasks = expand(parse_spec(raw))
    assert [(t.algorithm, t.seed) for t in tasks] == [
        ("sgd", 3),
        ("shd", 3),
        ("fp", 3),
        ("sgd", 4),
        ("shd", 4),
        ("fp", 4),
    ]
    assert tasks[3].device == {"c2c_noise": 0.2}


def test_the_derived_axes_keep_the_step_at_the_symmetry_point() -> None:
    devices = SimulatedDevices()
    for gamma in (0.0, 0.5, 1.0):
        for states in (100, 1000):
            config = devices.resolve(
                "protonic-asymmetric", device_overrides({"asymmetry": gamma, "states": states})
            )
            # Balanced steps: the symmetry point is mid-range, where a linear step is a (1 - γ/2).
            assert config["model"] == "linear-step" and config["gamma_up"] == config["gamma_down"] == gamma
            assert config["step_up"] * (1 - gamma / 2) == pytest.approx(1 / states, rel=1e-12)
            # Noise and variation stay the preset's: only the shape of the step changes.
            assert (config["c2c_noise"], config["dtod_step"]) == (0.3, 0.2)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"axes": {"device.asymmetry": []}}, "non-empty list"),
        ({"axes": {"colour": [1, 2]}}, "axis 'colour' is none of"),
        (
            {"axes": {"fp.lr": [0.1]}, "base": {**_raw()["base"], "algorithms": ["sgd"]}},
            "which [base] algorithms does not train",
        ),
        ({"mode": "random"}, "mode must be grid or list"),
        ({"base": {**_raw()["base"], "algorithms": ["adam"]}}, "unknown algorithm 'adam'"),
        ({"base": {**_raw()["base"], "dataset": "mnist"}}, "dataset must be one of"),
        ({"base": {**_raw()["base"], "epochs": 0}}, "epochs must be a whole number >= 1"),
    ],
)
def test_a_wrong_spec_is_refused_with_what_to_write(change: dict, words: str) -> None:
    with pytest.raises(SpecError, match=words.replace("[", r"\[").replace("]", r"\]")) as caught:
        parse_spec(_raw(**change), source="spec.toml")
    assert str(caught.value).startswith("spec.toml: ")
    assert exit_status(caught.value) == ExitStatus.USAGE


@pytest.mark.parametrize(
    ("axes", "words"),
    [
        ({"device.c2c_noise": [0.1, 2.0]}, "c2c_noise"),
        ({"device.colour": [1]}, "unknown DeviceConfig field"),
        ({"shd.eta_z": [1]}, "shd has no hyperparameter eta_z"),
        ({"device.asymmetry": [1.5]}, r"asymmetry must lie in \[0, 1\]"),
    ],
)
def test_a_bad_value_is_refused_naming_its_point_before_anything_runs(axes: dict, words: str) -> None:
    with pytest.raises(SpecError, match=words) as caught:
        validate(expand(parse_spec(_raw(axes=axes))), SimulatedDevices())
    assert "point " in str(caught.value)


def test_the_shipped_specs_load_and_validate() -> None:
    for path in [
        *sorted((ROOT / "examples" / "sweeps").glob("*.toml")),
        ROOT / "protocols/sweep/specs/shd-paper-asymmetry.toml",
    ]:
        spec = load_spec(path)
        validate(expand(spec), SimulatedDevices())


def test_the_buffered_algorithms_take_their_fields_and_nested_fields_as_axes() -> None:
    raw = _raw(
        axes={
            "ttv2.buffer.threshold": [0.5, 2.0],
            "cttv2.chop_period": [10, 40],
            "agad.reference.offset": [0.0, 0.03],
        }
    )
    raw["base"] |= {"algorithms": ["ttv2", "cttv2", "agad"], "agad": {"reference": {"placement": "symmetry"}}}
    tasks = expand(parse_spec(raw))
    assert len(tasks) == 3 * 2  # each algorithm varies along its own axis only
    built = {
        name: [ALGORITHMS[name].build_config(t.config) for t in tasks if t.algorithm == name]
        for name in ALGORITHMS
    }
    assert [c.buffer.threshold for c in built["ttv2"]] == [0.5, 2.0]
    assert built["ttv2"][0].buffer.eta_h == 0.03  # the other buffer fields at their defaults
    assert [c.chop_period for c in built["cttv2"]] == [10, 40]
    placed = [(c.reference.placement, c.reference.offset) for c in built["agad"]]
    assert placed == [("symmetry", 0.0), ("symmetry", 0.03)]  # [base.agad] and the axis merged


def test_a_missing_spec_file_says_where_examples_are(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="examples/sweeps"):
        load_spec(tmp_path / "none.toml")
    (tmp_path / "bad.toml").write_text("name = [")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(tmp_path / "bad.toml")


def test_the_paper_sweep_is_noise_matched_and_varies_only_the_asymmetry() -> None:
    from hil.cli import build_parser
    from protocols.sweep.paper import paper_spec

    assert build_parser().parse_args(["reproduce", "shd-paper", "--sweep"]).sweep is True
    tasks = expand(paper_spec())
    analog = [t for t in tasks if t.preset is not None]
    levels = sorted({t.coords["device.asymmetry"] for t in analog})
    assert len(levels) >= 5 and levels[0] == 0.0 and levels[-1] == 1.0
    assert {t.seed for t in tasks} == {0, 1, 2}
    assert {t.algorithm for t in tasks} == {"sgd", "shd", "fp"}
    assert all(t.config["reference"] == "symmetry" for t in analog if t.algorithm == "sgd")
    devices = SimulatedDevices()
    resolved = [devices.resolve(t.preset, t.device) for t in analog]
    shape = {"gamma_up", "gamma_down", "step_up", "step_down"}
    rest = [{k: v for k, v in d.items() if k not in shape} for d in resolved]
    assert all(r == rest[0] for r in rest)  # noise, variation, ranges, pulse response: the same
    steps_at_g_sym = {round(d["step_up"] * (1 - d["gamma_up"] / 2), 12) for d in resolved}
    assert steps_at_g_sym == {0.001}  # and 1000 states at the symmetry point throughout
    assert len(tasks) == len(levels) * 3 * 2 + 3  # FP once per seed
