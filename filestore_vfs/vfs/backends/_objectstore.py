"""What the object-store roots (S3, Azure Blob) share.

An object store has no directories, only names with ``/`` in them: a "directory" exists
while some object's name starts with it, so there are no empty directories to make or to
remove, and a missing object is deleted without complaint (the VFS still promises
``FileNotFoundError``). Its uploads are atomic themselves (S3's ``PUT`` and
``CompleteMultipartUpload``, Azure's ``Put Block List``): writes go straight to the final
name, closing completes the upload, and an aborted upload is cancelled, never completed,
which leaves the old object in place. Sequential reads are one streaming request
(:class:`~._network.ForwardStream`).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import IO, Any

from .._atomic import AtomicWriteFile
from .._errors import already_exists, is_a_directory, not_found
from .._root import Entry
from ._network import FsspecNetworkRoot

__all__ = ["ObjectStoreRoot", "ObjectUploadFile"]


class ObjectStoreRoot(FsspecNetworkRoot):
    """Base of the roots on a bucket or container (and a prefix in it).

    A subclass says whether its bucket exists (:meth:`_store_exists`), names it when it is
    missing (:meth:`_no_store`), and opens its one-request stream (:meth:`_open_stream`).
    """

    supports_empty_dirs = False

    def _store_exists(self) -> bool:
        """Whether the bucket (container) exists; asked only after a "not found", to tell a
        missing bucket from a missing object. An unclear answer counts as "exists"."""
        raise NotImplementedError(f"{type(self).__name__} must implement _store_exists")

    def _no_store(self) -> FileNotFoundError:
        """The error of a missing bucket (container), naming it."""
        raise NotImplementedError(f"{type(self).__name__} must implement _no_store")

    def _open_stream(self, rel: str, offset: int) -> IO[bytes]:
        """One streaming request from ``offset`` to the end (a :class:`ForwardStream`)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _open_stream")

    # -- errors -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def translate(self, logical: str) -> Iterator[None]:
        """As :meth:`Root.translate`, naming the bucket when it is the bucket that is missing."""
        with super().translate(logical):
            try:
                yield
            except FileNotFoundError as exc:
                if exc.filename != logical and not self._store_exists():
                    raise self._no_store() from None
                raise

    # -- operations ---------------------------------------------------------------------------
    def ls(self, rel: str) -> list[Entry]:
        try:
            return super().ls(rel)
        except FileNotFoundError:
            if rel == "" and self._store_exists():
                return []  # an empty prefix is an empty root, not a missing one
            raise

    def remove(self, rel: str) -> None:
        """An object store deletes a missing object without complaint; the VFS promises
        ``FileNotFoundError``."""
        if not self.isfile(rel):
            if self.isdir(rel):
                raise is_a_directory("is a directory; use rmdir")
            raise not_found("no such file")
        self.fs.rm_file(self.fs_path(rel))

    def rmdir(self, rel: str, recursive: bool = False) -> None:
        if not recursive and self.isdir(rel) and not self.ls(rel):
            return  # an object store has no empty directories to remove
        super().rmdir(rel, recursive=recursive)

    def open_options(self, mode: Any) -> dict[str, Any]:
        """Sequential reads ("stream": ``get_file``, copies) are one streaming request."""
        if mode == "stream":
            return {"stream": True}
        return super().open_options(mode)

    def open_remote(self, rel: str, offset: int, **options: Any) -> IO[bytes]:
        if not options.pop("stream", False):
            return super().open_remote(rel, offset, **options)
        return self._open_stream(rel, offset)

    def _check_write(self, rel: str, mode: str) -> bool:
        """Refuse to write over a "directory", or over an object in mode ``xb``; whether the
        object exists (asked only in the modes that care: ``xb`` and ``ab``)."""
        if self.isdir(rel):
            raise is_a_directory("is a directory")
        exists = mode in ("xb", "ab") and bool(self.fs.exists(self.fs_path(rel)))
        if mode == "xb" and exists:
            raise already_exists("already exists")
        return exists

    def _upload_options(self, rel: str, release: Callable[[], None]) -> dict[str, Any]:
        """The :class:`ObjectUploadFile` options every upload of ``rel`` has."""
        logical = self.logical(rel)
        return {
            "name": logical,
            "commit": lambda: None,  # closing the raw file completes the upload
            "release": release,
            "translate": lambda: self.translate(logical),
        }


class ObjectUploadFile(AtomicWriteFile):
    """A writer whose upload is itself atomic: ``close`` completes it, ``abort`` cancels it.

    :class:`AtomicWriteFile` closes the raw file before discarding, which for an upload
    would mean completing it; here an abort discards first and never completes. Errors of
    ``write`` (a part or block upload) and ``close`` (the completion) come out translated
    by the root. ``before_commit`` runs first on ``close`` (e.g. "the lease is still
    ours"); when it fails the upload is aborted.
    """

    def __init__(
        self,
        raw: IO[bytes],
        *,
        translate: Callable[[], AbstractContextManager[None]],
        before_commit: Callable[[], None] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(raw, **kw)
        self._translate = translate
        self._before_commit = before_commit
        del self.write  # the method below, not the raw file's: errors are translated

    def write(self, data: Any) -> int:  # type: ignore[override]
        with self._translate():
            written = self._raw.write(data)
        self._wrote()
        return written

    def _wrote(self) -> None:
        """A hook after every write (S3 grows its parts)."""

    def close(self) -> None:
        if self.closed:
            return
        with self._translate():
            if self._before_commit is not None:
                try:
                    self._before_commit()
                except BaseException:
                    self.abort()
                    raise
            self._complete()

    def _complete(self) -> None:
        """Close the raw file, which completes the upload (a failure discards it)."""
        AtomicWriteFile.close(self)

    def abort(self) -> None:
        if self.closed:
            return
        try:
            self._discard_quietly()
        finally:
            self._finish()

    def _finish(self) -> None:
        """Release the writer's lock and mark it closed, without touching the raw file."""
        self._release()
        io.BufferedIOBase.close(self)
