"""The demo's embedded tiled catalog: SQLite under /local, served in-process, no server."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from typing import Any

from ..vfs import VirtualFileSystem

__all__ = ["write_catalog"]


def write_catalog(vfs: VirtualFileSystem, out: str, docs: list[tuple[str, dict]]) -> str:
    """Write the run with TiledWriter into ``<out>/catalog.db``; read one frame back.

    Raises ImportError when tiled or bluesky-tiled-plugins is missing (the demo then skips
    the catalog).
    """
    import bluesky_tiled_plugins  # noqa: F401  # ImportError here: no catalog
    import tiled.catalog  # noqa: F401

    local = vfs.local_path(out)
    vfs.makedirs(f"{out}/tiled")
    with _quiet():
        return _write(vfs, out, local, docs)


def _write(vfs: VirtualFileSystem, out: str, local: str, docs: list[tuple[str, dict]]) -> str:
    from bluesky_tiled_plugins import TiledWriter
    from tiled.catalog import from_uri
    from tiled.client import Context, from_context
    from tiled.server.app import build_app

    from ..tiled import adapters_by_mimetype, tiled_writer_patches

    catalog = from_uri(
        f"sqlite:///{local}/catalog.db",
        writable_storage=[f"{local}/tiled", f"duckdb:///{local}/tiled/tables.duckdb"],
        readable_storage=["/local", vfs.local_path("/local")],
        init_if_not_exists=True,
        adapters_by_mimetype=adapters_by_mimetype(vfs),
    )
    with Context.from_app(build_app(catalog)) as context:
        client = from_context(context)
        writer = TiledWriter(client, patches=tiled_writer_patches())
        for name, doc in docs:
            writer(name, doc)
        run: Any = client[docs[0][1]["uid"]]
        key = next(iter(run["primary"]))
        run["primary"][key][0]  # one frame through our adapters proves the catalog reads
    return f"{out}/catalog.db"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """tiled's in-process app logs its version and warns about its test client.

    ``tiled.server.app`` sets its own level (INFO) and handler at import, so quietening the
    ``tiled.server`` parent is not enough: "Tiled version ..." comes from the child, which
    is imported first so that its import does not set INFO again after us.
    """
    import tiled.server.app  # noqa: F401

    loggers = [logging.getLogger(name) for name in ("tiled.server", "tiled.server.app")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)
