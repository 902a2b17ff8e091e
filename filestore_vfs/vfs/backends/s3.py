"""``S3File``: a bucket (and prefix) on S3 or any S3-compatible server, through s3fs.

An S3 ``PUT`` and a multipart ``CompleteMultipartUpload`` are already atomic: the object
appears whole or not at all. So writes go straight to the final key (no temporary object and
no server-side copy), and a write that fails or is aborted aborts its multipart upload, which
leaves the old object in place.

S3 has no locks. Exclusive creation (mode ``x``) sends ``If-None-Match: *`` with the final
``PUT``/``CompleteMultipartUpload``, so of two processes creating the same key exactly one
wins (AWS S3 since 2024, moto, other servers that implement conditional writes). Plain
overwrites (mode ``w``) are last-writer-wins across processes; within one process the VFS
still refuses a second writer.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

import aiohttp
import botocore.exceptions
import botocore.handlers
import s3fs
from fsspec.asyn import sync
from s3fs.errors import translate_boto_error

from .._atomic import AtomicWriteFile
from .._errors import (
    ERRNO_OF,
    ConfigError,
    connection_refused,
    connection_reset,
    not_found,
    permission_denied,
    timed_out,
)
from ._network import ForwardStream, user_timeout_sockets
from ._objectstore import ObjectStoreRoot, ObjectUploadFile
from ._readthrough import ReadThroughRanges, RequestCosts
from ._streams import STREAM_CHUNK, read_upto

__all__ = ["S3File", "S3Ranges"]

_shared: dict[tuple[Any, ...], s3fs.S3FileSystem] = {}
_shared_lock = threading.Lock()

#: First multipart part size for uploads (S3's minimum is 5 MiB). s3fs holds about three
#: parts at once (its buffer, the part cut from it, aiohttp's copy of the body), so 8 MiB keeps
#: a streamed upload, and a copy from another network root into S3, under 64 MiB.
DEFAULT_PART_SIZE = 8 << 20
#: Parts double in size after every this many, so an upload of unknown length can still
#: grow past 10,000 × the first part: with 8 MiB, 15.6 GiB at 8 MiB parts, 484 GiB in all.
PARTS_PER_SIZE = 2000
#: S3's largest part.
MAX_PART_SIZE = 5 << 30


class S3File(ObjectStoreRoot):
    """Objects under ``s3://<bucket>/<prefix>/``.

    bucket
        The bucket; it must exist (a missing bucket is a ``FileNotFoundError`` naming it).
    prefix
        A key prefix that acts as the root's directory (``""``: the whole bucket).
    endpoint_url
        An S3-compatible server (MinIO, Ceph, moto); omitted: AWS.
    region
        The region name (``us-east-1``, ...); omitted: the AWS default chain decides.
    key, secret
        Access key id and secret (use ``${ENV}`` in YAML); omitted: the default AWS
        credential chain (environment, ``~/.aws``, instance role).
    token
        A session token for temporary credentials.
    anon
        Anonymous access to a public bucket (no signing).
    client_kwargs
        Passed to the botocore client (``verify``, ``use_ssl``, ...).
    part_size
        Bytes per multipart-upload part (at least 5 MiB; they double every 2,000 parts, as
        S3 allows 10,000); smaller writes are one ``PUT``.
    """

    extra = "s3"
    #: a dropped link in the middle of a streamed body: reopen where the read stopped
    transient = (
        aiohttp.ClientError,
        botocore.exceptions.ConnectionError,
        botocore.exceptions.HTTPClientError,
    )

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        key: str | None = None,
        secret: str | None = None,
        token: str | None = None,
        anon: bool = False,
        client_kwargs: dict[str, Any] | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if not isinstance(bucket, str) or not bucket or "/" in bucket:
            raise ConfigError(f"S3File needs 'bucket' (a bucket name without '/'), not {bucket!r}")
        self.bucket = bucket
        self.prefix = str(prefix or "").strip("/")
        self.endpoint_url = endpoint_url
        self.region = region
        self._credentials = {"key": key, "secret": secret, "token": token}
        self.anon = bool(anon)
        self.client_kwargs = dict(client_kwargs or {})
        self.part_size = max(5 << 20, int(part_size))
        self.secrets = frozenset(v for v in (key, secret, token) if v and len(v) >= 4)
        #: what a GET costs on this endpoint, measured by the reads (``cache="blocks"``)
        self.request_costs = RequestCosts()

    def _make_fs(self) -> s3fs.S3FileSystem:
        """One s3fs instance per distinct configuration in a process: creating its botocore
        client costs most of a second, which every new VFS would otherwise pay again."""
        client_kwargs = dict(self.client_kwargs)
        if self.region:
            client_kwargs.setdefault("region_name", self.region)
        options: dict[str, Any] = {
            "anon": self.anon,
            "endpoint_url": self.endpoint_url,
            "client_kwargs": client_kwargs,
            "config_kwargs": {
                "connect_timeout": self.timeout,
                "read_timeout": self.timeout,
                # s3fs retries (below); botocore retrying underneath would multiply them
                "retries": {"total_max_attempts": 1},
                # aiohttp has no timeout while it sends a body: the kernel's user timeout
                # ends an upload to a server that stopped reading
                "connector_args": {"socket_factory": user_timeout_sockets(self.timeout)},
            },
            "default_block_size": self.part_size,
            "use_listings_cache": False,  # other processes write too: never list from a cache
            "skip_instance_cache": True,
            **{k: v for k, v in self._credentials.items() if v},
        }
        token = (os.getpid(), self.retries, repr(sorted(options.items())))
        with _shared_lock:
            fs = _shared.get(token)
            if fs is None:
                fs = _shared[token] = s3fs.S3FileSystem(**options)
                fs.retries = self.retries + 1  # attempts, with s3fs' own backoff
                fs.connect()
                # With "Expect: 100-continue" aiohttp waits for the server's go-ahead with no
                # timeout at all: a server that stops answering would hang an upload forever.
                fs.s3.meta.events.unregister("before-call.s3", botocore.handlers.add_expect_header)
        return fs

    # -- identity ---------------------------------------------------------------------------
    @property
    def base(self) -> str:
        return f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket

    def url(self, rel: str = "") -> str:
        return f"s3://{self.fs_path(rel)}"

    def lock_key(self, rel: str) -> tuple[Any, ...]:
        """The object itself: two VFS objects on one bucket write the same key."""
        return ("s3", self.endpoint_url, self.fs_path(rel))

    def _where(self) -> str:
        return self.endpoint_url or "AWS"

    # -- errors -----------------------------------------------------------------------------
    def map_error(self, exc: BaseException) -> BaseException | None:
        """Name the bucket when it is missing and the endpoint when it cannot be reached."""
        errors = botocore.exceptions
        if isinstance(exc, errors.ClientError):
            exc = translate_boto_error(exc, set_cause=False)
        if isinstance(exc, (errors.ConnectTimeoutError, errors.ReadTimeoutError)):
            return timed_out(f"S3 endpoint {self._where()} timed out")
        if isinstance(exc, errors.NoCredentialsError):
            return permission_denied("no S3 credentials: set key/secret or the AWS chain")
        if isinstance(exc, errors.ConnectionClosedError):
            return connection_reset(f"S3 endpoint {self._where()} closed the connection")
        if isinstance(exc, (errors.EndpointConnectionError, errors.ConnectionError)):
            return connection_refused(f"cannot reach S3 endpoint {self._where()}")
        if isinstance(exc, errors.HTTPClientError):
            return connection_reset(f"S3 endpoint {self._where()}: {exc}")
        if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError)):
            # a body cut short (a dropped link): aiohttp's own error, as no retry was left
            return connection_reset(f"S3 endpoint {self._where()} dropped a transfer: {exc}")
        if isinstance(exc, FileNotFoundError) and not self._store_exists():
            return self._no_store()
        if isinstance(exc, OSError):
            return exc
        return None

    @contextlib.contextmanager
    def translate(self, logical: str) -> Iterator[None]:
        """As :meth:`ObjectStoreRoot.translate`, keeping the server's reason ("Access
        Denied", "signature does not match")."""
        with super().translate(logical):
            try:
                yield
            except botocore.exceptions.BotoCoreError as exc:  # some are OSErrors too
                mapped = self.map_error(exc)
                if mapped is None:
                    raise
                raise mapped from exc
            except OSError as exc:
                raise _with_reason(exc) from exc.__cause__

    def _no_store(self) -> FileNotFoundError:
        return not_found(f"bucket {self.bucket!r} does not exist on {self._where()}")

    def _store_exists(self) -> bool:
        try:
            self.fs.call_s3("head_bucket", Bucket=self.bucket)
        except Exception as exc:  # noqa: BLE001  # anything else: assume it exists
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            return not (isinstance(exc, FileNotFoundError) or code in ("404", "NoSuchBucket"))
        return True

    # -- operations ---------------------------------------------------------------------------
    def _open_stream(self, rel: str, offset: int) -> IO[bytes]:
        """One streaming ``GET``."""
        bucket, key, _ = self.fs.split_path(self.fs_path(rel))
        return S3Stream(self.fs, bucket, key, offset)

    def open_remote(self, rel: str, offset: int, **options: Any) -> IO[bytes]:
        """``cache="blocks"`` reads through :class:`S3Ranges`: requests grouped by what a
        ``GET`` costs here (:attr:`request_costs`); the other modes as every object store."""
        if options.get("cache_type") != "blockcache":
            return super().open_remote(rel, offset, **options)
        bucket, key, _ = self.fs.split_path(self.fs_path(rel))
        block_size = options.get("block_size") or self.block_size
        return S3Ranges(self.fs, bucket, key, self.request_costs, offset, block_size=block_size)

    def isdir(self, rel: str) -> bool:
        """One ``ListObjectsV2`` of at most one key under ``rel/`` (no HEAD, no delimiter)."""
        if rel == "":
            return True
        bucket, key, _ = self.fs.split_path(self.fs_path(rel))
        out = self.fs.call_s3("list_objects_v2", Bucket=bucket, Prefix=key + "/", MaxKeys=1)
        return bool(out.get("KeyCount") or out.get("Contents"))

    def rename(self, src: str, dst: str) -> None:
        """S3 has no rename: a server-side copy, then the source is deleted."""
        super().rename(src, dst)

    def open_write(self, rel: str, mode: str, release: Any) -> AtomicWriteFile:
        """Upload straight to the key: the object appears when the upload completes."""
        final = self.fs_path(rel)
        if not self._check_write(rel, mode) and mode == "ab":
            mode = "wb"
        # autocommit only from our close(): a raw file that is garbage-collected unclosed
        # (fsspec closes it in __del__) must never complete the upload.
        raw = self.fs.open(final, mode, block_size=self.part_size, autocommit=False)
        return DirectUploadFile(
            raw,
            part_size=self.part_size,
            discard=lambda: _cancel(raw),
            empty_exclusive=(lambda: self._create_empty(final)) if mode == "xb" else None,
            **self._upload_options(rel, release),
        )

    def _create_empty(self, final: str) -> None:
        """s3fs writes an empty object with an unconditional PUT; ``x`` needs the condition."""
        bucket, key, _ = self.fs.split_path(final)
        self.fs.call_s3("put_object", Bucket=bucket, Key=key, Body=b"", IfNoneMatch="*")


