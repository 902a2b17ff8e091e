"""``VFSPathProvider``: ophyd-async's ``PathProvider`` for a VFS root.

ophyd-async already separates the IOC's directory (``directory_path``) from the reader's
(``directory_uri``); this provider fills both from one VFS root: the writer's view from the
root's ``writer_root`` and a ``vfs://`` URI that every reader resolves through its own VFS.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Any

from ..vfs import VirtualFileSystem, default_vfs
from ._templates import PathFormatter, PathTemplates

__all__ = ["VFSPathProvider"]


class VFSPathProvider:
    """Directories under a VFS root for ophyd-async detectors (needs the ``async`` extra).

    ``directory_template`` is relative to the root (strftime codes or ``path_formatter``);
    ``filename_provider`` is any ophyd-async ``FilenameProvider`` (default: uuid4 names).
    """

    def __init__(
        self,
        root: str,
        directory_template: str = "%Y/%m/%d",
        *,
        filename_provider: Any = None,
        vfs: VirtualFileSystem | None = None,
        create_dir_depth: int = -3,
        path_formatter: PathFormatter | None = None,
    ) -> None:
        from ophyd_async.core import UUIDFilenameProvider

        self._templates = PathTemplates(
            vfs or default_vfs(),
            root=root,
            write_path_template=directory_template,
            path_formatter=path_formatter,
        )
        self._filename_provider = filename_provider or UUIDFilenameProvider()
        self._create_dir_depth = create_dir_depth

    def __call__(self, datakey_name: str | None = None) -> Any:
        from ophyd_async.core import PathInfo

        plan = self._templates.plan(datetime.now())
        path_cls: type[PurePath] = PureWindowsPath if plan.semantics == "windows" else PurePosixPath
        uri = f"vfs://{plan.root}/{plan.rel_dir}/" if plan.rel_dir else f"vfs://{plan.root}/"
        return PathInfo(
            directory_path=path_cls(plan.writer_dir),
            filename=self._filename_provider(datakey_name),
            create_dir_depth=self._create_dir_depth,
            directory_uri=uri,
        )
