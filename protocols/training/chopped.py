"""Chopped TTv2 (c-TTv2): TTv2 with a sign chopper on A's inputs (Rasch et al. 2024).

Rasch, Carta, Fagbohungbe, Gokmen, "Fast and robust analog in-memory deep neural network
training", Nat. Commun. 15 (2024) 7133 (arXiv:2303.04721); the update rule as IBM's aihwkit
implements it (ChoppedTransferCompound). Each input row k has a sign c_k: the gradient enters
A as c_k x_k, and the buffer gets c_k times the read of row k, so the gradient reaches H with
c_k^2 = 1 while a constant offset of the read (a reference off the symmetry point, an
amplifier offset) enters with alternating sign and cancels over flips. Arrays and
preparation as TTv2; docs/protocols/chopped-ttv2.md has the equations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Unpack

from hil.pulses import Pulse, PulsePair
from protocols.training.analog_training import LayerSite
from protocols.training.datasets import Dataset
from protocols.training.loop import TrainerOptions
from protocols.training.network import MLPSpec
from protocols.training.preparation import ArraySource
from protocols.training.result import TrainingResult
from protocols.training.transfer import (
    Chopper,
    TransferConfig,
    TransferParts,
    train_transfer,
    transfer_recipe,
)


@dataclass(frozen=True)
class ChoppedConfig(TransferConfig):
    """c-TTv2 hyperparameters: TransferConfig's, and

    chop_period: reads of a row between flips of its sign (regular), or the mean number of
        reads between flips (chop_random; aihwkit's in_chop_prob = 1 / chop_period).
    chop_random: flip at random (probability 1 / chop_period after each read) instead of regularly.
    """

    chop_period: int = 20
    chop_random: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if (
            isinstance(self.chop_period, bool)
            or int(self.chop_period) != self.chop_period
            or self.chop_period < 1
        ):
            raise ValueError(f"chop_period must be a whole number of reads >= 1, got {self.chop_period!r}")


def chopper_for(site: LayerSite, config: ChoppedConfig) -> Chopper:
    """The layer's chopper; a random one draws from the config's seed and the layer index."""
    return Chopper(
        site.shape[0], config.chop_period, config.chop_random, seed=config.seed * 1000 + site.index
    )


def _parts(site: LayerSite, config: ChoppedConfig) -> TransferParts:
    return TransferParts(chopper=chopper_for(site, config))


CHOPPED_LAYERS = transfer_recipe("cttv2", _parts)


def train_chopped(
    get_array: ArraySource,
    spec: MLPSpec,
    data: Dataset,
    pulse: Pulse | PulsePair,
    config: ChoppedConfig | None = None,
    label: str = "c-TTv2",
    **options: Unpack[TrainerOptions],
) -> TrainingResult:
    """Prepare the arrays and train the MLP with chopped TTv2 (pulse: volts, seconds).

    options: TrainerOptions (checkpoint scope "cttv2").
    """
    cfg = config or ChoppedConfig()
    return train_transfer(
        CHOPPED_LAYERS, get_array, spec, data, pulse=pulse, config=cfg, label=label, **options
    )
