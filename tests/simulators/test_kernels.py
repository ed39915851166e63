"""The compiled kernels (engine "fast" with numba) against the numpy fast path (engine "numpy").

Both use the same counter-based random numbers, so for the same seed they fire the same streams
(identical counts) and draw the same normal deviates; the exponent e of a burst is the same
float32 computation (the kernel's vector loops fuse its multiply-adds: an ulp). They differ
otherwise only in expm1(e): a Taylor series or the library's expm1 in the kernel, numpy's
float32 expm1 in the fallback, each within a few float32 ulps, so a state
change differs by at most EXPM1_ULPS * 2^-24 of its size (plus float64 rounding). The
statistical comparison with the per-pulse reference is tests/simulators/test_fast_paths.py,
whose "fast" engine is the kernel whenever numba is installed (asserted here).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest

pytest.importorskip("numba")

from hil import Pulse, PulsePair
from simulators import kernels
from simulators.crossbar import SimulatedCrossbar
from simulators.fastpath import normals, splitmix64
from tests.simulators.test_fast_paths import MODELS, NOMINAL, STRONG

EXPM1_ULPS = 8  # series truncation < 6e-9 relative plus Horner and library rounding: a few ulps
RELATIVE = EXPM1_ULPS * 2.0**-24
ABSOLUTE = 4 * 2.0**-52  # float64 rounding of x + (x - x_fix) expm1 and of the clip


def engines(model: str, shape: tuple[int, int], seed: int, **kw: object) -> tuple[SimulatedCrossbar, ...]:
    preset, overrides = MODELS[model]
    settings = {"read_noise": 0.0, "vmm_noise": 0.0, **overrides, **kw}
    return tuple(
        SimulatedCrossbar.from_preset(preset, shape, seed=seed, engine=engine, **settings)
        for engine in ("fast", "numpy")
    )


def state(sim: SimulatedCrossbar) -> np.ndarray:
    p = sim.device_parameters()
    return (sim.conductance - p.g_min) / p.span


def assert_same_step(before: np.ndarray, compiled: np.ndarray, numpy_path: np.ndarray) -> None:
    tolerance = RELATIVE * np.abs(numpy_path - before) + ABSOLUTE
    assert np.all(np.abs(compiled - numpy_path) <= tolerance)


def test_the_fast_engine_runs_the_kernels_when_numba_is_installed() -> None:
    fast, numpy_path = engines("soft-bounds", (3, 4), seed=0)
    assert kernels.AVAILABLE and fast.compiled and not numpy_path.compiled
    assert fast.describe()["simulator"]["compiled"] is True
    np.testing.assert_array_equal(fast.conductance, numpy_path.conductance)  # same devices


def kernel_directions(sim: SimulatedCrossbar, pulse: Pulse) -> kernels.KernelDirections:
    m = sim.config.pulse_factors(PulsePair.symmetric(pulse))
    return sim._kernel_directions(m, sim._burst_directions(m))  # what the engine passes the kernels


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize(
    ("shape", "bl", "pulse"),
    [
        ((9, 13), 31, STRONG),
        ((40, 70), 31, STRONG),
        ((40, 70), 70, STRONG),
        ((3, 5), 1, STRONG),
        ((40, 70), 8, NOMINAL),
    ],
)
def test_stochastic_updates_agree_with_the_numpy_path(
    model: str, shape: tuple[int, int], bl: int, pulse: Pulse
) -> None:
    """Same counts exactly, same states to float32 rounding; rows of 13 and 70 devices start
    their normal groups of 4 off the row boundary, bl = 70 needs three 32-bit words per line
    (and an odd bl leaves half of a stream output unused). The updates mix the kernel's three
    kinds of rows: rows with few coincidences (built from the columns firing in each slot),
    rows with few pulsed devices (the kernel visits only those) and busy rows (vector loops
    over the whole row); 8 nominal pulses keep every exponent in the series' range (the kernel
    then skips its check), 31 strong ones do not."""
    fast, numpy_path = engines(model, shape, seed=70, stuck_fraction=0.1)
    if MODELS[model][0] == "protonic-asymmetric" and bl >= 8:
        assert kernel_directions(fast, pulse).series_suffices(bl) == (pulse == NOMINAL)
    rng = np.random.default_rng(71)
    moved = 0.0
    few_coincidences = sparse = busy = 0
    for call in range(9):
        # One update in three drives ~15 % of the columns: its rows have a few pulsed devices;
        # one in three fires seldom (probabilities below 0.08): its rows have few coincidences.
        columns = rng.random(shape[1]) < (0.15 if call % 3 == 1 else 1.0)
        scale = 0.08 if call % 3 == 2 else 1.0
        p, q = rng.uniform(-scale, scale, shape[0]), rng.uniform(-scale, scale, shape[1]) * columns
        before = state(numpy_path)
        counts = [sim.stochastic_update(p, q, bl, pulse) for sim in (fast, numpy_path)]
        pulsed = np.count_nonzero(counts[0], axis=1)
        coincidences = np.abs(counts[0]).sum(axis=1)  # the kernel's bound for the slot-built rows
        few_coincidences += int(np.sum((coincidences > 0) & (coincidences * kernels.SPARSE_ROW < shape[1])))
        sparse += int(np.sum((pulsed > 0) & (pulsed * kernels.SPARSE_ROW < shape[1])))
        busy += int(np.sum(pulsed * kernels.SPARSE_ROW >= shape[1]))
        np.testing.assert_array_equal(counts[0], counts[1])
        assert counts[0].dtype == np.int64
        assert_same_step(before, state(fast), state(numpy_path))
        moved += float(np.abs(state(numpy_path) - before).sum())
        fast.set_conductance(numpy_path.conductance)  # next call from identical states
    assert moved > 0.0
    assert busy > 0 and (sparse > few_coincidences or shape[1] < 70)
    assert few_coincidences > 0 or shape[1] < 70


@pytest.mark.parametrize("threads", ["2", "3"])
def test_rows_split_over_threads_give_the_same_run_bit_for_bit(
    monkeypatch: pytest.MonkeyPatch, threads: str
) -> None:
    """Counter-based random numbers: a 260 x 256 array (above PARALLEL_DEVICES) updated on one
    thread and on several ends in identical counts and states."""
    assert 260 * 256 >= kernels.PARALLEL_DEVICES
    runs = []
    for setting in ("1", threads):
        monkeypatch.setenv("HIL_SIM_THREADS", setting)
        assert kernels.threads() == int(setting)
        sim = SimulatedCrossbar.from_preset("protonic-asymmetric", (260, 256), seed=78)
        rng = np.random.default_rng(79)
        counts = [sim.stochastic_update(rng.uniform(-1, 1, 260), rng.uniform(-1, 1, 256), 31, NOMINAL)
                  for _ in range(3)]  # fmt: skip
        sim.apply_pulses(rng.integers(-5, 6, (260, 256)), STRONG)
        runs.append((np.array(counts), sim.conductance))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def _two_thread_job(
    monkeypatch: pytest.MonkeyPatch, kernel: Callable[..., None], ready: bool
) -> kernels._RowJob:
    monkeypatch.setenv("HIL_SIM_THREADS", "2")
    job = kernels._RowJob(kernel, 512, 512, (), ready=ready)
    assert len(job.helpers) == 1
    return job


def test_a_cancelled_row_job_runs_no_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    """The streams failed: the helper that was waiting for the rows returns without touching them."""
    calls: list[object] = []
    job = _two_thread_job(monkeypatch, lambda *args: calls.append(args), ready=False)
    job.cancel()
    assert job.helpers[0].result(timeout=10) is None
    assert calls == []


def test_a_helper_failing_mid_chunk_fails_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller finishes its rows, finds a claimed chunk never done, and blocks on the helper:
    the helper's exception reaches the caller (nothing is swallowed, nothing hangs)."""
    claimed = threading.Event()

    def kernel(progress: np.ndarray, chunk: int) -> None:
        if threading.current_thread() is not threading.main_thread():
            progress[0] += chunk  # claims the first chunk and never finishes it
            claimed.set()
            raise RuntimeError("helper failed mid-chunk")
        assert claimed.wait(10)
        progress[1] += 512 - progress[0]  # the caller does the rest
        progress[0] = 512

    job = _two_thread_job(monkeypatch, kernel, ready=True)
    with pytest.raises(RuntimeError, match="helper failed mid-chunk"):
        job.run()
    assert job.progress[1] == 512 - job.chunk


