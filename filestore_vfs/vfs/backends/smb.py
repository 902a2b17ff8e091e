"""``SMBFile``: a directory on an SMB/CIFS share (Samba, Windows), through smbprotocol.

Writes go to a hidden temporary sibling that replaces the target with one SMB rename
(``FileRenameInformation`` with ``ReplaceIfExists``: :class:`_ReplacingSMBFileSystem`'s
``mv``). A lock file next to the target (:mod:`._lockfile`, created with ``FILE_CREATE``)
keeps writers in other processes and on other machines out; both are
:class:`~._lockfile_root.LockFileRoot`'s.

Waits are bounded: smbprotocol waits for a reply without a time limit, so each connection of
ours gets a watchdog that shuts its socket down when requests are waiting and the server sent
nothing for ``timeout`` seconds (a frozen or unreachable server); every call waiting on it then
fails with an error naming the logical path, and the next operation connects again.

Confinement rests on the server: Samba resolves symlinks itself and shows the client neither
the links nor where they lead (a link has its target's attributes and file id), and
smbprotocol resolves the links a Windows server reports only within the same share. With
Samba's default ``wide links = no`` a link that leaves the *share* is not followed (it looks
missing); a link to elsewhere in the share is followed, so a root whose ``root`` is a
subdirectory is confined to the share, not to the subdirectory, unless the share sets
``follow symlinks = no`` (or the root is a share of its own). See docs/how-to/smb.rst.

smbprotocol keeps one process-wide pool of sessions per server and reuses a session for the
same user name *without checking the password again*; a root whose password differs from a
pooled session's therefore authenticates once on a private connection before it is used.
"""

from __future__ import annotations

import collections
import errno
import socket
import threading
import time
from typing import IO, Any

import smbclient
import smbclient._pool as smb_pool
import smbprotocol.exceptions as smb_errors
from fsspec.implementations.smb import SMBFileSystem, _as_unc_path

from .._errors import (
    ConfigError,
    connection_refused,
    connection_reset,
    io_error,
    not_found,
    permission_denied,
    timed_out,
)
from ._lockfile_root import LockFileRoot
from ._streams import ChunkedStream

__all__ = ["SMBFile"]

#: errno values of a socket the server closed under smbprotocol.
_DEAD_SOCKET = {errno.EBADF, errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN}
#: Bytes one SMB2 credit pays for.
_CREDIT_BYTES = 65536


