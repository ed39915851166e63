"""Symmetry point with sparse reads: the pulses of every pair, the reads of every k-th only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chi2

from hil import Pulse
from hil.mock import IdealCrossbar
from protocols.records.symmetry import SymmetryPlan
from protocols.symmetry import find_symmetry_point
from simulators.crossbar import SimulatedCrossbar

PULSE = Pulse(amplitude=5.0, width=1e-6)
PULSE_SIM = Pulse(6.0, 5e-9)  # the simulated protonic devices' nominal pulse


class CountingCrossbar(IdealCrossbar):
    """The ideal mock counting its read calls."""

    reads = 0

    def _read_all(self):  # type: ignore[no-untyped-def]
        self.reads += 1
        return super()._read_all()


def test_only_every_kth_pair_is_read_and_recorded_while_every_pair_is_pulsed() -> None:
    backend = CountingCrossbar((2, 2))
    res = find_symmetry_point(backend, PULSE, max_pairs=200, window=20, read_every=5)
    assert res.pairs_used == 40  # two windows of 20: the ideal device converges at once
    assert backend.reads == 1 + 2 * 40 // 5  # the start read, then two per read pair
    assert res.history["read_pairs"].tolist() == list(range(5, 41, 5))
    assert res.summary()["parameters"]["read_every_pairs"] == 5


@pytest.mark.parametrize(("read_every", "says"), [(3, "must divide the window"), (20, "at least two reads")])
def test_a_read_interval_that_leaves_no_estimate_is_refused_before_any_pulse(
    read_every: int, says: str
) -> None:
    backend = CountingCrossbar((1, 2))
    with pytest.raises(ValueError, match=says):
        find_symmetry_point(backend, PULSE, max_pairs=100, window=20, read_every=read_every)
    assert backend.reads == 0


def test_a_plan_stored_before_sparse_reads_reads_every_pair() -> None:
    plan = SymmetryPlan((2, 2), PULSE, 100, 10, None, read_every=4)
    state = plan.to_state()
    assert SymmetryPlan.from_state(state) == plan
    del state["plan"]["read_every"]
    assert SymmetryPlan.from_state(state).read_every == 1  # type: ignore[union-attr]


def test_sparse_reads_match_the_analytic_point_with_honest_uncertainties() -> None:
    """protonic-asymmetric (relaxation ~220 pairs), two varied 4 x 4 arrays, reads every 20 and
    every 40 pairs (100 and 50 reads per window of 2000). Closed forms as in test_symmetry's
    analytic test; the relaxation part of the standard error is that of reading every pair
    (within 1 % for these intervals), the read-noise part averages over the reads taken."""
    window, z_all = 2000, []
    for seed, read_every in ((20, 20), (7, 40)):
        sim = SimulatedCrossbar.from_preset("protonic-asymmetric", shape=(4, 4), seed=seed)
        res = find_symmetry_point(
            sim, sim.nominal_pulse, max_pairs=6 * window, window=window, read_every=read_every
        )
        truth, d = sim.symmetry_points(), sim.device_parameters()
        moving = ~d.stuck
        assert res.responsive[moving].all() and res.converged[moving].all()
        assert not res.responsive[d.stuck].any()
        a_up, a_down, span = d.step_up, d.step_down, d.g_max - d.g_min
        step = a_up * a_down / (a_up + a_down) * span
        rate = 1 - (1 - a_up) * (1 - a_down)
        reads = window // read_every
        sigma_read = sim.config.read_noise * (sim.config.g_max - sim.config.g_min)
        se = np.hypot(np.sqrt(2) * sim.config.c2c_noise * step / (rate * np.sqrt(window)),
                      sigma_read / np.sqrt(2 * reads))  # fmt: skip
        bias = step * (a_up - a_down) / (2 * (a_up + a_down))
        err = (res.g_sym - truth)[moving]
        assert np.all(np.abs(err) <= 4 * se[moving] + np.abs(bias[moving]))
        z_all.append((err - bias[moving]) / se[moving])
        # The reported uncertainty: within a factor 2 of the closed form. Its own scatter is
        # larger than with every pair read: its residual blocks come from `reads` reads only.
        ratio = res.g_sym_std[moving] / se[moving]
        assert np.all((ratio > 0.5) & (ratio < 2.0))
        # The step from `reads` down steps, each spread by c2c noise and two reads' noise.
        spread = np.hypot(sim.config.c2c_noise, np.sqrt(2) * sigma_read / step[moving])
        np.testing.assert_allclose(
            res.step[moving], step[moving], rtol=0.02 + 4 * spread.max() / np.sqrt(reads)
        )
        # The relaxation time in pairs, though fitted per sample of read_every pairs: from
        # read_every times fewer midpoints than with every pair read, so a looser 40 %.
        np.testing.assert_allclose(res.relaxation_pairs[moving], 1 / rate[moving], rtol=0.4)
    z = np.concatenate(z_all)  # jointly consistent with unit variance (chi-square, 0.1 % tail)
    assert np.mean(z**2) <= chi2.ppf(0.999, z.size) / z.size


def test_a_train_cut_short_records_none_of_its_pairs_and_the_resume_pulses_them_again(
    tmp_path: Path,
) -> None:
    """A fault inside a train (after the up pulse of its third pair): none of the train's reads
    are recorded, the resume replays the read pairs and pulses again from the pair after the last
    one read; the cut train's pulses show as extra pulses, every read pair is stored once."""
    from hil.store import RunStore
    from tests.hil.delegating import DelegatingBackend
    from tests.protocols.stopping import after_write, raise_error

    settings = {"max_pairs": 400, "window": 40, "read_every": 8}
    # trains of one read interval (8 pairs, 16 writes) on a backend without instrument trains:
    # write 117 is the up pulse of pair 59, in the train of pairs 57-64
    inner = SimulatedCrossbar.from_preset("protonic-asymmetric", (2, 2), seed=3)
    backend = DelegatingBackend(inner, around_write=after_write(117, raise_error("lost the generator")))
    with RunStore(tmp_path / "runs.sqlite") as store:
        with (
            pytest.raises(RuntimeError, match="lost the generator"),
            store.start_run("symmetry-point", {}, {}) as run,
        ):
            find_symmetry_point(backend, PULSE_SIM, recorder=run, **settings)
        assert [p.step for p in store.points(run.uid, kind="pair")] == list(range(8, 57, 8))
        backend.around_write = None
        with store.resume_run(run.uid) as resumed:
            checkpoint = store.load_checkpoint(run.uid)
            result = find_symmetry_point(
                backend, PULSE_SIM, recorder=resumed, resume_from=checkpoint, **settings
            )
        steps = [p.step for p in store.points(run.uid, kind="pair")]
    assert steps == list(range(8, result.pairs_used + 1, 8))  # each read pair stored once
    assert result.history["read_pairs"].tolist() == steps
    # every pair of the run once, and the cut train's 3 up and 2 down pulses again
    assert np.all(backend.pulses == 2 * result.pairs_used + 5)


