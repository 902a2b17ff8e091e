"""``SMBFile``: a directory on an SMB/CIFS share (Samba, Windows), through smbprotocol.

Writes go to a hidden temporary sibling that replaces the target with one SMB rename
(``FileRenameInformation`` with ``ReplaceIfExists``: :class:`_ReplacingSMBFileSystem`'s
``mv``). A lock file next to the target (:mod:`._lockfile`, created with ``FILE_CREATE``)
keeps writers in other processes and on other machines out; both are
:class:`~._lockfile_root.LockFileRoot`'s.

smbprotocol keeps one process-wide pool of sessions per server and reuses a session for the
same user name *without checking the password again*; a root whose password differs from a
pooled session's therefore authenticates once on a private connection before it is used.
"""

from __future__ import annotations

import collections
import errno
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
        self._check_share(fs)
        return fs

    def _check_pooled_password(self) -> None:
        """Authenticate on a private connection if the pool would reuse another password."""
        key = f"{self.hostname.lower()}:{self.port}"
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
            return connection_reset(f"lost the connection to {self._where()}")
        if isinstance(exc, smb_errors.SMBException):
            return io_error(f"SMB error from {self._where()}: {exc}")
        return None

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

    def cp_file(self, path1: str, path2: str, **kw: Any) -> None:
        self.copy(path1, path2)  # a server-side copy

    def mv(self, path1: str, path2: str, recursive: Any = None, maxdepth: Any = None, **kw: Any):
        smbclient.replace(
            _as_unc_path(self.host, path1), _as_unc_path(self.host, path2), port=self._port, **kw
        )
