"""WebDAV writes of names that fill NAME_MAX: the temporary name the upload goes through must
fit in 255 bytes too (it added 23 bytes, so names of 233-255 bytes could not be written)."""

from __future__ import annotations

import os
import uuid

import pytest

from filestore_vfs import VirtualFileSystem
from tests.servers import NginxServer
from tests.vfs.helpers import dav_spec

pytestmark = pytest.mark.server


def name_of(nbytes: int, multibyte: bool) -> str:
    body = nbytes - len(".bin")
    if not multibyte:
        return "n" * body + ".bin"
    return "日" * (body // 3) + "x" * (body % 3) + ".bin"


@pytest.mark.parametrize("multibyte", [False, True], ids=["ascii", "utf8"])
@pytest.mark.parametrize("nbytes", [200, 233, 255])
def test_webdav_writes_names_up_to_255_bytes(
    nginx_server: NginxServer, nbytes: int, multibyte: bool
) -> None:
    name = name_of(nbytes, multibyte)
    assert len(name.encode()) == nbytes
    vfs = VirtualFileSystem({"t": dav_spec(nginx_server)})
    sub = uuid.uuid4().hex[:8]
    path = f"/t/{sub}/{name}"
    data = os.urandom(1000)
    vfs.write_bytes(path, data)
    vfs.write_bytes(path, data[::-1])  # over the old file, through a new temporary name
    assert vfs.read_bytes(path) == data[::-1]
    assert vfs.ls(f"/t/{sub}") == [path]
    vfs.close()