class SMBFile(LockFileRoot):
    """A directory on an SMB share (pyobs' options, plus ``port`` and locks).

    hostname, port
        The SMB server (port 445 by default).
    share
        The share name (``data`` for ``\\\\server\\data``).
    username, password
        The credentials (use ``${ENV}`` in YAML); the password never appears in messages.
    root
        The directory inside the share (``""``: the share itself).
    mkdir
        Create missing parent directories on write (pyobs' default: true).
    encrypt
        Require SMB3 encryption (default: whatever the server asks for).
    lock_timeout
        Seconds after which a writer's lock file is considered stale and taken over.
    """

    extra = "smb"

    def __init__(
        self,
        *,
        hostname: str,
        share: str,
        username: str | None = None,
        password: str | None = None,
        root: str = "",
        port: int = 445,
        encrypt: bool | None = None,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        for option, value in (("hostname", hostname), ("share", share)):
            if not value or not isinstance(value, str) or "/" in value or "\\" in value:
                raise ConfigError(f"SMBFile needs '{option}' (a plain name), not {value!r}")
        self.hostname = hostname
        self.share = share
        self.username = username
        self._password = password
        self._root = str(root or "").replace("\\", "/").strip("/")
        self.port = int(port)
        self.encrypt = encrypt
        self.secrets = frozenset(s for s in (password,) if s)

    # -- the connection -------------------------------------------------------------------
    def _make_fs(self) -> SMBFileSystem:
        self._check_pooled_password()
        # the session set-up waits without a limit too: a watchdog on the connection being
        # made shuts it down if the whole set-up takes more than twice the timeout
        setup = threading.Timer(2 * self.timeout + 1, self._abort_setup)
        setup.daemon = True
        setup.start()
        try:
            return self._connect()
        finally:
            setup.cancel()

    def _pool_key(self) -> str:
        return f"{self.hostname.lower()}:{self.port}"

    def _abort_setup(self) -> None:
        connection = smb_pool._SMB_CONNECTIONS.get(self._pool_key())
        if connection is not None:
            _Watchdog.shut(connection)

    def _connect(self) -> SMBFileSystem:
        try:
            fs = _ReplacingSMBFileSystem(
                host=self.hostname,
                port=self.port,
                username=self.username,
                password=self._password,
                timeout=self.timeout,
                encrypt=self.encrypt,
                register_session_retries=0,  # NetworkRoot retries transient errors itself
                # other readers, and the rename that replaces a file, may share an open file
                share_access="rwd",
                skip_instance_cache=True,
            )
        except (smb_errors.LogonFailure, smb_errors.SMBAuthenticationError):
            raise self._auth_failed() from None
        except ValueError as exc:  # smbprotocol's "failed to connect" is a ValueError
            raise connection_refused(f"cannot connect to {self._where()}: {exc}") from None
        except (smb_errors.SMBConnectionClosed, smb_errors.SMBException) as exc:
            if isinstance(exc, smb_errors.SMBResponseException):
                raise
            raise timed_out(
                f"no answer from {self._where()} within {self.timeout:g} s (timeout): {exc}"
            ) from None
        connection = smb_pool._SMB_CONNECTIONS.get(self._pool_key())
        if connection is not None:
            _Watchdog.watch(connection, self.timeout)
        fs.connected = True
        self._check_share(fs)
        return fs

    def _check_pooled_password(self) -> None:
        """Authenticate on a private connection if the pool would reuse another password."""
        key = self._pool_key()
        connection = smb_pool._SMB_CONNECTIONS.get(key)
        if connection is None or not connection.transport.connected:
            return
        sessions = [s for s in connection.session_table.values() if s.username == self.username]
        if not sessions or all(s.password == self._password for s in sessions):
            return
        private: dict[str, Any] = {}
        try:
            smbclient.register_session(
                self.hostname,
                username=self.username,
                password=self._password,
                port=self.port,
                connection_timeout=self.timeout,
                connection_cache=private,
            )
        except (smb_errors.LogonFailure, smb_errors.SMBAuthenticationError):
            raise self._auth_failed() from None
        finally:
            smbclient.reset_connection_cache(connection_cache=private)

    def _check_share(self, fs: SMBFileSystem) -> None:
        try:
            fs.info(f"/{self.share}")
        except (smb_errors.BadNetworkName, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno != errno.ENOENT:
                raise
            raise not_found(f"share {self.share!r} does not exist on {self._where()}") from None

    def _auth_failed(self) -> PermissionError:
        return permission_denied(
            f"authentication failed for user {self.username!r} on {self._where()}: "
            "check the username and password",
        )

    @property
    def base(self) -> str:
        return f"/{self.share}/{self._root}" if self._root else f"/{self.share}"

    def url(self, rel: str = "") -> str:
        user = f"{self.username}@" if self.username else ""
        return f"smb://{user}{self.hostname}:{self.port}{self.fs_path(rel)}"

    # -- errors ---------------------------------------------------------------------------
    def map_error(self, exc: BaseException) -> BaseException | None:
        if isinstance(exc, (smb_errors.LogonFailure, smb_errors.SMBAuthenticationError)):
            return self._auth_failed()
        if isinstance(exc, smb_errors.BadNetworkName):
            return not_found(f"share {self.share!r} does not exist on {self._where()}")
        if isinstance(exc, smb_errors.SMBConnectionClosed):
            self._forget_connection()
            connection = smb_pool._SMB_CONNECTIONS.get(self._pool_key())
            if connection is not None and getattr(connection, "_vfs_timed_out", False):
                return timed_out(
                    f"no answer from {self._where()} within {self.timeout:g} s (timeout); "
                    "the connection was dropped"
                )
            return connection_reset(f"lost the connection to {self._where()}")
        if isinstance(exc, smb_errors.SMBException):
            return io_error(f"SMB error from {self._where()}: {exc}")
        return None

    def _forget_connection(self) -> None:
        if isinstance(self._fs, _ReplacingSMBFileSystem):
            self._fs.retired = True
        super()._forget_connection()

    def _connection_lost(self, exc: BaseException) -> bool:
        dead_socket = isinstance(exc, OSError) and exc.errno in _DEAD_SOCKET
        return dead_socket or isinstance(exc, (smb_errors.SMBConnectionClosed, ConnectionError))

    # -- operations -----------------------------------------------------------------------
    def lock_key(self, rel: str) -> tuple[Any, ...]:
        return ("smb", self.hostname.lower(), self.port, self.fs_path(rel).lower())

    def _parent_missing(self, parent: str) -> bool:
        """The share itself (``/share``) is never made; a directory in it may be."""
        return parent.count("/") > 1 and not self.fs.isdir(parent)

    def open_remote(self, rel: str, offset: int, **options: Any) -> IO[bytes]:
        """Sequential reads keep several SMB reads in flight (smbclient's own file waits for
        each reply before it asks again, at half the speed of the ``smbclient`` tool); other
        reads use smbclient's file with ``block_size`` as its buffer."""
        if options.get("cache_type") == "readahead":
            raw = self.fs.open(self.fs_path(rel), "rb", block_size=0)
            return _PipelinedReader(raw, offset)
        block = options.get("block_size") or self.block_size
        f = self.fs.open(self.fs_path(rel), "rb", block_size=block)
        if offset:
            f.seek(offset)
        return f


class _Watchdog:
    """Shuts a connection's socket down when requests wait and the server sent nothing for
    ``timeout`` seconds: smbprotocol's own waits (replies, and sends into a full socket) have
    no limit. One per connection; roots sharing a pooled connection share the shortest
    timeout. Shutting the socket down wakes every waiting call (``SMBConnectionClosed``)."""

    def __init__(self, connection: Any, timeout: float) -> None:
        self.connection = connection
        self.timeout = timeout
        self.last_rx = time.monotonic()
        transport = connection.transport
        receive = transport.recv

        def recv(timeout: Any) -> bytes:
            data = receive(timeout)
            self.last_rx = time.monotonic()
            return data

        transport.recv = recv
        thread = threading.Thread(target=self._run, name="vfs-smb-watchdog", daemon=True)
        thread.start()

    @classmethod
    def watch(cls, connection: Any, timeout: float) -> None:
        dog = getattr(connection, "_vfs_watchdog", None)
        if dog is None:
            connection._vfs_watchdog = cls(connection, timeout)
        else:
            dog.timeout = min(dog.timeout, timeout)

    @staticmethod
    def shut(connection: Any) -> None:
        """Shut the socket down (not ``close``: a sender blocked in ``send`` holds its lock)."""
        connection._vfs_timed_out = True
        sock = getattr(connection.transport, "_sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _waiting(self) -> bool:
        requests = list(self.connection.outstanding_requests.values())
        return any(r.response is None for r in requests)

    def _run(self) -> None:
        stalled_since: float | None = None
        while self.connection.transport.connected:
            time.sleep(min(self.timeout / 4, 0.5))
            now = time.monotonic()
            if not self._waiting():
                stalled_since = None
            elif stalled_since is None or self.last_rx > stalled_since:
                stalled_since = now
            elif now - stalled_since >= self.timeout:
                self.shut(self.connection)
                return


class _PipelinedReader(ChunkedStream):
    """Reads forward with up to ``depth`` SMB read requests of ``chunk`` bytes in flight.

    Memory stays at about ``depth × chunk``; a seek drains the requests in flight (their
    replies must be received) and starts again at the new offset.
    """

    def __init__(self, raw: Any, offset: int, chunk: int = 2 << 20, depth: int = 8) -> None:
        super().__init__(offset, int(raw.fd.end_of_file))
        self._raw = raw
        self._open = raw.fd
        self._chunk = chunk
        self._depth = depth
        self._next = offset  # where the next request starts
        self._pending: collections.deque[tuple[Any, Any, int]] = collections.deque()

    def _move(self, target: int) -> None:
        """The replies in flight are for the old position: receive and drop them."""
        self._drain()
        self._pos = self._next = target

    def _fill(self) -> None:
        connection = self._open.connection
        session = self._open.tree_connect.session
        window = connection.sequence_window
        while len(self._pending) < self._depth and self._next < self._size:
            size = min(self._chunk, self._size - self._next, connection.max_read_size)
            charge = (size - 1) // _CREDIT_BYTES + 1
            available = window["high"] - window["low"]
            if available < charge:
                if self._pending:
                    break  # replies bring credits back
                size = max(1, available) * _CREDIT_BYTES  # the first request of a window
                size = min(size, self._size - self._next)
                charge = (size - 1) // _CREDIT_BYTES + 1
            message, receive = self._open.read(self._next, size, send=False)
            request = connection.send(
                message,
                sid=session.session_id,
                tid=self._open.tree_connect.tree_connect_id,
                credit_request=charge * 2,  # grow the window until the pipeline fits
            )
            self._pending.append((request, receive, size))
            self._next += size

    def _next_chunk(self) -> bool:
        """Receive the oldest reply into the buffer; ``False`` at the end of the file."""
        self._fill()
        if not self._pending:
            return False
        request, receive, size = self._pending.popleft()
        data = receive(request)
        self._buf = memoryview(data)
        if len(data) < size:  # a short read: re-request from where it stopped
            self._drain(keep_buffer=True)
            self._next = self._pos + len(data)
        return len(data) > 0

    def _drain(self, keep_buffer: bool = False) -> None:
        while self._pending:
            request, receive, _ = self._pending.popleft()
            try:
                receive(request)
            except Exception:  # noqa: BLE001  # the reply is only being discarded
                pass
        if not keep_buffer:
            self._buf = memoryview(b"")

    def close(self) -> None:
        if not self.closed:
            try:
                self._drain()
                self._raw.close()
            except Exception:  # noqa: BLE001  # a dead link closes the server's handle too
                pass
        super().close()


class _ReplacingSMBFileSystem(SMBFileSystem):
    """fsspec's SMB filesystem whose ``mv`` replaces an existing target in one step.

    fsspec's ``mv`` is ``smbclient.rename``, which fails when the target exists; the atomic
    write and the rename of :class:`~._fsspec.DirectoryRoot` commit with ``mv``, so it must
    replace.
    """

    #: set when the root dropped this filesystem's connection, or the connection died:
    #: every call then fails at once (smbclient would otherwise quietly open a new
    #: connection, without the root's credentials and with its own 60 s timeout)
    retired = False
    #: set once the connection is made (the first call is the registration itself)
    connected = False

    @property
    def _port(self) -> int:
        port = 445 if self.port is None else int(self.port)
        if self.connected and not self.retired:
            pooled = smb_pool._SMB_CONNECTIONS.get(f"{str(self.host).lower()}:{port}")
            self.retired = pooled is None or not pooled.transport.connected
        if self.retired:
            raise connection_reset("the connection was dropped (a new one is made on next use)")
        return port

    # fsspec's exists/isdir/isfile answer "no" to any error; a server that does not answer
    # is an error, not a missing file
    def _kind(self, path: str) -> str | None:
        try:
            return str(self.info(path)["type"])
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise

    def exists(self, path: str, **kw: Any) -> bool:
        return self._kind(path) is not None

    def lexists(self, path: str, **kw: Any) -> bool:
        return self._kind(path) is not None

    def isdir(self, path: str) -> bool:
        return self._kind(path) == "directory"

    def isfile(self, path: str) -> bool:
        return self._kind(path) == "file"

    def cp_file(self, path1: str, path2: str, **kw: Any) -> None:
        self.copy(path1, path2)  # a server-side copy

    def mv(self, path1: str, path2: str, recursive: Any = None, maxdepth: Any = None, **kw: Any):
        smbclient.replace(
            _as_unc_path(self.host, path1), _as_unc_path(self.host, path2), port=self._port, **kw
        )
