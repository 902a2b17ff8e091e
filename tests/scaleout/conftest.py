"""The scaled-out tiled of #16 for the session: its catalog on PostgreSQL, two workers.

``pg_tiled`` is what a facility deploys: a database (``xf42id``) on the session's PostgreSQL
holding tiled's catalog, a second one (``xf42id_tables``) for the event tables (DuckDB
serialises writers through a file lock, which two workers trip over), a two-worker
``uvicorn`` of tiled's ``app_factory`` with our adapters, and the server's own VFS config:

* ``detector``: a local root, the session sim IOC's Windows mount (``D:\\data``);
* ``store``: an ``S3File`` root, the facility's object store (moto on loopback), where runs
  land after ``filestore-vfs migrate`` copied them off the IOC's POSIX mount.

No file or log holds a secret: the tiled config names the database password as
``${TILED_DB_PASSWORD}`` and the VFS config the S3 secret as ``${FILESTORE_VFS_S3_SECRET}``;
both reach the workers through their environment only. Under ``CI=true`` a missing
PostgreSQL (or moto) fails the tests that need it (``test_pg_ci_rule``), never skips them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers._postgres import PostgresServer
from tests.servers._s3 import S3Server

from ._tiled import TiledCluster, tiled_cluster

DATABASE = "xf42id"
TABLES_DATABASE = "xf42id_tables"
PASSWORD_VARIABLE = "TILED_DB_PASSWORD"
S3_SECRET_VARIABLE = "FILESTORE_VFS_S3_SECRET"
#: the key prefix of the facility store inside the test bucket
STORE_PREFIX = "xf42id-store"
WORKERS = 2


@dataclass(frozen=True)
class PgTiled:
    """The running deployment: the cluster, the database it catalogs into, and the roots of
    the server's VFS (``roots``, as written to its YAML, secrets as ``${VAR}``)."""

    cluster: TiledCluster
    postgres: PostgresServer = field(repr=False)
    s3: S3Server = field(repr=False)
    roots: dict[str, dict[str, Any]]
    database: str = DATABASE

    def client(self) -> Any:
        return self.cluster.client()

    def sql(self, query: str) -> str:
        """One ``psql`` query on the catalog database (its single value, as text)."""
        return self.postgres.psql(query, self.database)


def _template_uri(postgres: PostgresServer, database: str, driver: str) -> str:
    """``postgres.uri()`` with ``${TILED_DB_PASSWORD}`` in place of the password."""
    host = f"{postgres.host}:{postgres.port}"
    return f"{driver}://{postgres.user}:${{{PASSWORD_VARIABLE}}}@{host}/{database}"


def server_roots(mounts: dict[str, Path], s3: S3Server) -> dict[str, dict[str, Any]]:
    """The server's VFS roots: the IOC's Windows mount as ``detector``, the object store as
    ``store`` (the S3 secret by reference)."""
    store = s3.vfs_root(prefix=STORE_PREFIX, secret=f"${{{S3_SECRET_VARIABLE}}}")
    return {"detector": {"class": "LocalFile", "root": str(mounts["win"])}, "store": store}


@pytest.fixture(scope="session")
def pg_tiled(
    postgres_server: PostgresServer, s3_server: S3Server, mounts: dict[str, Path]
) -> Iterator[PgTiled]:
    """tiled with a PostgreSQL catalog, two workers, our adapters, a local and an S3 root."""
    postgres_server.create_database(DATABASE)
    postgres_server.create_database(TABLES_DATABASE)
    roots = server_roots(mounts, s3_server)
    secrets = {
        PASSWORD_VARIABLE: postgres_server.password,
        S3_SECRET_VARIABLE: s3_server.secret_key,
    }
    with tiled_cluster(
        _template_uri(postgres_server, DATABASE, "postgresql+asyncpg"),
        yaml.safe_dump({"vfs": {"roots": roots}}),
        [f"/{name}" for name in roots],
        workers=WORKERS,
        name="pg-tiled",
        env=secrets,
        tables=_template_uri(postgres_server, TABLES_DATABASE, "postgresql"),
    ) as cluster:
        yield PgTiled(cluster, postgres_server, s3_server, roots)
