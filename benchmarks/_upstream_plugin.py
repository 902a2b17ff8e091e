"""pytest plugin standing in for ophyd-async's conftests when its ADSim system tests run
against our sim IOC (see ``run_ophyd_async_upstream.py``).

Upstream's conftests start a ca-gateway and an ADSim IOC container with docker compose and
hand the tests a directory both sides see. ``run_ophyd_async_upstream`` runs pytest with
``--noconftest`` (their docker fixtures cannot run here) and ``-p`` this module, which
provides the fixtures their test module asks for, written here, not copied:

* ``bl01t_di_cam_01``: the IOC, already started by the runner (it only checks it answers);
* ``shared_tmp_path``: a fresh directory per test, which our IOC (same machine, no mount)
  sees at the same absolute path, as their compose file arranges for the container;
* ``RE``: a RunEngine on its own event loop, stopped after the test;
* ``event_loop``: the loop their ``_aioca_cleanup`` fixture holds while channels are purged.

The runner passes the IOC's port in ``SIM_IOC_UPSTREAM_PORT``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["RE", "bl01t_di_cam_01", "event_loop", "shared_tmp_path"]


@pytest.fixture
def event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def RE() -> Iterator[Any]:  # noqa: N802 - the fixture name their tests use
    from bluesky.run_engine import RunEngine, TransitionError

    loop = asyncio.new_event_loop()
    engine = RunEngine({}, call_returns_result=True, loop=loop)
    yield engine
    if engine.state not in ("idle", "panicked"):
        try:
            engine.halt()
        except TransitionError:
            pass
    loop.call_soon_threadsafe(loop.stop)
    engine._th.join()
    loop.close()


@pytest.fixture
def shared_tmp_path(request: pytest.FixtureRequest) -> Iterator[Path]:
    root = Path(os.environ.get("SIM_IOC_UPSTREAM_TMP", tempfile.gettempdir()))
    path = root / f"{request.node.name}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def bl01t_di_cam_01() -> None:
    """The runner started the IOC before pytest; fail clearly when it is not configured."""
    if not os.environ.get("SIM_IOC_UPSTREAM_PORT"):
        pytest.fail("run these tests through benchmarks/run_ophyd_async_upstream.py")
