"""How `hil` ends when something goes wrong: the exit status and the words a person reads.

The message says what failed (the error names the instrument, file or option), what was kept
(the run and its points), whether the bench is safe, and the exact command that continues the
run where that is possible. Exit statuses: hil.faults.ExitStatus (docs/exit-status.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hil.cli.common import DEFAULT_STORE
from hil.faults import ExitStatus, exit_status

_WHAT = {
    ExitStatus.INTERNAL: "internal error",
    ExitStatus.USAGE: "error",
    ExitStatus.INSTRUMENT: "instrument fault",
    ExitStatus.NOT_SAFE: "instrument fault, bench NOT safe",
    ExitStatus.STORE: "run store error",
    ExitStatus.BENCH_IN_USE: "bench in use",
}


def command_text(args: argparse.Namespace) -> str:
    """'run jump-table', 'train', ...: the command as typed, without its options."""
    protocol = getattr(args, "protocol", None)
    return f"{args.command} {protocol}" if args.command == "run" and protocol else str(args.command)


def resume_command(args: argparse.Namespace) -> str | None:
    """The exact command that continues this invocation's run, where its protocol resumes."""
    run = getattr(args, "run_uid", None)
    if run is None or not getattr(args, "resumable", False):
        return None
    store = getattr(args, "store", None)
    store_option = "" if store is None or Path(store) == Path(DEFAULT_STORE) else f" --store {store}"
    return f"hil {command_text(args)} --resume {run}{store_option}"


def explain(args: argparse.Namespace, exc: BaseException) -> tuple[int, list[str]]:
    """(exit status, lines for stderr) for an error that ended the command."""
    status = exit_status(exc)
    if isinstance(exc, KeyboardInterrupt):
        lines = [f"hil {command_text(args)}: {exc or 'interrupted'}"]
    else:
        lines = [f"hil {command_text(args)}: {_WHAT.get(status, 'error')}: {exc}"]
    run = getattr(args, "run_uid", None)
    if run is not None:
        lines.append(f"  kept: run {run} and every point it recorded (hil runs show {run})")
    if getattr(args, "bench_opened", False):
        if status == ExitStatus.NOT_SAFE:
            lines.append("  the bench may NOT be safe: check by hand that outputs are off and switches open")
        else:
            lines.append("  the bench was closed and left safe: outputs off, switches open")
    resume = resume_command(args)
    if resume is not None:
        lines.append(f"  continue it with: {resume}")
    if status == ExitStatus.INTERNAL:
        lines.append("  this is a bug: run the command again with --debug for the traceback, and report it")
    return status, lines
