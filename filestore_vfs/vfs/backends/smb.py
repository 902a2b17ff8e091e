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

import atexit
import errno
import logging
import socket
import threading
import time
from collections.abc import Callable
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
    is_a_directory,
    not_found,
    permission_denied,
    timed_out,
)
from ._lockfile_root import LockFileRoot
from ._smb_reads import ReadPipeline, Receiver, SignatureMismatch
from ._streams import ChunkedStream

__all__ = ["SMBFile"]

_log = logging.getLogger(__name__)

#: The largest SMB write request sent (Samba offers 8 MiB): each is copied several times.
WRITE_MAX = 2 << 20
#: errno values of a socket the server closed under smbprotocol.
_DEAD_SOCKET = {errno.EBADF, errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN}


def _close_pool_quietly() -> None:
    """Close smbclient's pooled connections at exit, a dead one without a traceback.

    smbclient closes them at exit too, but logs a warning with a traceback for every
    connection whose server has gone (a server restarted, a laptop that left the network),
    which a user reads as a failure of their run. Registered after smbclient's own handler,
    this runs first (``atexit`` is last in, first out) and leaves it nothing to close.
    """
    for name in list(smb_pool._SMB_CONNECTIONS):
        connection = smb_pool._SMB_CONNECTIONS.pop(name, None)
        if connection is None:
            continue
        try:
            connection.disconnect()
        except Exception as exc:  # noqa: BLE001  # the server is gone: nothing to close there
            _log.debug("SMB connection %s was already closed at exit: %s", name, exc)


atexit.register(_close_pool_quietly)


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
            # smbprotocol copies a write request's data about six times while it builds,
            # signs and sends it: with Samba's 8 MiB writes an upload's memory grew ~48 MiB
            connection.max_write_size = min(connection.max_write_size, WRITE_MAX)
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
        if isinstance(exc, SignatureMismatch):
            self._forget_connection()  # smbprotocol's receiving thread ended with it
            return io_error(f"{exc} (from {self._where()}; the connection was dropped)")
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

    def fetch_to(self, rel: str, local: str, progress: Callable[[int], Any] | None) -> bool:
        """Four 4 MiB reads in flight, each reply received into one of four buffers and
        written to ``local`` (memory stays at 16 MiB; smbclient's file waits for each reply
        and reached half the ``smbclient`` tool's rate). After a dropped connection the
        download goes on where it stopped, on a new one (:attr:`retries` times in a row
        without progress)."""
        path = self.fs_path(rel)
        if self.retrying(lambda: self.fs.info(path))["type"] == "directory":
            raise is_a_directory("is a directory")
        failures = 0
        with open(local, "wb") as out:
            while True:
                done = out.tell()
                try:
                    self._fetch_from(path, out, progress)
                    return True
                except Exception as exc:
                    failures = 0 if out.tell() > done else failures + 1
                    if failures > self.retries or not self.is_transient(exc):
                        raise
                    time.sleep(self.retry_backoff * 2 ** max(0, failures - 1))

    def _fetch_from(self, path: str, out: IO[bytes], progress: Callable[[int], Any] | None) -> None:
        """Append ``path`` from ``out``'s length on."""
        done = out.tell()
        raw = self.fs.open(path, "rb", block_size=0)
        try:
            pipeline = ReadPipeline(raw.fd, done, int(raw.fd.end_of_file))
            try:
                while block := pipeline.next_block():
                    out.write(block)
                    done += len(block)
                    if progress is not None:
                        progress(done)
            finally:
                pipeline.drain()
        finally:
            try:
                raw.close()
            except Exception:  # noqa: BLE001  # a dead link closes the server's handle too
                pass


class _Watchdog:
    """Shuts a connection's socket down when requests wait and the server sent nothing for
    ``timeout`` seconds: smbprotocol's own waits (replies, and sends into a full socket) have
    no limit. One per connection; roots sharing a pooled connection share the shortest
    timeout. Shutting the socket down wakes every waiting call (``SMBConnectionClosed``)."""

    def __init__(self, connection: Any, timeout: float) -> None:
        self.connection = connection
        self.timeout = timeout
        # bytes arriving count as progress, not only whole replies: a 4 MiB reply on a slow
        # link may take longer than the timeout to arrive
        self.receiver = Receiver.install(connection)
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
            elif stalled_since is None or self.receiver.last_rx > stalled_since:
                stalled_since = now
            elif now - stalled_since >= self.timeout:
                self.shut(self.connection)
                return


class _PipelinedReader(ChunkedStream):
    """Reads forward through a :class:`~._smb_reads.ReadPipeline` (several SMB reads in
    flight, each reply received into a buffer of its own, which the caller may keep).

    Memory stays at about the pipeline's depth × chunk; a seek drains the requests in flight
    (their replies must be received) and starts again at the new offset.
    """

    def __init__(self, raw: Any, offset: int) -> None:
        size = int(raw.fd.end_of_file)
        super().__init__(offset, size)
        self._raw = raw
        self._pipeline = ReadPipeline(raw.fd, offset, size, reuse=False)

    def _move(self, target: int) -> None:
        self._pipeline.seek(target)
        super()._move(target)

    def _next_chunk(self) -> bool:
        """Receive the next reply into the buffer; ``False`` at the end of the file."""
        self._buf = self._pipeline.next_block()
        return len(self._buf) > 0

    def close(self) -> None:
        if not self.closed:
            try:
                self._pipeline.drain()
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
