"""Networks fit the bench: a virtual bench is built to carry the network, a bench file's arrays
set the default network, and a network a bench file cannot carry names the option to change."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from hil.benchconfig import load_bench_config
from hil.benches import bench_array_shapes, open_bench, virtual_bench_file
from hil.cli import main
from protocols.training.arrays import carried_network, network_arrays
from protocols.training.network import MLPSpec
from simulators.virtual.layout import carrying

IRIS_BENCH_ARRAYS = {"A_main": (4, 4), **{f"L0.{k}": (5, 4) for k in ("A_main", "A_ref", "C_main")},
                     **{f"L1.{k}": (5, 3) for k in ("A_main", "A_ref", "C_main")}}  # fmt: skip


def test_network_arrays_name_every_array_each_algorithm_asks_for() -> None:
    arrays = network_arrays(["shd", "sgd", "fp"], MLPSpec((4, 8, 3)))
    assert arrays == {
        **{f"L0.{k}": (5, 8) for k in ("A_main", "A_ref", "C_main")},
        **{f"L1.{k}": (9, 3) for k in ("A_main", "A_ref", "C_main")},
        **{f"L0.{k}": (5, 8) for k in ("W_main", "W_ref")},
        **{f"L1.{k}": (9, 3) for k in ("W_main", "W_ref")},
    }
    assert network_arrays(["fp"], MLPSpec((4, 8, 3))) == {}




def test_the_carried_network_is_the_longest_chain_from_the_inputs_to_the_classes() -> None:
    assert carried_network(["shd"], IRIS_BENCH_ARRAYS, 4, 3) == MLPSpec((4, 4, 3))
    assert carried_network(["sgd"], IRIS_BENCH_ARRAYS, 4, 3) is None  # no W arrays
    assert carried_network(["shd"], IRIS_BENCH_ARRAYS, 4, 5) is None  # no layer ends in 5 classes
    assert carried_network(["shd"], IRIS_BENCH_ARRAYS, 4, 4) == MLPSpec((4, 4))  # layer 0 alone
    single = {**IRIS_BENCH_ARRAYS, "L0.A_ref": (5, 3)}  # layer 0's arrays disagree
    assert carried_network(["shd"], single, 4, 3) is None
    # layer 0 alone and layers 0-1 both end in 3 classes: the longer network wins
    both = {f"L0.{k}": (5, 3) for k in ("W_main", "W_ref")} | {f"L1.{k}": (4, 3) for k in ("W_main", "W_ref")}
    assert carried_network(["sgd"], both, 4, 3) == MLPSpec((4, 3, 3))


def test_the_virtual_layout_carries_the_file_arrays_and_the_requested_ones() -> None:
    base = load_bench_config(virtual_bench_file())
    config = carrying(base, {"L0.A_main": (5, 8), "L0.W_main": (5, 8)})
    shapes = {name: region.shape for name, region in config.arrays.items()}
    assert shapes == {**IRIS_BENCH_ARRAYS, "L0.A_main": (5, 8), "L0.W_main": (5, 8)}
    pads = {terminal: np.array(grid) for terminal, grid in config.pins.items()}
    assert pads["gate"].shape == pads["drain"].shape == config.chip_shape
    # every device has its own gate and drain pad; each array one source pad of its own
    devices = np.concatenate([pads["gate"].ravel(), pads["drain"].ravel()])
    assert len(set(devices.tolist())) == devices.size
    sources = {
        name: {int(p) for p in pads["source"][: r.row_stop, r.col_start : r.col_stop].ravel()}
        for name, r in config.arrays.items()
    }
    assert all(len(s) == 1 for s in sources.values())
    assert len(set.union(*sources.values())) == len(config.arrays)
    assert not set.union(*sources.values()) & set(devices.tolist())
    with pytest.raises(ValueError, match="at least one row"):
        carrying(base, {"L0.W_main": (0, 3)})


def test_a_virtual_bench_opened_with_arrays_carries_them_on_the_same_devices_as_sim() -> None:
    from simulators.chip import SimulatedChip

    arrays = {"L0.W_main": (3, 5)}
    with open_bench("virtual", seed=2, arrays=arrays) as bench, SimulatedChip(seed=2) as chip:
        read = bench.array("L0.W_main", (3, 5)).read()
        same = chip.array("L0.W_main", (3, 5)).read()
        assert bench.array("A_main", (4, 4)).shape == (4, 4)  # the shipped file's arrays stay
    # the instrument read and the simulator's agree to the read noise (a few percent of G)
    assert np.allclose(read, same, rtol=0.1)


def test_bench_array_shapes_reads_a_bench_file_and_nothing_for_sim_or_virtual() -> None:
    assert bench_array_shapes("sim") is None and bench_array_shapes("virtual") is None
    assert bench_array_shapes(virtual_bench_file()) == IRIS_BENCH_ARRAYS


@pytest.mark.parametrize(
    ("argv", "sizes"),
    [
        (["shd,fp", "--bench", str(virtual_bench_file())], (4, 4, 3)),  # what the file's arrays carry
        (["shd,sgd,fp", "--bench", "virtual"], (4, 8, 3)),  # the data set's default, the bench built for it
        (["shd,sgd,fp", "--bench", "virtual", "--hidden", "6"], (4, 6, 3)),
    ],
)
def test_train_takes_the_network_the_bench_carries_or_builds_the_bench_for_it(
    argv: list[str], sizes: tuple[int, ...]
) -> None:
    from hil.cli import build_parser
    from hil.cli.train import training_from

    args = build_parser().parse_args(["train", "--algorithm", *argv])
    assert training_from(args).spec.sizes == sizes
    if argv[2] == "virtual":  # what the virtual bench is built to carry: every array, this network
        assert args.bench_arrays == network_arrays(["shd", "sgd"], MLPSpec(sizes))


def test_a_hidden_width_a_bench_file_cannot_carry_names_the_option(tmp_path: Path, capsys) -> None:
    argv = ["train", "--bench", str(virtual_bench_file()), "--hidden", "8", "--g-range", "1e-6,2e-5",
            "--out", str(tmp_path / "t")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "has array 'L0.A_main' of 5 x 4, not 5 x 8" in err
    assert "use --hidden 4 (the largest network its arrays carry)" in err
    assert "Traceback" not in err


def test_a_bench_file_without_the_algorithm_arrays_says_so(tmp_path: Path, capsys) -> None:
    argv = ["train", "--algorithm", "sgd", "--bench", str(virtual_bench_file()), "--g-range", "1e-6,2e-5",
            "--out", str(tmp_path / "t")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert re.search(r"--bench: the arrays of bench file .* carry no network from 4 inputs to 3 classes", err)
    assert "L0.W_main" in err and "--bench virtual" in err
