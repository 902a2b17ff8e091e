"""``SFTPFile`` and ``SSHFile``: a directory on an SSH server, through sshfs (asyncssh).

Host keys are verified by default against ``~/.ssh/known_hosts`` (sshfs alone would pass
``known_hosts=None``, which turns verification off; paramiko's fsspec default adds unknown
keys). Accepting any host key needs ``insecure_accept_any_host_key: true`` and warns.

Writes go to a hidden temporary sibling that is renamed over the target with the
``posix-rename@openssh.com`` extension (sshfs's ``mv``), which replaces it in one step. A lock
file next to the target (:mod:`._lockfile`) keeps writers in other processes and on other
machines out; both are :class:`~._lockfile_root.LockFileRoot`'s.

Confinement does not trust the server: before every operation the path is resolved on the
server with SFTP ``realpath`` (one request; the root's own real path is asked once per
connection) and compared with the root's real path, so a symlink inside the root that leads
out of it is refused with :class:`PathEscapeError`. A path that does not exist yet is judged
by its deepest existing ancestor, and a dangling link by its target's text. Listings leave
out the links that lead out of the root or to the directory itself or an ancestor (so a
walk always ends). A frozen server is noticed by SSH keepalives: after about ``timeout``
seconds without an answer the connection is dropped, and every operation waiting on it,
``close()`` included, fails with an error naming the logical path.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import stat
import warnings
from collections.abc import Callable
from typing import Any

import asyncssh
import asyncssh.encryption
from fsspec import AbstractFileSystem
from fsspec.asyn import sync
from sshfs import SSHFileSystem

from .._errors import (
    ConfigError,
    PathEscapeError,
    connection_reset,
    io_error,
    is_a_directory,
    permission_denied,
    timed_out,
)
from .._root import Entry
from ._lockfile_root import LockFileRoot

__all__ = ["SFTPFile", "SSHFile"]

#: SFTP status errors sshfs lets through (on ``open``), as the built-ins they mean.
_SFTP_ERRORS: tuple[tuple[type[Exception], type[OSError]], ...] = (
    (asyncssh.sftp.SFTPPermissionDenied, PermissionError),
    (asyncssh.sftp.SFTPNoSuchFile, FileNotFoundError),
    (asyncssh.sftp.SFTPFileAlreadyExists, FileExistsError),
    (asyncssh.sftp.SFTPFileIsADirectory, IsADirectoryError),
    (asyncssh.sftp.SFTPNotADirectory, NotADirectoryError),
)
#: What a lost or dropped connection raises, from asyncssh and from sshfs's channel pool.
_LOST = (
    asyncssh.ConnectionLost,
    asyncssh.sftp.SFTPConnectionLost,
    asyncssh.sftp.SFTPNoConnection,
    asyncssh.ChannelOpenError,
    asyncssh.DisconnectError,
    ConnectionError,
    EOFError,
    BrokenPipeError,
)
#: realpath failures after which the path is judged by its parent (missing, a dangling link,
#: a loop, no permission to search it).
_UNRESOLVED = (
    asyncssh.sftp.SFTPNoSuchFile,
    asyncssh.sftp.SFTPFailure,
    asyncssh.sftp.SFTPPermissionDenied,
    asyncssh.sftp.SFTPNoSuchPath,
)
_SFTP_ERRNO = {
    PermissionError: 13,
    FileNotFoundError: 2,
    FileExistsError: 17,
    IsADirectoryError: 21,
    NotADirectoryError: 20,
}


class SFTPFile(LockFileRoot):
    """A directory on an SFTP server (pyobs' options, plus host-key checking and locks).

    hostname, port
        The SSH server.
    username
        The login (default: the local user name, as ``ssh`` does).
    password
        A password (use ``${ENV}`` in YAML); never shown in messages.
    keyfile
        A private key file; without it and without a password, the SSH agent and the
        default keys in ``~/.ssh`` are tried.
    root
        The directory on the server (absolute, or relative to the login directory).
    mkdir
        Create missing parent directories on write (pyobs' default: true).
    known_hosts
        The known_hosts file that holds the server's key (default ``~/.ssh/known_hosts``).
    insecure_accept_any_host_key
        Skip host-key verification (a man-in-the-middle could read everything); warns.
    lock_timeout
        Seconds after which a writer's lock file is considered stale and taken over.
    """

    extra = "sftp"
    protocol = "sftp"

    def __init__(
        self,
        *,
        hostname: str,
        root: str,
        port: int = 22,
        username: str | None = None,
        password: str | None = None,
        keyfile: str | None = None,
        known_hosts: str | None = None,
        insecure_accept_any_host_key: bool = False,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if not hostname or not isinstance(hostname, str):
            raise ConfigError(f"{type(self).__name__} needs 'hostname', not {hostname!r}")
        self.hostname = hostname
        self.port = int(port)
        self.username = username
        self._password = password
        self.keyfile = os.path.expanduser(keyfile) if keyfile else None
        root = str(root)
        self._root = (root.rstrip("/") or "/") if root else "."
        self.known_hosts = os.path.expanduser(known_hosts or "~/.ssh/known_hosts")
        self.insecure = bool(insecure_accept_any_host_key)
        self.secrets = frozenset(s for s in (password,) if s)
        if self.insecure:
            warnings.warn(
                f"{type(self).__name__} on {hostname}: insecure_accept_any_host_key is set, so "
                "the server's identity is not checked and a man-in-the-middle could read "
                "and change every file; add its key to known_hosts instead",
                UserWarning,
                stacklevel=2,
            )

    # -- the connection -------------------------------------------------------------------
    def _connect_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "port": self.port,
            "connect_timeout": self.timeout,
            "login_timeout": self.timeout,
            "skip_instance_cache": True,
            # a frozen server (or a dead link without a reset) is noticed within ~timeout:
            # a keepalive every timeout/2 s, the connection dropped when two go unanswered,
            # which fails every request waiting on it (reads, writes, close()) at once
            "keepalive_interval": max(self.timeout / 2, 0.05),
            "keepalive_count_max": 1,
        }
        options["encryption_algs"] = _fast_ciphers_first()
        if self.username:
            options["username"] = self.username
        if self._password is not None:
            options["password"] = self._password
        if self.keyfile:
            options["client_keys"] = [self.keyfile]
        if self.insecure:
            options["known_hosts"] = None
        else:
            if not os.path.isfile(self.known_hosts):
                raise ConfigError(
                    f"root /{self.name}: no known_hosts file at {self.known_hosts!r}, so the "
                    f"key of {self._where()} cannot be verified; add it with "
                    f"`ssh-keyscan -p {self.port} {self.hostname} >> {self.known_hosts}` "
                    "(after checking its fingerprint) or set known_hosts"
                )
            options["known_hosts"] = self.known_hosts
        return options

    def _make_fs(self) -> AbstractFileSystem:
        try:
            fs = SSHFileSystem(self.hostname, **self._connect_options())
        except TimeoutError:  # fsspec's FSTimeoutError too
            raise timed_out(
                f"no answer from {self._where()} within {self.timeout:g} s (timeout)"
            ) from None
        except PermissionError:
            raise permission_denied(
                f"authentication failed for user {self.username or '(default)'} on "
                f"{self._where()}: check the password or keyfile",
            ) from None
        except asyncssh.HostKeyNotVerifiable:
            raise permission_denied(
                f"the host key of {self._where()} is not in {self.known_hosts!r} or does "
                "not match it: refusing to connect (a changed key can mean a "
                "man-in-the-middle); check the key with the server's administrator",
            ) from None
        _quiet_lost_tasks(fs.loop)
        return fs

    @property
    def base(self) -> str:
        return self._root

    def url(self, rel: str = "") -> str:
        user = f"{self.username}@" if self.username else ""
        path = self.fs_path(rel)
        return f"sftp://{user}{self.hostname}:{self.port}/{path.lstrip('/')}"

    # -- errors ---------------------------------------------------------------------------
    def map_error(self, exc: BaseException) -> BaseException | None:
        if isinstance(exc, asyncssh.PermissionDenied):
            return permission_denied(f"authentication failed on {self._where()}")
        if isinstance(exc, _LOST):
            self._forget_connection()
            reason = "no answer within the timeout" if "keepalive" in str(exc) else str(exc)
            return connection_reset(f"lost the connection to {self._where()} ({reason})")
        for kind, builtin in _SFTP_ERRORS:
            if isinstance(exc, kind):
                return builtin(_SFTP_ERRNO[builtin], f"{exc} (on {self._where()})")
        if isinstance(exc, (asyncssh.DisconnectError, asyncssh.sftp.SFTPError)):
            return io_error(f"{type(exc).__name__} from {self._where()}: {exc}")
        return None

    def _connection_lost(self, exc: BaseException) -> bool:
        return isinstance(exc, _LOST)

    # -- confinement ----------------------------------------------------------------------
    def confine(self, rel: str) -> None:
        """Refuse ``rel`` if the server resolves it (symlinks followed) outside the root.

        One ``realpath`` request for a path that exists, or whose parent does (OpenSSH
        resolves a missing last component); one more per missing ancestor, and an
        ``lstat`` and ``readlink`` for a dangling link. The root's real path is asked once
        per connection.
        """
        logical = self.logical(rel)
        with self.translate(logical):
            top, real = self.retrying(lambda: self._sync(lambda: self._resolve_pair(rel)))
        if not _inside(real, top):
            raise PathEscapeError(
                f"{logical} leads outside root /{self.name} through a symlink on the server "
                f"({self._where()}); nothing outside a root is reachable"
            )

    def _sync(self, make: Any) -> Any:
        """Run the coroutine ``make()`` on sshfs's loop (made once the connection is)."""
        loop = self.fs.loop
        return sync(loop, make)

    async def _resolve_pair(self, rel: str) -> tuple[str, str]:
        """The root's real path (cached per connection) and ``rel``'s, on one channel."""
        fs = self.fs
        async with fs._pool.get() as sftp:
            cached = getattr(self, "_top", None)
            if cached is not None and cached[0] is fs:
                top = cached[1]
            else:
                top = await _real_path(sftp, self.base)
                self._top = (fs, top)
            real = top if not rel else await _real_path(sftp, self.fs_path(rel))
        return top, real

    # -- listing ------------------------------------------------------------------------
    def _entry(self, rel: str, raw: dict[str, Any]) -> Entry:
        """sshfs lists what the directory holds (lstat): a symlink is marked for
        :meth:`~._lockfile_root.LockFileRoot.ls`, which asks :meth:`judge_links` about it."""
        entry = super()._entry(rel, raw)
        if raw.get("type") == "link":
            entry["link"] = True
        return entry

    def judge_links(self, rel: str, names: list[str]) -> dict[str, dict[str, Any] | None]:
        """For each link in ``rel``: ``None`` to leave it out (it leads out of the root, or to
        this directory or one above it), else the type and size of what it leads to. A
        realpath and a stat per link, all in flight together."""
        return self._sync(lambda: self._judge_links(rel, names))

    async def _judge_links(self, rel: str, names: list[str]) -> dict[str, dict[str, Any] | None]:
        """For each link: ``None`` (leave it out) or the type and size of what it leads to."""
        top, here = await self._resolve_pair(rel)
        fs = self.fs

        async def judge(name: str) -> dict[str, Any] | None:
            async with fs._pool.get() as sftp:
                real = await _real_path(sftp, f"{self.fs_path(rel).rstrip('/')}/{name}")
                if not _inside(real, top) or _inside(here, real):
                    return None  # outside, or this directory or an ancestor: a loop
                try:
                    attrs = await sftp.stat(real)
                except asyncssh.sftp.SFTPError:
                    return {"type": "file", "size": 0}  # dangling, judged inside by its text
            if stat.S_ISDIR(attrs.permissions or 0):
                return {"type": "directory", "size": 0}
            return {"type": "file", "size": int(attrs.size or 0)}

        results = await asyncio.gather(*(judge(n) for n in names))
        return dict(zip(names, results, strict=True))

    # -- operations -----------------------------------------------------------------------
    def fetch_to(self, rel: str, local: str, progress: Callable[[int], Any] | None) -> bool:
        """asyncssh's own download, reads of the server's largest size (OpenSSH: 255 KiB),
        several in flight (asyncssh's choice: 4 MiB in all, so memory stays flat); the
        streaming reader waits for each read-ahead block and reached half of OpenSSH
        ``sftp``'s rate. Links are followed (:meth:`confine` has judged where they lead):
        asyncssh would otherwise recreate the link locally, or refuse one that leaves
        the download's directory. A ``stat`` first tells a directory (one round trip)."""
        remote = self.fs_path(rel)

        def report(_src: bytes, _dst: bytes, done: int, _total: int) -> None:
            assert progress is not None
            progress(done)

        async def get() -> None:
            async with self.fs._pool.get() as sftp:
                if stat.S_ISDIR((await sftp.stat(remote)).permissions or 0):
                    raise is_a_directory("is a directory")
                await sftp.get(
                    remote,
                    local,
                    follow_symlinks=True,
                    block_size=GET_BLOCK,
                    progress_handler=report if progress is not None else None,
                )

        self.retrying(lambda: self._sync(get))
        return True

    def lock_key(self, rel: str) -> tuple[Any, ...]:
        return ("sftp", self.hostname, self.port, self.username, self.fs_path(rel))

    def rmdir(self, rel: str, recursive: bool = False) -> None:
        """sshfs has ``_rmdir`` but no sync ``rmdir`` (fsspec's default does nothing)."""
        if recursive or not self.isdir(rel) or self.ls(rel):
            super().rmdir(rel, recursive=recursive)
            return
        sync(self.fs.loop, self.fs._rmdir, self.fs_path(rel))


def _quiet_lost_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """asyncssh's parallel reads and writes leave their sibling requests' errors unretrieved
    when the connection drops (the first error is raised, with the logical path); asyncio
    would print each as "Task exception was never retrieved". Those, and only those, are
    dropped on fsspec's loop."""
    previous = loop.get_exception_handler()
    if getattr(previous, "_vfs_quiet", False):
        return

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if isinstance(context.get("exception"), _LOST):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler._vfs_quiet = True  # type: ignore[attr-defined]
    loop.call_soon_threadsafe(loop.set_exception_handler, handler)


def _inside(real: str, top: str) -> bool:
    return top == "/" or real == top or real.startswith(top.rstrip("/") + "/")


async def _real_path(sftp: Any, path: str) -> str:
    """``path`` with every symlink resolved by the server; a missing tail kept as text.

    OpenSSH resolves a path whose last component is missing; a stricter server, a missing
    ancestor or a dangling link fails, and the path is then judged by its deepest ancestor
    that resolves. A dangling link there is judged by its target's text (nothing can be read
    through it, and a write replaces the link itself).
    """
    tail: list[str] = []
    current = path
    while True:
        try:
            real = await sftp.realpath(current)
            break
        except _UNRESOLVED:
            head, name = posixpath.split(current.rstrip("/"))
            parent = head or "."
            if not name or parent == current:
                raise  # nothing above it to judge by (the login directory, or "/")
            tail.insert(0, name)
            current = parent
    if not tail:
        return str(real)
    first = posixpath.join(real, tail[0])
    try:
        attrs = await sftp.lstat(first)
    except asyncssh.sftp.SFTPError:
        attrs = None
    if attrs is not None and stat.S_ISLNK(attrs.permissions or 0):
        target = await sftp.readlink(first)
        first = posixpath.normpath(posixpath.join(real, target))
    return posixpath.normpath(posixpath.join(first, *tail[1:]))


#: The read size of a download: -1 lets asyncssh take the largest the server announces
#: (``limits@openssh.com``).
GET_BLOCK = -1


#: The ciphers tried first, fastest first: AES-GCM is one call per packet with AES-NI (AES-128
#: has 10 rounds to AES-256's 14); asyncssh's own first choice, ChaCha20-Poly1305, takes
#: several per packet.
FAST_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def _fast_ciphers_first() -> list[str]:
    """asyncssh's default ciphers with :data:`FAST_CIPHERS` first (when it has them).

    A server that offers none of them gets asyncssh's usual choice; every one is strong.
    AES-GCM read ``get_file`` about 1.7× as fast as ChaCha20-Poly1305 here.
    """
    defaults = [alg.decode() for alg in asyncssh.encryption.get_default_encryption_algs()]
    fast = [alg for alg in FAST_CIPHERS if alg in defaults]
    return fast + [alg for alg in defaults if alg not in fast]


class SSHFile(SFTPFile):
    """pyobs' name for the same root (pyobs' exec-``cat`` SSHFile is replaced by SFTP)."""
