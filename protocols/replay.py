"""Figures of a stored run, rebuilt from the run store alone (no bench, no summary.json).

For each protocol the result object its plots take is rebuilt from the run's points, its
stored parameters and summary, and its checkpoints, and handed to the same plotting function
the live run used; a completed run's figures therefore equal the originals.

    symmetry-point  SymmetryPointResult from the "pair" and "window" points; per-device
                    responsiveness and relaxation time, pulse and settings from the summary.
    jump-table      JumpTableResult from the traces (protocols.fitting.traces_from_run; a
                    train run's from protocols.records.jumptable.recorded_trains), the table binned
                    again with the stored settings (summary, else the plan).
    train           one TrainingResult per algorithm: the curve from the "epoch" points, the
                    rest from the summary's "runs", else from the algorithm's checkpoint.

A run that did not complete (aborted, failed, incomplete, still running) is replotted as far
as it got, with a note in the figure saying so. What the store does not hold for such a run
(a symmetry run's per-device responsiveness and relaxation time are only in the final
summary) is stated in the note, not guessed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imread

from hil.backend import FloatArray, IntArray
from hil.pulses import Pulse, PulsePair, pulse_from_state
from hil.store import RunInfo, RunStore
from protocols.jumptable import SMOOTHING, JumpTableResult, measure_jump_table, table_from_reads
from protocols.plots import plot_jump_table, plot_symmetry
from protocols.records.jumptable import JumpPlan, recorded_trains
from protocols.records.symmetry import Pair, Window, stack
from protocols.records.training import Epoch
from protocols.symmetry import SymmetryPointResult
from protocols.traces import traces_from_run
from protocols.training.checkpoints import restore_result, resume_marks
from protocols.training.plots import plot_learning_curves
from protocols.training.result import EpochRecord, TrainingResult

__all__ = [
    "NOTE_PX",
    "PROTOCOLS",
    "jump_table_result_from_run",
    "replot_run",
    "symmetry_result_from_run",
    "training_results_from_run",
]

# Keys symmetry summary() adds to the result's own parameters.
_SYMMETRY_SETTINGS = ("max_pairs", "window_pairs", "tolerance_S", "tolerance_rule")
NOTE_PX = 36  # height of the note strip added above a partial run's figure, pixels


def symmetry_result_from_run(store: RunStore, run: str | int) -> SymmetryPointResult:
    """The SymmetryPointResult of stored symmetry-point run `run` (id or uid prefix), siemens.

    Estimates come from the last completed window, reads from every recorded pair. history
    has no "g_start" and no "window_relaxation" (not recorded). Without a summary (the run did
    not complete) responsive is all True and relaxation_pairs NaN: unknown, not measured.
    """
    return _symmetry(store, store.run(run))[0]


def jump_table_result_from_run(store: RunStore, run: str | int) -> JumpTableResult:
    """The JumpTableResult of stored jump-table run `run`, over the pulses it recorded.

    The table is binned with the run's stored settings (summary; for a run that did not
    complete, `hil run jump-table`'s --bins or measure_jump_table's defaults).
    """
    return _jump_table(store, store.run(run))[0]


def training_results_from_run(store: RunStore, run: str | int) -> list[TrainingResult]:
    """One TrainingResult per algorithm of stored train run `run` that evaluated an epoch, in
    training order. Without the summary's entry (the algorithm did not complete) the label is
    the algorithm's name with the epochs it got through, e.g. "SHD (3 of 15 epochs)"."""
    return _training(store, store.run(run))[0]


def replot_run(store: RunStore, run: str | int, out_dir: str | Path) -> list[Path]:
    """Write the figures of stored run `run` (id or uid prefix) into out_dir; returns their paths.

    The file names are those of the live run. Raises hil.store.RunNotFoundError for an unknown
    run and ValueError for a protocol it cannot replot or a run with nothing to plot yet.
    """
    info = store.run(run)
    if info.protocol not in PROTOCOLS:
        raise ValueError(
            f"run {info.uid} is a {info.protocol!r} run; figures can be rebuilt for "
            f"{', '.join(PROTOCOLS)} runs"
        )
    return PROTOCOLS[info.protocol](store, info, Path(out_dir))


