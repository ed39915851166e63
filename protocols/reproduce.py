"""Reproduce the experiments of the SHD paper (Onen, Gokmen et al.) on any backend maker.

1. Single-parameter regression on 1x1 arrays (the paper's Figs. 1 and 2): SGD on a symmetric
   and on an asymmetric device (residual G_final - G_0 against G_0, with the closed form),
   SHD phase portraits A against C (closed orbit for symmetric devices, spiral for
   asymmetric ones) and the SHD residual against G_0.
2. A network: an MLP on the 8x8 digits, FP against SHD, TTv2, chopped TTv2 and AGAD
   (asymmetric devices) against SGD on the same asymmetric devices, with fair baselines: SGD on
   symmetric devices with the asymmetric preset's noise and variation (protonic-symmetric),
   SGD on ideal symmetric devices, and SHD on ideal symmetric devices (the paper's own
   failure case: without asymmetry nothing damps A).

open_preset(preset) returns an open hil.bench.Bench whose devices are those of the preset, a
string the caller resolves (the CLI opens hil.benches.open_bench("sim", preset=..., seed=...)).
Each part of the experiment opens the benches it needs and closes them when it ends; every
array gets a distinct name.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hil.backend import CrossbarBackend
from hil.bench import Bench
from hil.progress import ProgressCallback
from hil.pulses import Pulse
from hil.results import write_summary
from protocols.training.agad import AGADConfig, train_agad
from protocols.training.chopped import ChoppedConfig, train_chopped
from protocols.training.datasets import load_dataset
from protocols.training.floating_point import FloatConfig, train_float
from protocols.training.network import MLPSpec
from protocols.training.plots import plot_learning_curves, plot_sgd_regression, plot_shd_regression
from protocols.training.preparation import ArraySource
from protocols.training.regression import (
    Device,
    RegressionRun,
    RegressionSettings,
    characterise,
    closed_form,
    exact_fixed_point,
    orbit_energy_ratio,
    run_orbit,
    run_sgd,
    run_shd,
)
from protocols.training.result import TrainingResult
from protocols.training.sgd import SGDConfig, train_sgd
from protocols.training.shd import SHDConfig, train_shd
from protocols.training.ttv2 import TTv2Config, train_ttv2

BenchOpener = Callable[[str], Bench]
"""open_preset(preset) -> an open Bench of that preset's devices (closed by the experiment)."""
ASYMMETRIC = "protonic-asymmetric"
SYMMETRIC = "ideal"
MATCHED = "protonic-symmetric"  # symmetric devices with ASYMMETRIC's noise and variation
# The reference toy run (physics-and-algorithms.md §7): residuals at G_0 = 0.2 / 0.8, G_sym = 0.5.
REFERENCE_TOY = {"g0": [0.2, 0.8], "g_sym": 0.5, "sgd": [0.19, -0.22], "shd": [-0.02, 0.00]}


@dataclass(frozen=True)
class NetworkSettings:
    """The network part: data set, hidden width, input clipping and each trainer's configuration.

    SGD runs four times: on the asymmetric devices with the reference at the symmetry point
    (the strongest SGD there), on the asymmetric devices with the reference mid-range (the
    conventional setting), on symmetric devices with the asymmetric ones' noise and variation
    and on ideal symmetric devices (reference mid-range on both). SHD runs on the asymmetric and
    on the ideal devices; TTv2, c-TTv2 and AGAD on the asymmetric ones. centred_shd adds an SHD
    run on the asymmetric devices with its reference centred (SHDConfig.centre_reference: the
    down pulse balanced so that A's symmetry point sits mid-range).
    """

    dataset: str = "digits"
    hidden: int = 32
    test_fraction: float = 0.25
    clip: float | None = 3.0  # standard deviations (see load_dataset: outliers vs VMM noise)
    fp: FloatConfig = field(default_factory=FloatConfig)
    shd: SHDConfig = field(default_factory=SHDConfig)
    sgd: SGDConfig = field(default_factory=SGDConfig)
    ttv2: TTv2Config = field(default_factory=TTv2Config)
    cttv2: ChoppedConfig = field(default_factory=ChoppedConfig)
    agad: AGADConfig = field(default_factory=AGADConfig)
    centred_shd: bool = False

    @property
    def analog_epochs(self) -> int:
        """Epochs of all analog runs together (for progress), epoch 0 of each included."""
        shd = [self.shd] * (3 if self.centred_shd else 2)
        runs = (*shd, self.ttv2, self.cttv2, self.agad, *[self.sgd] * 4)
        return sum(c.epochs + 1 for c in runs)


