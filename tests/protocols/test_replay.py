"""Figures from a stored run: the results rebuilt from the store equal the live ones, a completed
run's figures equal the originals pixel for pixel, and a stopped run replots what it stored."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.image import imread

from hil.cli import main as hil_main
from hil.store import RunNotFoundError, RunStore
from protocols.fitting import PulseTraces, fit_run, traces_from_run
from protocols.jumptable import JumpTableResult, measure_jump_table
from protocols.replay import (
    NOTE_PX,
    PROTOCOLS,
    jump_table_result_from_run,
    replot_run,
    symmetry_result_from_run,
    training_results_from_run,
)
from protocols.symmetry import find_symmetry_point
from protocols.training import (
    CalibrationSettings,
    FloatConfig,
    MLPSpec,
    SHDConfig,
    load_dataset,
    train_float,
    train_shd,
)
from protocols.training.plots import plot_learning_curves
from simulators.chip import SimulatedChip
from simulators.crossbar import SimulatedCrossbar
from tests.hil.delegating import DelegatingBackend
from tests.protocols.stopping import Stop, after_write, raise_error, stop_at

DEVICES = [(0, 0), (1, 1)]
JUMP = {"n_cycles": 2, "n_up": 40, "n_down": 40, "n_bins": 8, "noise_reads": 3}


def sim() -> SimulatedCrossbar:
    return SimulatedCrossbar.from_preset("protonic-asymmetric", (2, 2), seed=3)


def same_pixels(a: Path, b: Path) -> bool:
    x, y = imread(a), imread(b)
    return x.shape == y.shape and bool(np.array_equal(x, y))


def symmetry(backend: SimulatedCrossbar, **kwargs: Any) -> Any:
    return find_symmetry_point(backend, backend.nominal_pulse, max_pairs=60, window=10, **kwargs)


def jump_table(backend: SimulatedCrossbar | DelegatingBackend, **kwargs: Any) -> JumpTableResult:
    pulse = backend.inner.nominal_pulse if isinstance(backend, DelegatingBackend) else backend.nominal_pulse
    return measure_jump_table(backend, pulse, DEVICES, **JUMP, **kwargs)


# ---------------------------------------------------------------------- completed runs
# The figures of completed runs are compared pixel for pixel with the ones `hil` wrote, in
# test_figures_of_a_cli_run_equal_the_ones_it_wrote.
def test_symmetry_run_rebuilds_the_live_result(tmp_path: Path) -> None:
    backend = sim()
    params = {"max_pairs": 60, "window": 10, "tolerance": None, "pulse": backend.nominal_pulse}
    with RunStore(tmp_path / "runs.sqlite") as store:
        with store.start_run("symmetry-point", params, {}) as run:  # as `hil run symmetry-point` stores it
            live = symmetry(backend, recorder=run)
            run.finish("completed", summary={"protocol": "symmetry-point", **live.summary()})
        rebuilt = symmetry_result_from_run(store, run.uid)

    for name in ("g_sym", "g_sym_std", "step", "converged", "responsive", "relaxation_pairs"):
        np.testing.assert_array_equal(getattr(rebuilt, name), getattr(live, name), err_msg=name)
    # The store holds every read after a pulse and every window's estimate, not the first read.
    assert set(live.history) - set(rebuilt.history) == {"g_start", "window_relaxation"}
    for name, value in rebuilt.history.items():
        np.testing.assert_array_equal(value, live.history[name], err_msg=name)
    assert (rebuilt.pulse, rebuilt.pairs_used, rebuilt.window) == (live.pulse, live.pairs_used, live.window)
    assert rebuilt.summary() == live.summary()


def test_resumed_jump_table_run_rebuilds_the_live_result(tmp_path: Path) -> None:
    backend = sim()
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(Stop), store.start_run("jump-table", {}, {}) as run:  # no params: the plan
            jump_table(backend, recorder=run, progress=stop_at(50))  # checkpoint suffices
        checkpoint = store.load_checkpoint(run.uid)
        with store.resume_run(run.uid) as resumed:
            live = jump_table(backend, recorder=resumed, resume_from=checkpoint)
            resumed.finish("completed", summary={"protocol": "jump-table", **live.summary()})
        rebuilt = jump_table_result_from_run(store, run.uid)

    for name in ("devices", "g", "direction", "cycle", "read_noise", "resumed_at", "resume_reads"):
        np.testing.assert_array_equal(getattr(rebuilt, name), getattr(live, name), err_msg=name)
    for name in ("g_edges", "up", "down", "up_counts", "down_counts"):
        np.testing.assert_array_equal(getattr(rebuilt.table, name), getattr(live.table, name), err_msg=name)
    np.testing.assert_array_equal(rebuilt.resumed_at, [50])
    assert rebuilt.summary() == live.summary()


def training_setup() -> tuple[Any, MLPSpec, Callable[..., Any]]:
    data = load_dataset("iris", seed=0, clip=3.0)
    chip = SimulatedChip("protonic-asymmetric", seed=0)
    return data, MLPSpec((4, 4, 3)), chip.array


QUICK_CAL = CalibrationSettings(symmetry_max_pairs=40, symmetry_window=10)


def test_train_run_rebuilds_every_algorithm_and_the_learning_curves(tmp_path: Path) -> None:
    data, spec, arrays = training_setup()
    params = {"algorithms": ["shd", "fp"], "dataset": data.describe(), "network": spec.describe()}
    with RunStore(tmp_path / "runs.sqlite") as store:
        with store.start_run("train", params, {}) as run:
            shd_config = SHDConfig(epochs=1, calibration=QUICK_CAL)
            live = [
                train_shd(arrays, spec, data, arrays("L0.A_main", (5, 4)).nominal_pulse, shd_config, "SHD",
                          recorder=run),
                train_float(spec, data, FloatConfig(epochs=2), "FP (float64)", recorder=run),
            ]  # fmt: skip
            run.finish("completed", summary={"protocol": "train", "runs": [r.summary() for r in live]})
        rebuilt = training_results_from_run(store, run.uid)
        (figure,) = replot_run(store, run.uid, tmp_path / "replot")

    assert [r.summary() for r in rebuilt] == [r.summary() for r in live]
    assert [[asdict(e) for e in r.epochs] for r in rebuilt] == [[asdict(e) for e in r.epochs] for r in live]
    original = plot_learning_curves(
        live, tmp_path / "live" / "learning_curves.png", title="MLP [4, 4, 3] on iris"
    )
    assert same_pixels(figure, original)


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "symmetry-point", "--shape", "2x2", "--max-pairs", "40", "--window", "10"],
        ["run", "jump-table", "--shape", "2x2", "--cycles", "2", "--train", "30", "--bins", "10"],
        ["run", "jump-table", "--shape", "2x2", "--cycles", "2", "--train", "30", "--trains", "on"],
        ["train", "--algorithm", "fp", "--epochs", "2", "--hidden", "4"],
    ],
    ids=["symmetry-point", "jump-table", "jump-table-trains", "train"],
)
def test_figures_of_a_cli_run_equal_the_ones_it_wrote(tmp_path: Path, argv: list[str]) -> None:
    store_path, out = tmp_path / "runs.sqlite", tmp_path / "run"
    assert hil_main([*argv, "--out", str(out), "--store", str(store_path), "--no-progress"]) == 0
    with RunStore(store_path) as store:
        figures = replot_run(store, store.runs()[-1].uid, tmp_path / "replot")
    assert figures and all(same_pixels(f, out / f.name) for f in figures)


# ---------------------------------------------------------------------- stopped runs
def test_stopped_symmetry_run_replots_its_windows_with_a_note(tmp_path: Path) -> None:
    params = {"max_pairs": 60, "window": 10, "pulse": sim().nominal_pulse}
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(Stop), store.start_run("symmetry-point", params, {}) as run:
            symmetry(sim(), recorder=run, progress=stop_at(25))
        with pytest.raises(Stop), store.start_run("symmetry-point", params, {}) as early:
            symmetry(sim(), recorder=early, progress=stop_at(7))
        rebuilt = symmetry_result_from_run(store, run.uid)
        figures = replot_run(store, run.uid, tmp_path / "replot")
        with pytest.raises(ValueError, match="before its first window"):
            replot_run(store, early.uid, tmp_path / "early")

    whole = symmetry(sim())  # the same seed: the stopped run's reads are its first 25 pairs
    assert rebuilt.pairs_used == 25 and rebuilt.history["g_up"].shape == (25, 2, 2)
    np.testing.assert_array_equal(rebuilt.history["g_up"], whole.history["g_up"][:25])
    np.testing.assert_array_equal(rebuilt.history["window_end"], [10, 20])
    np.testing.assert_array_equal(rebuilt.g_sym, whole.history["window_mean"][1])
    # Each figure carries the note (red text) in a strip above what the plotting function draws.
    assert [f.name for f in figures] == ["symmetry_convergence.png", "symmetry_histogram.png"]
    for figure in figures:
        strip = imread(figure)[:NOTE_PX, :, :3]
        assert np.any((strip[..., 0] > 0.6) & (strip[..., 2] < 0.4))


def test_stopped_jump_table_replots_the_pulses_it_applied(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(Stop), store.start_run("jump-table", {}, {}) as run:
            jump_table(sim(), recorder=run, progress=stop_at(70))  # 40 up and 30 down pulses
        assert store.run(run.uid).status == "failed"
        rebuilt = jump_table_result_from_run(store, run.uid)
        figures = replot_run(store, run.uid, tmp_path / "replot")
    whole = jump_table(sim())
    assert rebuilt.g.shape == (71, 2)
    np.testing.assert_array_equal(rebuilt.g, whole.g[:71])
    np.testing.assert_array_equal(rebuilt.direction, whole.direction[:70])
    np.testing.assert_array_equal(rebuilt.cycle, whole.cycle[:70])
    assert [f.name for f in figures] == ["jump_table_steps.png", "jump_table_heatmap.png", "jump_traces.png"]
    assert all(f.stat().st_size > 0 for f in figures)


def test_stopped_training_replots_partial_curves(tmp_path: Path) -> None:
    data, spec, _ = training_setup()

    def stop_after_epoch_1(record: Any) -> None:
        if record.epoch == 1:
            raise Stop("stopped after epoch 1")

    params = {"algorithms": ["fp", "sgd"], "dataset": data.describe(), "network": spec.describe()}
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(Stop), store.start_run("train", params, {}) as run:
            train_float(spec, data, FloatConfig(epochs=3), "FP", on_epoch=stop_after_epoch_1, recorder=run)
        (result,) = training_results_from_run(store, run.uid)
        (figure,) = replot_run(store, run.uid, tmp_path / "replot")
    whole = train_float(spec, data, FloatConfig(epochs=3))

    def curve(epochs: list[Any]) -> list[dict[str, Any]]:  # without wall-clock times
        return [{k: v for k, v in asdict(e).items() if k != "seconds"} for e in epochs]

    assert curve(result.epochs) == curve(whole.epochs[:2])
    assert result.label == "FP (1 of 3 epochs)"
    assert result.parameters == asdict(FloatConfig(epochs=3))
    assert figure.is_file()


# ---------------------------------------------------------------------- bad input
def test_unknown_run_unknown_protocol_and_empty_runs_raise_clear_errors(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(RunNotFoundError, match="no run '99'"):
            replot_run(store, 99, tmp_path)
        with store.start_run("write-verify", {}, {}) as other:
            pass
        with pytest.raises(ValueError, match=r"'write-verify' run.*symmetry-point, jump-table, train"):
            replot_run(store, other.uid, tmp_path)
        with store.start_run("train", {"algorithms": ["shd"]}, {}) as empty:
            pass
        with pytest.raises(ValueError, match="no evaluated epoch"):
            replot_run(store, empty.uid, tmp_path)
        with store.start_run("jump-table", {}, {}) as nothing:
            pass
        with pytest.raises(ValueError, match="no jump-table plan"):
            replot_run(store, nothing.uid, tmp_path)
    assert set(PROTOCOLS) == {"symmetry-point", "jump-table", "train", "balance"}


# ---------------------------------------------------------------------- train runs
def test_resumed_train_run_rebuilds_the_live_result_and_its_traces(tmp_path: Path) -> None:
    backend = sim()
    with RunStore(tmp_path / "runs.sqlite") as store:
        # 2 devices, trains of 40: progress 40, 80 | 120, 160 per cycle; stopped after device 1's up train.
        with pytest.raises(Stop), store.start_run("jump-table", {}, {}) as run:
            jump_table(backend, trains=True, recorder=run, progress=stop_at(120))
        with store.resume_run(run.uid) as resumed:
            live = jump_table(
                backend, trains=True, recorder=resumed, resume_from=store.load_checkpoint(run.uid)
            )
            resumed.finish("completed", summary={"protocol": "jump-table", **live.summary()})
        rebuilt = jump_table_result_from_run(store, run.uid)
        traces = traces_from_run(store, run.uid)
        fitted = fit_run(store, run.uid, model="soft-bounds")

    # The figures are drawn from these alone, so they are the live ones (the pixels of a train
    # run's figures are compared in test_figures_of_a_cli_run_equal_the_ones_it_wrote).
    for name in ("devices", "g", "direction", "cycle", "read_noise", "resumed_at", "resume_reads"):
        np.testing.assert_array_equal(getattr(rebuilt, name), getattr(live, name), err_msg=name)
    for name in ("g_edges", "up", "down", "up_counts", "down_counts"):
        np.testing.assert_array_equal(getattr(rebuilt.table, name), getattr(live.table, name), err_msg=name)
    assert live.parameters["trains"] is True and rebuilt.summary() == live.summary()
    # Resumed: device 1 read again before its down train (pulse 40), device 0 before cycle 1 (80).
    np.testing.assert_array_equal(live.resumed_at, [40, 80])
    # Fitting sees the traces of the live result.
    expected = PulseTraces.from_jump_table(live)
    for name in ("g", "direction", "devices", "read_noise", "resumed_at", "resume_reads"):
        np.testing.assert_array_equal(getattr(traces, name), getattr(expected, name), err_msg=name)
    assert traces.pulse == live.pulse and len(fitted.devices) == 2


def test_stopped_train_run_replots_and_fits_what_every_device_reached(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(Stop), store.start_run("jump-table", {}, {}) as run:
            jump_table(sim(), trains=True, recorder=run, progress=stop_at(200))  # cycle 1: device 0's up
        rebuilt = jump_table_result_from_run(store, run.uid)
        traces = traces_from_run(store, run.uid)
        figures = replot_run(store, run.uid, tmp_path / "replot")
    whole = jump_table(sim(), trains=True)  # the same seed: the stopped run's trains are its first 5
    # The replot goes as far as any device got (device 0: 120 pulses), NaN where device 1 has none.
    assert rebuilt.g.shape == (121, 2)
    np.testing.assert_array_equal(rebuilt.g[:, 0], whole.g[:121, 0])
    np.testing.assert_array_equal(rebuilt.g[:81, 1], whole.g[:81, 1])
    assert np.all(np.isnan(rebuilt.g[81:, 1]))
    # The fit takes the pulses both devices went through.
    np.testing.assert_array_equal(traces.g, whole.g[:81])
    for figure in figures:
        strip = imread(figure)[:NOTE_PX, :, :3]
        assert np.any((strip[..., 0] > 0.6) & (strip[..., 2] < 0.4))


def test_a_run_with_a_lost_train_rebuilds_its_gap_and_fits_without_that_device(tmp_path: Path) -> None:
    backend = DelegatingBackend(sim())
    # 7 pulses into device 1's down train
    backend.around_write = after_write(120 + 7, raise_error("trigger cable unplugged"))
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(RuntimeError), store.start_run("jump-table", {}, {}) as run:
            jump_table(backend, trains=True, recorder=run)
        backend.around_write = None
        with store.resume_run(run.uid) as resumed:
            live = jump_table(
                backend, trains=True, recorder=resumed, resume_from=store.load_checkpoint(run.uid)
            )
            resumed.finish("completed", summary={"protocol": "jump-table", **live.summary()})
        rebuilt = jump_table_result_from_run(store, run.uid)
        with pytest.warns(UserWarning, match=r"device\(s\) \(1, 1\) lost a train"):
            traces = traces_from_run(store, run.uid)

    assert np.all(np.isnan(live.g[41:81, 1])) and np.sum(np.isnan(live.g)) == 40
    np.testing.assert_array_equal(rebuilt.g, live.g)  # NaN where NaN
    np.testing.assert_array_equal(rebuilt.resume_reads, live.resume_reads)
    for name in ("g_edges", "up", "down", "up_counts", "down_counts"):
        np.testing.assert_array_equal(getattr(rebuilt.table, name), getattr(live.table, name), err_msg=name)
    assert rebuilt.summary() == live.summary()
    np.testing.assert_array_equal(traces.devices, [(0, 0)])
    np.testing.assert_array_equal(traces.g[:, 0], live.g[:, 0])
