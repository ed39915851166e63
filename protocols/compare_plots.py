"""compare_training.png: the short training of `hil compare` on the bench and on the model, overlaid."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from protocols.compare import TRAINING_QUANTITIES, Comparison

SIDES = {"bench": ("-", "bench"), "model": ("--", "model")}


def plot_training_comparison(comparison: Comparison, out_dir: str | Path) -> list[Path]:
    """compare_training.png in out_dir if the comparison trained; no file otherwise."""
    if comparison.training is None:
        return []
    path = Path(out_dir) / "compare_training.png"
    fig = training_comparison_figure(comparison)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110)
    return [path]


def training_comparison_figure(comparison: Comparison) -> Figure:
    """Left: train loss per epoch (log scale); right: test accuracy per epoch (percent); bench
    solid, model dashed, the epochs whose mean is compared shaded."""
    if comparison.training is None:
        raise ValueError("the comparison ran no training")
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for side, (style, word) in SIDES.items():
        result = comparison.training[side]
        epochs = [e.epoch for e in result.epochs]
        ax_loss.plot(epochs, [e.train_loss for e in result.epochs], style, color="k", label=word)
        ax_acc.plot(epochs, [100 * e.test_accuracy for e in result.epochs], style, color="k", label=word)
    last = comparison.training["bench"].epochs[-1].epoch
    for ax in (ax_loss, ax_acc):
        ax.axvspan(last - comparison.training_tail + 0.5, last + 0.5, color="0.92")
        ax.set_xlabel("epoch (0: before training)")
        ax.legend(fontsize=8)
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("train loss (cross-entropy, nats)")
    ax_acc.set_ylabel("test accuracy (%)")
    label = comparison.training["bench"].label
    verdicts = [
        f"{word} z {q.z:+.1f} ({'inside' if q.inside else 'OUTSIDE'})"
        for word, q in zip(TRAINING_QUANTITIES, comparison.training_quantities, strict=True)
    ]
    fig.suptitle(f"{label}, bench (solid) against model (dashed): " + ", ".join(verdicts))
    return fig
