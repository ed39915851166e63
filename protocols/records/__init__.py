"""Typed records of the points the protocols store, one module per protocol kind.

A protocol writes each point it measures as a record (Record.write), and whatever reads a
stored run back (a resume, a fit, a replot, a script over a run) reads the same record
(Record.from_row), so the names, types and array-or-JSON storage of a point's values are
stated once. The rows are hil.store's: a kind, a step, arrays as .npy blobs and the other
values as JSON; the records write the rows earlier versions wrote, so stored runs keep
resuming, fitting and replotting.

    protocols.records.jumptable     jump_start, jump, jump_resume, jump_train, jump_train_lost,
                                    and the plan (checkpoint scope "jump_table")
    protocols.records.symmetry      pair, window
    protocols.records.programming   verify
    protocols.records.training      epoch
    protocols.records.retry         retry (a read or query tried again after a transient fault)
    protocols.records.sweep         sweep_point (one point of a sweep, written by the client)
"""

from protocols.records.base import Record, Row

__all__ = ["Record", "Row"]
