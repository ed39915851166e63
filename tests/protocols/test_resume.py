"""Resuming stopped runs: no pulse or update is applied twice, and the results match an unbroken run.

Each test runs the same protocol twice on identically seeded arrays: once without a stop, once
stopped (by an exception from a callback, as a Ctrl-C would stop it) and resumed from the run
store on the same arrays (the chip keeps its state between the two). Deterministic arrays (no
read noise; the simulator's pulse noise comes from its own stream, which reads do not touch)
make the two runs comparable value for value.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hil import Pulse
from hil.backend import CrossbarBackend
from hil.interrupts import StopRequested, interrupt_guard
from hil.jumptable import JumpTable
from hil.mock import IdealCrossbar
from hil.store import RunStore
from protocols.jumptable import JumpTableResult, measure_jump_table
from protocols.training import (
    CalibrationSettings,
    FloatConfig,
    MLPSpec,
    SHDConfig,
    TrainingResult,
    load_dataset,
    train_float,
    train_shd,
)
from protocols.training.sgd import SGDConfig, train_sgd
from simulators.crossbar import SimulatedCrossbar
from tests.hil.delegating import DelegatingBackend
from tests.protocols.stopping import Stop, after_write, raise_error, stop_at

PULSE = Pulse(amplitude=5.0, width=1e-6)
QUICK_CAL = CalibrationSettings(symmetry_max_pairs=40, symmetry_window=10)
DEVICES = [(0, 0), (1, 1), (0, 1)]


# ---------------------------------------------------------------------- jump table
def quiet_sim() -> DelegatingBackend:
    """protonic-asymmetric devices with cycle-to-cycle noise and device variation, exact reads."""
    inner = SimulatedCrossbar.from_preset("protonic-asymmetric", (2, 2), seed=7, read_noise=0.0)
    return DelegatingBackend(inner)


def jump_table(backend: CrossbarBackend, **kwargs: Any) -> JumpTableResult:
    return measure_jump_table(backend, backend.inner.nominal_pulse, DEVICES, n_cycles=3, n_up=40,  # type: ignore[attr-defined]
                              n_down=60, n_bins=8, noise_reads=3, **kwargs)  # fmt: skip


def test_resumed_jump_table_applies_each_pulse_once_and_equals_an_unbroken_run(tmp_path: Path) -> None:
    whole = quiet_sim()
    expected = jump_table(whole)

    backend = quiet_sim()
    with RunStore(tmp_path / "runs.sqlite") as store:
        # Stopped twice: mid-train (pulse 75) and mid-cycle (pulse 190), resumed each time.
        with pytest.raises(Stop), store.start_run("jump-table", {}, {}) as run:
            jump_table(backend, recorder=run, progress=stop_at(75))
        assert backend.pulses[0, 0] == 75
        with pytest.raises(Stop), store.resume_run(run.uid) as resumed:
            jump_table(
                backend, recorder=resumed, progress=stop_at(190), resume_from=store.load_checkpoint(run.uid)
            )
        checkpoint = store.load_checkpoint(run.uid)
        with store.resume_run(run.uid) as resumed:
            result = jump_table(backend, recorder=resumed, resume_from=checkpoint)
        info = store.run(run.uid)
        jumps = [p.step for p in store.points(run.uid, kind="jump")]

    # Every chosen device got exactly the pulses of one unbroken run (3 x (40 + 60)), the others none.
    np.testing.assert_array_equal(backend.pulses, whole.pulses)
    assert backend.pulses[1, 1] == 300 and backend.pulses[1, 0] == 0
    # Each pulse is recorded once, in order, in the one run, which ends completed.
    assert jumps == list(range(1, 301)) and info.status == "completed"
    np.testing.assert_array_equal(result.resumed_at, [75, 190])
    # Same devices, same pulse noise, exact reads: the same traces and the same table. A resume's
    # fresh read breaks a run of steps for the read-noise estimate, which then rests on fewer
    # pairs and differs by its own scatter (here ~0 of 1.4 nS); with the unbroken run's estimate
    # the table is the same to the bit.
    np.testing.assert_array_equal(result.g, expected.g)
    unbroken, broken = expected.step_read_noise(), result.step_read_noise()
    assert broken.pairs < unbroken.pairs
    assert abs(broken.variance - unbroken.variance) < 2 * unbroken.variance_stderr
    rebuilt = JumpTable.from_samples(
        *result.samples(), n_bins=8, smoothing=result.table.smoothing, read_noise=unbroken
    )
    for name in ("g_edges", "up", "down", "up_counts", "down_counts"):
        np.testing.assert_array_equal(getattr(rebuilt, name), getattr(expected.table, name))
    np.testing.assert_array_equal(result.read_noise, expected.read_noise)


def test_resumed_jump_table_starts_from_a_fresh_read() -> None:
    """What a device does while the run stands still (here: it drifts) belongs to no pulse."""
    step = 20e-9
    backend = IdealCrossbar((2, 2), g_step=step)

    class Memory:
        def __init__(self) -> None:
            self.points: list[Any] = []
            self.states: dict[str, dict[str, Any]] = {}

        def record(self, kind: str, step: int | None = None, /, **values: Any) -> None:
            from hil.recording import Point

            arrays = {k: v for k, v in values.items() if isinstance(v, np.ndarray)}
            scalars = {k: v for k, v in values.items() if k not in arrays}
            self.points.append(Point(len(self.points), kind, step, 0.0, scalars, arrays))

        def checkpoint(self, state: dict[str, Any], scope: str = "") -> None:
            self.states[scope] = state

    from hil.recording import Checkpoint

    memory = Memory()
    with pytest.raises(Stop):
        measure_jump_table(backend, PULSE, [(0, 0)], n_cycles=1, n_up=10, n_bins=2, noise_reads=0,
                           recorder=memory, progress=stop_at(4))  # fmt: skip
    backend.g[0, 0] += 7 * step  # drift while stopped
    checkpoint = Checkpoint("memory", memory.states, tuple(memory.points))
    result = measure_jump_table(backend, PULSE, [(0, 0)], n_cycles=1, n_up=10, n_bins=2, noise_reads=0,
                                resume_from=checkpoint)  # fmt: skip
    _, dg, direction = result.samples()
    np.testing.assert_allclose(dg, direction * step, rtol=1e-9)  # no step carries the drift
    assert result.g.shape == (21, 1)


def test_resume_with_other_settings_raises_before_any_pulse(tmp_path: Path) -> None:
    backend = quiet_sim()
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(Stop), store.start_run("jump-table", {}, {}) as run:
            jump_table(backend, recorder=run, progress=stop_at(10))
        checkpoint = store.load_checkpoint(run.uid)
    before = backend.pulses.copy()
    with pytest.raises(ValueError, match="differs in: n_up"):
        measure_jump_table(backend, backend.inner.nominal_pulse, DEVICES, n_cycles=3, n_up=41, n_down=60,
                           n_bins=8, noise_reads=3, resume_from=checkpoint)  # fmt: skip
    np.testing.assert_array_equal(backend.pulses, before)


# ---------------------------------------------------------------------- training
def counting_source(made: dict[str, DelegatingBackend]) -> Callable[[str, tuple[int, int]], CrossbarBackend]:
    """Ideal arrays that count pulses per device; each name maps to one array for the whole test
    (a resumed run gets the arrays as the stopped one left them, as on a chip)."""

    def get(name: str, shape: tuple[int, int]) -> CrossbarBackend:
        if name not in made:
            seed = sum(name.encode())
            g0 = np.random.default_rng(seed).uniform(8e-6, 12e-6, shape)
            made[name] = DelegatingBackend(IdealCrossbar(shape, g_init=g0, seed=seed))
        return made[name]

    return get


def curves(result: TrainingResult) -> list[dict[str, Any]]:
    """The learning curve without wall-clock times."""
    return [{k: v for k, v in asdict(e).items() if k != "seconds"} for e in result.epochs]


SPEC = MLPSpec((4, 4, 3))


# Stopped in epoch 2: after its last sample (before its evaluation), or mid-epoch.
@pytest.mark.parametrize("stop_after_samples", [2 * 112, 112 + 64])
def test_resumed_shd_repeats_no_update_and_equals_an_unbroken_run(
    tmp_path: Path, stop_after_samples: int
) -> None:
    data = load_dataset("iris")  # 112 training samples: progress comes every 64 and at 112
    config = SHDConfig(epochs=3, tau=2, calibration=QUICK_CAL)
    whole: dict[str, DelegatingBackend] = {}
    expected = train_shd(counting_source(whole), SPEC, data, PULSE, config)

    made: dict[str, DelegatingBackend] = {}
    seen: list[int] = []
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(Stop), store.start_run("train", {}, {}) as run:
            train_shd(counting_source(made), SPEC, data, PULSE, config, recorder=run,
                      progress=stop_at(stop_after_samples))  # fmt: skip
        checkpoint = store.load_checkpoint(run.uid)
        with store.resume_run(run.uid) as resumed:
            result = train_shd(counting_source(made), SPEC, data, PULSE, config, recorder=resumed,
                               on_epoch=lambda e: seen.append(e.epoch), resume_from=checkpoint)  # fmt: skip
        epochs_recorded = [p.step for p in store.points(run.uid, kind="epoch")]

    loop = checkpoint.state("shd")["loop"]
    assert loop["epochs_done"] == 1 and loop["position"] == stop_after_samples - 112
    # No preparation and no update twice: every device got the pulses of the unbroken run.
    for name, backend in whole.items():
        np.testing.assert_array_equal(made[name].pulses, backend.pulses, err_msg=name)
        np.testing.assert_array_equal(made[name].inner.g, backend.inner.g, err_msg=name)
    # The same number of updates and transfers, the same curve; epochs are evaluated once each.
    assert asdict(result.ops) == asdict(expected.ops)
    assert result.setup["transfers_per_layer"] == expected.setup["transfers_per_layer"] == [168, 168]
    assert curves(result) == curves(expected)
    assert seen == [2, 3]
    assert epochs_recorded == [0, 1, 2, 3]


def test_stop_during_preparation_prepares_only_the_remaining_layers(tmp_path: Path) -> None:
    data = load_dataset("iris")
    config = SGDConfig(epochs=1, calibration=QUICK_CAL)
    made: dict[str, DelegatingBackend] = {}
    source = counting_source(made)
    log: list[str] = []

    def stopping_source(name: str, shape: tuple[int, int]) -> CrossbarBackend:
        backend = source(name, shape)
        if name == "L1.W_ref":  # layer 1's reference: stop while programming it

            def hold(write: Callable[[], None]) -> None:
                raise Stop("instrument lost")

            backend.around_write = hold  # type: ignore[attr-defined]
        return backend

    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(Stop), store.start_run("train", {}, {}) as run:
            train_sgd(stopping_source, SPEC, data, PULSE, config, recorder=run)
        checkpoint = store.load_checkpoint(run.uid)
        made["L1.W_ref"].around_write = None
        for name, backend in made.items():
            backend.around_write = lambda write, name=name: (log.append(name), write())  # type: ignore[misc]
        with store.resume_run(run.uid) as resumed:
            result = train_sgd(source, SPEC, data, PULSE, config, recorder=resumed, resume_from=checkpoint,
                               on_epoch=lambda e: log.append(f"epoch {e.epoch}"))  # fmt: skip

    state = checkpoint.state("sgd")
    assert state["stage"] == "preparation" and len(state["setup"]["layers"]) == 1
    # Layer 0 was prepared once: the resumed run's writes before training touch layer 1 only.
    before_training = log[: log.index("epoch 0")]
    assert before_training and all(name.startswith("L1.") for name in before_training)
    assert result.setup["layers"][0] == state["setup"]["layers"][0]
    assert result.final.epoch == 1


def test_resumed_float_training_equals_an_unbroken_run(tmp_path: Path) -> None:
    data = load_dataset("iris")
    config = FloatConfig(epochs=4)
    expected = train_float(SPEC, data, config)

    def stop_at_epoch(record: Any) -> None:
        if record.epoch == 2:
            raise Stop("stopped after epoch 2")

    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(Stop), store.start_run("train", {}, {}) as run:
            train_float(SPEC, data, config, on_epoch=stop_at_epoch, recorder=run)
        with store.resume_run(run.uid) as resumed:
            result = train_float(
                SPEC, data, config, recorder=resumed, resume_from=store.load_checkpoint(run.uid)
            )
        with pytest.raises(ValueError, match="other settings"):
            train_float(
                SPEC, data, FloatConfig(epochs=4, lr=0.01), resume_from=store.load_checkpoint(run.uid)
            )
        # A finished training handed its own checkpoint trains nothing more and gives the same result.
        again = train_float(
            SPEC, data, config, on_epoch=stop_at_epoch, resume_from=store.load_checkpoint(run.uid)
        )
    assert curves(result) == curves(expected)  # weights and sample order restored exactly
    assert curves(again) == curves(expected)


# ---------------------------------------------------------------------- jump table in trains
# Trains of 30 up and 45 down pulses; progress counts the pulses of all 3 devices (450 in all)
# after every train: cycle 0 ends its devices' trains at 30, 75 | 105, 150 | 180, 225, cycle 1
# at 255, 300 | 330, 375 | 405, 450.
TRAINS = {"n_cycles": 2, "n_up": 30, "n_down": 45, "n_bins": 8, "noise_reads": 3, "trains": True}


def train_table(backend: CrossbarBackend, **kwargs: Any) -> JumpTableResult:
    return measure_jump_table(backend, backend.inner.nominal_pulse, DEVICES, **TRAINS, **kwargs)  # type: ignore[attr-defined]


def recorded_per_step(store: RunStore, uid: str) -> np.ndarray:
    """How many "jump_train" points recorded each (pulse, device index)."""
    seen = np.zeros((150, len(DEVICES)), dtype=np.int64)
    for p in store.points(uid, kind="jump_train"):
        seen[p.step - 1 : p.step - 1 + p.arrays["g"].size, p.scalars["device"]] += 1
    return seen


def test_resumed_train_run_records_every_step_once_and_equals_an_unbroken_run(tmp_path: Path) -> None:
    whole = quiet_sim()
    expected = train_table(whole)

    backend = quiet_sim()
    with RunStore(tmp_path / "runs.sqlite") as store:
        # Stopped after device 1's first up train (105) and after device 0's last train (300).
        with pytest.raises(Stop), store.start_run("jump-table", {}, {}) as run:
            train_table(backend, recorder=run, progress=stop_at(105))
        with pytest.raises(Stop), store.resume_run(run.uid) as resumed:
            train_table(backend, recorder=resumed, progress=stop_at(300),
                        resume_from=store.load_checkpoint(run.uid))  # fmt: skip
        checkpoint = store.load_checkpoint(run.uid)
        with store.resume_run(run.uid) as resumed:
            result = train_table(backend, recorder=resumed, resume_from=checkpoint)
        seen = recorded_per_step(store, run.uid)
        fresh = [(p.step, p.scalars["device"]) for p in store.points(run.uid, kind="jump_resume")]
        info = store.run(run.uid)

    assert checkpoint.state("jump_table")["plan"]["trains"] is True
    np.testing.assert_array_equal(backend.pulses, whole.pulses)  # 150 on each chosen device
    assert backend.pulses[1, 1] == 150 and backend.pulses[1, 0] == 0
    assert np.all(seen == 1) and info.status == "completed"
    # Each resume read every device that had trains left just before its next one: the first
    # resume device 1 at pulse 30, device 2 at 0 and device 0 at 75; the second devices 1 and 2
    # at 75 (device 0 had none left).
    assert fresh == [(30, 1), (0, 2), (75, 0), (75, 1), (75, 2)]
    np.testing.assert_array_equal(result.resumed_at, [0, 30, 75])
    # Exact reads of devices that do not move while stopped: the fresh reads equal the last ones,
    # so the traces and the table are those of the unbroken run.
    np.testing.assert_array_equal(result.resume_reads, result.g[[0, 30, 75]])
    np.testing.assert_array_equal(result.g, expected.g)
    for name in ("g_edges", "up", "down", "up_counts", "down_counts"):
        np.testing.assert_array_equal(getattr(result.table, name), getattr(expected.table, name))


def test_a_train_that_fails_part_way_is_never_sent_again(tmp_path: Path) -> None:
    """12 pulses into device 0's first down train the write fails (pulses applied, reads lost)."""
    backend = quiet_sim()
    backend.around_write = after_write(30 + 12, raise_error("pulse generator lost"))  # 2nd train
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(RuntimeError, match="lost"), store.start_run("jump-table", {}, {}) as run:
            train_table(backend, recorder=run)
        (lost,) = store.points(run.uid, kind="jump_train_lost")
        backend.around_write = None
        with store.resume_run(run.uid) as resumed:
            result = train_table(backend, recorder=resumed, resume_from=store.load_checkpoint(run.uid))
        seen = recorded_per_step(store, run.uid)
        fresh = [(p.step, p.scalars["device"]) for p in store.points(run.uid, kind="jump_resume")]

    assert lost.step == 31 and lost.scalars == {"device": 0, "direction": -1, "count": 45,
                                                "error": "RuntimeError: pulse generator lost"}  # fmt: skip
    # Device 0 got the 12 pulses of the failed train and no more of it: 150 - 45 + 12.
    assert backend.pulses[0, 0] == 117 and backend.pulses[1, 1] == backend.pulses[0, 1] == 150
    lost_steps = np.zeros_like(seen)
    lost_steps[30:75, 0] = 1
    np.testing.assert_array_equal(seen, 1 - lost_steps)  # every other step recorded once
    # The gap is visible: no reads after the lost pulses, and device 0's next train (cycle 1,
    # pulse 75) starts at the read the resumed run took, not at a read from before the gap.
    assert np.all(np.isnan(result.g[31:76, 0])) and np.all(np.isfinite(np.delete(result.g, np.s_[31:76], 0)))
    assert fresh == [(0, 1), (0, 2), (75, 0)]  # each device before its next train
    g_start, dg, direction = result.samples(device=0)
    assert g_start.size == 150 - 45 and np.all(np.isfinite(dg))
    row = list(result.resumed_at).index(75)
    assert g_start[30] == result.resume_reads[row, 0] != result.g[30, 0]
    assert direction[30] == 1