@pytest.mark.parametrize("setting", ["0", "two", "-1"])
def test_a_bad_thread_setting_is_refused(monkeypatch: pytest.MonkeyPatch, setting: str) -> None:
    monkeypatch.setenv("HIL_SIM_THREADS", setting)
    with pytest.raises(ValueError, match="HIL_SIM_THREADS must be a whole number >= 1"):
        kernels.threads()


@pytest.mark.parametrize("model", list(MODELS))
def test_bursts_agree_with_the_numpy_path_up_to_the_bounds(model: str) -> None:
    """apply_pulses with counts up to 3000: exponents beyond the series' range (library expm1)
    and states driven into the bounds (clipped once)."""
    fast, numpy_path = engines(model, (12, 11), seed=72, stuck_fraction=0.1)
    rng = np.random.default_rng(73)
    for scale in (3, 40, 3000):
        counts = rng.integers(-scale, scale + 1, fast.shape)
        before = state(numpy_path)
        for sim in (fast, numpy_path):
            sim.apply_pulses(counts, NOMINAL)
        assert_same_step(before, state(fast), state(numpy_path))
        fast.set_conductance(numpy_path.conductance)
    stuck = fast.device_parameters().stuck
    x0 = state(engines(model, (12, 11), seed=72, stuck_fraction=0.1)[0])
    np.testing.assert_array_equal(state(fast)[stuck], x0[stuck])  # stuck devices never moved
    x = state(fast)
    assert np.all((x >= 0.0) & (x <= 1.0))


