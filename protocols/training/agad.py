"""AGAD: chopped TTv2 with a reference tracked on the fly (Rasch et al. 2024).

Rasch, Carta, Fagbohungbe, Gokmen, "Fast and robust analog in-memory deep neural network
training", Nat. Commun. 15 (2024) 7133 (arXiv:2303.04721); the update rule as IBM's aihwkit
implements it (DynamicTransferCompound). Each read v of row k is taken against P_k, the
running mean M_k of the row's earlier reads frozen when its chopper last flipped: c_k (v - P_k)
is how far A moved since then, so any constant offset of A (where its reference sits) cancels
and A_ref need not sit at the symmetry point. By default A_ref is programmed to mid-range.
Writes to C start after the first chop_period + 1 reads of a row (before then P is not yet a
mean of reads). docs/protocols/agad.md has the equations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Unpack

from hil.pulses import Pulse, PulsePair
from protocols.training.analog_training import LayerSite
from protocols.training.chopped import ChoppedConfig, chopper_for
from protocols.training.datasets import Dataset
from protocols.training.loop import TrainerOptions
from protocols.training.network import MLPSpec
from protocols.training.preparation import ArraySource
from protocols.training.result import TrainingResult
from protocols.training.transfer import (
    ReferenceSettings,
    ReferenceTracker,
    TransferParts,
    train_transfer,
    transfer_recipe,
)


@dataclass(frozen=True)
class AGADConfig(ChoppedConfig):
    """AGAD hyperparameters: ChoppedConfig's, and

    tail_weight: beta = min(tail_weight / chop_period, 1) is the weight of each new read in the
        running mean M (aihwkit's tail_weightening: larger weighs the end of a period more).
    reference: default A_ref at mid-range (no symmetry point used).
    """

    tail_weight: float = 5.0
    reference: ReferenceSettings = field(default_factory=lambda: ReferenceSettings(placement="midrange"))

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.tail_weight > 0:
            raise ValueError(f"tail_weight must be > 0, got {self.tail_weight!r}")

    @property
    def beta(self) -> float:
        return min(self.tail_weight / self.chop_period, 1.0)


def _parts(site: LayerSite, config: AGADConfig) -> TransferParts:
    return TransferParts(
        chopper=chopper_for(site, config),
        tracker=ReferenceTracker(site.shape, config.beta),
        warmup_reads=config.chop_period + 1,
    )


AGAD_LAYERS = transfer_recipe("agad", _parts)


def train_agad(
    get_array: ArraySource,
    spec: MLPSpec,
    data: Dataset,
    pulse: Pulse | PulsePair,
    config: AGADConfig | None = None,
    label: str = "AGAD",
    **options: Unpack[TrainerOptions],
) -> TrainingResult:
    """Prepare the arrays and train the MLP with AGAD (pulse: volts, seconds).

    options: TrainerOptions (checkpoint scope "agad").
    """
    cfg = config or AGADConfig()
    return train_transfer(AGAD_LAYERS, get_array, spec, data, pulse=pulse, config=cfg, label=label, **options)
