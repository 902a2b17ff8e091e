"""The root interface: what the VFS asks of every root, and the rules it applies to all.

A root works on *relative* paths that :mod:`._paths` already checked. :class:`Root` holds
what every root shares whatever its transport (its name, the writer's view, confinement,
locking hooks, error translation without secrets) and declares the operations a backend
implements. Most backends build on :class:`filestore_vfs.vfs.backends.FsspecRoot`, which
implements every operation on one fsspec filesystem; a backend without an fsspec
filesystem (Redis) implements them itself.
"""

from __future__ import annotations

import abc
import contextlib
import re
from collections.abc import Callable, Iterator
from typing import IO, Any, ClassVar, Protocol

from ._atomic import AtomicWriteFile
from ._errors import ERRNO_OF, REASON_OF, InvalidPathError, VFSError
from ._paths import join_logical
from ._redact import protect_logs, redact_text, register_secrets, scrub_exception
from ._writer import Semantics, WriterView, guess_semantics

__all__ = ["CrossProcessLock", "Entry", "Root", "SECRET_OPTION", "redact"]

#: Options whose values are secrets: they never appear in messages, logs or documents.
SECRET_OPTION = re.compile(r"pass|secret|token|key|credential|sas|connection|auth", re.I)

Entry = dict[str, Any]

#: OSError subclasses kept as they are (with the logical path added) when re-raised.
_KEPT_OS_ERRORS: tuple[type[OSError], ...] = (
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    FileExistsError,
    PermissionError,
    TimeoutError,
    ConnectionError,
    BlockingIOError,
)


class CrossProcessLock(Protocol):
    """What :meth:`Root.cross_process_lock` returns: ``acquire()`` raises ``FileBusyError``."""

    def acquire(self) -> CrossProcessLock: ...

    def release(self) -> None: ...


def redact(text: str, secrets: frozenset[str]) -> str:
    """Replace every secret value in ``text`` with ``***`` (``secrets``, every registered
    one, and values that look secret: :func:`._redact.redact_text`)."""
    return redact_text(text, secrets)


