"""``FsspecFile``: any fsspec protocol as a root, for backends without a class of their own."""

from __future__ import annotations

from typing import Any

import fsspec
from fsspec import AbstractFileSystem

from .._errors import BackendUnavailableError, ConfigError
from .._root import SECRET_OPTION
from ._fsspec import FsspecRoot
from .local import confine_local

__all__ = ["FsspecFile", "PROTOCOL_EXTRAS"]

#: Which filestore-vfs extra installs the package an fsspec protocol needs.
PROTOCOL_EXTRAS = {
    "abfs": "azure",
    "az": "azure",
    "http": "http",
    "https": "http",
    "s3": "s3",
    "s3a": "s3",
    "sftp": "sftp",
    "smb": "smb",
    "ssh": "sftp",
}


class FsspecFile(FsspecRoot):
    """Any fsspec filesystem, rooted at a path of it.

    protocol
        The fsspec protocol (``file``, ``memory``, ``s3``, ``sftp``, ``zip``, ...).
    root
        The root's path in that filesystem (a bucket and prefix, a remote directory).
    storage_options
        Keyword arguments for the filesystem; values of keys that look like secrets
        (``password``, ``key``, ``token``, ...) never appear in messages.
    """

    def __init__(
        self,
        *,
        protocol: str,
        root: str = "",
        storage_options: dict[str, Any] | None = None,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if not isinstance(protocol, str) or not protocol:
            raise ConfigError("FsspecFile needs 'protocol', e.g. 's3' or 'sftp'")
        self.protocol = protocol
        self._root = str(root)
        self._options = dict(storage_options or {})
        self.secrets = frozenset(
            str(v) for k, v in self._options.items() if SECRET_OPTION.search(k) and v
        )

    def _make_fs(self) -> AbstractFileSystem:
        try:
            return fsspec.filesystem(self.protocol, **self._options)
        except ImportError as exc:
            extra = PROTOCOL_EXTRAS.get(self.protocol)
            raise BackendUnavailableError(
                f"root /{self.name} (fsspec protocol {self.protocol!r})",
                extra,
                None if extra else exc,
            ) from exc
        except ValueError as exc:
            if "Protocol not known" in str(exc):
                raise ConfigError(
                    f"root /{self.name}: fsspec knows no protocol {self.protocol!r}"
                ) from None
            raise

    @property
    def base(self) -> str:
        return self.fs._strip_protocol(self._root) if self._root else self.fs.root_marker

    def confine(self, rel: str) -> None:
        """On the local protocol, links leaving the root are refused as in ``LocalFile``."""
        if rel and self.protocol in ("file", "local"):
            confine_local(self.base, rel, self.logical(rel))

    def url(self, rel: str = "") -> str:
        return f"{self.protocol}://{self.fs_path(rel).lstrip('/')}"