def test_sub_threshold_updates_fire_the_same_streams_and_move_nothing() -> None:
    fast, numpy_path = engines("soft-bounds", (8, 9), seed=74)
    before = fast.conductance
    weak = Pulse(fast.config.v_threshold, 1e-3)
    p, q = np.full(8, 0.7), np.full(9, -0.6)
    counts = [sim.stochastic_update(p, q, 31, weak) for sim in (fast, numpy_path)]
    np.testing.assert_array_equal(counts[0], counts[1])
    assert np.abs(counts[0]).sum() > 0
    np.testing.assert_array_equal(fast.conductance, before)


def test_the_same_seed_gives_the_same_run() -> None:
    runs = []
    for _ in range(2):
        sim = SimulatedCrossbar.from_preset("protonic-asymmetric", (16, 20), seed=75)
        rng = np.random.default_rng(76)
        for _ in range(5):
            sim.stochastic_update(rng.uniform(-1, 1, 16), rng.uniform(-1, 1, 20), 31, NOMINAL)
        runs.append(sim.conductance)
    np.testing.assert_array_equal(runs[0], runs[1])


def test_splitmix64_is_the_published_generator() -> None:
    # Vigna's splitmix64.c seeded with 0: first output 0xe220a8397b1dcdaf.
    assert int(splitmix64(0, np.array([0]))[0]) == 0xE220A8397B1DCDAF


def test_counter_based_normals_have_unit_moments() -> None:
    """500,000 deviates: mean within 4 SE (1/sqrt(n)); variance within 4 SE (sqrt(2/n))."""
    z = normals(77, np.arange(500_000)).astype(np.float64)
    assert abs(z.mean()) < 4 / np.sqrt(z.size)
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / z.size)
    # Neighbours share one 64-bit output (4 deviates each): no correlation between them.
    assert abs(np.mean(z[:-1] * z[1:])) < 4 / np.sqrt(z.size)


