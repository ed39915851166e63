"""TTv2, chopped TTv2 and AGAD: the buffer arithmetic, the chopper, the tracked reference, and
training on the mock, the simulator and the virtual bench."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from hil import Pulse
from hil.backend import CrossbarBackend
from protocols.training import (
    AGADConfig,
    BackendOps,
    BufferSettings,
    CalibrationSettings,
    ChoppedConfig,
    MLPSpec,
    ReferenceSettings,
    TTv2Config,
    load_dataset,
    train_agad,
    train_chopped,
    train_ttv2,
)
from protocols.training.agad import AGAD_LAYERS
from protocols.training.analog_training import LayerSite
from protocols.training.transfer import (
    BufferedTransferLayer,
    Chopper,
    ReferenceTracker,
    TransferBuffer,
    TransferParts,
)
from protocols.training.ttv2 import TTV2_LAYERS
from simulators.chip import SimulatedChip

PULSE = Pulse(amplitude=5.0, width=1e-6)
QUICK_CAL = CalibrationSettings(symmetry_max_pairs=40, symmetry_window=10)


# ---------------------------------------------------------------------- the buffer
def test_buffer_fires_whole_pulses_at_the_threshold_and_forgets() -> None:
    buf = TransferBuffer((1, 3), theta=0.5, settings=BufferSettings(n_max=2))
    assert buf.add(0, np.array([0.3, -0.3, 0.49])).tolist() == [0, 0, 0]
    assert buf.h[0].tolist() == pytest.approx([0.3, -0.3, 0.49])
    # 0.6 / 0.5 -> 1; -1.3 / 0.5 = -2.6 -> -2; 1.49 + 5 -> clipped at n_max 2.
    n = buf.add(0, np.array([0.3, -1.0, 5.0]))
    assert n.tolist() == [1, -2, 2]
    assert buf.h[0].tolist() == [0.0, 0.0, 0.0]  # forget_buffer, momentum 0


def test_buffer_without_forgetting_subtracts_what_it_wrote() -> None:
    settings = BufferSettings(n_max=3, momentum=0.25, forget_buffer=False)
    buf = TransferBuffer((2, 2), theta=0.1, settings=settings)
    n = buf.add(1, np.array([0.35, -0.05]))
    assert n.tolist() == [3, 0]
    # H -= (1 - momentum) n theta where pulses fired; untouched elsewhere and in other rows.
    assert buf.h[1].tolist() == pytest.approx([0.35 - 0.75 * 3 * 0.1, -0.05])
    assert buf.h[0].tolist() == [0.0, 0.0]


def test_buffer_momentum_keeps_a_fraction_where_pulses_fired() -> None:
    buf = TransferBuffer((1, 2), theta=1.0, settings=BufferSettings(n_max=5, momentum=0.5))
    assert buf.add(0, np.array([2.5, 0.5])).tolist() == [2, 0]
    assert buf.h[0].tolist() == pytest.approx([1.25, 0.5])


def test_buffer_settings_refuse_meaningless_values() -> None:
    for bad in ({"eta_h": 0.0}, {"threshold": -1.0}, {"n_max": 0}, {"n_max": 1.5}, {"momentum": 1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            BufferSettings(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="placement"):
        ReferenceSettings(placement="nowhere")
    with pytest.raises(ValueError, match="chop_period"):
        ChoppedConfig(chop_period=0)


# ---------------------------------------------------------------------- layers on stub arrays
class _Main:
    """Stands for C_main: keeps every pulse-count matrix."""

    def __init__(self, shape: tuple[int, int]):
        self.shape, self.writes = shape, []

    def apply_pulses(self, counts: np.ndarray, pulse: Pulse) -> None:
        self.writes.append(counts.copy())


class _Array:
    def __init__(self, shape: tuple[int, int]):
        self.shape, self.main = shape, _Main(shape)


class _OffsetIO:
    """Reads of A return a constant offset per output (A itself is at 0); updates are no-ops."""

    def __init__(self, offset: np.ndarray):
        self.offset, self.ops = offset, BackendOps()
        self.settings = type("S", (), {"pulse": PULSE})()
        self.updates: list[np.ndarray] = []

    def forward(self, array: object, x: np.ndarray) -> np.ndarray:
        return self.offset.copy()

    def update(self, array: object, x: np.ndarray, d: np.ndarray, lr: float, dw_min: float) -> None:
        self.updates.append(np.asarray(x).copy())


def _stub_layer(
    offset: float, parts: TransferParts, rows: int = 2, eta_h: float = 0.1
) -> BufferedTransferLayer:
    shape = (rows, 3)
    config = TTv2Config(buffer=BufferSettings(eta_h=eta_h, n_max=10))
    io = _OffsetIO(np.full(3, offset))
    return BufferedTransferLayer(
        _Array(shape),
        _Array(shape),
        config=config,
        dw_min=0.01,
        io=io,
        parts=parts,  # type: ignore[arg-type]
    )


def test_ttv2_integrates_a_constant_read_offset_into_c() -> None:
    # Each read adds eta_h * 0.05 = 0.004 (theta = dw_min = 0.01): one pulse every third read
    # of a row (0.012 crosses, the buffer forgets), all of the offset's sign: 6 in 20 reads.
    layer = _stub_layer(0.05, TransferParts(), eta_h=0.08)
    for _ in range(40):
        layer.transfer()
    pulses = sum(w for w in layer.c.main.writes)  # type: ignore[attr-defined]
    assert pulses.tolist() == [[6, 6, 6], [6, 6, 6]]


def test_chopper_cancels_a_constant_read_offset() -> None:
    # The same offset with a regular chopper of period 2 reads: the buffer gets +0.004, +0.004,
    # then -0.004, -0.004 per row, never crosses 0.01 and returns to 0 every period pair.
    layer = _stub_layer(0.05, TransferParts(chopper=Chopper(2, period=2)), eta_h=0.08)
    for sweep in range(40):
        layer.transfer()
        layer.transfer()
        if sweep % 4 == 3:
            assert np.allclose(layer.buffer.h, 0.0, atol=1e-15)
    assert layer.c.main.writes == []  # type: ignore[attr-defined]


def test_chopper_signs_reach_the_gradient_of_a() -> None:
    layer = _stub_layer(0.0, TransferParts(chopper=Chopper(2, period=1)))
    x = np.array([1.0, 2.0])
    layer.learn(x, np.ones(3))  # transfer of row 0 flips its sign (period 1)
    layer.learn(x, np.ones(3))
    sent = layer.io.updates  # type: ignore[attr-defined]
    assert sent[0].tolist() == [1.0, 2.0] and sent[1].tolist() == [-1.0, 2.0]


def test_agad_reference_converges_to_a_constant_offset_in_closed_form() -> None:
    # Constant reads o: M after n reads is o (1 - (1 - beta)^n); P takes M at the first flip.
    period, beta, o = 4, 0.5, 0.05
    tracker = ReferenceTracker((2, 3), beta)
    parts = TransferParts(chopper=Chopper(2, period), tracker=tracker, warmup_reads=period + 1)
    layer = _stub_layer(o, parts)
    for _ in range(2 * period):  # period reads of each row
        layer.transfer()
    assert tracker.reference[0].tolist() == [0.0] * 3  # no flip read yet
    layer.transfer()  # first read of row 0 after its flip
    assert tracker.reference[0] == pytest.approx(np.full(3, o * (1 - (1 - beta) ** period)))
    for _ in range(200):
        layer.transfer()
    assert layer.c.main.writes == []  # type: ignore[attr-defined]  # the offset never reaches C
    assert np.all(np.abs(layer.buffer.h) < 0.01)


def test_layer_state_round_trips_through_json() -> None:
    parts = TransferParts(chopper=Chopper(2, 3, random=True, seed=4), tracker=ReferenceTracker((2, 3), 0.2))
    layer = _stub_layer(0.03, parts)
    for _ in range(7):
        layer.transfer()
    state = json.loads(json.dumps(layer.state()))
    other = _stub_layer(
        0.03, TransferParts(chopper=Chopper(2, 3, random=True), tracker=ReferenceTracker((2, 3), 0.2))
    )
    other.restore(state)
    for _ in range(9):
        layer.transfer()
        other.transfer()
    assert json.dumps(other.state()) == json.dumps(layer.state())


# ---------------------------------------------------------------------- a device with a known symmetry point
def _quiet_chip() -> SimulatedChip:
    """protonic-asymmetric's nominal device (soft bounds, a+ = 2 a-: symmetry point at 2/3 of
    the range) without noise or variation."""
    quiet = dict(c2c_noise=0.0, read_noise=0.0, vmm_noise=0.0, dtod_bounds=0.0, dtod_step=0.0)
    return SimulatedChip("protonic-asymmetric", seed=3, dtod_imbalance=0.0, stuck_fraction=0.0, **quiet)


@pytest.mark.parametrize("recipe", [TTV2_LAYERS, AGAD_LAYERS], ids=["ttv2", "agad"])
def test_reference_at_mid_range_drifts_ttv2_and_not_agad(recipe) -> None:
    # A_main parks at its symmetry point (x = 2/3), A_ref at mid-range: every read of A is
    # (2/3 - 1/2) x range / g_unit = 1/3 weight (w_max 1). With no gradient, TTv2 writes that
    # offset into C; AGAD's reference takes it up and C gets nothing after the warm-up.
    cal = CalibrationSettings(symmetry_max_pairs=3000, symmetry_window=100)
    reference = ReferenceSettings(placement="midrange")
    config = AGADConfig(reference=reference, chop_period=4, calibration=cal, init_scale=0.0)
    with _quiet_chip() as chip:
        site = LayerSite(
            chip.array, 0, (2, 3), chip.nominal_pulse, config.counted_ops(chip.nominal_pulse, BackendOps())
        )
        layer, record = recipe.prepare(site, config, np.zeros((2, 3)))
        g_range = np.diff(chip.array("L0.A_main", (2, 3)).conductance_range)[0]
        written = []
        layer.c.main.apply_pulses = lambda counts, pulse: written.append(counts)  # observe, no write
        for _ in range(2 * 40):
            layer.transfer()
        g_unit = record["calibration"]["g_unit_S"]
        a = layer.a.weights()
    assert g_unit == pytest.approx(g_range / 2)
    assert a == pytest.approx(np.full((2, 3), 1 / 3), abs=0.02)
    if layer.parts.tracker is None:
        assert len(written) == 2 * 40 and all(np.all(w[w != 0] > 0) for w in written)
    else:
        assert layer.parts.tracker.reference == pytest.approx(np.full((2, 3), 1 / 3), abs=0.02)
        assert written == []


# ---------------------------------------------------------------------- training
SHORT_CAL = CalibrationSettings(symmetry_max_pairs=300, symmetry_window=100)


@pytest.mark.parametrize(
    ("trainer", "config"),
    [
        (train_ttv2, TTv2Config(epochs=4, calibration=SHORT_CAL, seed=1)),
        (train_chopped, ChoppedConfig(epochs=4, chop_period=3, calibration=SHORT_CAL, seed=1)),
        (train_agad, AGADConfig(epochs=4, chop_period=3, calibration=SHORT_CAL, seed=1)),
    ],
    ids=["ttv2", "cttv2", "agad"],
)
def test_each_algorithm_trains_iris_on_asymmetric_arrays(trainer, config) -> None:
    # On protonic-asymmetric devices: the chopper needs A to relax between flips, which an
    # asymmetric device does and an ideal one does not (on ideal devices c-TTv2's signal
    # cancels over a chopper period; TTv2 and AGAD do not need that).
    data = load_dataset("iris", seed=0)
    seen: dict[str, tuple[int, int]] = {}
    with SimulatedChip("protonic-asymmetric", seed=2) as chip:

        def get(name: str, shape: tuple[int, int]) -> CrossbarBackend:
            seen[name] = shape
            return chip.array(name, shape)

        result = trainer(get, MLPSpec((4, 8, 3)), data, chip.nominal_pulse, config)
    assert set(seen) == {f"L{i}.{k}" for i in (0, 1) for k in ("A_main", "A_ref", "C_main")}
    assert result.final.train_loss < 0.8 * result.epochs[0].train_loss
    assert result.final.test_accuracy >= 0.6  # chance is 1/3
    n_train = len(data.y_train)
    assert result.setup["transfers_per_layer"] == [4 * n_train, 4 * n_train]
    assert 0 < result.setup["c_writes_per_layer"][0] <= 4 * n_train
    assert result.ops.pulses > 0 and result.summary()["algorithm"] == result.algorithm


@pytest.mark.slow
def test_ttv2_trains_through_the_drivers_on_the_virtual_bench() -> None:
    from simulators.virtual.launch import BENCHES, virtual_bench
    from tests.backends import hardware_bench
    from tests.hardware.conftest import assert_safe

    full = load_dataset("iris", seed=0)
    data = dataclasses.replace(full, x_train=full.x_train[:8], y_train=full.y_train[:8],
                               x_test=full.x_test[:4], y_test=full.y_test[:4])  # fmt: skip
    cal = CalibrationSettings(symmetry_max_pairs=10, symmetry_window=5, program_max_iterations=5)
    config = TTv2Config(epochs=1, init_scale=0.5, calibration=cal, buffer=BufferSettings(eta_h=0.5, n_max=2))
    with (
        virtual_bench(BENCHES / "virtual-bench-iris.toml", seed=5) as (vb, bench_config),
        hardware_bench(vb, bench_config) as bench,
    ):
        result = train_ttv2(bench.array, MLPSpec((4, 4, 3)), data, Pulse(6.0, 20e-9), config)
        ops = bench.operations()
    assert_safe(vb)
    assert [e.epoch for e in result.epochs] == [0, 1] and np.isfinite(result.final.train_loss)
    assert result.setup["c_writes_per_layer"][0] > 0  # whole pulses reached C_main through the drivers
    assert sum(o["pulse_groups"] for name, o in ops.items() if name.endswith("C_main")) > 0
    assert vb.chip.violations == []


def test_hil_train_runs_the_three_algorithms_and_a_misplaced_shd(tmp_path, capsys) -> None:
    from hil.cli import main

    out = tmp_path / "train"
    argv = ["train", "--algorithm", "ttv2,cttv2,agad,shd", "--dataset", "iris", "--epochs", "1"]
    argv += ["--reference-offset", "0.03", "--cal-window", "50", "--cal-max-pairs", "200", "--out", str(out)]
    assert main([*argv, "--store", str(tmp_path / "runs.sqlite"), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [row["algorithm"] for row in summary["table"]] == ["ttv2", "cttv2", "agad", "shd"]
    layers = {run["algorithm"]: run["setup"]["layers"][0] for run in summary["runs"]}
    assert layers["shd"]["reference"] == {"placement": "symmetry", "offset_of_range": 0.03}
    assert layers["agad"]["reference"] == {"placement": "midrange", "offset_of_range": 0.03}
    assert "AGAD" in capsys.readouterr().out


def test_robustness_study_applies_each_condition_and_tabulates_mean_and_spread() -> None:
    from protocols.training.robustness import Condition, StudySettings, run_study, summary_table

    opened: list[tuple[float, int]] = []

    def open_chip(noise_factor: float, seed: int) -> SimulatedChip:
        opened.append((noise_factor, seed))
        base = 5e-4 * noise_factor
        return SimulatedChip("protonic-asymmetric", seed=seed, read_noise=base)

    conditions = (Condition("nominal"), Condition("off", reference_offset=0.01, noise_factor=3.0))
    settings = StudySettings(
        conditions=conditions, algorithms=("agad",), seeds=(0, 1), epochs=1, hidden=4,
        dataset="iris", calibration=SHORT_CAL,
    )  # fmt: skip
    rows: list[dict] = []
    run_study(open_chip, settings, rows.append, done={("nominal", "agad", 1)})
    assert [(r["condition"], r["seed"]) for r in rows] == [("nominal", 0), ("off", 0), ("off", 1)]
    assert opened == [(1.0, 0), (3.0, 0), (3.0, 1)]
    assert [r["reference_offset"] for r in rows] == [0.0, 0.01, 0.01]
    table = summary_table(rows, ("agad",))
    off = [100 * r["test_accuracy"] for r in rows if r["condition"] == "off"]
    assert table[3] == f"| off | {np.mean(off):.1f} ± {np.std(off, ddof=1):.1f} (n 2) |"
    assert table[2].endswith("(n 1) |")  # nominal: seed 1 was already done
