"""SMB reads with several requests in flight, received straight into buffers
(``backends/_smb_reads.py``), on a real Samba smbd.

Checked: the bytes (``get_file`` and the streaming reader), that several READs are in flight
and that the replies' data went straight into the buffers, a download that goes on where it
stopped after the server process of its connection is killed, a reply changed on the way
(a loopback proxy flips one bit) failing with a clear signature error, and a slow link
(the proxy throttles) whose 4 MiB replies take longer than the stall timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import smbclient._pool as smb_pool

from filestore_vfs import VirtualFileSystem
from tests.servers import SmbServer, server_pids
from tests.servers._fixtures import own_server

from .helpers import smb_spec

pytestmark = [pytest.mark.server, pytest.mark.timeout(180)]
MiB = 1 << 20


class Proxy:
    """A loopback TCP proxy to ``port``: bytes from the server to the client may be
    throttled to ``rate`` bytes/s, and the one at ``flip_at`` (counted over the whole
    server-to-client stream) has its lowest bit flipped."""

    def __init__(self, port: int, *, rate: float | None = None, flip_at: int | None = None):
        self.target = port
        self.rate = rate
        self.flip_at = flip_at
        self.sent = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, to_client: bool) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(64 * 1024):
                if to_client:
                    data = self._change(bytearray(data))
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def _change(self, data: bytearray) -> bytearray:
        start = self.sent
        self.sent += len(data)
        if self.flip_at is not None and start <= self.flip_at < self.sent:
            data[self.flip_at - start] ^= 1
        if self.rate:
            time.sleep(len(data) / self.rate)
        return data

    def close(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()


@pytest.fixture
def proxied(smbd_server: SmbServer) -> Iterator[Any]:
    """``make(**proxy_options, **root_options)``: a VFS whose root ``/m`` reaches smbd
    through a new :class:`Proxy` (a connection of its own: the pool is per host and port)."""
    made: list[tuple[Proxy, VirtualFileSystem]] = []

    def make(rate: float | None = None, flip_at: int | None = None, **options: Any) -> Any:
        proxy = Proxy(smbd_server.port, rate=rate, flip_at=flip_at)
        vfs = VirtualFileSystem({"m": smb_spec(smbd_server, port=proxy.port, **options)})
        made.append((proxy, vfs))
        return vfs

    yield make
    for proxy, vfs in made:
        vfs.close()
        proxy.close()


@pytest.fixture
def big_file(smbd_server: SmbServer) -> Iterator[tuple[str, bytes]]:
    """A 40 MiB (and 12345 bytes) file in the share: ten 4 MiB replies and a short last one."""
    name = f"reads-{uuid.uuid4().hex[:8]}.bin"
    data = os.urandom(40 * MiB + 12345)
    (smbd_server.root / name).write_bytes(data)
    yield name, data
    (smbd_server.root / name).unlink()


def _connection(vfs: VirtualFileSystem) -> Any:
    root = vfs.roots["m"]
    return smb_pool._SMB_CONNECTIONS[f"{root.hostname.lower()}:{root.port}"]


def _reads_in_flight(connection: Any) -> int:
    """READ requests sent whose replies the reader has not taken yet."""
    requests = list(connection.outstanding_requests.values())
    return sum(r.message["command"].get_value() == 8 for r in requests)  # SMB2 READ


def test_get_file_bytes_with_reads_in_flight(
    smbd_server: SmbServer, big_file: tuple[str, bytes], tmp_path: Path
) -> None:
    name, data = big_file
    vfs = VirtualFileSystem({"m": smb_spec(smbd_server)})
    vfs.ls("/m")  # connect
    connection = _connection(vfs)
    receiver = connection._vfs_receiver
    before = receiver.received_into
    in_flight: list[int] = []
    target = tmp_path / "copy.bin"
    vfs.get_file(
        f"/m/{name}", target, progress=lambda *_: in_flight.append(_reads_in_flight(connection))
    )
    assert target.read_bytes() == data
    assert max(in_flight) >= 3  # four in flight; one was just taken
    assert receiver.received_into - before == len(data)  # every byte straight into a buffer
    vfs.close()


def test_stream_reader_bytes(smbd_server: SmbServer, big_file: tuple[str, bytes]) -> None:
    name, data = big_file
    vfs = VirtualFileSystem({"m": smb_spec(smbd_server)})
    with vfs.open(f"/m/{name}", "rb", cache="stream") as f:
        head = f.read(5 * MiB + 7)  # spans two replies: both stay valid
        f.seek(30 * MiB)
        middle = f.read(MiB)
        f.seek(len(data) - 100)
        tail = f.read()
    assert head == data[: 5 * MiB + 7]
    assert middle == data[30 * MiB : 31 * MiB]
    assert tail == data[-100:]
    with vfs.open(f"/m/{name}", "rb", cache="stream") as f:
        assert f.read() == data
    vfs.close()


def test_get_file_resumes_after_the_connection_is_killed(tmp_path: Path) -> None:
    """The smbd process serving the download is killed after 8 MiB; the download goes on
    from where it stopped on a new connection, and the bytes are the file's."""
    with own_server("smbd") as server:
        data = os.urandom(48 * MiB)
        (server.root / "big.bin").write_bytes(data)
        before = set(server_pids(server.pid, str(server.workdir)))
        vfs = VirtualFileSystem({"m": smb_spec(server, retries=2, retry_backoff=0.05)})
        vfs.ls("/m")  # connect: smbd forks a process for the connection
        serving = sorted(set(server_pids(server.pid, str(server.workdir))) - before)
        assert serving
        killed: list[int] = []
        reports: list[int] = []

        def kill_once(done: int, total: int | None, name: str) -> None:
            reports.append(done)
            if done >= 8 * MiB and not killed:
                for pid in serving:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                killed.append(done)

        target = tmp_path / "copy.bin"
        vfs.get_file("/m/big.bin", target, progress=kill_once)
        assert killed
        assert target.read_bytes() == data
        assert reports == sorted(reports) and reports[-1] == len(data)
        vfs.close()


