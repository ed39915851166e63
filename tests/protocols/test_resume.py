"""Resuming stopped runs: no pulse or update is applied twice, and the results match an unbroken run.

Each test runs the same protocol twice on identically seeded arrays: once without a stop, once
stopped (by an exception from a callback, as a Ctrl-C would stop it) and resumed from the run
store on the same arrays (the chip keeps its state between the two). Deterministic arrays (no
read noise; the simulator's pulse noise comes from its own stream, which reads do not touch)
make the two runs comparable value for value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hil import Pulse
from hil.backend import CrossbarBackend
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

PULSE = Pulse(amplitude=5.0, width=1e-6)
QUICK_CAL = CalibrationSettings(symmetry_max_pairs=40, symmetry_window=10)
DEVICES = [(0, 0), (1, 1), (0, 1)]


class Stop(Exception):
    """Raised from a callback to stop a protocol mid-run."""


def stop_at(count: int) -> Callable[[int, int], None]:
    def progress(done: int, total: int) -> None:
        if done == count:
            raise Stop(f"stopped after {done} of {total}")

    return progress


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
    # Same devices, same pulse noise, exact reads: the same traces and the same table.
    np.testing.assert_array_equal(result.g, expected.g)
    for name in ("g_edges", "up", "down", "up_counts", "down_counts"):
        np.testing.assert_array_equal(getattr(result.table, name), getattr(expected.table, name))
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
