"""`hil watch`: a live, read-only view of the run store in a web browser (docs/watch.md)."""

from hil.watch.server import WatchServer

__all__ = ["WatchServer"]
