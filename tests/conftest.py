"""Suite-wide set-up: keep tests away from the user's own VFS config and data."""

from __future__ import annotations

import os
import tempfile

# Before anything imports filestore_vfs: the default /local root must not be the user's.
_DATA = tempfile.mkdtemp(prefix="filestore-vfs-test-data-")
os.environ["FILESTORE_VFS_DATA"] = _DATA
os.environ.pop("FILESTORE_VFS_CONFIG", None)

pytest_plugins = ["tests.servers._fixtures"]
