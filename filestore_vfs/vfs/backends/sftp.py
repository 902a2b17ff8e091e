"""``SFTPFile`` and ``SSHFile``: a directory on an SSH server, through sshfs (asyncssh).

Host keys are verified by default against ``~/.ssh/known_hosts`` (sshfs alone would pass
``known_hosts=None``, which turns verification off; paramiko's fsspec default adds unknown
keys). Accepting any host key needs ``insecure_accept_any_host_key: true`` and warns.

Writes go to a hidden temporary sibling that is renamed over the target with the
``posix-rename@openssh.com`` extension (sshfs's ``mv``), which replaces it in one step. A lock
file next to the target (:mod:`._lockfile`) keeps writers in other processes and on other
machines out; both are :class:`~._lockfile_root.LockFileRoot`'s.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import asyncssh
import asyncssh.encryption
from fsspec import AbstractFileSystem
from fsspec.asyn import sync
from sshfs import SSHFileSystem

from .._errors import ConfigError, connection_reset, io_error, permission_denied
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
            return SSHFileSystem(self.hostname, **self._connect_options())
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
        if isinstance(exc, (asyncssh.ConnectionLost, asyncssh.sftp.SFTPConnectionLost)):
            self._forget_connection()
            return connection_reset(f"lost the connection to {self._where()}")
        for kind, builtin in _SFTP_ERRORS:
            if isinstance(exc, kind):
                return builtin(_SFTP_ERRNO[builtin], f"{exc} (on {self._where()})")
        if isinstance(exc, (asyncssh.DisconnectError, asyncssh.sftp.SFTPError)):
            return io_error(f"{type(exc).__name__} from {self._where()}: {exc}")
        return None

    def _connection_lost(self, exc: BaseException) -> bool:
        lost = (asyncssh.ConnectionLost, asyncssh.sftp.SFTPConnectionLost, ConnectionError)
        return isinstance(exc, lost)

    # -- operations -----------------------------------------------------------------------
    def lock_key(self, rel: str) -> tuple[Any, ...]:
        return ("sftp", self.hostname, self.port, self.username, self.fs_path(rel))

    def rmdir(self, rel: str, recursive: bool = False) -> None:
        """sshfs has ``_rmdir`` but no sync ``rmdir`` (fsspec's default does nothing)."""
        if recursive or not self.isdir(rel) or self.ls(rel):
            super().rmdir(rel, recursive=recursive)
            return
        sync(self.fs.loop, self.fs._rmdir, self.fs_path(rel))


def _fast_ciphers_first() -> list[str]:
    """asyncssh's default ciphers with AES-GCM first.

    asyncssh prefers ChaCha20-Poly1305, which it computes in several calls per packet; AES-GCM
    is one call on AES-NI and read ``get_file`` about 1.7× as fast here. Both are strong.
    """
    defaults = asyncssh.encryption.get_default_encryption_algs()
    gcm = [alg for alg in defaults if b"-gcm@" in alg]
    return [alg.decode() for alg in gcm + [a for a in defaults if a not in gcm]]


class SSHFile(SFTPFile):
    """pyobs' name for the same root (pyobs' exec-``cat`` SSHFile is replaced by SFTP)."""
