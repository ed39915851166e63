"""What every `hil` command shares: argument types, the bench, the run store, run folders."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hil.bench import Bench, total_transactions
from hil.benches import BenchArgumentError, open_bench
from hil.faults import UsageFault
from hil.pulses import Pulse, PulsePair, parse_pulse

DEFAULT_STORE = "runs/hil-runs.sqlite"


class UsageError(UsageFault):
    """A command-line value is wrong; the message says what to do instead."""


# ---------------------------------------------------------------------- argument types
def shape_arg(text: str) -> tuple[int, int]:
    """'8x8' -> (8, 8)."""
    try:
        rows, cols = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape must look like 8x8 (rows x cols), got {text!r}") from None
    if rows < 1 or cols < 1:
        raise argparse.ArgumentTypeError(f"shape must be positive, got {text!r}")
    return rows, cols


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def pulse_arg(text: str) -> str:
    """A pulse option's text (e.g. "6V,20ns"), checked here so that a bad one stops the command
    with exit status 2; kept as text so that a run's stored options stay plain JSON."""
    try:
        parse_pulse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def seed_arg(text: str) -> int:
    """A seed the run store keeps exactly: a whole number from 0 to 2**63 - 1."""
    from hil.store import MAX_SEED

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed is a whole number, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"a seed is a whole number from 0 to {MAX_SEED} (2**63 - 1), got {text}"
        )
    return value


def g_range_arg(text: str) -> tuple[float, float]:
    """'1e-6,20e-6' -> (1e-6, 2e-5) siemens."""
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--g-range looks like 1e-6,20e-6 (siemens), got {text!r}") from None
    if not 0 <= low < high < float("inf"):
        raise argparse.ArgumentTypeError(f"--g-range needs 0 <= GMIN < GMAX (siemens), got {text!r}")
    return low, high


# ---------------------------------------------------------------------- benches
# open_bench's arguments as the command line names them.
_OPTIONS = {"spec": "--bench", "conductance_range": "--g-range GMIN,GMAX"}


def bench_from(args: argparse.Namespace) -> Bench:
    """The bench named by --bench (sim, virtual or a bench TOML), with --preset, --seed,
    --g-range and --vmm-reads (hil.benches.open_bench)."""
    try:
        return open_bench(
            args.bench,
            preset=args.preset,
            seed=args.seed,
            conductance_range=args.g_range,
            vmm_reads=args.vmm_reads,
            arrays=getattr(args, "bench_arrays", None),  # what a virtual bench must carry
        )
    except BenchArgumentError as exc:
        raise UsageError(f"{bench_from_options(exc.argument)} {exc.problem}") from None


def bench_from_options(argument: str) -> str:
    """The command-line option of an open_bench argument (BenchArgumentError.argument)."""
    return _OPTIONS.get(argument, argument)


def pulse_from(args: argparse.Namespace, bench: Bench) -> Pulse | PulsePair:
    """The write pulses: --up and --down each for its polarity; a polarity without its own
    option takes --amplitude/--width, or the bench's nominal pulse when both are omitted. One
    pulse for both polarities is returned as a Pulse (and stored as runs before pairs stored it)."""
    up, down = (getattr(args, name, None) for name in ("up", "down"))
    if up is not None and down is not None:
        base = None
    elif args.amplitude is None and args.width is None:
        if bench.nominal_pulse is None:
            raise UsageError(
                "this bench has no nominal pulse: give --amplitude VOLTS and --width SECONDS, or "
                "--up and --down (e.g. --up 6V,20ns --down 5.5V,20ns)"
            )
        base = bench.nominal_pulse
    elif args.amplitude is None or args.width is None:
        raise UsageError("give both --amplitude VOLTS and --width SECONDS, or neither")
    else:
        base = Pulse(args.amplitude, args.width)
    pair = PulsePair(
        parse_pulse(up) if up is not None else base,  # type: ignore[arg-type]
        parse_pulse(down) if down is not None else base,  # type: ignore[arg-type]
    )
    return pair.up if pair.is_symmetric else pair


