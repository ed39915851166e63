"""The texts of every figure kind, as matplotlib holds them: engineering units on ticks and in
titles, titles that name the pulse and the devices shown, accuracy in percent, legends in words.

Each test renders a small result (simulator or ideal mock, fixed seed) and reads the figure's
texts after drawing, so that tick labels are those the formatter wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hil import Pulse
from protocols.fitting import PulseTraces, fit_traces
from protocols.fitting_plots import fit_figures
from protocols.jumptable import measure_jump_table
from protocols.plots import jump_table_figures, programming_figure, symmetry_figures
from protocols.programming import program_conductances
from protocols.symmetry import find_symmetry_point
from protocols.training import FloatConfig, MLPSpec, load_dataset, train_float
from protocols.training import plots as training_plots
from protocols.training.regression import RegressionRun, RegressionSettings
from protocols.training.result import TrainingResult
from simulators.crossbar import SimulatedCrossbar

SCIENTIFIC = re.compile(r"\de[-+]?\d")  # 2e-08, 1.28e-05
# Names of variables, not words: a legend or label holding one of these fails.
VARIABLE_NAMES = re.compile(r"g_up|g_down|dG|G_sym|g_min|g_max|step_up|step_down|\$|device\(s\)|convention")


@dataclass
class Texts:
    """The texts of a drawn figure, by role."""

    titles: list[str]
    labels: list[str]
    ticks: list[str]
    legends: list[str]

    @property
    def all(self) -> list[str]:
        return self.titles + self.labels + self.ticks + self.legends


def texts(fig: Figure) -> Texts:
    FigureCanvasAgg(fig).draw()  # tick labels are written at draw time
    axes = [ax for ax in fig.axes if ax.get_visible()]
    titles = [fig.get_suptitle()] + [ax.get_title() for ax in axes]
    labels = [t for ax in axes for t in (ax.get_xlabel(), ax.get_ylabel())]
    ticks = [t.get_text() for ax in axes for t in (*ax.get_xticklabels(), *ax.get_yticklabels())]
    legends = [*(ax.get_legend() for ax in axes), *fig.legends]
    legend_texts = [t.get_text() for legend in legends if legend is not None for t in legend.get_texts()]
    legend_texts += [legend.get_title().get_text() for legend in legends if legend is not None]
    return Texts([t for t in titles if t], [t for t in labels if t], [t for t in ticks if t], legend_texts)


def check_rules(t: Texts) -> None:
    """No scientific notation anywhere, no variable names in labels, titles and legends."""
    assert not [s for s in t.all if SCIENTIFIC.search(s)], t.all
    assert not [s for s in t.titles + t.labels + t.legends if VARIABLE_NAMES.search(s)]


def siemens_ticks(t: Texts) -> list[str]:
    return [s for s in t.ticks if s.endswith("S")]


# ---------------------------------------------------------------------------------- symmetry
@pytest.fixture(scope="module")
def symmetry() -> Iterator[object]:
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", shape=(4, 4), seed=0)
    yield find_symmetry_point(sim, sim.nominal_pulse, max_pairs=80, window=20)


def test_symmetry_convergence_names_pulse_and_shown_devices(symmetry) -> None:
    fig = symmetry_figures(symmetry, max_devices=3)["symmetry_convergence.png"]
    t = texts(fig)
    check_rules(t)
    pulse = symmetry.pulse
    suptitle = fig.get_suptitle()
    assert f"{pulse.amplitude:g} V × " in suptitle and "ns pulses" in suptitle, suptitle
    match = re.search(r"3 of 16 devices shown: ((\(\d, \d\)(, )?){3})", suptitle)
    assert match, suptitle
    named = re.findall(r"\((\d), (\d)\)", match.group(1))
    panels = [re.match(r"device \((\d), (\d)\)", s).groups() for s in t.titles[1:]]
    assert named == panels  # the title names exactly the devices of the panels
    assert all(re.search(r"\d µS ± \d+(\.\d+)? nS", s) for s in t.titles[1:]), t.titles
    assert siemens_ticks(t) and all(s.endswith(" µS") for s in siemens_ticks(t))
    assert {"read after the up pulse", "read after the down pulse"} <= set(t.legends)
    up, down = fig.axes[0].get_lines()[:2]
    assert (up.get_color(), down.get_color()) == ("tab:red", "tab:blue")


def test_symmetry_histogram_in_engineering_units(symmetry) -> None:
    t = texts(symmetry_figures(symmetry)["symmetry_histogram.png"])
    check_rules(t)
    assert "Symmetry points of 16 devices" in t.titles[0]
    assert any(re.fullmatch(r"median \d+\.?\d* µS", s) for s in t.legends), t.legends
    assert re.search(r"median standard error \d+\.?\d* nS", " ".join(t.titles))
    assert len(siemens_ticks(t)) >= 4  # the histogram's axis and the colour bar


def test_all_devices_shown_is_said_so() -> None:
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", shape=(1, 2), seed=1)
    result = find_symmetry_point(sim, sim.nominal_pulse, max_pairs=40, window=20)
    fig = symmetry_figures(result)["symmetry_convergence.png"]
    assert "both devices shown" in fig.get_suptitle()


# ---------------------------------------------------------------------------------- jump table
@pytest.fixture(scope="module")
def jump_table() -> Iterator[object]:
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", shape=(3, 4), seed=2)
    chosen = [(r, c) for r in range(3) for c in range(4) if (r, c) != (2, 3)]  # 11 devices
    yield measure_jump_table(sim, Pulse(4.75, 20e-9), chosen, n_cycles=1, n_up=60, n_bins=8)


def test_jump_table_titles_name_pulse_and_devices(jump_table) -> None:
    figures = jump_table_figures(jump_table)
    for name in ("jump_table_steps.png", "jump_table_heatmap.png"):
        t = texts(figures[name])
        check_rules(t)
        assert t.titles[0].startswith(
            "Jump table: conductance change per 4.75 V × 20 ns pulse, 11 devices ((0, 0), (0, 1), "
        ), t.titles[0]
        assert t.titles[0].endswith("(1, 3) and 3 more)")
        assert any(s.endswith(" nS") for s in t.ticks) and any(s.endswith(" µS") for s in t.ticks)
    steps = texts(figures["jump_table_steps.png"])
    assert "up pulses: median" in steps.legends and "down pulses: median" in steps.legends


def test_jump_traces_say_which_devices_are_shown(jump_table) -> None:
    t = texts(jump_table_figures(jump_table)["jump_traces.png"])
    check_rules(t)
    shown = "8 of 11 devices shown: (0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3)"
    assert shown in t.titles[0] and "4.75 V × 20 ns pulses" in t.titles[0]
    assert t.legends[:8] == ["(0, 0)", "(0, 1)", "(0, 2)", "(0, 3)", "(1, 0)", "(1, 1)", "(1, 2)", "(1, 3)"]
    assert "device (row, column)" in t.legends
    assert all(s.endswith(" µS") for s in siemens_ticks(t)) and siemens_ticks(t)


# ---------------------------------------------------------------------------------- write-verify
def test_programming_figure_in_engineering_units() -> None:
    sim = SimulatedCrossbar.from_preset("protonic-near-symmetric", shape=(3, 3), seed=0)
    target = np.random.default_rng(0).uniform(8e-6, 12e-6, (3, 3))
    result = program_conductances(sim, target, sim.nominal_pulse, tolerance=200e-9, max_iterations=50)
    t = texts(programming_figure(result))
    check_rules(t)
    assert re.search(r"within ±1 tolerance \(median 200 nS\)", " ".join(t.titles)), t.titles
    assert any(s.endswith("S") for s in t.ticks)


# ---------------------------------------------------------------------------------- fitting
def test_fit_figures_in_engineering_units_and_name_the_devices() -> None:
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", shape=(2, 3), seed=3)
    res = measure_jump_table(sim, sim.nominal_pulse, np.ones((2, 3), dtype=bool), n_cycles=1, n_up=300,
                             n_down=300, noise_reads=5)  # fmt: skip
    traces = PulseTraces.from_jump_table(res)
    fit = fit_traces(traces, model="soft-bounds")
    figures = fit_figures(fit, traces, max_devices=2)
    t = texts(figures["fit_traces.png"])
    check_rules(t)
    moving = len(fit.moving)
    shown = rf"2 of {moving} moving devices shown, spanning the fitted up step: \(\d, \d\), \(\d, \d\)"
    assert re.search(shown, t.titles[0]), t.titles[0]
    assert re.search(r"read noise \d+\.?\d* nS", t.titles[0])
    assert siemens_ticks(t) and "measured, up pulses" in t.legends
    p = texts(figures["fit_parameters.png"])
    check_rules(p)
    assert "lowest conductance (siemens)" in p.labels and any(s.endswith(" µS") for s in p.ticks)


# ---------------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def training() -> Iterator[list[TrainingResult]]:
    data = load_dataset("iris")
    fp = train_float(MLPSpec((4, 4, 3)), data, FloatConfig(epochs=2), "FP (float64)")
    # The curve of an SGD run with its reference at the symmetry point, and an SHD run that
    # stopped after 1 of 2 epochs: the legend reads their algorithm and settings, not the curve.
    sgd = TrainingResult("sgd", "SGD (symmetry reference)", fp.dataset, fp.network,
                         {"reference": "symmetry", "epochs": 2}, epochs=fp.epochs)  # fmt: skip
    shd = TrainingResult("shd", "SHD", fp.dataset, fp.network, {"epochs": 2}, epochs=fp.epochs[:2])
    yield [shd, sgd, fp]


def test_learning_curves_show_accuracy_as_the_command_line_prints_it(training) -> None:
    fp = training[2]
    fig = training_plots.learning_curves_figure(training, title="MLP [4, 4, 3] on iris")
    t = texts(fig)
    check_rules(t)
    percent = [f"{100 * r.final.test_accuracy:.2f}" for r in training]
    assert t.legends[:3] == [
        f"SHD (1 of 2 epochs): test accuracy {percent[0]} %",
        f"analog SGD, reference at the symmetry point: test accuracy {percent[1]} %",
        f"floating point (float64): test accuracy {percent[2]} %",
    ]
    assert "accuracy (percent of the samples)" in t.labels
    accuracy_ticks = [s for s in t.ticks if s.endswith(" %")]
    assert "100 %" in accuracy_ticks and len(accuracy_ticks) >= 3
    ax_acc = fig.axes[1]
    solid = [line for line in ax_acc.get_lines() if line.get_linestyle() == "-"]
    assert len(solid) == 3  # one test curve per algorithm
    top = 100 - 100 / fp.dataset["n_test"] / 2  # where 100 % is drawn
    np.testing.assert_allclose(solid[2].get_ydata(), [min(100 * e.test_accuracy, top) for e in fp.epochs])


def test_regression_figures_use_words(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    drawn: list[Figure] = []
    monkeypatch.setattr(training_plots, "_save", lambda fig, path: drawn.append(fig) or Path(path))
    rng = np.random.default_rng(0)

    def run(algorithm: str, g0: float) -> RegressionRun:
        g = g0 + 0.01 * rng.standard_normal(400)
        transfers = np.where(np.arange(400) % 4 == 0, 0.01 * rng.standard_normal(400), np.nan)
        a = transfers if algorithm == "shd" else None
        return RegressionRun(algorithm, "protonic-asymmetric", g0, 0.01, {"lr": 0.1}, g, a,
                             float(g[-50:].mean()), float(g[-50:].mean() - g0), 0.01, 0.002, 400)  # fmt: skip

    sweep = [run("sgd", g0) for g0 in (0.3, 0.5, 0.7)]
    grid = np.linspace(0.3, 0.7, 5)
    training_plots.plot_sgd_regression(
        sweep[:2], {"protonic-asymmetric": sweep}, {"protonic-asymmetric": (grid, 0 * grid, 0 * grid)},
        {"protonic-asymmetric": 0.45}, tmp_path / "fig1.png",
    )  # fmt: skip
    sweeps = {"SHD": [run("shd", 0.5)], "analog SGD": sweep}
    training_plots.plot_shd_regression([run("shd", 0.5)], sweeps, RegressionSettings(), tmp_path / "fig2.png")
    for fig in drawn:
        check_rules(texts(fig))
    assert "symmetry point" in texts(drawn[0]).legends