class Root(abc.ABC):
    """A named root: how *this* machine reaches one logical root, plus its writer's view.

    Parameters common to every root class:

    writer_root
        How the detector IOC spells this root's directory (``D:\\assets``, ``/ioc/data``).
    writer_path_semantics
        ``posix`` or ``windows``; guessed from ``writer_root`` when not given.
    read_only
        Refuse writes, moves and deletes with :class:`ReadOnlyRootError`.
    """

    #: The extra that installs this root's dependencies (for error messages).
    extra: ClassVar[str | None] = None
    #: Whether directories exist without files in them (object stores: no).
    supports_empty_dirs: ClassVar[bool] = True

    def __init__(
        self,
        *,
        writer_root: str | None = None,
        writer_path_semantics: Semantics | None = None,
        read_only: bool = False,
    ) -> None:
        self.name = "?"
        self.read_only = bool(read_only)
        self._writer: WriterView | None = None
        if writer_root is not None:
            semantics = writer_path_semantics or guess_semantics(writer_root)
            self._writer = WriterView(str(writer_root), semantics)
        elif writer_path_semantics is not None:
            raise InvalidPathError("writer_path_semantics is set but writer_root is not")
        self.secrets = frozenset()

    @property
    def secrets(self) -> frozenset[str]:
        """The values of this root's secret options (passwords, keys, tokens).

        Assigning them registers them with the process's redactor (:mod:`._redact`) and
        makes sure it scrubs every log record: they never reach a log, at any level, from
        our code or from a library's, nor an error this root raises.
        """
        return self._secrets

    @secrets.setter
    def secrets(self, values: frozenset[str]) -> None:
        self._secrets = frozenset(values)
        if self._secrets:
            register_secrets(self._secrets)
            protect_logs()

    # -- identity -------------------------------------------------------------------------
    def bind(self, name: str) -> Root:
        """Give the root its logical name (done by the VFS when the root is added)."""
        self.name = name
        return self

    def __repr__(self) -> str:
        try:
            where = self.url()
        except Exception:  # noqa: BLE001  # a repr must not fail (backend missing, ...)
            where = "an unavailable backend"
        return f"<{type(self).__name__} /{self.name} at {where}>"

    def logical(self, rel: str) -> str:
        return join_logical(self.name, rel)

    @property
    def local_dir(self) -> str | None:
        """The directory on this machine, for roots that are local files; else ``None``."""
        return None

    @property
    def writer_view(self) -> WriterView | None:
        """The writer's view: ``writer_root``, else the local directory, else ``None``."""
        if self._writer is not None:
            return self._writer
        if self.local_dir is not None:
            return WriterView(self.local_dir, "posix")
        return None

    # -- rules ----------------------------------------------------------------------------
    def confine(self, rel: str) -> None:  # noqa: B027  # a hook: most roots have no links
        """Raise :class:`PathEscapeError` if ``rel`` reaches outside the root (symlinks)."""

    def lock_key(self, rel: str) -> tuple[Any, ...]:
        """Identifies the object written, for the in-process writer registry.

        Two roots (of two VFS objects) on the same backend object must give the same key,
        so backends override this with what names the object on the server.
        """
        return (type(self).__name__, id(self), rel)

    def check_size(self, rel: str, size: int) -> None:  # noqa: B027  # a hook: no limit
        """Raise :class:`FileTooLargeError` if a file of ``size`` bytes cannot be stored at ``rel``.

        The VFS calls this before a transfer whose size it knows (``put_file``, ``copy``,
        ``Storage.add_file``), so a file the backend would refuse half-way fails before a
        byte is sent. Most backends have no limit worth checking: the default accepts any size.
        """

    def cross_process_lock(self, rel: str) -> CrossProcessLock | None:
        """A lock that also keeps other processes out, where the backend has one."""
        return None

    def map_error(self, exc: BaseException) -> BaseException | None:
        """Turn a backend's own exception into a built-in one (``None``: not ours to map).

        Network roots override this (HTTP 404 → ``FileNotFoundError``, 403 →
        ``PermissionError``, ...); :meth:`translate` then adds the logical path.
        """
        return None

    @contextlib.contextmanager
    def translate(self, logical: str) -> Iterator[None]:
        """Re-raise backend errors with the logical path in the message and no secrets."""
        try:
            yield
        except VFSError as e:
            self._scrub(e)
            raise
        except Exception as e:  # noqa: BLE001  # every backend error is mapped or re-raised
            if isinstance(e, OSError) and e.filename == logical:
                raise  # already translated (nested translate, e.g. in a reader)
            mapped = e if isinstance(e, OSError) else self.map_error(e)
            if mapped is None:
                self._scrub(e)
                raise
            raise self._with_path(mapped, logical) from self._scrub(e)

    def _with_path(self, exc: BaseException, logical: str) -> BaseException:
        for kind in _KEPT_OS_ERRORS:
            if isinstance(exc, kind):
                code = getattr(exc, "errno", None) or ERRNO_OF.get(kind)
                return kind(code, self._message(exc), logical)
        if isinstance(exc, OSError):
            return OSError(exc.errno, self._message(exc), logical)
        return exc

    def _message(self, exc: BaseException) -> str:
        reason = REASON_OF.get(type(exc)) if not getattr(exc, "strerror", None) else None
        if reason is None:
            text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            reason = redact_text(str(text), self.secrets)
        return f"{reason} (root /{self.name} on {self.url()})"

    def _scrub(self, exc: BaseException) -> BaseException:
        """Remove secrets from ``exc`` and its whole chain of causes and contexts."""
        return scrub_exception(exc, self.secrets)

    # -- operations on relative paths (what a backend implements) ------------------------
    # Paths are relative POSIX paths that :mod:`._paths` checked and :meth:`confine` allowed;
    # ``""`` is the root itself. Errors are built-in OSErrors or the backend's own, which
    # :meth:`translate` maps; the VFS adds the logical path.

    @abc.abstractmethod
    def url(self, rel: str = "") -> str:
        """A URL of the backend object, for people: never with credentials."""

    @abc.abstractmethod
    def ls(self, rel: str) -> list[Entry]:
        """The entries directly under ``rel`` (never the VFS's own hidden files)."""

    @abc.abstractmethod
    def info(self, rel: str) -> Entry:
        """``{"name", "size", "type": "file"|"directory", "mtime"}`` of ``rel``."""

    @abc.abstractmethod
    def exists(self, rel: str) -> bool: ...

    @abc.abstractmethod
    def isdir(self, rel: str) -> bool: ...

    @abc.abstractmethod
    def isfile(self, rel: str) -> bool: ...

    @abc.abstractmethod
    def makedirs(self, rel: str, exist_ok: bool = True) -> None: ...

    @abc.abstractmethod
    def remove(self, rel: str) -> None:
        """Delete a file (a directory is :class:`IsADirectoryError`)."""

    @abc.abstractmethod
    def rmdir(self, rel: str, recursive: bool = False) -> None: ...

    def rename(self, src: str, dst: str) -> None:
        """Move within this root; ``NotImplementedError`` makes the VFS copy then delete."""
        raise NotImplementedError

    @abc.abstractmethod
    def open_read(self, rel: str, cache: str | None = None) -> IO[bytes]:
        """A streaming reader; ``cache`` selects a network root's cache mode (else ignored)."""

    @abc.abstractmethod
    def open_write(self, rel: str, mode: str, release: Callable[[], None]) -> AtomicWriteFile:
        """A writer whose content replaces ``rel`` in one step when closed (see the rules).

        ``mode`` is ``wb``, ``ab`` or ``xb``; ``release`` must be called exactly once when
        the writer is closed or aborted (the VFS's locks).
        """

    def fetch_to(self, rel: str, local: str, progress: Callable[[int], Any] | None) -> bool:
        """Download ``rel`` to the new local file ``local`` with the transport's own
        pipelined transfer, calling ``progress(done_bytes)``; ``False`` (the default) when
        the root has none, and the VFS streams the file through :meth:`open_read`."""
        return False

    def read_bytes(self, rel: str) -> bytes:
        """The whole file; a root whose transport can send it in one request overrides this
        (the handlers read one-file-per-frame sequences through it)."""
        with self.open_read(rel) as f:
            return f.read()

    def size(self, rel: str) -> int | None:
        return self.info(rel).get("size")

    def local_path(self, rel: str) -> str | None:
        """The path of ``rel`` on this machine, for roots that are local directories."""
        top = self.local_dir
        if top is None:
            return None
        return f"{top.rstrip('/')}/{rel}" if rel else top

    def clean(
        self, rel: str, *, older_than: float | None = None, dry_run: bool = False
    ) -> list[str]:
        """Remove the internal files that writers which are gone left under ``rel``; returns
        their logical spellings. Roots whose writers leave nothing behind (or whose leftovers
        expire by themselves) do not implement it."""
        raise NotImplementedError

    def close(self) -> None:  # noqa: B027  # a hook: most roots hold no connection
        """Release connections; the default has none."""
