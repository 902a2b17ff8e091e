"""Fixtures for the sim IOC tests: one session IOC with a Windows and a POSIX mount.

The CA client variables must be set before pyepics creates its context (importing ophyd
does that), so the ports are reserved here at import time.  When another conftest or
test module imported ophyd first, the IOC fixtures fail with the reason instead of
hanging; the fix is to call ``configure_client_environment()`` in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sim_iocs.testing import (
    SimIOC,
    SimIOCError,
    configure_client_environment,
    require_softioc,
    sim_ioc_factory,
)

__all__ = ["sim_ioc_factory"]

try:
    configure_client_environment(ports=6)
    _SETUP_ERROR: str | None = None
except SimIOCError as exc:  # pragma: no cover - depends on what ran before
    _SETUP_ERROR = str(exc)

# ophyd swaps pyepics' PV class when imported; import it before the CA helpers cache any
# PV, or ophyd would later be handed plain pyepics PVs from that cache.
import ophyd  # noqa: E402, F401

from .helpers import CA  # noqa: E402


@pytest.fixture(scope="session")
def sim_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Host directory behind the session IOC's mounts (``win`` and ``posix`` below it)."""
    root = tmp_path_factory.mktemp("sim-ioc-data")
    (root / "win").mkdir()
    (root / "posix").mkdir()
    return root


@pytest.fixture(scope="session")
def unwritable_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory this user cannot create files in (``/sys/kernel`` for root)."""
    if os.geteuid() == 0:
        yield Path("/sys/kernel")
        return
    path = tmp_path_factory.mktemp("read-only")
    path.chmod(0o555)
    yield path
    path.chmod(0o755)


@pytest.fixture(scope="session")
def ad_ioc(sim_ioc_factory: Callable[..., SimIOC], sim_data: Path, unwritable_dir: Path) -> SimIOC:
    """The session IOC: ``D:\\data`` -> ``win/`` and ``/ioc/data`` -> ``posix/``."""
    require_softioc()
    if _SETUP_ERROR:
        pytest.fail(_SETUP_ERROR)
    mounts = [
        f"D:\\data={sim_data / 'win'}",
        f"/ioc/data={sim_data / 'posix'}",
        f"/ioc/readonly={unwritable_dir}",
    ]
    return sim_ioc_factory(mounts=mounts)


@pytest.fixture
def ca(ad_ioc: SimIOC) -> Iterator[CA]:
    """CA helpers on the session IOC; plugins start disabled, the cam stopped."""
    helper = CA(ad_ioc)
    helper.put("cam1:Acquire", 0)
    helper.wait_for("cam1:Acquire_RBV", 0)
    helper.put("cam1:DataType", "UInt16")
    helper.disable_plugins()
    yield helper
    helper.put("cam1:Acquire", 0)
    helper.disable_plugins()
