"""``AzureBlobFile``: a container (and prefix) of Azure Blob Storage, through adlfs.

Writes upload blocks (``Put Block``) and commit the block list when the writer is closed
(``Put Block List``): the blob changes in that one step, whole, so writes go straight to the
final name. An aborted writer never commits; its staged blocks are invisible and Azure
discards them (after a week at most).

Across processes a writer holds a **blob lease**. A lease needs an existing blob and, on
the target itself, would have to be passed to every block upload and to the commit (adlfs
cannot). So the lease is taken on a small marker blob next to the target,
``.~vfs-lock-<name>`` (created empty when missing, never listed), renewed by a background
timer while the writer is open, and released (the marker deleted) when it closes. A second
filestore-vfs writer, on any machine, gets :class:`FileBusyError` at ``open``; a writer that
crashed blocks others at most ``lease_duration`` seconds. aiofs' lease bugs are not repeated:
the lease is renewed, and a conflict at acquire is a ``FileBusyError``. Writers that do not
look at the marker (azcopy, the Azure SDK) are not kept out: their commit and ours are each
atomic, and the last one wins.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

import adlfs
import aiohttp
from azure.core import exceptions as azure_errors
from azure.core.pipeline.transport import AioHttpTransport
from azure.storage.blob import BlobServiceClient, LinearRetry
from azure.storage.blob.aio import BlobServiceClient as AsyncBlobServiceClient
from azure.storage.blob.aio import LinearRetry as AsyncLinearRetry

from .._atomic import AtomicWriteFile
from .._errors import (
    ConfigError,
    FileBusyError,
    connection_refused,
    not_found,
    permission_denied,
    timed_out,
)
from .._paths import INTERNAL_PREFIX
from ._network import ForwardStream, user_timeout_sockets
from ._objectstore import ObjectStoreRoot, ObjectUploadFile
from ._streams import STREAM_CHUNK, ChunkedStream

__all__ = ["AzureBlobFile", "BlobLease"]

#: Block size for uploads (Azure allows up to 4000 MiB per block and 50,000 blocks, so 8 MiB
#: blocks make blobs up to 390 GiB). adlfs holds about three blocks at once (its buffer, the
#: block cut from it, the SDK's copy), so 8 MiB keeps a copy from another network root into
#: Azure under 64 MiB of memory growth (16 MiB blocks grew it by 70 to 90 MiB).
DEFAULT_PART_SIZE = 8 << 20


class AzureBlobFile(ObjectStoreRoot):
    """Blobs under ``<container>/<prefix>/`` of one storage account.

    account_name
        The storage account (``devstoreaccount1`` for Azurite).
    account_key, sas_token, connection_string
        One way to authenticate (``${ENV}`` in YAML); a connection string carries the
        account and endpoint too. None: anonymous access to a public container.
    container
        The container; it must exist (a missing one is a ``FileNotFoundError`` naming it).
    prefix
        A blob-name prefix that acts as the root's directory.
    blob_endpoint
        The blob service URL, for Azurite or a private endpoint
        (``http://127.0.0.1:10000/devstoreaccount1``); default
        ``https://<account_name>.blob.core.windows.net``.
    account_host
        Only the host of a custom HTTPS endpoint (adlfs' option); ``blob_endpoint`` wins.
    part_size
        Bytes per uploaded block.
    lease_duration
        Seconds of a writer's lease (15 to 60; renewed every third of that while open).
    """

    extra = "azure"
    transient = (azure_errors.ServiceRequestError, azure_errors.ServiceResponseError)

    def __init__(
        self,
        *,
        container: str,
        account_name: str | None = None,
        account_key: str | None = None,
        sas_token: str | None = None,
        connection_string: str | None = None,
        prefix: str = "",
        blob_endpoint: str | None = None,
        account_host: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        lease_duration: int = 15,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if not isinstance(container, str) or not container or "/" in container:
            raise ConfigError(
                f"AzureBlobFile needs 'container' (a name without '/'), not {container!r}"
            )
        if not (account_name or connection_string):
            raise ConfigError("AzureBlobFile needs 'account_name' or 'connection_string'")
        if not 15 <= int(lease_duration) <= 60:
            raise ConfigError(f"lease_duration must be 15 to 60 seconds, not {lease_duration!r}")
        self.container = container
        self.prefix = str(prefix or "").strip("/")
        self.account_name = account_name
        self._account_key = account_key
        self._sas_token = sas_token.lstrip("?") if sas_token else None
        self._connection_string = connection_string
        self.blob_endpoint = blob_endpoint.rstrip("/") if blob_endpoint else None
        self.account_host = account_host
        self.part_size = max(1 << 20, int(part_size))
        self.lease_duration = int(lease_duration)
        self.secrets = frozenset(
            s for s in (account_key, self._sas_token, connection_string) if s and len(s) >= 4
        )
        self._sync_client: BlobServiceClient | None = None
        #: the leases of this root's open writers, so a writer can confirm its own at commit
        self._leases: dict[str, BlobLease] = {}

    # -- clients --------------------------------------------------------------------------
    def _account_url(self) -> str:
        """The blob service URL, for requests and messages (never with a credential)."""
        if self.blob_endpoint:
            return self.blob_endpoint
        if self.account_host:
            return f"https://{self.account_host}"
        fields = _connection_fields(self._connection_string)
        if fields.get("blobendpoint"):
            return fields["blobendpoint"].rstrip("/")
        account = self.account_name or fields.get("accountname") or "?"
        suffix = fields.get("endpointsuffix", "core.windows.net")
        protocol = fields.get("defaultendpointsprotocol", "https")
        return f"{protocol}://{account}.blob.{suffix}"

    def _client_options(self, retry_cls: Any) -> dict[str, Any]:
        """Our timeouts and retries, not the SDK's: its storage retry policy waits 15 s and
        more between attempts, so a dead server took minutes to report."""
        jitter = self.retry_backoff / 2
        return {
            "retry_policy": retry_cls(
                backoff=self.retry_backoff, retry_total=self.retries, random_jitter_range=jitter
            ),
            "connection_timeout": self.timeout,
            "read_timeout": self.timeout,
        }

    def _credential(self) -> Any:
        if self._account_key:
            return {"account_name": self.account_name, "account_key": self._account_key}
        return self._sas_token

    def _service_client(self, cls: Any, retry_cls: Any) -> Any:
        options = self._client_options(retry_cls)
        if cls is AsyncBlobServiceClient:
            options["transport"] = _BoundedAioHttpTransport(
                timeout=self.timeout, connection_timeout=self.timeout, read_timeout=self.timeout
            )
        # the SDK fetches its first 32 MiB in one piece by default: keep chunks small
        options.update(max_single_get_size=STREAM_CHUNK, max_chunk_get_size=STREAM_CHUNK)
        if self._connection_string and not self.blob_endpoint:
            return cls.from_connection_string(self._connection_string, **options)
        return cls(self._account_url(), credential=self._credential(), **options)

    def _make_fs(self) -> adlfs.AzureBlobFileSystem:
        options: dict[str, Any] = {
            "skip_instance_cache": True,
            "blocksize": self.part_size,
            "use_listings_cache": False,  # other processes write too: never list from a cache
        }
        if self._connection_string:
            options["connection_string"] = self._connection_string
        else:
            options["account_name"] = self.account_name
            options["account_key"] = self._account_key
            options["sas_token"] = self._sas_token
            options["anon"] = not (self._account_key or self._sas_token)
        fs = adlfs.AzureBlobFileSystem(**options)
        # adlfs builds its client without retry or timeout settings: use ours
        fs.service_client = self._service_client(AsyncBlobServiceClient, AsyncLinearRetry)
        return fs

    @property
    def sync_client(self) -> BlobServiceClient:
        """A synchronous client for leases and container checks."""
        if self._sync_client is None:
            self._sync_client = self._service_client(BlobServiceClient, LinearRetry)
        return self._sync_client

    def close(self) -> None:
        if self._sync_client is not None:
            self._sync_client.close()
            self._sync_client = None

    # -- identity -------------------------------------------------------------------------
    @property
    def base(self) -> str:
        return f"{self.container}/{self.prefix}" if self.prefix else self.container

    def url(self, rel: str = "") -> str:
        fields = _connection_fields(self._connection_string)
        account = self.account_name or fields.get("accountname") or "account"
        return f"az://{account}/{self.fs_path(rel)}"

    def blob_name(self, rel: str) -> str:
        return self.fs_path(rel)[len(self.container) + 1 :]

    # -- errors -----------------------------------------------------------------------------
    def map_error(self, exc: BaseException) -> BaseException | None:
        if isinstance(exc, azure_errors.ClientAuthenticationError):
            return permission_denied(f"Azure refused the credentials: {_reason(exc)}")
        if isinstance(exc, azure_errors.ResourceNotFoundError):
            return not_found(_reason(exc))
        if isinstance(exc, azure_errors.HttpResponseError) and exc.status_code == 403:
            return permission_denied(_reason(exc))
        if isinstance(
            exc, (azure_errors.ServiceRequestTimeoutError, azure_errors.ServiceResponseTimeoutError)
        ):
            return timed_out(f"Azure endpoint {self._account_url()} timed out")
        if isinstance(exc, (azure_errors.ServiceRequestError, azure_errors.ServiceResponseError)):
            return connection_refused(f"cannot reach Azure endpoint {self._account_url()}")
        if isinstance(exc, RuntimeError) and "Failed to upload block" in str(exc):
            cause = exc.__cause__
            return self.map_error(cause) if cause is not None else None
        return None

    @contextlib.contextmanager
    def translate(self, logical: str) -> Iterator[None]:
        """As :meth:`ObjectStoreRoot.translate` (which names a missing container), with the
        SDK's "not found" as a ``FileNotFoundError``."""
        with super().translate(logical):
            try:
                yield
            except azure_errors.ResourceNotFoundError as exc:
                raise not_found(_reason(exc)) from exc

    def _no_store(self) -> FileNotFoundError:
        return not_found(
            f"container {self.container!r} does not exist in account {self.account_name or '?'}",
        )

    def _store_exists(self) -> bool:
        try:
            return bool(self.sync_client.get_container_client(self.container).exists())
        except Exception:  # noqa: BLE001  # unreachable, forbidden, ...: not "missing"
            return True

    # -- operations ---------------------------------------------------------------------------
    def _open_stream(self, rel: str, offset: int) -> IO[bytes]:
        """One streaming download."""
        blob = self.sync_client.get_blob_client(self.container, self.blob_name(rel))
        return BlobStream(blob, offset)

    def cross_process_lock(self, rel: str) -> BlobLease:
        head, _, tail = self.blob_name(rel).rpartition("/")
        marker = f"{head}/{INTERNAL_PREFIX}lock-{tail}" if head else f"{INTERNAL_PREFIX}lock-{tail}"
        blob = self.sync_client.get_blob_client(self.container, marker)
        lease = BlobLease(blob, self.logical(rel), self.lease_duration)
        self._leases[rel] = lease
        return lease

    def lock_key(self, rel: str) -> tuple[Any, ...]:
        """The blob itself: two VFS objects on one container write the same blob."""
        return ("azure", self._account_url(), self.container, self.blob_name(rel))

    def open_write(self, rel: str, mode: str, release: Any) -> AtomicWriteFile:
        """Blocks go to the final name and are committed on close (Put Block List)."""
        final = self.fs_path(rel)
        exists = self._check_write(rel, mode)
        # adlfs' "ab" makes an append blob, whose appends are visible at once: copy instead
        raw = self.fs.open(final, "xb" if mode == "xb" else "wb", block_size=self.part_size)
        writer = BlockUploadFile(
            raw,
            discard=lambda: _abandon(raw),
            before_commit=self._confirm_lease(rel),
            **self._upload_options(rel, release),  # closing the adlfs file commits the blocks
        )
        if mode == "ab" and exists:
            try:
                with self.fs.open(final, "rb", block_size=self.part_size) as old:
                    while chunk := old.read(self.part_size):
                        writer.write(chunk)
            except BaseException:
                writer.abort()
                raise
        return writer

    def _confirm_lease(self, rel: str) -> Callable[[], None] | None:
        lease = self._leases.pop(rel, None)
        return lease.confirm if lease is not None and lease.held else None


def _reason(exc: BaseException) -> str:
    """The first line of an Azure error: the service's message, without the request dump."""
    message = getattr(exc, "message", None) or str(exc)
    return str(message).strip().splitlines()[0] if message else type(exc).__name__


def _abandon(raw: Any) -> None:
    """Close the adlfs file without committing its block list: staged blocks stay
    uncommitted, which Azure never shows and eventually deletes."""
    raw.forced = True  # fsspec's close() flushes (here: commits) unless already forced
    try:
        raw.close()
    except Exception:  # noqa: BLE001  # a dead link: nothing was committed either way
        raw.closed = True


class BlockUploadFile(ObjectUploadFile):
    """A writer whose commit is the block-list commit: ``close`` makes the blob (after
    ``before_commit`` confirmed the writer's lease), ``abort`` leaves the blocks
    uncommitted."""


class BlobStream(ForwardStream, ChunkedStream):
    """One ``Get Blob`` from ``offset`` to the end, read chunk by chunk as it arrives (for
    sequential copies: no range request per block, memory of one chunk). Seeking drops the
    download and starts another at the new offset when next read."""

    def __init__(self, blob: Any, offset: int) -> None:
        super().__init__(offset)
        self._blob = blob
        self._chunks: Iterator[bytes] | None = None

    def _drop(self) -> None:
        self._chunks, self._buf = None, memoryview(b"")

    def _fetch_size(self) -> int:
        return int(self._blob.get_blob_properties().size)

    def _next_chunk(self) -> bool:
        if self._chunks is None:
            if self._pos >= self._total():
                return False
            download = self._blob.download_blob(offset=self._pos, max_concurrency=1)
            self._chunks = iter(download.chunks())
        chunk = next(self._chunks, None)
        if chunk is None:
            return False
        self._buf = memoryview(chunk)
        return True


class BlobLease:
    """A lease on a marker blob, renewed while held; ``acquire`` raises ``FileBusyError``."""

    def __init__(
        self, blob: Any, logical: str, duration: int, renew_every: float | None = None
    ) -> None:
        self._blob = blob
        self._logical = logical
        self._duration = duration
        self.renew_every = renew_every or duration / 3
        self._lease: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> BlobLease:
        for _ in range(3):  # the marker may vanish between create and lease (its owner left)
            try:
                self._blob.upload_blob(b"", overwrite=False)
            except azure_errors.HttpResponseError as exc:
                if exc.status_code not in (409, 412):
                    raise
                # someone's marker (409), or leased by someone (412): leasing it decides
            try:
                self._lease = self._blob.acquire_lease(lease_duration=self._duration)
                break
            except azure_errors.ResourceNotFoundError:
                continue
            except azure_errors.HttpResponseError as exc:
                if exc.status_code == 409:
                    raise FileBusyError(
                        f"{self._logical} is open for writing by another process (lease on "
                        f"{self._blob.blob_name!r}); try again when it is done"
                    ) from None
                raise
        else:
            raise FileBusyError(f"{self._logical}: could not lease its lock marker; try again")
        self._thread = threading.Thread(target=self._renew, name="vfs-lease", daemon=True)
        self._thread.start()
        return self

    @property
    def held(self) -> bool:
        return self._lease is not None

    def confirm(self) -> None:
        """Renew now, before a commit: a lease that lapsed (renewals failed for a whole
        ``lease_duration``) may be another writer's by now, so this one must not commit."""
        try:
            self._lease.renew()
        except azure_errors.HttpResponseError:  # 404 marker gone, 409 lease id mismatch, ...
            raise FileBusyError(
                f"{self._logical}: this writer lost its lease on {self._blob.blob_name!r} "
                "(it lapsed or was broken; another writer may hold it now); the write was "
                "discarded"
            ) from None

    def _renew(self) -> None:
        while not self._stop.wait(self.renew_every):
            try:
                self._lease.renew()
            except Exception:  # noqa: BLE001  # a dropped link: the lease may lapse
                pass

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._lease is not None:
            try:
                self._blob.delete_blob(lease=self._lease)  # ends the lease with the marker
            except Exception:  # noqa: BLE001  # it expires after lease_duration
                pass
            self._lease = None


def _connection_fields(connection_string: str | None) -> dict[str, str]:
    """The non-secret fields of an Azure connection string (``AccountName``,
    ``BlobEndpoint``, ...), keyed in lower case; keys and signatures are left out."""
    fields: dict[str, str] = {}
    for part in (connection_string or "").split(";"):
        name, sep, value = part.partition("=")
        key = name.strip().lower()
        if sep and key in (
            "accountname",
            "blobendpoint",
            "endpointsuffix",
            "defaultendpointsprotocol",
        ):
            fields[key] = value.strip()
    return fields


class _BoundedAioHttpTransport(AioHttpTransport):
    """The SDK's aiohttp transport on sockets with ``TCP_USER_TIMEOUT``: aiohttp has no
    timeout while it sends a body, so an upload to a frozen server otherwise waited for the
    kernel's own retransmission limit (minutes) whatever the root's ``timeout``."""

    def __init__(self, *, timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._socket_timeout = timeout

    async def open(self) -> None:
        if self.session is None and self._session_owner:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    socket_factory=user_timeout_sockets(self._socket_timeout)
                ),
                trust_env=self._use_env_settings,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
            )
        await super().open()
