"""Client-side help for ``bluesky_tiled_plugins.TiledWriter`` with legacy Resources.

TiledWriter builds a legacy ``AD_TIFF`` Resource's URI as ``root/resource_path`` + the
file name, with no ``/`` between directory and name unless ``resource_path`` ends with one.
ophyd's and our mixins write the directory without it (the stock handler adds it), so the
stored assets would read ``.../scan1scan_000000.tiff``. The patch adds the slash to
TiledWriter's private copy; the documents themselves are not changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["DIRECTORY_SPECS", "tiled_writer_patches"]

#: Specs whose ``resource_path`` names a directory that a template appends file names to.
DIRECTORY_SPECS = frozenset({"AD_TIFF"})


def _directory_with_slash(doc: dict[str, Any]) -> dict[str, Any]:
    if str(doc.get("spec", "")).upper() in DIRECTORY_SPECS:
        path = doc.get("resource_path", "")
        if not path.endswith("/"):
            doc["resource_path"] = path + "/"
    return doc


def tiled_writer_patches() -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    """``patches=`` for ``TiledWriter``: directory Resources get their trailing slash.

    TiledWriter deep-copies each document before patching, so the run's documents (and
    any other subscriber's view of them) stay exactly as the RunEngine emitted them.
    """
    return {"resource": _directory_with_slash}
