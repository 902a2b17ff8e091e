"""``Storage``: one root seen as a bucket, qarnot-style, with progress that is really reported.

Names are relative to the root (``"2026/11/x.h5"``) and are checked like logical paths, so a
name can never reach outside the root, nor outside ``output_dir`` when files come down.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import IO, Any

from ._errors import not_a_directory
from ._interface import VFSInterface
from ._paths import check_root_name, split_logical
from ._transfer import Progress, copy_stream

__all__ = ["Storage"]


class Storage(MutableMapping[str, str]):
    """A root as a flat bucket of files: ``list_files``, ``get_file``, ``add_file``, ...

    The mapping protocol follows qarnot's ``Storage``: ``storage[name]`` downloads the file
    to the current directory and returns the local path; ``storage[name] = local_path``
    uploads a file or directory; ``del storage[name]`` deletes; ``in`` and ``iter`` use
    :meth:`list_files`.
    """

    def __init__(self, vfs: VFSInterface, root: str) -> None:
        self.vfs = vfs
        self.root = check_root_name(root)
        self.vfs.resolve(f"/{self.root}")  # unknown roots fail here, not on first use

    def __repr__(self) -> str:
        return f"<Storage /{self.root}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Storage) and (other.vfs, other.root) == (self.vfs, self.root)

    __hash__ = None  # type: ignore[assignment]  # mutable mapping

    def _path(self, remote: str) -> str:
        """The logical path of a name relative to the root (a leading '/' is allowed)."""
        name = str(remote).lstrip("/")
        return str(split_logical(f"/{self.root}/{name}" if name else f"/{self.root}"))

    def _rel(self, logical: str) -> str:
        return split_logical(logical).rel

    # -- qarnot's API ---------------------------------------------------------------------
    def list_files(self) -> list[str]:
        """Every file in the root, as names relative to it, sorted."""
        return [self._rel(p) for p in self.vfs.find(f"/{self.root}")]

    def get_file(
        self, remote: str, local: str | os.PathLike[str] | None = None, progress: Progress = None
    ) -> str:
        """Download ``remote``; ``local`` defaults to its base name in the current directory."""
        path = self._path(remote)
        target = local if local is not None else os.path.basename(self._rel(path))
        return self.vfs.get_file(path, target, progress=progress)

    def get_all_files(
        self, output_dir: str | os.PathLike[str], progress: Progress = None
    ) -> list[str]:
        """Download every file under ``output_dir``, keeping the hierarchy; returns local paths."""
        names = self.list_files()
        bar = _Bar(progress, sum(self.vfs.info(self._path(n))["size"] for n in names))
        try:
            return [
                self.vfs.get_file(self._path(n), Path(output_dir, *n.split("/")), bar.for_file())
                for n in names
            ]
        finally:
            bar.close()

    def add_file(self, local_or_file: str | os.PathLike[str] | IO[bytes], remote: str) -> None:
        """Upload a local file, or everything left in an open binary file object."""
        path = self._path(remote)
        if isinstance(local_or_file, (str, os.PathLike)):
            self.vfs.put_file(local_or_file, path)
            return
        self.vfs.check_size(path, _remaining(local_or_file))
        with self.vfs.open(path, "wb") as out:
            copy_stream(local_or_file, out)

    def add_directory(self, local: str | os.PathLike[str], remote: str = "") -> None:
        """Upload a local tree under ``remote``, keeping its hierarchy; symlinks are skipped."""
        top = Path(local)
        if not top.is_dir():
            raise not_a_directory("not a local directory", str(local))
        prefix = str(remote).strip("/")
        for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
            here = Path(dirpath)
            dirnames[:] = [d for d in dirnames if not (here / d).is_symlink()]
            rel_dir = here.relative_to(top).as_posix()
            for name in filenames:
                if (here / name).is_symlink():
                    continue
                parts = [p for p in (prefix, "" if rel_dir == "." else rel_dir, name) if p]
                self.vfs.put_file(here / name, self._path("/".join(parts)))

    def copy_file(self, source: str, dest: str) -> None:
        """Copy within the root."""
        self.vfs.copy(self._path(source), self._path(dest))

    def delete_file(self, remote: str) -> None:
        self.vfs.remove(self._path(remote))

    def flush(self) -> None:
        """Nothing to do: every write is committed when its file closes (kept for qarnot)."""

    # -- mapping protocol -----------------------------------------------------------------
    def __getitem__(self, remote: str) -> str:
        try:
            return self.get_file(remote)
        except FileNotFoundError:
            raise KeyError(remote) from None

    def __setitem__(self, remote: str, local: str | os.PathLike[str]) -> None:
        if Path(local).is_dir():
            self.add_directory(local, remote)
        else:
            self.add_file(local, remote)

    def __delitem__(self, remote: str) -> None:
        try:
            self.delete_file(remote)
        except FileNotFoundError:
            raise KeyError(remote) from None

    def __contains__(self, remote: object) -> bool:
        return isinstance(remote, str) and self.vfs.isfile(self._path(remote))

    def __iter__(self) -> Iterator[str]:
        return iter(self.list_files())

    def __len__(self) -> int:
        return len(self.list_files())


def _remaining(f: IO[bytes]) -> int | None:
    """The bytes left in a file object on a regular file, so a size limit is checked before
    the upload; ``None`` for pipes, sockets and in-memory buffers (checked while streaming)."""
    try:
        st = os.fstat(f.fileno())
        return max(0, st.st_size - f.tell()) if stat.S_ISREG(st.st_mode) else None
    except (AttributeError, OSError, ValueError):
        return None


class _Bar:
    """One progress report over several files: a single bar, or the caller's callable."""

    def __init__(self, progress: Progress, total: int) -> None:
        self._progress = progress
        self._bar: Any = None
        self._done = 0
        if progress is True:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024)

    def for_file(self) -> Progress:
        if self._bar is None:
            return self._progress
        last = [0]

        def update(done: int, total: int | None, name: str) -> None:
            self._bar.set_description(name, refresh=False)
            self._bar.update(done - last[0])
            last[0] = done

        return update

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
