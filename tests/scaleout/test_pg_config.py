"""The PostgreSQL config of ``docs/how-to/databroker-tiled.rst`` is the one ``pg_tiled`` runs.

The page's catalog block and the session deployment's ``config.yml`` must have the same keys,
the same adapters and exporters, the catalog and the event tables on PostgreSQL with the
password named as ``${TILED_DB_PASSWORD}`` (never written), and initialisation left to one
``tiled catalog init`` before the workers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from .conftest import DATABASE, PASSWORD_VARIABLE, TABLES_DATABASE, PgTiled

pytestmark = [pytest.mark.server]

PAGE = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "databroker-tiled.rst"
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
