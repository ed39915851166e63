"""A bench: where named logical arrays come from (a simulated chip, a virtual or real bench).

Protocols take CrossbarBackend objects; the command line asks a Bench for them by name.
For SHD one layer needs three arrays of one shape, e.g. "L0.A_main", "L0.A_ref", "L0.C_main".
hil.benches.open_bench opens one by name ("sim", "virtual" or a bench file).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Self

from hil.backend import CrossbarBackend
from hil.pulses import Pulse


class Bench(ABC):
    """Hands out logical arrays and closes them all, leaving the hardware safe, on exit.

    Besides the abstract methods, a bench answers what callers ask of every bench; the
    defaults here are those of a bench without instruments and without a known pulse.
    """

    identities: Mapping[str, str] = MappingProxyType({})
    """Each instrument's identity (its *IDN? reply) by role; empty without instruments."""

    @property
    def nominal_pulse(self) -> Pulse | None:
        """The write pulse (volts, seconds) the devices' specified steps hold at, where the bench
        knows it (a simulated chip does); None when the caller must choose one."""
        return None

    def transactions(self) -> dict[str, dict[str, int]]:
        """Messages sent to each instrument so far, {role: {"writes": n, "queries": n}};
        empty without instruments."""
        return {}

    def on_retry(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call listener(event) for every read or query the bench tries again after a transient
        fault (event: JSON-ready, the fields of protocols.records.retry.RetryRecord); a bench
        without instruments never retries, so this default keeps nothing."""
        del listener

    def chip_state(self) -> bytes | None:
        """The state of the chip as bytes, for a resumed run to continue on the same chip; None
        (this default) for a chip that keeps its own state, as every real chip does between two
        processes: a resume then reads it as it stands."""
        return None

    def restore_chip_state(self, state: bytes) -> None:
        """Continue from a state chip_state() returned. A bench whose chip keeps its own state
        has none to restore: this default refuses, so that a state is never silently dropped."""
        del state
        raise NotImplementedError(
            f"{type(self).__name__} keeps its chip's state itself; there is none to restore"
        )

    @abstractmethod
    def array(self, name: str, shape: tuple[int, int]) -> CrossbarBackend:
        """The logical array `name` of the given (rows, cols).

        A simulated chip creates it on first use; a real bench returns the configured array
        and raises ValueError naming the configured shapes if `shape` does not match.
        """

    @abstractmethod
    def describe(self) -> dict[str, object]:
        """JSON-ready description of the bench (kind, seed, instruments, arrays)."""

    @abstractmethod
    def close(self) -> None:
        """Close every array and instrument; leave outputs off and switches open. Idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def total_transactions(transactions: Mapping[str, Mapping[str, int]]) -> int:
    """All messages of a Bench.transactions() count ({role: {"writes": n, "queries": n}})."""
    return sum(n for counts in transactions.values() for n in counts.values())
