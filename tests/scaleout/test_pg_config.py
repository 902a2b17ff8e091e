"""The PostgreSQL config of ``docs/how-to/databroker-tiled.rst`` is the one ``pg_tiled`` runs,
and every one of its workers starts on the fresh database.

The page's catalog block and the session deployment's ``config.yml`` must have the same keys,
the same adapters and exporters, the catalog and the event tables on PostgreSQL with the
password named as ``${TILED_DB_PASSWORD}`` (never written), and initialisation left to one
``tiled catalog init`` before the workers.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from ._tiled import START_TIMEOUT
from .conftest import DATABASE, PASSWORD_VARIABLE, TABLES_DATABASE, WORKERS, PgTiled

pytestmark = [pytest.mark.server]

PAGE = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "databroker-tiled.rst"
STARTED = "Application startup complete"  # uvicorn, once per worker
BLOCK = re.compile(r"\.\. code-block:: yaml\n\n((?:   .*\n|\n)+)")


def documented_config() -> dict[str, Any]:
    """The page's YAML block whose catalog is on PostgreSQL."""
    for match in BLOCK.finditer(PAGE.read_text()):
        text = "\n".join(line[3:] for line in match.group(1).splitlines())
        if "postgresql+asyncpg://" in text:
            return dict(yaml.safe_load(text))
    raise AssertionError(f"{PAGE} shows no PostgreSQL catalog config")


def catalog_args(config: dict[str, Any]) -> dict[str, Any]:
    (tree,) = [t for t in config["trees"] if t["tree"] == "catalog"]
    return dict(tree["args"])


@pytest.fixture(scope="module")
def served(pg_tiled: PgTiled) -> dict[str, Any]:
    return dict(yaml.safe_load((pg_tiled.cluster.workdir / "config.yml").read_text()))


def test_same_keys_adapters_and_exporters(served: dict[str, Any]) -> None:
    page, ours = catalog_args(documented_config()), catalog_args(served)
    assert set(page) == set(ours)
    assert page["adapters_by_mimetype"] == ours["adapters_by_mimetype"]
    assert page["init_if_not_exists"] is ours["init_if_not_exists"] is False
    assert set(page["readable_storage"]) <= set(ours["readable_storage"])
    assert documented_config()["media_types"] == served["media_types"]


@pytest.mark.parametrize(
    ("pick", "scheme", "database"),
    [
        (lambda args: args["uri"], "postgresql+asyncpg", DATABASE),
        (lambda args: args["writable_storage"][1], "postgresql", TABLES_DATABASE),
    ],
    ids=["catalog", "tables"],
)
def test_databases_named_alike(
    served: dict[str, Any], pick: Any, scheme: str, database: str
) -> None:
    """Same driver, user, password reference and database name; only the host differs."""
    page = urlparse(pick(catalog_args(documented_config())))
    ours = urlparse(pick(catalog_args(served)))
    for uri in (page, ours):
        assert uri.scheme == scheme
        assert uri.password == f"${{{PASSWORD_VARIABLE}}}"
        assert uri.path == f"/{database}"
    assert page.username == ours.username


def test_every_worker_started_on_the_fresh_database(pg_tiled: PgTiled) -> None:
    """The catalog is initialised once before the workers: with ``init_if_not_exists`` each
    worker initialised the empty database itself and all but one died on ``create extension
    btree_gin`` (``pg_extension_name_index``), while the survivor still answered."""
    log = pg_tiled.cluster.workdir / "tiled.out"
    deadline = time.monotonic() + START_TIMEOUT
    text = log.read_text(errors="replace")
    while text.count(STARTED) < WORKERS and time.monotonic() < deadline:
        assert "Traceback" not in text, text[-3000:]
        time.sleep(0.2)
        text = log.read_text(errors="replace")
    assert text.count(STARTED) == WORKERS and "Traceback" not in text, text[-3000:]
    assert "is new. Creating tables." in (log.parent / "tiled-init.out").read_text()
