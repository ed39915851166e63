"""`hil watch`, and `--watch` on `hil run` and `hil train`: the run store live in a browser."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hil.cli.common import DEFAULT_STORE

# The viewer a --watch run starts stays up this long after the run so an open page gets the
# final status and figures (a page is at most one poll, 0.5 s, behind).
LINGER_S = 1.5
# The viewer runs at a lower CPU priority than the run: on a busy PC the measurement gets the
# processor first and the page is what waits (niceness 10 weighs ~1/10 of a normal process).
NICENESS = 10


def cmd_watch(args: argparse.Namespace) -> int:
    from hil.watch import WatchServer

    if hasattr(os, "nice"):  # POSIX
        os.nice(NICENESS)
    server = WatchServer(args.store, host=args.host, port=args.port)
    print(f"hil watch: runs of {args.store} at {server.url}", flush=True)
    if server.token is not None:
        print(f"  listening on {args.host}: every request needs the token in that address", flush=True)
    print("  read-only; Ctrl-C stops the viewer, never a run", flush=True)
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        pass
    finally:
        server.stopping.set()
        server.server_close()
    return 0


def add_watch(parser: argparse.ArgumentParser) -> None:
    """--watch on a measuring command."""
    parser.add_argument(
        "--watch",
        action="store_true",
        help="serve a live view of the run store on 127.0.0.1 beside the run (a separate, read-only "
        "process; see `hil watch`) and print its address",
    )


@contextmanager
def watching(args: argparse.Namespace) -> Iterator[str | None]:
    """With --watch: `hil watch` on the run's store in a child process for as long as the block.

    A child process, not a thread: the viewer's work never takes the run's interpreter lock.
    Yields the address it printed (None without --watch).
    """
    if not getattr(args, "watch", False):
        yield None
        return
    command = [sys.executable, "-c", "import sys; from hil.cli import main; sys.exit(main())"]
    command += ["watch", "--store", str(args.store), "--port", "0"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = child.stdout.readline() if child.stdout is not None else ""
        url = line.rsplit(" at ", 1)[-1].strip() if " at " in line else None
        print(f"  watch it live at {url}" if url else "  the live view did not start", flush=True)
        yield url
    finally:
        if child.poll() is None:
            time.sleep(LINGER_S)
            child.terminate()
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "watch",
        help="serve a live, read-only view of the stored runs in a web browser",
        description="Serve the run list and a live page per run (convergence, jump-table traces, "
        "learning curves, progress and ETA) from the run store, read-only. Listens on 127.0.0.1; "
        "another interface needs --host and then an access token, printed in the address.",
    )
    p.add_argument(
        "--store", type=Path, default=Path(DEFAULT_STORE), help=f"run database (default: {DEFAULT_STORE})"
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to listen on (default: 127.0.0.1; any other needs the printed token)",
    )
    p.add_argument(
        "--port", type=int, default=0, help="TCP port (default: 0, any free one; the address is printed)"
    )
    p.set_defaults(func=cmd_watch)