# ---------------------------------------------------------------------- symmetry point
def _symmetry(store: RunStore, info: RunInfo) -> tuple[SymmetryPointResult, str | None]:
    """Reads from the "pair" points, estimates from the last "window" point (arrays stored
    exactly). The read before the first pulse and each window's relaxation time are not
    recorded, so history lacks "g_start" and "window_relaxation"."""
    pairs = Pair.read(store.points(info.id, Pair.KIND))
    windows = Window.read(store.points(info.id, Window.KIND))
    summary, params = info.summary or {}, info.params
    if not windows:
        raise ValueError(
            f"run {info.uid} ({info.status}) stopped after {len(pairs)} pairs, before its first window "
            f"of {params.get('window', '?')} pairs ended: it has no estimate to plot; "
            f"`hil runs export {info.uid}` gives its reads"
        )
    last = windows[-1]
    history = {
        "g_up": stack(pairs, "g_up"),
        "g_down": stack(pairs, "g_down"),
        "read_pairs": np.array([p.step for p in pairs], dtype=np.int64),
        "window_end": np.array([w.step for w in windows], dtype=np.int64),
        "window_mean": stack(windows, "mean"),
        "window_sem": stack(windows, "sem"),
        "window_step": stack(windows, "step_size"),
    }
    per_device = summary.get("per_device")
    if per_device is not None:
        responsive = np.array(per_device["responsive"], dtype=bool)
        relaxation = np.array(per_device["relaxation_pairs"], dtype=np.float64)
        relaxation[np.isnan(relaxation)] = np.inf  # JSON null: a device with no restoring force
        stored = summary["parameters"]
        settings = (stored["max_pairs"], stored["window_pairs"], stored["tolerance_S"])
        parameters = {k: v for k, v in stored.items() if k not in _SYMMETRY_SETTINGS}
        pulse = _pulse(summary.get("pulse"))
        step_std = per_device.get("step_std_S")  # summaries written before it lack it
    else:
        step_std = None
        responsive = np.ones_like(last.converged)
        relaxation = np.full(last.mean.shape, np.nan)
        missing = [k for k in ("pulse", "max_pairs", "window") if k not in params]
        if missing:
            raise ValueError(
                f"run {info.uid} has no summary and its params lack {', '.join(missing)}: store them "
                "when starting a symmetry-point run (as `hil run symmetry-point` does)"
            )
        settings = (params["max_pairs"], params["window"], params.get("tolerance"))
        parameters = {}
        pulse = _pulse(params["pulse"])
    note = None
    if info.status != "completed" or per_device is None:
        windows_done = f"{len(windows)} window" + ("s" if len(windows) != 1 else "")
        note = f"{_status(info)}: {len(pairs)} of {settings[0]} pairs, {windows_done}"
        if per_device is None:
            note += "; responsiveness is stored only with a summary: every device is shown as responsive"
    result = SymmetryPointResult(
        g_sym=last.mean,
        g_sym_std=last.sem,
        step=last.step_size,
        pairs_used=int(summary.get("pairs_used", len(pairs))),
        converged=last.converged,
        responsive=responsive,
        relaxation_pairs=relaxation,
        history=history,
        pulse=pulse,
        max_pairs=int(settings[0]),
        window=int(settings[1]),
        tolerance=settings[2],
        parameters=parameters,
        step_std=None if step_std is None else np.array(step_std, dtype=np.float64),
    )
    return result, note


def _replot_symmetry(store: RunStore, info: RunInfo, out: Path) -> list[Path]:
    result, note = _symmetry(store, info)
    return _with_note(plot_symmetry(result, out), note)


