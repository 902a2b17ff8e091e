"""databroker 2.0: runs written by our mixins, filled by our handlers, in-process and served."""

from __future__ import annotations

from typing import Any

import pytest

from filestore_vfs import VirtualFileSystem
from filestore_vfs.handlers import handler_registry

from .helpers import Docs, check_frames
from .tiled import TiledServer

pytestmark = [pytest.mark.ioc, pytest.mark.server]
Runs = dict[str, Docs]
LEGACY = ["hdf5", "tiff"]


def insert(catalog: Any, docs: Docs) -> Any:
    for name, doc in docs:
        catalog.post_document(name, doc)
    return catalog[docs[0][1]["uid"]]


@pytest.fixture(scope="module")
def in_process_catalog(vfs: VirtualFileSystem) -> Any:
    """``MongoAdapter`` on mongomock with ``handler_registry(vfs)``, served in-process."""
    from databroker.mongo_normalized import MongoAdapter
    from tiled.client import Context, from_context
    from tiled.server.app import build_app

    adapter = MongoAdapter.from_mongomock(handler_registry=handler_registry(vfs))
    with Context.from_app(build_app(adapter)) as context:
        yield from_context(context)


@pytest.mark.parametrize("kind", LEGACY)
def test_mongo_adapter_in_process(
    in_process_catalog: Any, ioc_runs: dict[str, Docs], kind: str
) -> None:
    run = insert(in_process_catalog, ioc_runs[kind])
    check_frames(run.primary.read()["det_image"])


@pytest.mark.parametrize("kind", LEGACY)
def test_mongo_adapter_served(
    tiled_server: TiledServer, ioc_runs: dict[str, Docs], kind: str
) -> None:
    """The server resolves ``/detector`` and ``/nfs`` through its own FILESTORE_VFS_CONFIG."""
    run = insert(tiled_server.client("db"), ioc_runs[kind])
    check_frames(run.primary.read()["det_image"])


def test_served_resources_keep_logical_roots(
    tiled_server: TiledServer, ioc_runs: dict[str, Docs]
) -> None:
    resources = [d for name, d in ioc_runs["hdf5"] if name == "resource"]
    assert [r["root"] for r in resources] == ["/detector"]
    assert not resources[0]["resource_path"].startswith("/")