def test_ctrl_c_during_a_train_stops_once_the_train_is_recorded(tmp_path: Path) -> None:
    backend = quiet_sim()
    # Ctrl-C 10 pulses into the second train: the handler runs there, inside the train.
    backend.around_write = after_write(40, lambda: os.kill(os.getpid(), signal.SIGINT))
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(StopRequested), interrupt_guard(), store.start_run("jump-table", {}, {}) as run:
            train_table(backend, recorder=run)
        points = list(store.points(run.uid, "jump_train"))
        trains = [(p.step, p.scalars["device"], p.arrays["g"].size) for p in points]
        lost = list(store.points(run.uid, kind="jump_train_lost"))
    # The train in flight (device 0 down, pulses 31..75) ran to its end and was recorded.
    assert trains == [(1, 0, 30), (31, 0, 45)] and lost == []
    assert backend.pulses[0, 0] == 75 and backend.pulses.sum() == 75


def test_a_resume_keeps_the_stopped_runs_way_of_pulsing(tmp_path: Path) -> None:
    backend = quiet_sim()  # no instrument trains: trains=None alone would pulse pulse by pulse
    settings = {k: v for k, v in TRAINS.items() if k != "trains"}
    pulse = backend.inner.nominal_pulse
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(Stop), store.start_run("jump-table", {}, {}) as run:
            train_table(backend, recorder=run, progress=stop_at(30))
        checkpoint = store.load_checkpoint(run.uid)
        before = backend.pulses.copy()
        with pytest.raises(ValueError, match="differs in: trains"):
            measure_jump_table(backend, pulse, DEVICES, **settings, trains=False, resume_from=checkpoint)
        np.testing.assert_array_equal(backend.pulses, before)
        with store.resume_run(run.uid) as resumed:
            result = measure_jump_table(backend, pulse, DEVICES, **settings, recorder=resumed,
                                        resume_from=checkpoint)  # fmt: skip
        assert result.parameters["trains"] is True
        assert len(list(store.points(run.uid, kind="jump_train"))) == 2 * 3 * 2

    # A run recorded before trains existed has no "trains" in its plan: it was pulse by pulse.
    old = quiet_sim()
    with RunStore(tmp_path / "old.sqlite") as store:
        with pytest.raises(Stop), store.start_run("jump-table", {}, {}) as run:
            jump_table(old, recorder=run, progress=stop_at(20))
        checkpoint = store.load_checkpoint(run.uid)
    del checkpoint.states["jump_table"]["plan"]["trains"]
    result = jump_table(old, resume_from=checkpoint)
    assert result.parameters["trains"] is False and old.pulses[0, 0] == 300
