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


def test_a_sparse_search_resumes_after_its_last_read_pair(tmp_path: Path) -> None:
    """A stop between read pairs: the resume replays the read pairs and pulses again from the
    pair after the last one read (the unread pairs since then once more, whole pairs)."""
    from hil.store import RunStore
    from tests.protocols.stopping import Stop, stop_at

    settings = {"max_pairs": 400, "window": 40, "read_every": 8}
    backend = SimulatedCrossbar.from_preset("protonic-asymmetric", (2, 2), seed=3)
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(Stop), store.start_run("symmetry-point", {}, {}) as run:
            find_symmetry_point(backend, PULSE_SIM, recorder=run, progress=stop_at(61), **settings)
        with store.resume_run(run.uid) as resumed:
            checkpoint = store.load_checkpoint(run.uid)
            result = find_symmetry_point(
                backend, PULSE_SIM, recorder=resumed, resume_from=checkpoint, **settings
            )
        steps = [p.step for p in store.points(run.uid, kind="pair")]
    assert steps == list(range(8, result.pairs_used + 1, 8))  # each read pair stored once
    assert result.history["read_pairs"].tolist() == steps


def test_hil_run_symmetry_point_takes_read_every(tmp_path: Path) -> None:
    import json

    from hil.cli import main

    out = tmp_path / "sym"
    argv = ["run", "symmetry-point", "--bench", "sim", "--preset", "ideal", "--shape", "2x2",
            "--window", "20", "--max-pairs", "200", "--read-every", "5",
            "--store", str(tmp_path / "runs.sqlite"), "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["parameters"]["read_every_pairs"] == 5