# ---------------------------------------------------------------------- measurements
def noisy_twins(shape: tuple[int, int], engine: str, seed: int) -> list[SimulatedCrossbar]:
    make = SimulatedCrossbar.from_preset
    return [make("protonic-asymmetric", shape, seed=seed, engine=engine) for _ in "ab"]


@pytest.mark.parametrize("shape", [(3, 5), (65, 32), (130, 130)])  # the last above SMALL_VMM: numpy's product
def test_vmms_and_reads_agree_with_the_numpy_path(shape: tuple[int, int]) -> None:
    """Same noise (the same key and normal deviate per output or device), the product to float32
    rounding of the conductances (the kernel accumulates in float64, numpy in float32); a read is
    the same float64 arithmetic, bit for bit."""
    fast, numpy_path = (noisy_twins(shape, engine, seed=5)[0] for engine in ("fast", "numpy"))
    assert fast._small_vmm(np.zeros(shape[0])) == (shape[0] * shape[1] < kernels.SMALL_VMM)
    rng = np.random.default_rng(6)
    g_scale = fast.read_voltage * fast.conductance_range[1] * max(shape)
    for _ in range(3):
        v, u = (rng.uniform(-1, 1, n) * fast.read_voltage for n in shape)
        atol = 1e-6 * g_scale
        np.testing.assert_allclose(fast.vmm(v), numpy_path.vmm(v), rtol=0, atol=atol)
        np.testing.assert_allclose(fast.vmm_transposed(u), numpy_path.vmm_transposed(u), rtol=0, atol=atol)
        np.testing.assert_array_equal(fast.read(), numpy_path.read())
        numpy_path.apply_pulses(rng.integers(-3, 4, shape), numpy_path.nominal_pulse)
        g = numpy_path.conductance  # both from one state again; the VMMs rebuild their conductances
        for sim in (fast, numpy_path):
            sim.set_conductance(g)


@pytest.mark.parametrize("engine", ["fast", "numpy", "reference"])
@pytest.mark.parametrize("transposed", [False, True])
def test_a_fused_differential_vmm_is_the_two_vmms_bit_for_bit(engine: str, transposed: bool) -> None:
    """Each array adds its own output noise from its own stream, as two VMMs would."""
    shape = (65, 32)
    main, ref = noisy_twins(shape, engine, seed=8)
    main2, ref2 = noisy_twins(shape, engine, seed=8)
    for sim in (ref, ref2):
        sim.set_conductance(np.full(shape, 8e-6))
    v = np.random.default_rng(9).uniform(-1, 1, shape[1 if transposed else 0]) * main.read_voltage
    for _ in range(3):
        fused = main.vmm_difference(ref, v, transposed=transposed)
        if transposed:
            two = main2.vmm_transposed(v) - ref2.vmm_transposed(v)
        else:
            two = main2.vmm(v) - ref2.vmm(v)
        np.testing.assert_array_equal(fused, two)


def test_vmm_and_read_noise_have_the_configured_spread() -> None:
    """2,000 VMMs of zero volts are pure output noise, 2,000 reads the conductances plus read
    noise: mean within 4 SE, variance within the 1e-5 tails of chi-square (per output: 6 SE
    covers the 64-fold test)."""
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", (64, 32), seed=3)
    c, r = sim.config, sim.config.ranges
    span, n = r.g_max - r.g_min, 2000
    vmms = np.array([sim.vmm(np.zeros(64)) for _ in range(n)])
    reads = np.array([sim.read()[:2].ravel() for _ in range(n)])
    for samples, sigma, truth in (
        (vmms, c.vmm_noise * r.read_voltage * span, 0.0),
        (reads, c.read_noise * span, sim.conductance[:2].ravel()),
    ):
        assert np.all(np.abs(samples.mean(axis=0) - truth) < 6 * sigma / np.sqrt(n))
        assert np.all(np.abs(samples.var(axis=0) / sigma**2 - 1) < 6 * np.sqrt(2 / n))