def default_regression_settings(seed: int = 0, quick: bool = False) -> RegressionSettings:
    """The measured configuration, or a smoke-run one (3 optima, half-length runs)."""
    if quick:
        return RegressionSettings(g0=(0.2, 0.5, 0.8), steps=2000, average_last=1000, seed=seed)
    return RegressionSettings(seed=seed)


def default_network_settings(seed: int = 0, quick: bool = False) -> NetworkSettings:
    """The measured configuration (20 epochs), or a smoke-run one (3 epochs)."""
    # Tuned on the simulator's protonic-asymmetric preset (docs/protocols/training.md has the
    # scans): eta_c = 0.01 keeps the random walk that A's read noise gives C small; SGD's
    # learning rate is its best of 0.02 / 0.05 / 0.1 on the asymmetric devices. TTv2, c-TTv2
    # and AGAD: their defaults (docs/protocols/ttv2.md has the scan).
    epochs = 3 if quick else 20
    return NetworkSettings(
        fp=FloatConfig(epochs=epochs, lr=0.05, seed=seed),
        shd=SHDConfig(epochs=epochs, eta_a=0.1, eta_c=0.01, tau=1, seed=seed),
        sgd=SGDConfig(epochs=epochs, lr=0.02, seed=seed),
        ttv2=TTv2Config(epochs=epochs, seed=seed),
        cttv2=ChoppedConfig(epochs=epochs, seed=seed),
        agad=AGADConfig(epochs=epochs, seed=seed),
    )


class _Benches:
    """One bench per preset, opened on first use; on exit every bench is closed, its arrays with it."""

    def __init__(self, open_preset: BenchOpener):
        self.open_preset = open_preset
        self.benches: dict[str, Bench] = {}

    def bench(self, preset: str) -> Bench:
        if preset not in self.benches:
            self.benches[preset] = self.open_preset(preset)
        return self.benches[preset]

    def source(self, prefix: str, preset: str) -> ArraySource:
        """get_array(name, shape) for a trainer: the preset's array "prefix/name"."""

        def get(name: str, shape: tuple[int, int]) -> CrossbarBackend:
            return self.bench(preset).array(f"{prefix}/{name}", shape)

        return get

    def pulse(self, preset: str, pulse: Pulse | None) -> Pulse:
        """The given pulse, or the preset's bench's nominal pulse where it has one (the simulator's does)."""
        if pulse is not None:
            return pulse
        nominal = self.bench(preset).nominal_pulse
        if nominal is None:
            raise ValueError(
                f"the {preset} bench has no nominal pulse; pass pulse=hil.Pulse(amplitude_V, width_s)"
            )
        return nominal

    def __enter__(self) -> _Benches:
        return self

    def __exit__(self, *exc: object) -> None:
        for bench in self.benches.values():
            bench.close()


class _Ticker:
    """progress(done, total) over the experiment's units (regression runs and epochs)."""

    def __init__(self, total: int, progress: ProgressCallback | None):
        self.done, self.total, self.progress = 0, total, progress

    def tick(self, *_: object) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)