# ---------------------------------------------------------------------- jump table
def _jump_table(store: RunStore, info: RunInfo) -> tuple[JumpTableResult, str | None]:
    """Traces from traces_from_run, or for a train run (plan "trains": true) from
    protocols.records.jumptable.recorded_trains (NaN where a device has no read: trains not run
    yet or lost, as in the live result); the plan (checkpoint) gives devices, pulse and trains;
    binning from the summary's parameters, else `hil run jump-table`'s --bins, else
    measure_jump_table's defaults."""
    plan = JumpPlan.from_store(store, info.id)
    if plan is None:
        raise ValueError(f"run {info.uid} holds no jump-table plan: it is not a measure_jump_table run")
    reads = _recorded_reads(store, info, plan)
    summary = info.summary or {}
    parameters = summary.get("parameters") or _default_binning(info, plan)
    note = None
    if info.status != "completed" or not summary:
        note = f"{_status(info)}: {reads.done}"
    pulse = _pulse(summary["pulse"]) if summary.get("pulse") else plan.pulse
    g_range = parameters["g_range_S"]
    table = table_from_reads(
        reads.g,
        reads.direction,
        reads.resumed_at,
        reads.resume_reads,
        n_bins=parameters["n_bins"],
        g_range=None if g_range is None else tuple(g_range),
        n_quantiles=parameters["n_quantiles"],
        pulse=pulse,
        smoothing=parameters.get("smoothing", SMOOTHING),  # runs stored before it: the default
    )
    result = JumpTableResult(
        table=table,
        devices=plan.pairs,
        g=reads.g,
        direction=reads.direction,
        cycle=plan.cycles()[: reads.direction.size],
        read_noise=reads.read_noise,
        pulse=pulse,
        parameters=parameters,
        resumed_at=reads.resumed_at,
        resume_reads=reads.resume_reads,
    )
    return result, note


@dataclass(frozen=True)
class _Reads:
    """The reads of a stored jump-table run as JumpTableResult holds them (siemens), and how far
    the run got (for the note)."""

    g: FloatArray
    direction: IntArray
    read_noise: FloatArray | None
    resumed_at: IntArray
    resume_reads: FloatArray
    done: str


def _recorded_reads(store: RunStore, info: RunInfo, plan: JumpPlan) -> _Reads:
    """The reads of a pulse-by-pulse run as fitting reads them, of a train run as far as any
    device got."""
    if not plan.trains:
        try:
            traces = traces_from_run(store, info.id)
        except ValueError as exc:
            raise ValueError(f"run {info.uid} ({info.status}) cannot be replotted yet: {exc}") from exc
        done = f"{traces.direction.size} of {plan.n_pulses} pulses per device"
        return _Reads(
            g=traces.g,
            direction=traces.direction,
            read_noise=traces.read_noise,
            resumed_at=traces.resumed_at,
            resume_reads=traces.resume_reads,
            done=done,
        )
    recorded = recorded_trains(plan, store.points(info.id), f"run {info.uid}")
    if recorded is None or recorded.trains_done == 0:
        raise ValueError(f"run {info.uid} ({info.status}) cannot be replotted yet: it recorded no train")
    n_pulses = int(recorded.reached.max())  # the furthest any device got
    at, reads = recorded.resume_rows()
    inside = at < n_pulses
    lost = f", {len(recorded.lost)} lost to an error" if recorded.lost else ""
    return _Reads(
        g=recorded.g[: n_pulses + 1],
        direction=recorded.direction[:n_pulses],
        read_noise=recorded.read_noise,
        resumed_at=at[inside],
        resume_reads=reads[inside],
        done=f"{recorded.trains_done} of {recorded.n_trains} trains{lost}",
    )


def _default_binning(info: RunInfo, plan: JumpPlan) -> dict[str, Any]:
    """The parameters of a run without a summary: its plan, `hil run jump-table`'s --bins (if
    the CLI ran it) and measure_jump_table's defaults."""
    defaults = inspect.signature(measure_jump_table).parameters
    return {
        "n_cycles": plan.n_cycles,
        "n_up": plan.n_up,
        "n_down": plan.n_down,
        "noise_reads": plan.noise_reads,
        "n_bins": info.params.get("cli", {}).get("bins", defaults["n_bins"].default),
        "n_quantiles": defaults["n_quantiles"].default,
        "g_range_S": defaults["g_range"].default,
        "smoothing": defaults["smoothing"].default,
        "trains": plan.trains,
    }


def _replot_jump_table(store: RunStore, info: RunInfo, out: Path) -> list[Path]:
    result, note = _jump_table(store, info)
    return _with_note(plot_jump_table(result, out), note)


