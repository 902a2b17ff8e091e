"""Fixtures of the network-backend tests.

A test module names its backend with ``BACKEND = "<name>"`` (a key of
:data:`tests.vfs.helpers.NETWORK`); these fixtures then give its tests the shared suite's
``backend``, a fresh ``prefix`` and a ``vfs`` on the module's root.  The servers themselves
are the session fixtures of ``tests/servers/_fixtures.py`` (each starts once per session).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from filestore_vfs import VirtualFileSystem

from .helpers import NETWORK, Network
from .suite import Backend


def network(request: pytest.FixtureRequest) -> tuple[Network, Any]:
    """The requesting module's backend and its (session) server."""
    kind = NETWORK[request.module.BACKEND]
    return kind, request.getfixturevalue(kind.server)


@pytest.fixture
def prefix() -> str:
    """A fresh key prefix: each test of an object store sees an empty root."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def vfs(request: pytest.FixtureRequest, prefix: str) -> Iterator[VirtualFileSystem]:
    """A VFS with the module's root on its session server (object stores: under ``prefix``)."""
    kind, server = network(request)
    extra = {"prefix": prefix} if kind.object_store else {}
    vfs = VirtualFileSystem({kind.root: kind.spec(server, **extra)})
    yield vfs
    vfs.close()


@pytest.fixture
def backend(request: pytest.FixtureRequest, prefix: str) -> Iterator[Backend]:
    """The shared suite's :class:`Backend` on the module's root: read-write and read-only
    views of the same storage, and an empty base directory."""
    kind, server = network(request)
    if kind.object_store:
        spec = kind.spec(server, prefix=prefix)
        base = f"/{kind.root}/suite"
    else:
        spec = kind.spec(server, **dict(kind.suite))
        base = f"/{kind.root}/{uuid.uuid4().hex[:10]}"
    read_only = kind.read_only(server) if kind.read_only else {**spec, "read_only": True}
    rw = VirtualFileSystem({kind.root: spec})
    ro = VirtualFileSystem({kind.root: read_only})
    yield Backend(
        rw,
        base,
        read_only=ro,
        empty_dirs=not kind.object_store,
        large=not kind.object_store,
    )
    rw.close()
    ro.close()