def _with_reason(exc: OSError) -> OSError:
    """s3fs raises ``PermissionError("Access Denied")``: make the message the ``strerror``
    so that the translated error keeps it."""
    plain = type(exc) in (FileNotFoundError, PermissionError, FileExistsError, OSError)
    if plain and exc.strerror is None and exc.args and isinstance(exc.args[0], str):
        return type(exc)(ERRNO_OF.get(type(exc), errno.EIO), exc.args[0])
    return exc


def _cancel(raw: Any) -> None:
    """Abort the multipart upload (if one started) and make sure nothing commits it later.

    Best effort: when the server is gone the abort cannot be sent, and the unfinished upload
    stays invisible (S3 never shows it as an object) until a lifecycle rule removes it.
    """
    try:
        if not getattr(raw, "_closed", False):
            raw.discard()
    except Exception:  # noqa: BLE001  # the error that made us abort is the one to report
        pass
    finally:
        raw.closed = True  # fsspec's __del__ would otherwise close, i.e. commit, the upload


class DirectUploadFile(ObjectUploadFile):
    """An S3 upload: one ``PUT`` or a multipart upload whose parts grow (see
    :meth:`_wrote`), completed on ``close`` (with ``If-None-Match: *`` in mode ``x``)."""

    def __init__(
        self,
        raw: IO[bytes],
        *,
        part_size: int = DEFAULT_PART_SIZE,
        empty_exclusive: Callable[[], None] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(raw, **kw)
        self._part_size = part_size
        self._empty_exclusive = empty_exclusive

    def _wrote(self) -> None:
        """Double the part size every :data:`PARTS_PER_SIZE` parts (s3fs cuts a part when
        its buffer reaches ``blocksize``), so small parts never cap the object's size."""
        doublings = len(getattr(self._raw, "parts", None) or ()) // PARTS_PER_SIZE
        self._raw.blocksize = min(MAX_PART_SIZE, self._part_size << doublings)  # type: ignore[attr-defined]

    def _complete(self) -> None:
        if self._empty_exclusive is None or self._raw.tell() != 0:
            self._raw.autocommit = True  # type: ignore[attr-defined]  # see open_write
            super()._complete()
            return
        try:
            _cancel(self._raw)
            self._empty_exclusive()
        finally:
            self._finish()


class S3Stream(ForwardStream):
    """One ``GET`` from ``offset`` to the end, read chunk by chunk as it arrives: for
    sequential copies there is no request per block (moto, and S3 itself, answer a ranged
    request much slower than they stream), and memory holds one chunk. Seeking drops the
    response and starts another at the new offset when next read."""

    def __init__(self, fs: s3fs.S3FileSystem, bucket: str, key: str, offset: int) -> None:
        super().__init__(offset)
        self._fs = fs
        self._bucket = bucket
        self._key = key
        self._body: Any = None

    def _fetch_size(self) -> int:
        head = self._fs.call_s3("head_object", Bucket=self._bucket, Key=self._key)
        return int(head["ContentLength"])

    def _open(self) -> bool:
        if self._pos >= self._total():
            return False
        out = self._fs.call_s3(
            "get_object", Bucket=self._bucket, Key=self._key, Range=f"bytes={self._pos}-"
        )
        self._body = out["Body"]
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._body is None and not self._open():
            return 0
        data = sync(self._fs.loop, read_upto, self._body, min(len(view), STREAM_CHUNK))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _drop(self) -> None:
        if self._body is not None:
            body, self._body = self._body, None
            try:
                body.close()
            except Exception:  # noqa: BLE001  # the link is gone anyway
                pass

    def close(self) -> None:
        self._drop()
        super().close()


class S3Ranges(ReadThroughRanges):
    """``cache="blocks"`` on S3: ranged ``GET`` requests grouped by what one costs.

    Opening asks the object's size (``HEAD``: a missing key fails here, at ``open``). Each
    request is one ``GetObject`` with a ``Range``, whose body is received piece by piece
    (one hop to s3fs' event loop per piece); see :class:`ReadThroughRanges` for which
    ranges are asked.
    """

    def __init__(
        self,
        fs: s3fs.S3FileSystem,
        bucket: str,
        key: str,
        costs: RequestCosts,
        offset: int = 0,
        *,
        block_size: int,
    ) -> None:
        super().__init__(costs, offset, block_size=block_size)
        self._fs = fs
        self._bucket = bucket
        self._key = key
        self._size = self._fetch_size()

    def _fetch_size(self) -> int:
        head = self._fs.call_s3("head_object", Bucket=self._bucket, Key=self._key)
        return int(head["ContentLength"])

    def _open_range(self, start: int, end: int) -> _S3Body:
        out = self._fs.call_s3(
            "get_object", Bucket=self._bucket, Key=self._key, Range=f"bytes={start}-{end - 1}"
        )
        return _S3Body(self._fs, out["Body"])


class _S3Body:
    """A ``GetObject`` body read from this thread: each ``read`` is one hop to the loop."""

    def __init__(self, fs: s3fs.S3FileSystem, body: Any) -> None:
        self._fs = fs
        self._body = body

    def read(self, size: int) -> bytes:
        return sync(self._fs.loop, read_upto, self._body, size)

    def close(self) -> None:
        self._body.close()
