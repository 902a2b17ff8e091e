"""A sim IOC and a VFS whose roots are the IOC's mounts: ``D:\\data`` and ``/ioc/data``.

Session fixtures shared by ``tests/areadetector`` and ``tests/readback``, registered once in
``tests/conftest.py`` (``pytest_plugins``) so the IOC starts once per session; a conftest that
imported them would register a second copy, and a second IOC.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from filestore_vfs import VirtualFileSystem
from sim_iocs.testing import SimIOC, require_softioc, sim_ioc


@pytest.fixture(scope="session")
def mounts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("ad-mounts")
    out = {"win": base / "win", "posix": base / "posix"}
    for path in out.values():
        path.mkdir()
    return out


@pytest.fixture(scope="session")
def ioc(mounts: dict[str, Path]) -> Iterator[SimIOC]:
    require_softioc()
    with sim_ioc(
        mounts=[f"D:\\data={mounts['win']}", f"/ioc/data={mounts['posix']}"], primed=True
    ) as running:
        yield running


@pytest.fixture(scope="session")
def vfs(mounts: dict[str, Path]) -> VirtualFileSystem:
    return VirtualFileSystem(
        {
            "detector": {
                "class": "LocalFile",
                "root": str(mounts["win"]),
                "writer_root": "D:\\data",
            },
            "nfs": {"class": "LocalFile", "root": str(mounts["posix"]), "writer_root": "/ioc/data"},
        }
    )


@pytest.fixture(scope="session")
def eager_devices() -> Iterator[None]:
    """Connect every signal at once (0.3 s) instead of one lazy signal at a time (4 s)."""
    from ophyd import Device

    saved = Device.lazy_wait_for_connection
    Device.lazy_wait_for_connection = False
    yield
    Device.lazy_wait_for_connection = saved
