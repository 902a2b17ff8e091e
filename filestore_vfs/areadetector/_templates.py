"""Path templates of the filestore mixins, resolved through the VFS.

Two views of one directory:

- the **read** (logical) template, ``/detector/%Y/%m/%d/`` or relative ``%Y/%m/%d``, under the
  mixin's root;
- the **write** template, in the writer's (IOC's) view: relative ones are joined to the root's
  ``writer_root`` (or its local directory), absolute ones are used as they are and mapped back
  to a logical path through :meth:`VirtualFileSystem.logical_path` when no read template is
  given.

Templates are formatted with ``datetime.strftime`` by default, or by a ``path_formatter``
callable (ophyd issue #1143: visit and proposal directories).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..vfs import (
    InvalidPathError,
    UnknownRootError,
    VirtualFileSystem,
    WriterView,
    guess_semantics,
    split_logical,
)

__all__ = ["PathFormatter", "PathPlan", "PathTemplates"]

#: ``formatter(template, now) -> str``; the default is ``now.strftime(template)``.
PathFormatter = Callable[[str, datetime], str]
_LEFTOVER = re.compile(r"%[^%]")
_PROBE_TIME = datetime(2026, 1, 2, 3, 4, 5)


def strftime_formatter(template: str, now: datetime) -> str:
    return now.strftime(template)


@dataclass(frozen=True)
class PathPlan:
    """One staging's directory, in both views."""

    root: str  # the logical root's name: "detector"
    rel_dir: str  # the directory relative to the root, POSIX: "2026/11/21"
    writer_dir: str  # what FilePath gets, with the writer's trailing separator
    semantics: str  # "posix" or "windows" (the writer's)

    @property
    def logical_dir(self) -> str:
        """``/detector/2026/11/21/`` (with a trailing '/', as ophyd's read path has)."""
        return f"/{self.root}/{self.rel_dir}/" if self.rel_dir else f"/{self.root}/"


class PathTemplates:
    """Validates templates against a VFS root once, then resolves them at each stage."""

    def __init__(
        self,
        vfs: VirtualFileSystem,
        *,
        root: str | None,
        write_path_template: str,
        read_path_template: str | None = None,
        path_semantics: str | None = None,
        path_formatter: PathFormatter | None = None,
    ) -> None:
        if write_path_template is None:
            raise ValueError("write_path_template is required")
        self.vfs = vfs
        self.write_path_template = str(write_path_template)
        self.read_path_template = None if read_path_template is None else str(read_path_template)
        self.formatter = path_formatter or strftime_formatter
        self.root = self._root_name(root)
        self.view = self._writer_view(path_semantics)
        self.plan(_PROBE_TIME)  # every template error surfaces at construction

    # -- construction -----------------------------------------------------------------------
    def _root_name(self, root: str | None) -> str:
        if root is None or root in ("", "/"):
            return self._derive_root()
        name = split_logical(root if str(root).startswith("/") else f"/{root}").root
        if name not in self.vfs.roots:
            raise UnknownRootError(name, self.vfs.roots, str(root))
        return name

    def _derive_root(self) -> str:
        if self.read_path_template and self.read_path_template.startswith("/"):
            return split_logical(self._format(self.read_path_template, _PROBE_TIME)).root
        writer = self._format(self.write_path_template, _PROBE_TIME)
        try:
            return split_logical(self.vfs.logical_path(writer)).root
        except InvalidPathError:
            raise ValueError(
                "root= is not given and the write path template "
                f"{self.write_path_template!r} maps to no VFS root; pass root='/<name>'"
            ) from None

    def _writer_view(self, path_semantics: str | None) -> WriterView:
        view = self.vfs.roots[self.root].writer_view
        if view is None:
            raise ValueError(
                f"root /{self.root} has no writer_root and no local directory, so the IOC's "
                "view of it is unknown; set writer_root in this machine's VFS config"
            )
        wanted = {"nt": "windows"}.get(path_semantics or "", path_semantics)
        if wanted not in (None, view.semantics):
            raise ValueError(
                f"path_semantics={path_semantics!r} contradicts root /{self.root}, whose "
                f"writer_path_semantics is {view.semantics!r}; drop path_semantics= or fix "
                "the VFS config"
            )
        return view

    # -- formatting -------------------------------------------------------------------------
    def _format(self, template: str, now: datetime) -> str:
        try:
            text = self.formatter(template, now)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"cannot format path template {template!r}: {exc}") from None
        if self.formatter is strftime_formatter and _LEFTOVER.search(text):
            raise ValueError(
                f"path template {template!r} has a directive strftime does not know "
                f"({_LEFTOVER.search(text).group()!r} is left in {text!r})"  # type: ignore[union-attr]
            )
        return text

    def _rel_from_writer(self, writer: str) -> str:
        """The relative directory of a formatted write template (relative or absolute)."""
        if self.view.semantics == "windows":
            relative = not (writer.startswith(("\\\\", "//")) or re.match(r"[A-Za-z]:", writer))
        else:  # a Windows path on a POSIX writer is absolute (and maps to no POSIX root)
            relative = not writer.startswith("/") and guess_semantics(writer) == "posix"
        if relative:
            parts = (
                writer.replace("\\", "/").split("/") if self.view.sep == "\\" else writer.split("/")
            )
            rel = "/".join(p for p in parts if p not in ("", "."))
            return split_logical(f"/{self.root}/{rel}").rel if rel else ""
        logical = self.vfs.logical_path(writer)
        lp = split_logical(logical)
        if lp.root != self.root:
            raise ValueError(
                f"write path {writer!r} is under root /{lp.root}, not /{self.root}; "
                "fix write_path_template or root="
            )
        return lp.rel

    def _rel_from_read(self, read: str) -> str:
        if read.startswith("/"):
            lp = split_logical(read)
            if lp.root != self.root:
                raise ValueError(
                    f"read path {read!r} is not under root /{self.root}: read_path_template "
                    "must be a logical path under the mixin's root (or relative to it)"
                )
            return lp.rel
        rel = "/".join(p for p in read.split("/") if p not in ("", "."))
        return split_logical(f"/{self.root}/{rel}").rel if rel else ""

    def plan(self, now: datetime | None = None) -> PathPlan:
        """Both views of the directory for ``now`` (the staging time)."""
        now = now or datetime.now()
        write = self._format(self.write_path_template, now)
        write_rel = self._rel_from_writer(write)
        if self.read_path_template is None:
            rel = write_rel
        else:
            rel = self._rel_from_read(self._format(self.read_path_template, now))
        writer_dir = self.view.to_writer(write_rel)
        if not writer_dir.endswith(self.view.sep):
            writer_dir += self.view.sep
        return PathPlan(self.root, rel, writer_dir, self.view.semantics)
