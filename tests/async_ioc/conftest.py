"""An ophyd-async ``SimDetector`` on its own sim IOC, over real Channel Access (aioca).

One IOC for the module (primed, as a beamline IOC whose plugins have seen a frame: the TIFF
writer, which ophyd-async does not open lazily, needs the dimensions) with a POSIX and a
Windows mount, a VFS whose roots are those mounts, and one RunEngine whose event loop
owns every aioca channel.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from filestore_vfs import VirtualFileSystem
from sim_iocs.testing import SimIOC, require_softioc, sim_ioc

pytest.importorskip("ophyd_async.epics.adsimdetector", reason="needs the 'async' extra")
pytest.importorskip("aioca", reason="needs ophyd-async[ca]")


@pytest.fixture(scope="module")
def async_mounts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("async-ioc-mounts")
    out = {"posix": base / "posix", "win": base / "win"}
    for path in out.values():
        path.mkdir()
    return out


@pytest.fixture(scope="module")
def async_ioc(async_mounts: dict[str, Path]) -> Iterator[SimIOC]:
    require_softioc()
    mounts = [f"/ioc/data={async_mounts['posix']}", f"D:\\data={async_mounts['win']}"]
    with sim_ioc(mounts=mounts, primed=True) as running:
        yield running


@pytest.fixture(scope="module")
def async_vfs(async_mounts: dict[str, Path]) -> VirtualFileSystem:
    return VirtualFileSystem(
        {
            "detector": {
                "class": "LocalFile",
                "root": str(async_mounts["posix"]),
                "writer_root": "/ioc/data",
            },
            "windet": {
                "class": "LocalFile",
                "root": str(async_mounts["win"]),
                "writer_root": "D:\\data",
                "writer_path_semantics": "windows",
            },
        }
    )


@pytest.fixture(scope="module")
def RE() -> Iterator[object]:
    from bluesky import RunEngine

    engine = RunEngine({}, call_returns_result=True)
    yield engine
    if engine.state != "idle":
        engine.halt()
