"""hil.benches.open_bench: the benches a script opens by name, and what every Bench answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hil.backend import CrossbarBackend
from hil.bench import Bench
from hil.benches import VIRTUAL_PULSE, BenchArgumentError, open_bench
from hil.mock import IdealCrossbar


class OneArrayBench(Bench):
    """The least a bench implements: the abstract methods only."""

    def array(self, name: str, shape: tuple[int, int]) -> CrossbarBackend:
        return IdealCrossbar(shape, seed=0)

    def describe(self) -> dict[str, object]:
        return {"bench": "one-array"}

    def close(self) -> None:
        pass


def test_a_bench_without_instruments_or_pulse_answers_the_defaults() -> None:
    bench = OneArrayBench()
    assert bench.nominal_pulse is None
    assert dict(bench.identities) == {}
    assert bench.transactions() == {}


def test_sim_is_the_simulated_chip_of_the_preset_and_seed() -> None:
    from simulators.chip import SimulatedChip

    with open_bench("sim", preset="ideal", seed=3) as bench, SimulatedChip("ideal", seed=3) as same:
        assert isinstance(bench, SimulatedChip)
        array = bench.array("A", (2, 3))
        assert bench.nominal_pulse == array.nominal_pulse
        assert np.array_equal(array.read(), same.array("A", (2, 3)).read())
        assert dict(bench.identities) == {} and bench.transactions() == {}
    assert array.closed


def test_virtual_is_the_instrument_bench_on_the_virtual_instruments() -> None:
    with open_bench("virtual", seed=0) as bench:
        assert bench.nominal_pulse == VIRTUAL_PULSE
        assert set(bench.identities) == {"smu", "pulser", "matrix"}
        assert bench.identities["smu"].startswith("KEITHLEY INSTRUMENTS,MODEL 2450")
        before = sum(n for counts in bench.transactions().values() for n in counts.values())
        bench.array("A_main", (4, 4)).read()
        after = sum(n for counts in bench.transactions().values() for n in counts.values())
        assert after > before
        assert bench.describe()["bench"] == "virtual"


@pytest.mark.parametrize(
    ("spec", "argument", "says"),
    [
        ("lab.yaml", "spec", "takes sim, virtual or a bench file (*.toml)"),
        ("missing.toml", "spec", "names no bench file"),
        ("bench.toml", "conductance_range", "GMIN,GMAX in siemens"),
    ],
)
def test_what_cannot_open_a_bench_is_named_before_anything_is_connected(
    tmp_path: Path, spec: str, argument: str, says: str
) -> None:
    (tmp_path / "bench.toml").write_text("[bench]\nname = 'x'\n")
    with pytest.raises(BenchArgumentError) as raised:
        open_bench(tmp_path / spec)
    assert raised.value.argument == argument
    assert says in str(raised.value) and str(raised.value).startswith(argument)
