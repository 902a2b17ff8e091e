"""``get_file`` over SFTP (asyncssh's own download, AES-128-GCM) and SMB (several reads
in flight, ``backends/_smb_reads.py``), both ``Root.fetch_to``: the bytes, the progress
reports, a missing or empty file, and nothing partial left behind."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from filestore_vfs import Root, VirtualFileSystem
from tests.servers import SmbServer, SshdServer

from .helpers import sftp_spec, smb_spec

SIZE = 5 * (1 << 20) + 12345  # several reads in flight, and a short last one


@pytest.fixture(params=["sftp", "smb"])
def remote(request: pytest.FixtureRequest) -> tuple[VirtualFileSystem, Path]:
    """A root on the server and the server's directory behind it."""
    if request.param == "sftp":
        server: Any = request.getfixturevalue("sshd_server")
        spec = sftp_spec(server)
    else:
        server = request.getfixturevalue("smbd_server")
        spec = smb_spec(server)
    assert isinstance(server, SshdServer | SmbServer)
    vfs = VirtualFileSystem({"r": spec}, defaults=False)
    request.addfinalizer(vfs.close)
    return vfs, server.root


def test_get_file_bytes_and_progress(remote: tuple[VirtualFileSystem, Path], tmp_path: Path):
    vfs, directory = remote
    name = f"fetch-{uuid.uuid4().hex[:8]}.bin"
    data = os.urandom(SIZE)
    (directory / name).write_bytes(data)
    try:
        assert type(vfs.roots["r"]).fetch_to is not Root.fetch_to  # the transport's own
        reports: list[tuple[int, int | None, str]] = []
        target = tmp_path / "sub" / "copy.bin"
        vfs.get_file(f"/r/{name}", target, progress=lambda *a: reports.append(a))
        assert target.read_bytes() == data
        done = [r[0] for r in reports]
        assert done and done == sorted(done) and done[-1] == SIZE
        assert {r[1] for r in reports} == {SIZE}
        assert {r[2] for r in reports} == {f"/r/{name}"}
        vfs.get_file(f"/r/{name}", target)  # without progress, over an existing file
        assert target.read_bytes() == data
    finally:
        (directory / name).unlink()
    assert os.listdir(tmp_path / "sub") == ["copy.bin"]


def test_get_file_writes_a_new_file_in_a_private_directory(
    remote: tuple[VirtualFileSystem, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The transport creates the file it downloads into (ext4 starts writing back, at close,
    a file that was truncated to zero: 0.25 s per 512 MiB), in a directory nobody else can
    put a link into; the result has the mode the umask gives, as ``cp`` or ``sftp`` make."""
    vfs, directory = remote
    name = f"fresh-{uuid.uuid4().hex[:8]}.bin"
    (directory / name).write_bytes(b"x" * 1000)
    root = vfs.roots["r"]
    seen: list[tuple[bool, int]] = []
    fetch_to = root.fetch_to

    def spy(rel: str, local: str, progress: Any) -> bool:
        seen.append((os.path.exists(local), os.stat(os.path.dirname(local)).st_mode & 0o777))
        return fetch_to(rel, local, progress)

    monkeypatch.setattr(root, "fetch_to", spy)
    umask = os.umask(0o022)
    try:
        target = vfs.get_file(f"/r/{name}", tmp_path / "copy.bin")
    finally:
        os.umask(umask)
        (directory / name).unlink()
    assert seen == [(False, 0o700)]
    assert os.stat(target).st_mode & 0o777 == 0o644
    assert os.listdir(tmp_path) == ["copy.bin"]


def test_get_file_of_a_missing_file(remote: tuple[VirtualFileSystem, Path], tmp_path: Path):
    vfs, _ = remote
    with pytest.raises(FileNotFoundError):
        vfs.get_file("/r/no-such-file.bin", tmp_path / "copy.bin")
    assert os.listdir(tmp_path) == []  # no partial or temporary file left


def test_get_file_of_an_empty_file(remote: tuple[VirtualFileSystem, Path], tmp_path: Path):
    vfs, directory = remote
    name = f"empty-{uuid.uuid4().hex[:8]}.bin"
    (directory / name).write_bytes(b"")
    try:
        vfs.get_file(f"/r/{name}", tmp_path / "copy.bin")
        assert (tmp_path / "copy.bin").read_bytes() == b""
    finally:
        (directory / name).unlink()


def test_get_file_of_a_directory(remote: tuple[VirtualFileSystem, Path], tmp_path: Path):
    vfs, directory = remote
    name = f"dir-{uuid.uuid4().hex[:8]}"
    (directory / name).mkdir()
    try:
        with pytest.raises(IsADirectoryError):
            vfs.get_file(f"/r/{name}", tmp_path / "copy.bin")
    finally:
        (directory / name).rmdir()
    assert os.listdir(tmp_path) == []


def test_sftp_get_file_uses_aes128_gcm(sshd_server: SshdServer, tmp_path: Path) -> None:
    """OpenSSH offers AES-128-GCM, so the connection uses it (not asyncssh's own first
    choice, ChaCha20-Poly1305), both ways; the download's bytes are the file's, and the
    host key was verified (the spec names a known_hosts file, no insecure option)."""
    spec = sftp_spec(sshd_server)
    assert not spec.get("insecure_accept_any_host_key")
    vfs = VirtualFileSystem({"r": spec}, defaults=False)
    name = f"gcm-{uuid.uuid4().hex[:8]}.bin"
    data = os.urandom(SIZE)
    (sshd_server.root / name).write_bytes(data)
    try:
        vfs.get_file(f"/r/{name}", tmp_path / "copy.bin")
        assert (tmp_path / "copy.bin").read_bytes() == data
        connection = vfs.roots["r"].fs._client
        assert connection.get_extra_info("send_cipher") == "aes128-gcm@openssh.com"
        assert connection.get_extra_info("recv_cipher") == "aes128-gcm@openssh.com"
    finally:
        (sshd_server.root / name).unlink()
        vfs.close()
