"""``filestore_vfs.check``: is every frame of a run here, and moving a run to another root.

Library API behind ``filestore-vfs check`` and ``filestore-vfs migrate``, usable without the
command line::

    from filestore_vfs.check import check_run, read_documents

    report = check_run(read_documents("run.jsonl"), vfs)
    if not report.complete:
        print(report.summary())
"""

from __future__ import annotations

from ._check import STATUSES, CheckReport, ResourceCheck, check_run
from ._documents import (
    ASSET_DOCUMENTS,
    Document,
    DocumentsError,
    documents_from_catalog,
    read_documents,
)
from ._migrate import (
    OK_STATUSES,
    FileMigration,
    MigrateReport,
    migrate_run,
    reader_mapping,
    sha256,
)

__all__ = [
    "ASSET_DOCUMENTS",
    "OK_STATUSES",
    "STATUSES",
    "CheckReport",
    "Document",
    "DocumentsError",
    "FileMigration",
    "MigrateReport",
    "ResourceCheck",
    "check_run",
    "documents_from_catalog",
    "migrate_run",
    "read_documents",
    "reader_mapping",
    "sha256",
]