# ---------------------------------------------------------------------- training
def _training(store: RunStore, info: RunInfo) -> tuple[list[TrainingResult], str | None]:
    """Algorithms in the order they trained; one with no evaluated epoch is left out. A result
    comes from the summary's "runs" entry of its algorithm; without one (the run did not
    complete) from the algorithm's checkpoint, labelled with the epochs it got through."""
    epochs: dict[str, dict[int, EpochRecord]] = {}
    for point in Epoch.read(store.points(info.id, Epoch.KIND)):
        # A run killed between an epoch's point and its checkpoint evaluates that epoch again on
        # resume: the newer point counts.
        epochs.setdefault(point.algorithm, {})[int(point.record.epoch)] = point.record
    summaries = {s["algorithm"]: s for s in (info.summary or {}).get("runs", [])}
    order = [*info.params.get("algorithms", []), *epochs]
    results, partial = [], []
    for algorithm in dict.fromkeys(order):
        if algorithm not in epochs:
            partial.append(f"{algorithm} not trained")
            continue
        curve = [epochs[algorithm][k] for k in sorted(epochs[algorithm])]
        if algorithm in summaries:
            result = TrainingResult.from_summary(summaries[algorithm])
        else:
            state = store.last_checkpoint(info.id, algorithm) or {}
            result = TrainingResult(
                algorithm,
                algorithm.upper(),
                state.get("dataset", info.params.get("dataset", {})),
                state.get("network", info.params.get("network", {})),
                state.get("parameters", {}),
            )
            if state.get("stage") == "training":
                restore_result(result, state)
            planned = result.parameters.get("epochs", "?")
            result.label += f" ({curve[-1].epoch} of {planned} epochs)"
            partial.append(f"{algorithm}: {curve[-1].epoch} of {planned} epochs")
        result.epochs = curve
        results.append(result)
    if not results:
        raise ValueError(f"run {info.uid} ({info.status}) has no evaluated epoch yet: nothing to plot")
    note = None
    if info.status != "completed" or partial:
        note = f"{_status(info)}" + (f": {'; '.join(partial)}" if partial else "")
    return results, note


def _replot_training(store: RunStore, info: RunInfo, out: Path) -> list[Path]:
    results, note = _training(store, info)
    first = results[0]
    title = f"MLP {first.network.get('sizes', '?')} on {first.dataset.get('name', '?')}"
    if note is not None:
        title += f"\n{note}"
    marks = resume_marks(store.points(info.id))
    return [plot_learning_curves(results, out / "learning_curves.png", title=title, resumed=marks)]


def _replot_balance(store: RunStore, info: RunInfo, out: Path) -> list[Path]:
    """balance.png of a completed balance run, from its summary and its measurements."""
    from protocols.balance import BalancePoint, BalanceResult
    from protocols.balance_plots import plot_balance
    from protocols.records.balance import BalancePointRecord

    if not info.summary:
        raise ValueError(
            f"{_status(info)} before its answer: its measurements are stored as balance_point "
            f"points (hil runs export {info.uid}), the figure needs the answer"
        )
    points = [BalancePoint.of_record(r) for r in BalancePointRecord.read(store.points(info.id))]
    return plot_balance(BalanceResult.from_summary(info.summary, points), out)


PROTOCOLS: dict[str, Callable[[RunStore, RunInfo, Path], list[Path]]] = {
    "symmetry-point": _replot_symmetry,
    "jump-table": _replot_jump_table,
    "train": _replot_training,
    "balance": _replot_balance,
}
"""Protocol name (as the run store records it) -> the function that replots such a run."""


# ---------------------------------------------------------------------- helpers
def _pulse(stored: Any) -> Pulse | PulsePair:
    """The pulses of a summary's {"amplitude_V", "width_s"} or params' {"amplitude", "width"}
    (a pair: {"up": ..., "down": ...})."""
    if not isinstance(stored, dict):
        raise ValueError(f"the run stores no pulse (got {stored!r}); it cannot be replotted")
    return pulse_from_state(stored)


def _status(info: RunInfo) -> str:
    partial = "" if info.status == "completed" else ", partial data"
    return f"run {info.uid} {info.status}{partial}"


def _with_note(paths: list[Path], note: str | None) -> list[Path]:
    """Add a strip with the note above each figure (the plotting functions take no title)."""
    if note is None:
        return paths
    for path in paths:
        image = imread(path)
        height, width = image.shape[:2]
        dpi = 100
        fig = Figure(figsize=(width / dpi, (height + NOTE_PX) / dpi), dpi=dpi)
        fig.figimage(image, xo=0, yo=0)
        fig.text(0.01, 1 - NOTE_PX / 2 / (height + NOTE_PX), note, va="center", fontsize=9, color="tab:red")
        FigureCanvasAgg(fig)
        fig.savefig(path, dpi=dpi)
    return paths
