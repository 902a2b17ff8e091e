"""Read-back fixtures: sim-IOC runs written by our mixins.

The loopback ``tiled`` server they are read back through (``tiled_process``,
``tiled_server``) is in ``tiled.py``, registered for the whole suite in ``tests/conftest.py``
(``tests/check`` serves a run through it too).
"""

from __future__ import annotations

from typing import Any

import pytest

# ophyd (through the mixins) before the sim IOC's readiness check imports pyepics: ophyd
# picks epicscorelibs' libca, which must happen before epics.ca loads.
from filestore_vfs.areadetector import (
    HDF5PluginWithVFS,
    HDF5StreamPluginWithVFS,
    TIFFPluginWithVFS,
    TIFFStreamPluginWithVFS,
)
from tests.areadetector.helpers import make_detector, run_count

from .helpers import FRAMES, Docs

# The sim IOC (``ioc``, ``mounts``, ``eager_devices``) and the writer's ``vfs`` are the
# session fixtures of tests/areadetector/fixtures.py, shared with tests/areadetector.


@pytest.fixture(scope="session")
def ioc_runs(tiled_process: Any, ioc: Any, vfs: Any, eager_devices: None) -> dict[str, Docs]:
    """One ``count`` per plugin kind: legacy HDF5/TIFF Resources, and the stream variants."""
    kinds = {
        "hdf5": (HDF5PluginWithVFS, "hdf1", "/detector"),
        "tiff": (TIFFPluginWithVFS, "tiff1", "/nfs"),
        "hdf5_stream": (HDF5StreamPluginWithVFS, "hdf1", "/detector"),
        "tiff_stream": (TIFFStreamPluginWithVFS, "tiff1", "/nfs"),
    }
    runs = {}
    for kind, (cls, attr, root) in kinds.items():
        det = make_detector(
            ioc,
            cls,
            attr,
            root=root,
            write_path_template=f"readback/{kind}",
            vfs=vfs,
            make_directories=True,
        )
        runs[kind] = run_count(det, FRAMES, kind=kind)
    return runs


@pytest.fixture(scope="session", autouse=True)
def _start_tiled_early(request: pytest.FixtureRequest) -> None:
    """Start the tiled server with the first test of this directory when any selected test
    needs it: it then comes up while the adapter and cross-machine tests run."""
    if any("tiled_server" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("tiled_process")
