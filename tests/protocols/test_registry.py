"""The registry of training algorithms: each row's arrays, scope and label are what its trainer
does, and `hil train`, the sweeps and the bench builders all read the one table."""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import pytest

from protocols.training import CalibrationSettings, MLPSpec, PlacedSHDConfig, SHDConfig, load_dataset
from protocols.training.arrays import network_arrays
from protocols.training.registry import ALGORITHMS, algorithm, scoped
from simulators.chip import SimulatedChip

# Short budgets: what is tested is which arrays are asked for, not how well they train.
CAL = {"symmetry_max_pairs": 300, "symmetry_window": 100}


def _tiny_iris():
    data = load_dataset("iris", 0.25, 0, 3.0)
    return replace(data, x_train=data.x_train[:12], y_train=data.y_train[:12])


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_a_row_names_exactly_the_arrays_its_trainer_asks_the_bench_for(name: str) -> None:
    """The virtual bench is built from the row's arrays: a trainer asking for another array
    would find the bench without it."""
    row, data = algorithm(name), _tiny_iris()
    spec = MLPSpec((data.n_features, 3, data.n_classes))
    asked: dict[str, tuple[int, int]] = {}
    with SimulatedChip(seed=0) as chip:

        def source(array: str, shape: tuple[int, int]):
            asked.setdefault(array, shape)
            return chip.array(array, shape)

        values = {"epochs": 1, "seed": 0} | ({"calibration": CAL} if row.analog else {})
        result = row.train(spec, data, row.build_config(values), arrays=source, pulse=chip.nominal_pulse)
    assert asked == network_arrays([name], spec)
    assert list(asked) == list(network_arrays([name], spec))  # in the order asked
    assert (asked == {}) == (not row.analog)
    assert result.algorithm == row.scope  # the checkpoint scope its runs are stored under
    assert scoped(result.algorithm) is row  # a stored run finds its row (legends, resumes)
    assert result.label == row.label_for(row.build_config(values))


def test_shd_with_a_reference_field_is_the_placed_variant_and_prepares_the_reference_there() -> None:
    row = algorithm("shd")
    assert type(row.build_config({"eta_c": 0.05})) is SHDConfig
    placed = row.build_config({"reference": {"offset": 0.03}})
    assert type(placed) is PlacedSHDConfig and placed.reference.offset == 0.03
    assert placed.reference.placement == "symmetry"  # the other field at its default
    data = _tiny_iris()
    with SimulatedChip(seed=0) as chip:
        config = row.build_config(
            {"reference": {"offset": 0.03}, "epochs": 1, "calibration": CalibrationSettings(**CAL)}
        )
        spec = MLPSpec((data.n_features, data.n_classes))
        result = row.train(spec, data, config, arrays=chip.array, pulse=chip.nominal_pulse)
    # only the placed preparation records where it put the reference
    assert result.setup["layers"][0]["reference"] == {"placement": "symmetry", "offset_of_range": 0.03}


def test_build_config_names_unknown_fields_and_subfields() -> None:
    with pytest.raises(ValueError, match="ttv2 has no hyperparameter eta_z; its fields are: epochs"):
        algorithm("ttv2").build_config({"eta_z": 1})
    with pytest.raises(ValueError, match="buffer has no field thresh; its fields are: eta_h, threshold"):
        algorithm("ttv2").build_config({"buffer": {"thresh": 1}})
    assert algorithm("cttv2").build_config({"buffer": {"threshold": 2.0}}).buffer.threshold == 2.0
    with pytest.raises(ValueError, match="unknown algorithm 'adam'; choose from shd, ttv2"):
        algorithm("adam")


def test_every_row_builds_its_default_config_and_refuses_another_rows() -> None:
    for row in ALGORITHMS.values():
        config = row.build_config({"epochs": 1, "seed": 0})
        assert dataclasses.asdict(config)["epochs"] == 1
        assert isinstance(config, row.config)
    with pytest.raises(TypeError, match="sgd trains with a SGDConfig, got a FloatConfig"):
        algorithm("sgd").train(MLPSpec((4, 3)), _tiny_iris(), algorithm("fp").build_config({}))


def test_an_analog_row_refuses_to_run_without_arrays_or_pulse() -> None:
    row = algorithm("agad")
    with pytest.raises(ValueError, match="AGAD trains on a bench's arrays"):
        row.train(MLPSpec((4, 3)), _tiny_iris(), row.build_config({"epochs": 1}))


def test_hil_train_offers_every_row_and_says_so_in_its_help() -> None:
    from hil.cli import build_parser
    from hil.cli.train import algorithms_arg

    assert algorithms_arg(",".join(ALGORITHMS)) == tuple(ALGORITHMS)
    train = build_parser()._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
    help_text = next(a.help for a in train._actions if a.dest == "algorithm")
    assert all(name in help_text for name in ALGORITHMS)
