"""One 2-worker local cluster for the sweep tests (starting one costs seconds)."""

from __future__ import annotations

import pytest

from protocols.sweep import ClusterOptions, dask_client


@pytest.fixture(scope="package")
def client():
    with dask_client(ClusterOptions(workers=2, dashboard=True)) as c:
        c.wait_for_workers(2, timeout=60)
        yield c