def test_hil_run_symmetry_point_takes_read_every(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from hil.cli import main

    out = tmp_path / "sym"
    argv = ["run", "symmetry-point", "--bench", "sim", "--preset", "ideal", "--shape", "2x2",
            "--window", "20", "--max-pairs", "200", "--read-every", "5",
            "--store", str(tmp_path / "runs.sqlite"), "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["parameters"]["read_every_pairs"] == 5
    out = capsys.readouterr().out
    # before the run: what the bench's timing says (a simulator has none); after it: the time taken
    assert "no instrument time" in out and "wall time; read every 5 pairs" in out


# ----------------------------------------------------------------------- trains of pairs
class TrainCrossbar(SimulatedCrossbar):
    """The simulator, claiming to sequence alternating pairs in its instruments (the default
    calls run them), logging each alternating_pairs call as (pairs, read_every)."""

    calls: list[tuple[int, int]]

    @property
    def instrument_pairs(self) -> bool:
        return True

    def alternating_pairs(self, pairs, *, read_every, pulses):  # type: ignore[no-untyped-def]
        self.calls = [*getattr(self, "calls", []), (pairs, read_every)]
        return super().alternating_pairs(pairs, read_every=read_every, pulses=pulses)


def pair_by_pair(sim: SimulatedCrossbar, pulse: Pulse, pairs: int) -> tuple[np.ndarray, ...]:
    """The reads of the search written out as apply_pulses and read calls, one pair at a time."""
    up = np.ones(sim.shape, dtype=np.int64)
    start, ups, downs = sim.read(), [], []
    for _ in range(pairs):
        sim.apply_pulses(up, pulse)
        ups.append(sim.read())
        sim.apply_pulses(-up, pulse)
        downs.append(sim.read())
    return start, np.array(ups), np.array(downs)


@pytest.mark.parametrize("backend_class", [SimulatedCrossbar, TrainCrossbar])
def test_trains_read_every_pair_exactly_as_a_pair_by_pair_loop(backend_class: type) -> None:
    """read_every = 1: the search's reads equal, bit for bit, those of apply_pulses/read per pair
    on the same seed, whether it calls alternating_pairs per pair or in trains of 100."""
    sim = backend_class.from_preset("protonic-asymmetric", (3, 3), seed=4)
    res = find_symmetry_point(sim, PULSE_SIM, max_pairs=2000, window=500)
    start, ups, downs = pair_by_pair(SimulatedCrossbar.from_preset("protonic-asymmetric", (3, 3), seed=4),
                                     PULSE_SIM, res.pairs_used)  # fmt: skip
    np.testing.assert_array_equal(res.history["g_start"], start)
    np.testing.assert_array_equal(res.history["g_up"], ups)
    np.testing.assert_array_equal(res.history["g_down"], downs)
    if backend_class is TrainCrossbar:
        assert sim.calls == [(100, 1)] * (res.pairs_used // 100)


def test_instrument_trains_tile_the_window_in_whole_read_intervals() -> None:
    from protocols.symmetry import train_pairs

    assert train_pairs(500, 1, instrument=False) == 1
    assert train_pairs(500, 25, instrument=False) == 25
    assert train_pairs(500, 1, instrument=True) == 100
    assert train_pairs(480, 8, instrument=True) == 96  # 12 reads of the window's 60
    assert train_pairs(1000, 40, instrument=True) == 40  # 25 reads: 2 would not divide them
    assert train_pairs(5000, 250, instrument=True) == 250  # one interval longer than TRAIN_PAIRS
    sim = TrainCrossbar.from_preset("protonic-asymmetric", (2, 2), seed=1)
    calls: list[tuple[int, int]] = []
    res = find_symmetry_point(sim, PULSE_SIM, max_pairs=1920, window=480, read_every=8,
                              progress=lambda d, t: calls.append((d, t)))  # fmt: skip
    assert sim.calls == [(96, 8)] * (res.pairs_used // 96)
    assert calls == [(96 * k, 1920) for k in range(1, res.pairs_used // 96 + 1)]


def test_up_and_down_pulses_of_their_own_are_pulsed_stored_and_reported(tmp_path: Path) -> None:
    from hil import PulsePair, as_pulse_pair
    from hil.store import RunStore
    from protocols.records.symmetry import SymmetryPlan

    pulses = PulsePair(Pulse(6.0, 5e-9), Pulse(5.5, 5e-9))
    backend = CountingCrossbar((2, 2))
    seen: list[Pulse] = []
    apply = backend._apply_pulses

    def logged(counts, pulse):  # type: ignore[no-untyped-def]
        sign = int(counts.flat[0])
        seen.append((sign, as_pulse_pair(pulse).for_sign(sign)))  # the pulse that sign fires
        apply(counts, pulse)

    backend._apply_pulses = logged  # type: ignore[method-assign]
    with RunStore(tmp_path / "runs.sqlite") as store, store.start_run("symmetry-point", {}, {}) as run:
        res = find_symmetry_point(backend, pulses, max_pairs=40, window=10, recorder=run)
        plan = SymmetryPlan.from_checkpoint(store.load_checkpoint(run.uid))
    assert seen[:4] == [(1, pulses.up), (-1, pulses.down), (1, pulses.up), (-1, pulses.down)]
    assert plan is not None and plan.pulse == pulses
    assert res.pulse == pulses
    assert res.summary()["pulse"] == {
        "up": {"amplitude_V": 6.0, "width_s": 5e-9},
        "down": {"amplitude_V": 5.5, "width_s": 5e-9},
    }
    # One pulse for both: stored and summarised as before pulse pairs, so old runs load alike.
    same = find_symmetry_point(CountingCrossbar((2, 2)), pulses.up, max_pairs=40, window=10)
    assert same.pulse == pulses.up
    assert same.summary()["pulse"] == {"amplitude_V": 6.0, "width_s": 5e-9}
    old = SymmetryPlan((2, 2), pulses.up, 40, 10, None).to_state()
    assert old["plan"]["pulse"] == {"amplitude_V": 6.0, "width_s": 5e-9}
    assert SymmetryPlan.from_state(old).pulse == PulsePair.symmetric(pulses.up)  # type: ignore[union-attr]


class TimedCrossbar(IdealCrossbar):
    """The ideal mock with bench timing: 1 ms per pair, 0.1 s per whole-array read."""

    def alternating_pairs_seconds(self, pairs: int, *, read_every: int) -> float | None:
        return 1e-3 * pairs + 0.1 * 2 * (pairs // read_every)


def test_the_instrument_time_of_the_budget_and_of_the_run_come_from_the_bench_timing() -> None:
    from protocols.symmetry import budget_seconds, check_settings

    backend = TimedCrossbar((2, 2))
    fixed = check_settings(backend, PULSE, max_pairs=1000, tolerance=None, window=100, read_every=10)
    assert budget_seconds(backend, fixed) == pytest.approx((1.0 + 0.2 * 100,) * 2)
    auto = check_settings(backend, PULSE, max_pairs=12_800, tolerance=None, window=None)
    # from reads every 128 pairs (two windows of 32 reads fit in the budget) to every 4
    assert budget_seconds(backend, auto) == pytest.approx((12.8 + 0.2 * 100, 12.8 + 0.2 * 3200))
    assert budget_seconds(IdealCrossbar((2, 2)), auto) is None
    res = find_symmetry_point(backend, PULSE, max_pairs=1000, window=100, read_every=10)
    p = res.summary()["parameters"]
    assert p["trains"] == res.pairs_used // 10
    assert p["instrument_time_estimate_s"] == pytest.approx(
        1e-3 * res.pairs_used + 0.2 * res.pairs_used // 10
    )