# ---------------------------------------------------------------------- regression
def regression_experiments(
    open_preset: BenchOpener,
    settings: RegressionSettings,
    out_dir: str | Path,
    presets: dict[str, str] | None = None,
    pulse: Pulse | None = None,
    tick: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Figs. 1 and 2 on three 1x1 arrays per role: the figures and their numbers.

    presets: role ("symmetric", "asymmetric") -> preset name; pulse: None takes each preset's
    bench's nominal pulse. The result's "pulses" maps role -> the pulse used (for the network part).
    """
    out = Path(out_dir)
    presets = presets or {"symmetric": SYMMETRIC, "asymmetric": ASYMMETRIC}
    tick = tick or (lambda: None)
    with _Benches(open_preset) as benches:
        devices: dict[str, Device] = {}
        for role, preset in presets.items():
            get = benches.source(f"regression-{role}", preset)
            dev1, dev2, dev3 = (get(n, (1, 1)) for n in ("dev1", "dev2", "dev3"))
            devices[role] = characterise(
                preset, dev1, dev2, dev3, pulse=benches.pulse(preset, pulse), settings=settings
            )
        return _regression(devices, settings, out, tick)


@dataclass(frozen=True)
class _RegressionRuns:
    """Every regression run by role: SGD and SHD from each optimum G_0, and one SHD orbit."""

    sgd: dict[str, list[RegressionRun]]
    shd: dict[str, list[RegressionRun]]
    orbits: dict[str, RegressionRun]


def _regression(
    devices: dict[str, Device], settings: RegressionSettings, out_dir: Path, tick: Callable[[], None]
) -> dict[str, Any]:
    runs = _regression_runs(devices, settings, tick)
    predictions, compare = _against_closed_form(devices, runs.sgd, settings)
    figures = _regression_figures(devices, runs, predictions, settings, out_dir)
    checks = {role: _checks(dev, runs, role, settings) for role, dev in devices.items()}
    return {
        "settings": asdict(settings),
        "devices": {role: dev.summary() for role, dev in devices.items()},
        "sgd": {role: [r.summary() for r in role_runs] for role, role_runs in runs.sgd.items()},
        "shd": {role: [r.summary() for r in role_runs] for role, role_runs in runs.shd.items()},
        "sgd_against_closed_form": compare,
        "orbits": {
            role: r.summary() | {"energy_ratio": checks[role]["orbit_energy_ratio"]}
            for role, r in runs.orbits.items()
        },
        "checks": checks,
        "reference_toy_run": REFERENCE_TOY,
        "pulses": {role: dev.pulse for role, dev in devices.items()},
        "figures": [f.name for f in figures],
    }


def _regression_runs(
    devices: dict[str, Device], settings: RegressionSettings, tick: Callable[[], None]
) -> _RegressionRuns:
    sgd: dict[str, list[RegressionRun]] = {}
    shd: dict[str, list[RegressionRun]] = {}
    for role, dev in devices.items():
        sgd[role], shd[role] = [], []
        for g0 in settings.g0:
            sgd[role].append(run_sgd(dev, g0, settings))
            tick()
            shd[role].append(run_shd(dev, g0, settings))
            tick()
    orbits = {}
    for role, dev in devices.items():
        orbits[role] = run_orbit(dev, settings)
        tick()
    return _RegressionRuns(sgd, shd, orbits)


def _against_closed_form(
    devices: dict[str, Device], sgd: dict[str, list[RegressionRun]], settings: RegressionSettings
) -> tuple[dict[str, Any], dict[str, list[dict[str, float]]]]:
    """The closed form's and the drift balance's residual curves per preset, and beside each
    measured SGD residual the two predictions at its G_0."""
    grid = np.linspace(min(settings.g0), max(settings.g0), 61)
    predictions, compare = {}, {}
    for role, dev in devices.items():
        s_eff = math.hypot(settings.noise, dev.read_noise)  # read noise of y adds to the gradient noise
        closed = [closed_form(g, dev.g_sym, dev.kappa, s_eff) - g for g in grid]
        exact = [exact_fixed_point(g, dev.up_line, dev.down_line, s_eff) - g for g in grid]
        predictions[dev.preset] = (grid, closed, exact)
        compare[role] = [
            {
                "g0": r.g0,
                "measured_residual": r.residual,
                "sem": r.sem,
                "closed_form_residual": closed_form(r.g0, dev.g_sym, dev.kappa, s_eff) - r.g0,
                "drift_balance_residual": exact_fixed_point(r.g0, dev.up_line, dev.down_line, s_eff) - r.g0,
            }
            for r in sgd[role]
        ]
    return predictions, compare


def _regression_figures(
    devices: dict[str, Device],
    runs: _RegressionRuns,
    predictions: dict[str, Any],
    settings: RegressionSettings,
    out_dir: Path,
) -> list[Path]:
    fig1 = plot_sgd_regression(
        [r for role in devices for r in (runs.sgd[role][0], runs.sgd[role][-1])],
        {devices[role].preset: runs.sgd[role] for role in devices},
        predictions,
        # An ideal device has no symmetry point (kappa = 0): draw G_sym only where it exists.
        {dev.preset: dev.g_sym for dev in devices.values() if abs(dev.kappa) > 1e-6},
        out_dir / "fig1_sgd_regression.png",
    )
    fig2 = plot_shd_regression(
        [runs.orbits[role] for role in devices],
        {
            f"{alg}, {devices[role].preset}": by_role[role]
            for alg, by_role in (("SGD", runs.sgd), ("SHD", runs.shd))
            for role in devices
        },
        settings,
        out_dir / "fig2_shd_regression.png",
    )
    return [fig1, fig2]


def _checks(dev: Device, runs: _RegressionRuns, role: str, settings: RegressionSettings) -> dict[str, Any]:
    """The numbers the paper's claims are checked by, for one device."""
    k = dev.kappa * math.hypot(settings.noise, dev.read_noise) * math.sqrt(2.0 / math.pi)
    sgd, shd = runs.sgd[role], runs.shd[role]
    return {
        "k": k,
        # The reference toy's geometry (G_0 = G_sym -/+ 0.3): the closed form's residuals there.
        "closed_form_residual_at_g_sym_minus_plus_0.3": [k / (1 + k) * 0.3, -k / (1 + k) * 0.3],
        "sgd_max_abs_residual": max(abs(r.residual) for r in sgd),
        "shd_max_abs_residual": max(abs(r.residual) for r in shd),
        "shd_residual_within_jitter": [abs(r.residual) <= r.jitter for r in shd],
        "shd_over_sgd_max_abs_residual": max(abs(r.residual) for r in shd)
        / max(abs(r.residual) for r in sgd),
        "orbit_energy_ratio": orbit_energy_ratio(runs.orbits[role], settings.orbit_smooth),
    }


# ---------------------------------------------------------------------- network
@dataclass(frozen=True)
class _NetworkRun:
    """One analog training of the network part: its trainer and config, the role of the preset
    whose devices it trains on, the prefix of its array names, and its label."""

    label: str
    role: str
    prefix: str
    train: Callable[..., TrainingResult]
    config: Any


def _network_runs(settings: NetworkSettings, presets: dict[str, str]) -> list[_NetworkRun]:
    asym, sym, matched = presets["asymmetric"], presets["symmetric"], presets["matched"]
    # Symmetric devices have no symmetry point: SGD's reference sits mid-range on them.
    midrange = replace(settings.sgd, reference="midrange")
    centred = replace(settings.shd, centre_reference=True)
    label = f"SHD, {asym}, ref. centred"
    centred_runs = [_NetworkRun(label, "asymmetric", "network-shd-centred", train_shd, centred)]
    return [
        _NetworkRun(f"SHD, {asym}", "asymmetric", "network-shd", train_shd, settings.shd),
        *(centred_runs if settings.centred_shd else []),
        _NetworkRun(f"TTv2, {asym}", "asymmetric", "network-ttv2", train_ttv2, settings.ttv2),
        _NetworkRun(f"c-TTv2, {asym}", "asymmetric", "network-cttv2", train_chopped, settings.cttv2),
        _NetworkRun(f"AGAD, {asym}, ref. mid-range", "asymmetric", "network-agad", train_agad, settings.agad),
        _NetworkRun(
            f"SGD, {asym}, ref. at G_sym",
            "asymmetric",
            "network-sgd-asymmetric-symmetry",
            train_sgd,
            replace(settings.sgd, reference="symmetry"),
        ),
        _NetworkRun(
            f"SGD, {asym}, ref. at mid-range",
            "asymmetric",
            "network-sgd-asymmetric-midrange",
            train_sgd,
            midrange,
        ),
        _NetworkRun(f"SGD, {matched}", "matched", "network-sgd-matched", train_sgd, midrange),
        _NetworkRun(f"SGD, {sym}", "symmetric", "network-sgd-symmetric", train_sgd, midrange),
        _NetworkRun(f"SHD, {sym}", "symmetric", "network-shd-symmetric", train_shd, settings.shd),
    ]


def network_experiments(
    open_preset: BenchOpener,
    settings: NetworkSettings,
    pulses: dict[str, Pulse],
    out_dir: str | Path,
    presets: dict[str, str] | None = None,
    tick: Callable[..., None] | None = None,
) -> dict[str, Any]:
    """FP, then every analog run of _network_runs on one data set.

    presets: role ("symmetric", "asymmetric", "matched") -> preset name; pulses: role -> write
    pulse (volts, seconds); a role without one takes its bench's nominal pulse.
    """
    presets = {"symmetric": SYMMETRIC, "asymmetric": ASYMMETRIC, "matched": MATCHED} | (presets or {})
    data = load_dataset(settings.dataset, settings.test_fraction, settings.fp.seed, settings.clip)
    spec = MLPSpec((data.n_features, settings.hidden, data.n_classes))
    results: list[TrainingResult] = [
        train_float(spec, data, settings.fp, label="FP (float64)", on_epoch=tick)
    ]
    with _Benches(open_preset) as benches:
        for run in _network_runs(settings, presets):
            preset = presets[run.role]
            get = benches.source(run.prefix, preset)
            pulse = benches.pulse(preset, pulses.get(run.role))
            results.append(run.train(get, spec, data, pulse, run.config, label=run.label, on_epoch=tick))
    fig = plot_learning_curves(
        results, Path(out_dir) / "learning_curves.png", title=f"MLP {spec.sizes} on {data.name}"
    )
    fp, shd = results[0].final.test_accuracy, results[1].final.test_accuracy
    return {
        "dataset": data.describe(),
        "network": spec.describe(),
        "table": [_table_row(r) for r in results],
        "test_standard_error_points": _standard_error_points(fp, len(data.y_test)),
        "shd_minus_fp_points": 100.0 * (shd - fp),
        "shd_within_2_points_of_fp": bool(100.0 * (fp - shd) <= 2.0),
        "shd_c_span_weights": {r.label: spans for r in results if (spans := _c_spans(r))},
        "runs": [r.summary() for r in results],
        "figures": [fig.name],
    }


def _c_spans(r: TrainingResult) -> list[Any]:
    """The span of C (weight units) of each layer of a run whose preparation reports one (SHD)."""
    return [layer["c_span_weights"] for layer in r.setup.get("layers", []) if "c_span_weights" in layer]


def _table_row(r: TrainingResult) -> dict[str, Any]:
    return {
        "run": r.label,
        "algorithm": r.algorithm,
        "test_accuracy": r.final.test_accuracy,
        "train_accuracy": r.final.train_accuracy,
        "test_loss": r.final.test_loss,
        "seconds_per_epoch": r.seconds_per_epoch,
    }


def _standard_error_points(accuracy: float, n_test: int) -> float:
    """Binomial standard error of a test accuracy, in points: 100 sqrt(p (1 - p) / n).

    About 0.8 points at 97 % on 450 images: two runs that differ by less than about twice
    that (1.6 points, for independent test errors) are not told apart by the test set.
    """
    return 100.0 * math.sqrt(accuracy * (1.0 - accuracy) / n_test)


# ---------------------------------------------------------------------- everything
def reproduce_shd_paper(
    open_preset: BenchOpener,
    out_dir: str | Path,
    seed: int = 0,
    quick: bool = False,
    progress: ProgressCallback | None = None,
    *,
    pulse: Pulse | None = None,
    asymmetric_preset: str = ASYMMETRIC,
    symmetric_preset: str = SYMMETRIC,
    matched_preset: str = MATCHED,
    regression: RegressionSettings | None = None,
    network: NetworkSettings | None = None,
    centred_shd: bool = False,
) -> dict[str, Any]:
    """Run the regression and network experiments; write PNGs and summary.json into out_dir.

    pulse: write pulse (volts, seconds); None takes each bench's nominal_pulse.
    quick: fewer optima, shorter runs and 3 epochs (a smoke run, not the measured result).
    centred_shd: also train SHD with its reference centred (NetworkSettings.centred_shd).
    Returns the summary written to summary.json.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    reg = regression or default_regression_settings(seed, quick)
    net = network or default_network_settings(seed, quick)
    net = replace(net, centred_shd=True) if centred_shd else net
    presets = {"symmetric": symmetric_preset, "asymmetric": asymmetric_preset}
    epochs = net.fp.epochs + 1 + net.analog_epochs
    ticker = _Ticker(2 * 2 * len(reg.g0) + 2 + epochs, progress)
    started = time.perf_counter()
    regression_part = regression_experiments(open_preset, reg, out, presets, pulse, ticker.tick)
    pulses = regression_part["pulses"]
    presets["matched"] = matched_preset
    network_part = network_experiments(open_preset, net, pulses, out, presets, ticker.tick)
    summary = {
        "experiment": "reproduce_shd_paper",
        "seed": seed,
        "quick": quick,
        "presets": presets,
        "pulse": None if pulse is None else {"amplitude_V": pulse.amplitude, "width_s": pulse.width},
        "seconds": time.perf_counter() - started,
        "regression": regression_part,
        "network": network_part,
        "figures": regression_part["figures"] + network_part["figures"],
    }
    write_summary(out, summary)
    return summary