def add_common(parser: argparse.ArgumentParser, out_default: str, bench_default: str = "sim") -> None:
    group = parser.add_argument_group("bench and output")
    group.add_argument(
        "--bench",
        default=bench_default,
        help="where to run: sim (the bare simulator), virtual (the virtual bench through the real "
        f"drivers) or a bench file PATH.toml (default: {bench_default})",
    )
    group.add_argument(
        "--vmm-reads",
        choices=("fresh", "after_write"),
        default="fresh",
        help="on instruments: a VMM reads every device (fresh) or only those pulsed since their "
        "last reading (after_write; far fewer reads) (default: fresh)",
    )
    group.add_argument(
        "--g-range",
        type=g_range_arg,
        help="with a bench file: the devices' nominal conductance range GMIN,GMAX in siemens",
    )
    group.add_argument(
        "--preset",
        default="protonic-asymmetric",
        help="simulated device preset: a name (see `hil presets`) or a preset file from `hil fit` "
        "(default: protonic-asymmetric)",
    )
    group.add_argument(
        "--seed", type=seed_arg, default=0, help="seed of the (simulated) chip and the run (default: 0)"
    )
    group.add_argument(
        "--out",
        type=Path,
        help=f"output folder for summary.json and figures (default: {out_default}/RUN, one per run)",
    )
    group.add_argument("--amplitude", type=positive_float, help="write pulse amplitude in volts")
    group.add_argument("--width", type=positive_float, help="write pulse width in seconds")
    group.add_argument(
        "--up",
        type=pulse_arg,
        metavar="V,T",
        help="the up (potentiating) pulse, amplitude and width with units, e.g. 6V,20ns "
        "(default: --amplitude/--width)",
    )
    group.add_argument(
        "--down",
        type=pulse_arg,
        metavar="V,T",
        help="the down (depressing) pulse, e.g. 5.5V,20ns (default: --amplitude/--width)",
    )
    group.add_argument("--no-progress", action="store_true", help="no progress bar")
    group.add_argument(
        "--store",
        type=Path,
        default=Path(DEFAULT_STORE),
        help=f"run database (default: {DEFAULT_STORE})",
    )
    # A command without --resume starts a new run; prepare_resume fills these in for one with it.
    parser.set_defaults(
        resume=None, resume_id=None, checkpoint=None, out_base=Path(out_default), run_uid=None
    )


def check_output(args: argparse.Namespace) -> None:
    """Before the bench opens: the output folder (--out, or where the run's own folder will be
    made) can be written, so that a run never ends with its results nowhere to go."""
    folder = Path(args.out if args.out is not None else args.out_base)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        option = "--out" if args.out is not None else f"the output folder {folder} (choose one with --out)"
        raise UsageError(
            f"cannot write to {option if args.out is None else f'--out {folder}'}: {exc.strerror or exc}"
        ) from None