def test_changed_reply_fails_the_signature_check(
    proxied: Any, big_file: tuple[str, bytes], tmp_path: Path
) -> None:
    """One bit of a READ reply's data flipped on the way: a clear error, nothing saved."""
    name, _ = big_file
    vfs = proxied(flip_at=20 * MiB, retries=0)
    target = tmp_path / "copy.bin"
    with pytest.raises(OSError, match="signature does not match") as info:
        vfs.get_file(f"/m/{name}", target)
    assert f"/m/{name}" in str(info.value)
    assert os.listdir(tmp_path) == []


def test_changed_reply_fails_the_streaming_reader(
    proxied: Any, big_file: tuple[str, bytes]
) -> None:
    name, _ = big_file
    vfs = proxied(flip_at=20 * MiB, retries=0)
    with pytest.raises(OSError, match="signature does not match"):
        with vfs.open(f"/m/{name}", "rb", cache="stream") as f:
            f.read()


def test_slow_link_is_not_a_stall(proxied: Any, smbd_server: SmbServer, tmp_path: Path) -> None:
    """At 2 MiB/s a 4 MiB reply takes 2 s, longer than the 1 s timeout: the bytes arriving
    count as progress, so the watchdog leaves the connection alone."""
    name = f"slow-{uuid.uuid4().hex[:8]}.bin"
    data = os.urandom(9 * MiB)
    (smbd_server.root / name).write_bytes(data)
    try:
        vfs = proxied(rate=2 * MiB, timeout=1, retries=0)
        target = tmp_path / "copy.bin"
        vfs.get_file(f"/m/{name}", target)
        assert target.read_bytes() == data
        assert not getattr(_connection(vfs), "_vfs_timed_out", False)
    finally:
        (smbd_server.root / name).unlink()


def test_encrypted_session_reads_whole_replies(
    proxied: Any, big_file: tuple[str, bytes], tmp_path: Path
) -> None:
    """With SMB3 encryption the replies are decrypted by smbprotocol (never received into
    a buffer by us); the pipeline copies their data and the bytes are the same."""
    name, data = big_file
    vfs = proxied(encrypt=True)
    vfs.ls("/m")
    receiver = _connection(vfs)._vfs_receiver
    target = tmp_path / "copy.bin"
    vfs.get_file(f"/m/{name}", target)
    assert target.read_bytes() == data
    assert receiver.received_into == 0
