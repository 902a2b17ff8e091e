"""``VirtualFileSystem``: named roots, one logical namespace, the sync API."""

from __future__ import annotations

import csv
import errno
import fnmatch
import io
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, NamedTuple

import yaml

from ._aio import AsyncFile, AsyncVFS
from ._atomic import AtomicTextFile, AtomicWriteFile
from ._config import (
    build_root,
    check_legacy_paths,
    default_root_specs,
    load_config_source,
    parse_config,
)
from ._errors import (
    InvalidPathError,
    ReadOnlyRootError,
    UnknownRootError,
    VFSError,
    is_a_directory,
    not_a_directory,
    not_found,
    permission_denied,
)
from ._locking import Lease, acquire_in_process
from ._paths import LogicalPath, join_logical, split_logical
from ._root import Entry, Root
from ._storage import Storage
from ._transfer import Progress, ProgressTo, copy_stream

__all__ = ["VirtualFileSystem", "Resolved"]

_READ_MODES = {"r", "rb", "rt"}
_WRITE_MODES = {"w", "wb", "wt", "a", "ab", "at", "x", "xb", "xt"}


class Resolved(NamedTuple):
    """What a logical path means on this machine."""

    root: str
    relative: str
    url: str


class VirtualFileSystem:
    """Named roots, each reached through its own backend, under one logical namespace.

    ``roots`` maps names to root objects or to their config mappings
    (``{"class": "LocalFile", "root": "/data"}``). With ``defaults=True`` the embedded roots
    ``/local``, ``/temp`` and ``/memory`` are present unless ``roots`` overrides them.
    ``legacy_paths`` lists the directories under which readers (handlers, tiled adapters,
    ``check``) open plain filesystem paths that documents name (config key
    ``legacy_paths:``); none by default, so every plain path is refused.
    """

    def __init__(
        self,
        roots: Mapping[str, Root | Mapping[str, Any]] | None = None,
        *,
        defaults: bool = True,
        legacy_paths: Sequence[str | os.PathLike[str]] | None = None,
    ) -> None:
        self._legacy_paths = check_legacy_paths(legacy_paths, "legacy_paths")
        self._roots: dict[str, Root] = {}
        if defaults:
            for name, spec in default_root_specs().items():
                self._roots[name] = build_root(name, spec, "<defaults>")
        for name, spec in (roots or {}).items():
            root = build_root(name, spec)
            self._roots[root.name] = root

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> VirtualFileSystem:
        """From a mapping: ``{"roots": {...}}`` or pyobs' ``{"vfs": {"roots": {...}}}``."""
        roots, defaults, legacy = parse_config(config)
        return cls(roots, defaults=defaults, legacy_paths=legacy)

    @classmethod
    def from_yaml(cls, path_or_text: str | os.PathLike[str]) -> VirtualFileSystem:
        """From a YAML file or YAML text (see :mod:`filestore_vfs.vfs._config`)."""
        data, origin = load_config_source(path_or_text)
        roots, defaults, legacy = parse_config(data, origin)
        return cls(roots, defaults=defaults, legacy_paths=legacy)

    def __repr__(self) -> str:
        return f"<VirtualFileSystem roots={', '.join('/' + n for n in self._roots)}>"

    def __enter__(self) -> VirtualFileSystem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release every root (temporary directories are removed)."""
        for root in self._roots.values():
            root.close()

    # -- roots and paths ------------------------------------------------------------------
    @property
    def roots(self) -> Mapping[str, Root]:
        """The configured roots by name (read-only)."""
        return MappingProxyType(self._roots)

    @property
    def legacy_paths(self) -> tuple[str, ...]:
        """Directories whose plain filesystem paths readers may open (config key
        ``legacy_paths:``); empty by default. See
        :func:`filestore_vfs.vfs.check_legacy_path`."""
        return self._legacy_paths

    def add_root(self, name: str, root: Root | Mapping[str, Any]) -> Root:
        """Add or replace a root."""
        built = build_root(name, root)
        self._roots[built.name] = built
        return built

    def _root(self, lp: LogicalPath, path: object) -> Root:
        try:
            return self._roots[lp.root]
        except KeyError:
            raise UnknownRootError(lp.root, self._roots, str(path)) from None

    def _split(self, path: str | os.PathLike[str]) -> tuple[Root, LogicalPath]:
        lp = split_logical(path)
        root = self._root(lp, path)
        root.confine(lp.rel)
        return root, lp

    def _writable(self, path: str | os.PathLike[str]) -> tuple[Root, LogicalPath]:
        root, lp = self._split(path)
        if root.read_only:
            raise ReadOnlyRootError(
                f"{lp} is on root /{root.name}, which is read-only; write to another root"
            )
        return root, lp

    def resolve(self, path: str | os.PathLike[str]) -> Resolved:
        """The root name, the relative path and the backend URL (without credentials).

        Pure name mapping: the path's form is checked, but nothing is touched on the backend
        (so no symlink check either; every method that reads, lists or writes does that).
        """
        lp = split_logical(path)
        root = self._root(lp, path)
        return Resolved(root.name, lp.rel, root.url(lp.rel))

    def local_path(self, path: str | os.PathLike[str]) -> str:
        """The path on this machine, for roots that are local directories."""
        root, lp = self._split(path)
        local = root.local_path(lp.rel)
        if local is None:
            raise InvalidPathError(
                f"root /{root.name} is a {type(root).__name__}, not a local directory; "
                "use get_file() to fetch a local copy"
            )
        return local

    def writer_path(self, path: str | os.PathLike[str]) -> str:
        """How the writer (the detector IOC) spells ``path``: ``D:\\assets\\a\\b.h5``."""
        lp = split_logical(path)
        root = self._root(lp, path)
        view = root.writer_view
        if view is None:
            raise InvalidPathError(f"root /{root.name} has no writer_root; set one in its config")
        return view.to_writer(lp.rel)

    def logical_path(self, writer_path: str) -> str:
        """The inverse of :meth:`writer_path`: the logical path of a writer's path."""
        best: tuple[int, str] | None = None
        for name, root in self._roots.items():
            view = root.writer_view
            rel = view.to_rel(writer_path) if view is not None else None
            if rel is not None and (best is None or view.depth > best[0]):
                best = (view.depth, join_logical(name, rel))
        if best is None:
            known = [f"/{n}: {r.writer_view.root}" for n, r in self._roots.items() if r.writer_view]
            raise InvalidPathError(
                f"{writer_path!r} is under no root's writer_root; writer roots: {'; '.join(known)}"
            )
        return str(split_logical(best[1]))  # the same checks as every logical path (NUL, ...)

    # -- opening --------------------------------------------------------------------------
    def open(
        self,
        path: str | os.PathLike[str],
        mode: str = "rb",
        *,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
        cache: str | None = None,
    ) -> IO[Any]:
        """Open a file: reads stream, writes are atomic and exclusive (see the rules).

        ``cache`` chooses how a network root buffers this read: ``blocks`` (small LRU
        blocks, for HDF5), ``stream`` (large read-ahead) or ``file`` (a whole local copy);
        local roots ignore it.
        """
        if mode in _READ_MODES:
            root, lp = self._split(path)
            with root.translate(str(lp)):
                raw = root.open_read(lp.rel, cache)
            if "b" in mode:
                return raw
            return io.TextIOWrapper(
                raw, encoding=encoding or "utf-8", errors=errors, newline=newline
            )
        if mode not in _WRITE_MODES:
            raise InvalidPathError(
                f"mode {mode!r} is not supported; use r, w, a or x, with b for bytes "
                "('+' modes would expose half-written files)"
            )
        writer = self._open_writer(path, mode[0] + "b")
        if "b" in mode:
            return writer
        return AtomicTextFile(writer, encoding=encoding or "utf-8", errors=errors, newline=newline)

    def _open_writer(self, path: str | os.PathLike[str], bmode: str) -> AtomicWriteFile:
        root, lp = self._writable(path)
        logical = str(lp)
        if not lp.rel:
            raise is_a_directory("a root is a directory", logical)
        lease = Lease(acquire_in_process(root.lock_key(lp.rel), logical), None)
        try:
            with root.translate(logical):
                lock = root.cross_process_lock(lp.rel)
                if lock is not None:
                    lease = Lease(lease.release, lock.acquire())  # type: ignore[arg-type]
                return root.open_write(lp.rel, bmode, lease.release)
        except BaseException:
            lease.release()
            raise

    # -- whole-file helpers ---------------------------------------------------------------
    def read_bytes(self, path: str | os.PathLike[str]) -> bytes:
        root, lp = self._split(path)
        with root.translate(str(lp)):
            return root.read_bytes(lp.rel)

    def write_bytes(self, path: str | os.PathLike[str], data: bytes) -> None:
        with self.open(path, "wb") as f:
            f.write(data)

    def read_text(self, path: str | os.PathLike[str], encoding: str = "utf-8") -> str:
        with self.open(path, "r", encoding=encoding) as f:
            return f.read()

    def write_text(self, path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
        with self.open(path, "w", encoding=encoding) as f:
            f.write(text)

    def read_yaml(self, path: str | os.PathLike[str]) -> Any:
        return yaml.safe_load(self.read_text(path))

    def write_yaml(self, path: str | os.PathLike[str], data: Any) -> None:
        self.write_text(path, yaml.safe_dump(data, sort_keys=False))

    def read_csv(self, path: str | os.PathLike[str], **kwargs: Any) -> list[dict[str, str]]:
        """Rows as dicts keyed by the header (for pandas: ``pd.read_csv(vfs.open(path))``)."""
        with self.open(path, "r", newline="") as f:
            return list(csv.DictReader(f, **kwargs))

    def write_csv(
        self, path: str | os.PathLike[str], rows: Any, fieldnames: list[str] | None = None
    ) -> None:
        """Write dict rows (or a pandas DataFrame) with a header line."""
        with self.open(path, "w", newline="") as f:
            if hasattr(rows, "to_csv"):
                rows.to_csv(f, index=False)
                return
            rows = list(rows)
            names = fieldnames or (list(rows[0]) if rows else [])
            writer = csv.DictWriter(f, fieldnames=names)
            writer.writeheader()
            writer.writerows(rows)

    def read_array(self, path: str | os.PathLike[str], *, dataset: str = "/entry/data/data") -> Any:
        """An array from ``.npy``, ``.tif``/``.tiff`` or an HDF5 dataset (by suffix)."""
        from ._arrays import read_array

        with self.open(path, "rb") as f:
            return read_array(f, str(path), dataset)

    def write_array(
        self, path: str | os.PathLike[str], array: Any, *, dataset: str = "/entry/data/data"
    ) -> None:
        """Write ``.npy``, ``.tif``/``.tiff`` or an HDF5 dataset (by suffix), atomically."""
        from ._arrays import encode_array

        self.write_bytes(path, encode_array(array, str(path), dataset))

    # -- metadata -------------------------------------------------------------------------
    def exists(self, path: str | os.PathLike[str]) -> bool:
        root, lp = self._split(path)
        with root.translate(str(lp)):
            return root.exists(lp.rel)

    def isdir(self, path: str | os.PathLike[str]) -> bool:
        root, lp = self._split(path)
        with root.translate(str(lp)):
            return root.isdir(lp.rel)

    def isfile(self, path: str | os.PathLike[str]) -> bool:
        root, lp = self._split(path)
        with root.translate(str(lp)):
            return root.isfile(lp.rel)

    def info(self, path: str | os.PathLike[str]) -> Entry:
        """``{"name", "size", "type": "file"|"directory", "mtime"}``."""
        root, lp = self._split(path)
        with root.translate(str(lp)):
            return root.info(lp.rel)

    def ls(self, path: str | os.PathLike[str] = "/", detail: bool = False) -> list[Any]:
        """The entries of a directory, as logical paths (or info dicts), sorted.

        ``ls("/")`` lists the roots.
        """
        if str(path) in ("/", "vfs://"):
            entries = [
                {"name": f"/{n}", "size": 0, "type": "directory", "mtime": None}
                for n in sorted(self._roots)
            ]
        else:
            root, lp = self._split(path)
            with root.translate(str(lp)):
                if lp.rel and not root.isdir(lp.rel):
                    raise (
                        not_a_directory("not a directory")
                        if root.exists(lp.rel)
                        else not_found("no such directory")
                    )
                entries = sorted(root.ls(lp.rel), key=lambda e: e["name"])
        return entries if detail else [e["name"] for e in entries]

    def walk(self, path: str | os.PathLike[str]) -> Iterator[tuple[str, list[str], list[str]]]:
        """Like :func:`os.walk`: ``(directory, subdirectory names, file names)``.

        A directory that lists exactly what one of its ancestors lists (names, types, sizes
        and dates, with at least one file) is a loop (a server-side symlink to an ancestor,
        which a client of HTTP cannot see): ``OSError(ELOOP)`` rather than a walk without end.
        """
        return self._walk(str(split_logical(path)), {})

    def _walk(
        self, top: str, ancestors: dict[tuple[Any, ...], str]
    ) -> Iterator[tuple[str, list[str], list[str]]]:
        entries = self.ls(top, detail=True)
        dirs = [e["name"].rsplit("/", 1)[1] for e in entries if e["type"] == "directory"]
        files = [e["name"].rsplit("/", 1)[1] for e in entries if e["type"] == "file"]
        listing = tuple(
            sorted(
                (e["name"].rsplit("/", 1)[1], e["type"], e.get("size"), e.get("mtime"))
                for e in entries
            )
        )
        if files and listing in ancestors:
            raise OSError(
                errno.ELOOP,
                f"{top} lists the same entries as its ancestor {ancestors[listing]}: a "
                "directory loop (a symlink on the server?); not walked",
                top,
            )
        yield top, dirs, files
        below = {**ancestors, listing: top}
        for d in dirs:
            yield from self._walk(f"{top}/{d}", below)

    def find(self, path: str | os.PathLike[str], pattern: str = "*") -> list[str]:
        """Every file under ``path`` whose name matches the glob ``pattern``, sorted."""
        found = []
        for top, _dirs, files in self.walk(path):
            found.extend(f"{top}/{name}" for name in fnmatch.filter(files, pattern))
        return sorted(found)

    # -- changing the tree ----------------------------------------------------------------
    def makedirs(self, path: str | os.PathLike[str], exist_ok: bool = True) -> None:
        root, lp = self._writable(path)
        if not lp.rel:
            return
        with root.translate(str(lp)):
            root.makedirs(lp.rel, exist_ok=exist_ok)

    def remove(self, path: str | os.PathLike[str]) -> None:
        """Delete a file (directories: :meth:`rmdir`)."""
        root, lp = self._writable(path)
        with root.translate(str(lp)):
            if root.isdir(lp.rel):
                raise is_a_directory("is a directory; use rmdir")
            release = acquire_in_process(root.lock_key(lp.rel), str(lp))
            try:
                root.remove(lp.rel)
            finally:
                release()

    def rmdir(self, path: str | os.PathLike[str], recursive: bool = False) -> None:
        """Delete an empty directory, or a whole tree with ``recursive=True``."""
        root, lp = self._writable(path)
        if not lp.rel:
            raise permission_denied("a root itself cannot be removed", str(lp), code=errno.EPERM)
        with root.translate(str(lp)):
            root.rmdir(lp.rel, recursive=recursive)

    def copy(
        self,
        src: str | os.PathLike[str],
        dst: str | os.PathLike[str],
        *,
        recursive: bool = False,
        progress: Progress = None,
    ) -> None:
        """Copy a file (or a tree with ``recursive=True``), across roots too, streaming."""
        if self.isdir(src):
            if not recursive:
                raise is_a_directory("is a directory; pass recursive=True", str(src))
            _refuse_into_itself(src, dst)
            self._copy_tree(src, dst, progress)
            return
        root, lp = self._split(src)
        total = self._size(root, lp)
        self.check_size(dst, total)
        with self.open(src, "rb", cache="stream") as fin, self.open(dst, "wb") as fout:
            copy_stream(fin, fout, total=total, progress=progress, name=str(lp))

    def _copy_tree(self, src: Any, dst: Any, progress: Progress) -> None:
        top = str(split_logical(src))
        target = str(split_logical(dst))
        self.makedirs(target)
        for directory, dirs, files in self.walk(top):
            sub = target + directory[len(top) :]
            for d in dirs:
                self.makedirs(f"{sub}/{d}")
            for name in files:
                self.copy(f"{directory}/{name}", f"{sub}/{name}", progress=progress)

    def move(self, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        """Move a file or directory; a rename within a root, else copy then delete."""
        sroot, slp = self._writable(src)
        droot, dlp = self._writable(dst)
        _refuse_into_itself(src, dst)
        if sroot is droot:
            release = acquire_in_process(droot.lock_key(dlp.rel), str(dlp))
            try:
                with droot.translate(str(slp)):
                    if not sroot.exists(slp.rel):
                        raise not_found("no such file or directory")
                    sroot.rename(slp.rel, dlp.rel)
                    return
            except NotImplementedError:
                pass
            finally:
                release()
        is_dir = self.isdir(src)
        self.copy(src, dst, recursive=is_dir)
        if is_dir:
            self.rmdir(src, recursive=True)
        else:
            self.remove(src)

    def clean(
        self,
        path: str | os.PathLike[str],
        *,
        older_than: float | None = None,
        dry_run: bool = False,
    ) -> list[str]:
        """Remove what writers that are gone left in the tree under ``path``.

        A writer that crashed leaves its hidden temporary file (``.~vfs-tmp-...``) and, on
        servers, its lock file (``.~vfs-lock-...``). Both are removed when the target's lock
        is free or provably stale (its owner's process has ended, or it has not been
        refreshed for several heartbeats: see :doc:`/explanations/rules`), taken as a writer
        would take it, so a live writer's files are never touched whatever their age.
        ``older_than`` (seconds) also removes hidden files whose owner cannot be checked (a
        form this version does not make) once unmodified that long, and the hidden private
        directory of a ``get_file`` killed mid-download once it and its files are. Local
        directories, ``SFTPFile``/``SSHFile`` and ``SMBFile`` keep such files; other roots raise
        :class:`VFSError`. Returns the logical spellings of the files removed (with
        ``dry_run``, of those that would be, and nothing is changed).
        """
        if older_than is not None and not older_than >= 0:
            raise InvalidPathError(f"older_than must be 0 or more seconds, not {older_than!r}")
        root, lp = self._split(path) if dry_run else self._writable(path)
        with root.translate(str(lp)):
            try:
                return root.clean(lp.rel, older_than=older_than, dry_run=dry_run)
            except NotImplementedError:
                raise VFSError(
                    f"root /{root.name} is a {type(root).__name__}, whose writers leave no "
                    "hidden files to clean (or whose leftovers expire by themselves)"
                ) from None

    # -- transfers to and from this machine -----------------------------------------------
    def get_file(
        self, path: str | os.PathLike[str], local: str | os.PathLike[str], progress: Progress = None
    ) -> str:
        """Download to a local file; a partial download never appears under ``local``.

        The bytes go to a *new* file in a private directory beside ``local`` (mode 0700, so
        nobody else can put a link there) and are renamed onto ``local`` when complete. A new
        file, not a reserved empty one opened again with truncation: ext4 (``auto_da_alloc``)
        treats a file truncated to zero as a rewrite and starts writing it all back to disk
        when it is closed, which cost 0.25 s per 512 MiB, a third of an SMB download.
        """
        root, lp = self._split(path)
        target = Path(local).expanduser().absolute()
        target.parent.mkdir(parents=True, exist_ok=True)
        total = self._size(root, lp)
        private = Path(tempfile.mkdtemp(prefix=".~vfs-tmp-", dir=target.parent))
        tmp = private / target.name
        try:
            # the transport's own download when it has one, else the streaming copy
            with ProgressTo(progress, total, str(lp)) as report, root.translate(str(lp)):
                fetched = root.fetch_to(lp.rel, str(tmp), report if progress else None)
            if not fetched:
                with open(tmp, "xb") as fout, self.open(path, "rb", cache="stream") as fin:
                    copy_stream(fin, fout, total=total, progress=progress, name=str(lp))
            os.replace(tmp, target)
        finally:
            shutil.rmtree(private, ignore_errors=True)
        return str(target)

    def put_file(
        self, local: str | os.PathLike[str], path: str | os.PathLike[str], progress: Progress = None
    ) -> None:
        """Upload a local file, atomically."""
        source = Path(local).expanduser()
        total = source.stat().st_size
        self.check_size(path, total)
        with open(source, "rb") as fin, self.open(path, "wb") as fout:
            copy_stream(fin, fout, total=total, progress=progress, name=str(path))

    def _size(self, root: Root, lp: LogicalPath) -> int | None:
        with root.translate(str(lp)):
            return root.size(lp.rel)

    def check_size(self, path: str | os.PathLike[str], size: int | None) -> None:
        """Let the target root refuse a file too large for it before anything is sent."""
        if size is None:
            return
        root, lp = self._writable(path)
        with root.translate(str(lp)):
            root.check_size(lp.rel, size)

    def storage(self, root: str) -> Storage:
        """One root seen as a bucket (qarnot-style :class:`Storage`)."""
        return Storage(self, root)

    # -- async ------------------------------------------------------------------------------
    def open_file(self, path: str | os.PathLike[str], mode: str = "r") -> Any:
        """Async context manager (pyobs-compatible): ``await f.read(n)``, ``await f.write(b)``."""
        return AsyncFile(self, path, mode)

    @property
    def aio(self) -> AsyncVFS:
        """The helpers of this VFS as coroutines that run the I/O off the event loop."""
        return AsyncVFS(self)


def _refuse_into_itself(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """A copy or move of a directory into itself would never end: ``EINVAL`` at once."""
    s, d = str(split_logical(src)), str(split_logical(dst))
    if d.startswith(s.rstrip("/") + "/"):
        raise OSError(
            errno.EINVAL, f"cannot copy or move {s} into itself ({d}): the destination is inside", s
        )