def add_resume(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(resumable=True)
    parser.add_argument(
        "--resume",
        metavar="RUN",
        help="continue an aborted, failed or incomplete run (id or uid prefix) where it stopped, "
        "with its stored parameters; pulses already recorded are not applied again",
    )


# Options that tuple-valued parsers produce and JSON stores as lists.
_TUPLES = ("shape", "algorithm", "hidden")


def cli_params(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """The command-line values a resume needs to repeat the call (stored in the run's params)."""
    pulses = ("amplitude", "width", "up", "down")
    return {name: getattr(args, name, None) for name in ("bench", "preset", *pulses, *names)}


def prepare_resume(args: argparse.Namespace, protocol: str) -> None:
    """--resume RUN: take the run's stored command-line values and checkpoint into args.

    Sets args.checkpoint (None without --resume) and args.resume_id. A simulated chip's state
    was stored with the run (stored_run) and is restored there; on a bench the chip has kept
    its state.
    """
    from hil.store import RunStore

    args.checkpoint, args.resume_id = None, None
    if not args.resume:
        return
    with RunStore(args.store, must_exist=True) as store:
        info = store.run(args.resume)
        if info.protocol != protocol:
            raise UsageError(f"run {info.uid} is a {info.protocol} run; resume it with that command")
        if info.status not in ("aborted", "failed", "incomplete"):
            raise UsageError(
                f"run {info.uid} is {info.status}; only aborted, failed or incomplete runs can be resumed"
            )
        stored = info.params.get("cli")
        if not isinstance(stored, dict):
            raise UsageError(
                f"run {info.uid} was not started from the command line; resume it from Python with "
                "resume_from=RunStore(...).load_checkpoint(run)"
            )
        for name, value in stored.items():
            setattr(args, name, tuple(value) if name in _TUPLES and value is not None else value)
        args.seed = info.seed
        args.moved_out = (
            args.out is not None and info.out_dir is not None and Path(args.out) != Path(info.out_dir)
        )
        if args.out is None and info.out_dir:
            args.out = Path(info.out_dir)
        args.checkpoint = store.load_checkpoint(info.id)
        args.resume_id = info.id
    print(f"resuming run {info.uid} ({info.points} points recorded) with its stored parameters")


@contextmanager
def guarded_bench(args: argparse.Namespace) -> Iterator[Bench]:
    """bench_from under the interrupt guard: Ctrl-C and SIGTERM let the write in flight finish
    and close the bench safe; a second signal closes it at once."""
    from hil.interrupts import interrupt_guard

    with interrupt_guard() as guard, bench_from(args) as bench:
        guard.safe_state = bench.close
        args.bench_opened = True  # what a failure message says about the bench's state
        yield bench


@contextmanager
def stored_run(
    args: argparse.Namespace, protocol: str, params: dict[str, Any], bench: Bench, chip_from: str = "point"
) -> Iterator[Any]:
    """A run in the store (new, or the one --resume names): status completed, aborted
    (Ctrl-C/SIGTERM) or failed with the error.

    A simulated chip's state goes into the store with every point and checkpoint (atomically
    with them), and a resume restores the one stored with what the protocol continues from:
    chip_from "point" (a protocol that continues after its newest point) or "checkpoint" (one
    that continues from its newest checkpoint state, as training does)."""
    from hil.store import RunStore
    from protocols.records.retry import RetryRecord

    with RunStore(args.store) as store:
        if args.resume_id is not None:
            run = store.resume_run(args.resume_id)
            if getattr(args, "moved_out", False):
                run.set_out_dir(args.out)
                print(f"run {run.uid}: its output folder is now {args.out}")
        else:
            run = store.start_run(
                protocol,
                params,
                bench.describe(),
                instruments=bench.identities,
                seed=args.seed,
                out_dir=args.out,
            )
            if args.out is None:  # every run its own folder: nothing is overwritten
                args.out = Path(args.out_base) / run.uid
                args.out.mkdir(parents=True, exist_ok=True)
                run.set_out_dir(args.out)
        args.run_uid = run.uid
        if args.resume_id is not None:
            _restore_chip(run, bench, args.checkpoint, chip_from)
        run.keep_chip(bench.chip_state)
        bench.on_retry(lambda event: RetryRecord(**event).write(run))  # stored with the run's points
        print(f"run {run.uid}: {protocol}, output in {args.out}, stored in {args.store}")
        with run:
            yield run


def _restore_chip(run: Any, bench: Bench, checkpoint: Any, chip_from: str) -> None:
    """Put a simulated chip back as the stopped run left it, and record the resume as a point
    (protocols.records.resume: whether a chip state was put back; learning curves mark it)."""
    from protocols.records.resume import ResumeRecord

    stored = checkpoint.chip_states.get(chip_from) if checkpoint is not None else None
    simulated = bench.chip_state() is not None
    if stored is not None and simulated:
        bench.restore_chip_state(stored)
        print(f"run {run.uid}: the simulated chip continues as the run left it")
    elif simulated:
        print(
            f"run {run.uid}: warning: no chip state was stored with this run, so the simulated chip "
            "starts afresh from its seed (the devices' history is lost)"
        )
    ResumeRecord(chip_restored=stored is not None and simulated).write(run)


def finish(
    run: Any,
    args: argparse.Namespace,
    summary: dict[str, Any],
    figures: list[Path],
    step: tuple[str, int] | None = None,
) -> None:
    """summary.json beside the figures, the summary in the store, and a short report.

    step: (what one protocol step is, how many the run took), e.g. ("pair", 450): on a bench
    with instruments the summary then also gives the transactions per step."""
    from hil.results import write_summary

    summary = {**summary, "run": run.uid, "figures": [str(f.name) for f in figures]}
    transactions = summary.get("bench", {}).get("transactions")
    per_step = ""
    if transactions:  # a bench with instruments: how many messages the run cost
        total = total_transactions(transactions)
        summary["instrument_transactions"] = {"total": total, **transactions}
        if step is not None and step[1] > 0:
            what, count = step
            summary["instrument_transactions"]["per_step"] = {
                "step": what,
                "steps": count,
                "transactions": round(total / count, 2),
            }
            per_step = f"; {total:,} instrument transactions, {total / count:.3g} per {what}"
    path = write_summary(args.out, summary)
    run.finish("completed", summary=summary)
    print(f"run {run.uid}: wrote {path}" + (f" and {len(figures)} figures" if figures else "") + per_step)
    retries = summary.get("bench", {}).get("retries") or {}
    if retries.get("total"):
        kinds = ", ".join(f"{fault}: {n}" for fault, n in retries.get("by_fault", {}).items())
        print(
            f"  reads tried again after transient faults: {retries['total']} ({kinds}), stored with the run"
        )
