"""The shared backend suite on every root class that needs no server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from filestore_vfs import VirtualFileSystem

from .suite import Backend, BackendSuite


def _pair(spec: dict[str, object]) -> tuple[VirtualFileSystem, VirtualFileSystem]:
    """A VFS with root ``/t`` from ``spec`` and one that sees the same storage read-only."""
    rw = VirtualFileSystem({"t": spec})
    ro = VirtualFileSystem({"t": {**spec, "read_only": True}})
    return rw, ro


class TestLocalFile(BackendSuite):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Backend:
        rw, ro = _pair({"class": "LocalFile", "root": str(tmp_path / "root")})
        return Backend(rw, "/t/suite", read_only=ro)


class TestTempFile(BackendSuite):
    @pytest.fixture
    def backend(self) -> Backend:
        vfs = VirtualFileSystem()
        yield Backend(vfs, "/temp/suite")
        vfs.close()


class TestMemoryFile(BackendSuite):
    @pytest.fixture
    def backend(self) -> Backend:
        rw, ro = _pair({"class": "MemoryFile", "share": f"suite-{uuid.uuid4().hex}"})
        return Backend(rw, "/t/suite", read_only=ro)


class TestZipArchive(BackendSuite):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Backend:
        rw, ro = _pair({"class": "ArchiveFile", "archive": str(tmp_path / "bundle.zip")})
        return Backend(rw, "/t/suite", read_only=ro)


class TestFsspecFile(BackendSuite):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Backend:
        spec = {"class": "FsspecFile", "protocol": "file", "root": str(tmp_path / "fs")}
        rw, ro = _pair(spec)
        return Backend(rw, "/t/suite", read_only=ro)
