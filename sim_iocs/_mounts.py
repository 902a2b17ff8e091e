"""How the simulated IOC sees the disk: writer paths mapped onto host directories.

A real detector IOC often runs on another machine (a Windows PC writing ``D:\\data``, a
Linux box with an NFS mount).  ``--mount 'D:\\data=/host/dir'`` makes the sim IOC accept
writer paths under ``D:\\data`` and write the bytes to ``/host/dir``.  Windows writer
roots compare case-insensitively and accept either separator, as Windows does; POSIX
roots compare exactly.  Without any mount the IOC sees the host file system as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

__all__ = ["Mount", "MountTable", "parse_mount"]

_WINDOWS_ROOT = re.compile(r"^([A-Za-z]:|[\\/]{2}[^\\/]+[\\/][^\\/]+)")


def _is_windows(path: str) -> bool:
    return bool(_WINDOWS_ROOT.match(path)) or "\\" in path


@dataclass(frozen=True)
class Mount:
    """One writer root and the host directory that holds its files."""

    writer_root: str
    host_dir: Path

    @property
    def windows(self) -> bool:
        """True when the writer root is a Windows path (drive letter, UNC or backslash)."""
        return _is_windows(self.writer_root)

    @property
    def separator(self) -> str:
        """The separator the writer appends to directories."""
        return "\\" if self.windows else "/"

    def _root_parts(self) -> tuple[str, ...]:
        if self.windows:
            return tuple(p.lower() for p in PureWindowsPath(self.writer_root).parts)
        return PurePosixPath(self.writer_root).parts

    def relative_parts(self, writer_path: str) -> tuple[str, ...] | None:
        """The parts of ``writer_path`` below this root, or None when it is not under it."""
        if self.windows != _is_windows(writer_path) and self.windows:
            return None
        if self.windows:
            parts = PureWindowsPath(writer_path.replace("/", "\\")).parts
            head = tuple(p.lower() for p in parts[: len(self._root_parts())])
        else:
            if _is_windows(writer_path):
                return None
            parts = PurePosixPath(writer_path).parts
            head = parts[: len(self._root_parts())]
        if head != self._root_parts():
            return None
        rest = parts[len(head) :]
        if any(part in ("..", ".") for part in rest):
            return None
        return rest


def parse_mount(text: str) -> Mount:
    """Parse ``WRITER=HOST`` (split at the first ``=``); the host directory must be absolute."""
    writer, sep, host = text.partition("=")
    if not sep or not writer or not host:
        raise ValueError(f"mount {text!r} is not of the form WRITER_PATH=HOST_DIR")
    host_dir = Path(host)
    if not host_dir.is_absolute():
        raise ValueError(f"mount {text!r}: host directory {host!r} must be absolute")
    if not (_is_windows(writer) or writer.startswith("/")):
        raise ValueError(f"mount {text!r}: writer path {writer!r} must be absolute")
    return Mount(writer_root=writer, host_dir=host_dir)


class MountTable:
    """The writer's view of the disk: maps writer paths to host paths."""

    def __init__(self, mounts: list[Mount] | tuple[Mount, ...] = ()) -> None:
        # Longest root first, so that nested mounts win over their parents.
        self.mounts = tuple(sorted(mounts, key=lambda m: len(m._root_parts()), reverse=True))

    def find(self, writer_path: str) -> tuple[Mount, tuple[str, ...]] | None:
        """The mount holding ``writer_path`` and the parts below its root."""
        for mount in self.mounts:
            rest = mount.relative_parts(writer_path)
            if rest is not None:
                return mount, rest
        return None

    def to_host(self, writer_path: str) -> Path | None:
        """The host path of a writer path, or None when it lies outside every mount."""
        if not self.mounts:
            if _is_windows(writer_path) or not writer_path.startswith("/"):
                return None
            return Path(writer_path)
        found = self.find(writer_path)
        if found is None:
            return None
        mount, rest = found
        return mount.host_dir.joinpath(*rest)

    def separator(self, writer_path: str) -> str:
        """The directory separator the writer uses for ``writer_path``."""
        found = self.find(writer_path) if self.mounts else None
        if found is not None:
            return found[0].separator
        return "\\" if _is_windows(writer_path) else "/"

    def describe(self) -> str:
        """One line per mount, for the start-up banner."""
        if not self.mounts:
            return "  (none: writer paths are host paths)"
        return "\n".join(f"  {m.writer_root} -> {m.host_dir}" for m in self.mounts)
