"""Azurite (the Azure Storage emulator, blob service only) on loopback."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ._common import HOST, ServerUnavailable, launch, require_module, stop_process, temp_dir
from ._roots import VfsRoot

HINT = (
    "sudo .ci/install-system-packages  (npm install --prefix .ci/node azurite) "
    "and python -m pip install azure-storage-blob"
)
REPO = Path(__file__).resolve().parents[2]
ACCOUNT_NAME = "devstoreaccount1"
# Azurite's fixed, publicly documented development key: not a secret.
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass(frozen=True)
class AzuriteServer(VfsRoot):
    """Connect adlfs/azure-storage-blob with ``connection_string``, or with
    ``account_name``/``account_key`` and ``blob_endpoint``.  ``container``
    exists and is empty at start; data lives under ``location`` on disk.
    ``pid`` is the process-group id."""

    ROOT_CLASS = "AzureBlobFile"
    ROOT_OPTIONS = {
        "account_name": "account_name",
        "account_key": "account_key",
        "blob_endpoint": "blob_endpoint",
        "container": "container",
    }

    host: str
    port: int
    pid: int
    blob_endpoint: str
    account_name: str
    account_key: str = field(repr=False)
    connection_string: str = field(repr=False)
    container: str = "fsvfs-test"
    location: Path = Path()
    workdir: Path = Path()


def azurite_executable() -> str:
    """``azurite-blob`` from the repo's private npm prefix, else from PATH
    (``FSVFS_AZURITE`` overrides both)."""
    candidates = [
        os.environ.get("FSVFS_AZURITE", ""),
        str(REPO / ".ci/node/node_modules/.bin/azurite-blob"),
        shutil.which("azurite-blob") or "",
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ServerUnavailable("azurite-blob not found", HINT)


def connection_string(port: int) -> str:
    """The development-storage connection string for a given blob port."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://{HOST}:{port}/{ACCOUNT_NAME};"
    )


def _create_container(port: int, container: str) -> None:
    """A real blob-service request: create the container (idempotent)."""
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(
        connection_string(port), retry_total=0, connection_timeout=2, read_timeout=5
    )
    with client:
        try:
            client.create_container(container)
        except ResourceExistsError:
            pass


@contextlib.contextmanager
def azurite_server(container: str = "fsvfs-test") -> Iterator[AzuriteServer]:
    """Run ``azurite-blob`` on a free loopback port with one container."""
    exe = azurite_executable()
    require_module("azure.storage.blob", HINT)
    with temp_dir("azurite") as work:
        location = work / "data"
        location.mkdir()

        def prepare(ports: tuple[int, ...]) -> list[str]:
            return [
                exe,
                "--blobHost",
                HOST,
                "--blobPort",
                str(ports[0]),
                "--location",
                str(location),
                "--silent",
                "--skipApiVersionCheck",
                "--loose",
                "--disableTelemetry",
            ]

        proc, (port,) = launch(
            "azurite", prepare, lambda ports: _create_container(ports[0], container), work
        )
        try:
            yield AzuriteServer(
                host=HOST,
                port=port,
                pid=proc.pid,
                blob_endpoint=f"http://{HOST}:{port}/{ACCOUNT_NAME}",
                account_name=ACCOUNT_NAME,
                account_key=ACCOUNT_KEY,
                connection_string=connection_string(port),
                container=container,
                location=location,
                workdir=work,
            )
        finally:
            stop_process(proc, str(work))
