"""Suite-wide set-up: keep tests away from the user's own VFS config and data."""

from __future__ import annotations

import os
import tempfile

# Before anything imports filestore_vfs: the default /local root must not be the user's.
_DATA = tempfile.mkdtemp(prefix="filestore-vfs-test-data-")
os.environ["FILESTORE_VFS_DATA"] = _DATA
os.environ.pop("FILESTORE_VFS_CONFIG", None)

# libca reads EPICS_CA_* once, when pyepics makes its context: reserve the sim IOCs' ports
# and point the address list at them before any test module imports ophyd or epics.
from sim_iocs.testing import configure_client_environment  # noqa: E402

configure_client_environment(ports=12)

# Session fixtures used by more than one directory, registered once so each starts once per
# session: the loopback servers, the sim IOC with its mounts (tests/areadetector and
# tests/readback) and the tiled server (tests/readback and tests/check).
pytest_plugins = ["tests.servers._fixtures", "tests.areadetector.fixtures", "tests.readback.tiled"]
