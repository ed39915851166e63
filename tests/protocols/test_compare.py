"""hil compare / protocols.compare: the same protocols on a bench and its model, residuals per quantity."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from hil.cli import main
from hil.jumptable import JumpTable
from protocols.compare import CompareSettings, compare
from protocols.plots import comparison_figure
from simulators.chip import SimulatedChip
from simulators.presets import preset

QUICK = CompareSettings(cycles=1, train=400, pairs=900)
STEP_QUANTITIES = {
    f"mean {d} step at {p} of the range" for d in ("up", "down") for p in ("25%", "50%", "75%")
}


@pytest.mark.slow
def test_a_model_of_the_benchs_population_passes_and_one_with_steps_20_percent_larger_is_flagged() -> None:
    """The bench: 64 devices of protonic-asymmetric (step spread 20 % between devices); the
    models: 256 fresh devices of the same preset, and of the preset with both steps x 1.2.
    The residuals' uncertainty is the devices' scatter / sqrt(n), so a 20 % step error is
    4-6 uncertainties on the bench's 64 devices."""
    p = preset("protonic-asymmetric")
    bench = SimulatedChip(seed=0).array("A", (8, 8))
    same = compare(bench, SimulatedChip(seed=1).array("A", (16, 16)), bench.nominal_pulse, QUICK)
    assert same.flagged == []
    scaled = SimulatedChip(seed=1, step_up=1.2 * p.step.step_up, step_down=1.2 * p.step.step_down)
    off = compare(bench, scaled.array("A", (16, 16)), bench.nominal_pulse, QUICK)
    flagged = set(off.flagged)
    assert len(flagged & STEP_QUANTITIES) >= 4 and "mean step at the symmetry point" in flagged
    # Scaling both steps leaves the symmetry point and the read noise where they were.
    assert "symmetry point" not in flagged and "read noise of one read" not in flagged
    for q in off.quantities:
        assert q.residual == pytest.approx(q.model - q.bench)
        assert q.uncertainty == pytest.approx(np.hypot(q.bench_se, q.model_se))
    texts = [t.get_text() for ax in comparison_figure(off).axes for t in ax.get_yticklabels()]
    assert "symmetry point" in texts


def test_compare_refuses_a_device_count_it_cannot_scatter() -> None:
    chip = SimulatedChip(seed=0)
    a = chip.array("A", (2, 2))
    with pytest.raises(ValueError, match=r"bench devices must lie in 2\.\.4"):
        compare(a, chip.array("B", (2, 2)), a.nominal_pulse, CompareSettings(devices=1))


def test_hil_compare_against_the_benchs_own_table_is_a_stored_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HIL_LOCK_DIR", str(tmp_path / "locks"))
    quick = ["--bench", "sim", "--shape", "2x2", "--no-progress", "--store", "s.sqlite"]
    assert main(["run", "jump-table", *quick, "--devices", "2", "--cycles", "1", "--train", "200",
                 "--out", "jt"]) == 0  # fmt: skip
    table = JumpTable.load(tmp_path / "jt" / "jump_table.npz")
    assert table.read_noise is not None
    argv = ["compare", "--model", "jt/jump_table.npz", *quick, "--cycles", "1", "--train", "200",
            "--pairs", "400", "--window", "100", "--training-epochs", "2", "--training-tail", "2",
            "--out", "cmp"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((tmp_path / "cmp" / "summary.json").read_text())
    assert summary["protocol"] == "compare" and len(summary["quantities"]) == 12
    assert [q["name"].split(",")[0] for q in summary["quantities"][-2:]] == ["test accuracy", "train loss"]
    for side in ("bench", "model"):  # epoch 0 (before training) and the two trained epochs
        assert len(summary["training"][side]["curves"]) == 3
    for figure in ("compare.png", "compare_training.png"):
        assert (tmp_path / "cmp" / figure).stat().st_size > 10_000
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        ((status,),) = db.execute("SELECT status FROM runs WHERE protocol='compare'").fetchall()
        (n,) = db.execute("SELECT COUNT(*) FROM points WHERE kind='compare_quantity'").fetchone()
    assert status == "completed" and n == 12
    assert main([*argv[:-2], "--training-epochs", "1", "--out", "cmp2"]) == 2  # fewer than the tail
    assert main(["compare", "--model", "no/such.npz", *quick]) == 2


def test_hil_compare_on_the_virtual_bench_carries_the_asked_shape(tmp_path: Path, monkeypatch) -> None:
    """The shipped virtual bench's A_main is 4 x 4; a comparison on more devices asks for more."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HIL_LOCK_DIR", str(tmp_path / "locks"))
    argv = ["compare", "--model", "protonic-asymmetric", "--bench", "virtual", "--shape", "2x3",
            "--devices", "2", "--cycles", "1", "--train", "50", "--pairs", "100", "--window", "25",
            "--training-epochs", "0", "--no-progress", "--store", "s.sqlite", "--out", "cmp"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((tmp_path / "cmp" / "summary.json").read_text())
    assert summary["bench"]["arrays"]["A_main"] == [2, 3]


def test_the_training_quantities_are_the_tail_means_with_the_larger_of_jitter_and_binomial_error() -> None:
    from protocols.compare import TrainingPlan, _training_quantities
    from protocols.training.result import EpochRecord, TrainingResult

    def run(accuracies, losses) -> TrainingResult:
        result = TrainingResult("sgd", "SGD", {"name": "iris", "n_test": 100}, {}, {})
        result.epochs[:] = [
            EpochRecord(k, loss, 0.5, loss, acc, None, 0.1)
            for k, (acc, loss) in enumerate(zip(accuracies, losses, strict=True))
        ]
        return result

    bench = run([0.1, 0.80, 0.90, 0.85], [3.0, 0.5, 0.4, 0.6])
    model = run([0.1, 0.50, 0.50, 0.50], [3.0, 0.5, 0.5, 0.5])
    accuracy, loss = _training_quantities(bench, model, 3, 3.0)
    # Bench: mean 85 %, spread 5 % (std of 80, 90, 85) against a binomial 3.57 %: the spread.
    assert accuracy.bench == pytest.approx(85.0) and accuracy.bench_se == pytest.approx(5.0)
    # Model: no spread; the binomial error of 50 % on 100 samples, 5 %.
    assert accuracy.model == pytest.approx(50.0) and accuracy.model_se == pytest.approx(5.0)
    assert accuracy.z == pytest.approx(-35.0 / np.hypot(5.0, 5.0)) and not accuracy.inside
    assert loss.bench == pytest.approx(0.5) and loss.bench_se == pytest.approx(0.1)
    assert loss.model_se == 0.0 and loss.inside
    with pytest.raises(ValueError, match="fewer than the tail"):
        _training_quantities(bench, model, 5, 3.0)
    chip = SimulatedChip(seed=0)
    a = chip.array("A", (2, 2))
    plan = TrainingPlan(lambda arrays: bench, chip.array, chip.array, tail=1)
    with pytest.raises(ValueError, match="at least 2"):
        compare(a, chip.array("B", (2, 2)), a.nominal_pulse, CompareSettings(), training=plan)
