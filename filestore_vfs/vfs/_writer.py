"""The writer's view of a root: how the detector IOC spells paths under it.

``writer_path`` and ``logical_path`` are exact inverses. Windows writer paths compare
case-insensitively and accept either separator, as Windows does; POSIX ones compare exactly.
A relative path that Windows could not store unchanged (reserved characters or device names,
trailing dots or spaces) is refused rather than silently mapped to another file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ._errors import InvalidPathError, PathEscapeError

__all__ = ["WriterView", "Semantics", "guess_semantics"]

Semantics = Literal["posix", "windows"]

_WIN_BAD_CHARS = re.compile(r'[<>:"|?*\x00-\x1f]')
_WIN_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10)]
)
_DRIVE = re.compile(r"[A-Za-z]:\Z")


def guess_semantics(writer_root: str) -> Semantics:
    """``windows`` for ``D:\\...``, ``D:/...`` and UNC roots, else ``posix``."""
    if writer_root.startswith(("\\\\", "//")) or re.match(r"[A-Za-z]:[\\/]?", writer_root):
        return "windows"
    return "posix"


def _win_parts(path: str) -> list[str]:
    """Split a Windows path on either separator, keeping a UNC root as one part."""
    text = path.replace("/", "\\")
    if text.startswith("\\\\"):
        server_share = text[2:].split("\\")
        if len(server_share) < 2 or not server_share[0] or not server_share[1]:
            raise InvalidPathError(f"{path!r} is not a UNC path of the form \\\\server\\share")
        head = "\\\\" + server_share[0] + "\\" + server_share[1]
        return [head, *server_share[2:]]
    return text.split("\\")


def _check_win_component(part: str, rel: str) -> None:
    stem = part.split(".")[0].upper()
    if _WIN_BAD_CHARS.search(part) or part.endswith((".", " ")) or stem in _WIN_DEVICES:
        raise InvalidPathError(
            f"{rel!r} cannot be written by a Windows IOC unchanged ({part!r} holds a reserved "
            "character or name, or ends in '.' or ' '); rename it"
        )


@dataclass(frozen=True)
class WriterView:
    """A writer root (``D:\\assets``, ``/ioc/data``) and its path semantics."""

    root: str
    semantics: Semantics

    def __post_init__(self) -> None:
        if self.semantics not in ("posix", "windows"):
            raise InvalidPathError(
                f"writer_path_semantics must be 'posix' or 'windows', not {self.semantics!r}"
            )
        if self.semantics == "posix" and not self.root.startswith("/"):
            raise InvalidPathError(f"a POSIX writer_root must be absolute, not {self.root!r}")
        if self.semantics == "windows" and not (
            self.root.startswith(("\\\\", "//")) or re.match(r"[A-Za-z]:", self.root)
        ):
            raise InvalidPathError(
                f"a Windows writer_root must start with a drive ('D:\\') or be UNC "
                f"('\\\\server\\share'), not {self.root!r}"
            )

    @property
    def _prefix(self) -> list[str]:
        if self.semantics == "posix":
            return [p for p in self.root.split("/") if p]
        return [p for p in _win_parts(self.root) if p]

    @property
    def depth(self) -> int:
        """How many components the writer root has (the longest match wins)."""
        return len(self._prefix)

    @property
    def sep(self) -> str:
        return "\\" if self.semantics == "windows" else "/"

    def to_writer(self, rel: str) -> str:
        """The writer's spelling of ``rel`` (a checked relative logical path)."""
        parts = rel.split("/") if rel else []
        if self.semantics == "windows":
            for part in parts:
                _check_win_component(part, rel)
        prefix = self._prefix
        if self.semantics == "posix":
            return "/" + "/".join(prefix + parts)
        head = "\\".join(prefix)
        if len(prefix) == 1 and _DRIVE.match(head):
            head += "\\"  # 'D:' alone is the drive's current directory; the root is 'D:\'
            return head + "\\".join(parts)
        return "\\".join([head, *parts])

    def to_rel(self, writer_path: str) -> str | None:
        """The relative logical path of ``writer_path``, or ``None`` if it is not under us."""
        if self.semantics == "posix":
            if not writer_path.startswith("/"):
                return None
            given = writer_path.split("/")[1:]
            same = str.__eq__
        else:
            try:
                given = _win_parts(writer_path)
            except InvalidPathError:
                return None
            same = _win_same
        given = [p for p in given if p]  # repeated separators count as one
        prefix = self._prefix
        if len(given) < len(prefix) or not all(map(same, given, prefix)):
            return None
        rest = [p for p in given[len(prefix) :] if p not in ("", ".")]
        if ".." in rest:
            raise PathEscapeError(f"{writer_path!r} contains '..': writer paths must be normal")
        return "/".join(rest)


def _win_same(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()
