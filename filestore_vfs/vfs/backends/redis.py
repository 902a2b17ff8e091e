"""``RedisFile``: files as Redis string keys, named as aiofs names them.

``dir/path/file.bin`` is the key ``dir:path:file.bin`` (``<prefix>:dir:path:file.bin`` with a
prefix), and the value is the file's bytes, so data written by aiofs reads here and back.
There is no fsspec implementation of Redis; this root implements the operations itself.
Directories are implicit, as on object stores: a "directory" exists while a key is below it.

Writes stream into a hidden temporary key (``APPEND`` in chunks, so client memory stays
flat) and commit with one ``WATCH``/``MULTI``/``EXEC``: ``RENAME`` of the temporary key onto
the target, its expiry, and a bump of the target's version counter. Readers therefore see
the old value or the new one. Reads stream with ``GETRANGE`` chunks; each chunk is read in
the same transaction as the version counter and the length, so a reader whose file is
replaced while it reads gets an error (``ESTALE``) instead of a mix of two files.

Writers are kept apart twice. A lock key (``SET NX`` with a TTL, renewed while the writer
is open) refuses a second filestore-vfs writer, in any process, at ``open``. The ``WATCH``
on the target, set at ``open``, makes the commit fail if *anyone* (aiofs, ``redis-cli``)
changed the key meanwhile: that writer gets :class:`FileBusyError` at ``close`` and its
data is discarded. The target is never written half.

A Redis string holds at most ``proto-max-bulk-len`` bytes (512 MiB unless the server says
otherwise). The root reads that limit once per connection and refuses a larger file with
:class:`FileTooLargeError`: before sending anything when the size is known (``put_file``,
``copy``), at the first ``write`` that would pass it when streaming. The server's own refusal
(its limit lowered meanwhile) becomes the same error. Either way the temporary key is deleted
and the target keeps its old value.
"""

from __future__ import annotations

import errno
import io
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import IO, Any, NoReturn
from urllib.parse import unquote, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .._atomic import AtomicWriteFile
from .._errors import (
    ConfigError,
    FileBusyError,
    FileTooLargeError,
    InvalidPathError,
    already_exists,
    connection_refused,
    is_a_directory,
    not_a_directory,
    not_empty,
    not_found,
    os_error,
    permission_denied,
    timed_out,
)
from .._paths import INTERNAL_PREFIX
from .._root import Entry, redact
from ._network import NetworkRoot
from ._streams import StreamReader

__all__ = ["RedisFile", "RedisLock"]

#: Bytes per ``GETRANGE``/``APPEND`` round trip.
DEFAULT_CHUNK = 4 << 20
#: A temporary key left by a writer that died expires after this many seconds.
TEMP_TTL = 24 * 3600
#: The server setting that caps a string value, and its default (used when CONFIG is refused).
LIMIT_OPTION = "proto-max-bulk-len"
DEFAULT_MAX_FILE_SIZE = 512 << 20
_MiB = 1 << 20
#: No ``APPEND`` argument is longer than the smallest limit Redis accepts (1 MiB): a server
#: whose limit was lowered then refuses with a reply instead of dropping the connection.
_MAX_BULK = _MiB
#: Keys below these first components are the VFS's own (never listed).
_VERSION = f"{INTERNAL_PREFIX}ver"
_TEMP = f"{INTERNAL_PREFIX}tmp"
_LOCK = f"{INTERNAL_PREFIX}lock"
_GLOB_SPECIAL = "\\*?[]"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)


class RedisFile(NetworkRoot):
    """Files as string keys of a Redis database.

    url
        ``redis://[:password@]host:port/db`` (or ``rediss://`` for TLS); else the options below.
    host, port, password, username, db
        The server, the password (``${ENV}`` in YAML), an ACL user name and the database.
    prefix
        Prepended to every key with a ``:`` (``beamline`` → ``beamline:dir:file.bin``).
    expiry
        Seconds after which a written file expires (``None``: never), as aiofs' ``expiry_s``.
    chunk_size
        Bytes per ``GETRANGE``/``APPEND`` round trip.
    lock_ttl
        Seconds a writer's lock key lives without renewal (it is renewed every third of
        that while the writer is open), so a crashed writer blocks others at most this long.
    max_file_size
        The server's ``proto-max-bulk-len`` in bytes, for a user whose ACL hides ``CONFIG``
        (omitted: asked with ``CONFIG GET``).

    :attr:`max_file_size` is the largest file the server stores: the ``max_file_size``
    option when given, else the server's ``proto-max-bulk-len`` (``CONFIG GET``, once per
    connection; 512 MiB if an ACL refuses ``CONFIG`` or it was renamed). A larger file raises
    :class:`FileTooLargeError` (``errno.EFBIG``) and nothing of it is kept; a server that
    refuses a smaller one anyway is asked again.
    """

    extra = "redis"
    supports_empty_dirs = False

    def __init__(
        self,
        *,
        url: str | None = None,
        host: str = "localhost",
        port: int = 6379,
        password: str | None = None,
        username: str | None = None,
        db: int = 0,
        prefix: str = "",
        expiry: float | None = None,
        chunk_size: int = DEFAULT_CHUNK,
        lock_ttl: float = 30.0,
        max_file_size: int | None = None,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self._url = url
        self.host, self.port, self.db = str(host), int(port), int(db)
        self._password, self._username = password, username
        if url is not None:
            self._parse_url(url)
        self.prefix = str(prefix or "").strip(":")
        if expiry is not None and float(expiry) <= 0:
            raise ConfigError(f"expiry must be a positive number of seconds, not {expiry!r}")
        self.expiry = None if expiry is None else float(expiry)
        self.chunk_size = max(64 << 10, int(chunk_size))
        self.lock_ttl = max(1.0, float(lock_ttl))
        url_password = urlsplit(url).password if url else None
        self.secrets = frozenset(s for s in (password, url, url_password, self._password) if s)
        self._client: redis.Redis | None = None
        if max_file_size is not None and int(max_file_size) < 1:
            raise ConfigError(
                f"max_file_size must be a positive number of bytes, not {max_file_size!r}"
            )
        #: the configured limit (``None``: ask the server)
        self._configured_max = None if max_file_size is None else int(max_file_size)
        self._max_file_size: int | None = self._configured_max

    def _parse_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ConfigError("url must start with redis://, rediss:// or unix://")
        self.host = parts.hostname or self.host
        self.port = parts.port or self.port
        if parts.path.strip("/").isdigit():
            self.db = int(parts.path.strip("/"))
        if parts.password:
            self._password = unquote(parts.password)

    # -- the connection ---------------------------------------------------------------------
    @property
    def client(self) -> redis.Redis:
        """One connection pool per root; redis-py's own retries are off (ours apply)."""
        if self._client is None:
            options: dict[str, Any] = {
                "socket_timeout": self.timeout,
                "socket_connect_timeout": self.timeout,
                "retry": Retry(NoBackoff(), 0),
                "health_check_interval": 0,
            }
            if self._url is not None:
                self._client = redis.Redis.from_url(
                    self._url, password=self._password, username=self._username, **options
                )
            else:
                self._client = redis.Redis(
                    host=self.host,
                    port=self.port,
                    db=self.db,
                    password=self._password,
                    username=self._username,
                    **options,
                )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._max_file_size = (
            self._configured_max
        )  # the next connection may reach a reconfigured server

    # -- the size limit -----------------------------------------------------------------------
    @property
    def max_file_size(self) -> int:
        """The largest value the server stores, in bytes (its ``proto-max-bulk-len``).

        Read once per connection, because a write past it would otherwise fail half-way
        with a bare server error; :meth:`close` forgets it.
        """
        if self._max_file_size is None:
            self._max_file_size = self._call(self._read_max_file_size)
        return self._max_file_size

    def _read_max_file_size(self) -> int:
        try:
            value = self.client.config_get(LIMIT_OPTION).get(LIMIT_OPTION)
        except redis.ResponseError as exc:
            if "NOAUTH" in str(exc):
                raise
            return DEFAULT_MAX_FILE_SIZE  # CONFIG refused by an ACL, or renamed away
        return int(value) if value else DEFAULT_MAX_FILE_SIZE

    def check_size(self, rel: str, size: int) -> None:
        """Refuse a known size over :attr:`max_file_size` before anything is sent."""
        if size > self.max_file_size:
            raise self._too_large(rel, size, "nothing was sent", self.max_file_size)

    def _too_large(self, rel: str, size: int, outcome: str, limit: int | None) -> FileTooLargeError:
        """The error for ``rel`` reaching ``size`` bytes; ``limit`` ``None``: not known.

        It names the server as ``redis://host:port`` (never the password) and says both ways
        out, because the caller cannot fix this by retrying.
        """
        path = self.logical(rel)
        cap = f"the {limit / _MiB:g} MiB" if limit is not None else "the limit"
        message = (
            f"{path} would be {_human(size)}, more than {cap} a value can hold on Redis at "
            f"{self._server()} ({LIMIT_OPTION}); {outcome} and the key keeps its old value "
            f"(if any). Raise {LIMIT_OPTION} on that server (CONFIG SET {LIMIT_OPTION} "
            "<bytes>, or redis.conf), or store files this large on a file or object-store "
            "root (LocalFile, SFTPFile, S3File, ...)"
        )
        return FileTooLargeError(redact(message, self.secrets), path)

    def _refused(self, rel: str, size: int) -> FileTooLargeError:
        """The server refused an ``APPEND`` (its limit was lowered): learn the new limit."""
        self._max_file_size = None  # even a configured limit: the server just disagreed
        try:
            limit: int | None = self.max_file_size
        except Exception:  # noqa: BLE001  # the error to report is the refusal, not this
            limit = None
        if limit is not None and limit >= size:
            limit = None  # CONFIG refused: the default would contradict the refusal
        return self._too_large(rel, size, "the write was discarded", limit)

    # -- names ----------------------------------------------------------------------------
    @property
    def base(self) -> str:
        return self.prefix

    def key(self, rel: str) -> str:
        """aiofs' mapping: ``a/b/c.bin`` → ``<prefix>:a:b:c.bin``."""
        if ":" in rel:
            raise InvalidPathError(
                f"{self.logical(rel)}: ':' separates key parts in Redis; a name with ':' "
                "would collide with a path (a:b is a/b), so it cannot be stored"
            )
        parts = [self.prefix] if self.prefix else []
        if rel:
            parts.extend(rel.split("/"))
        return ":".join(parts)

    def _internal(self, kind: str, rel: str) -> str:
        return self.key(f"{kind}/{rel}")

    def _pattern(self, rel: str) -> str:
        """The SCAN pattern of every key below ``rel`` (glob characters escaped)."""
        top = self.key(rel)
        escaped = "".join("\\" + c if c in _GLOB_SPECIAL else c for c in top)
        return f"{escaped}:*" if top else "*"

    def _rel_of_key(self, key: bytes) -> str | None:
        try:
            text = key.decode("utf-8")
        except UnicodeDecodeError:
            return None  # not a key this root wrote
        head = f"{self.prefix}:" if self.prefix else ""
        if not text.startswith(head):
            return None
        rel = text[len(head) :].replace(":", "/")
        if rel.split("/", 1)[0].startswith(INTERNAL_PREFIX):
            return None
        return rel

    def url(self, rel: str = "") -> str:
        """``redis://host:port/db/key``, never with the password."""
        if self._url is not None:
            parts = urlsplit(self._url)
            netloc = parts.hostname or ""
            if parts.port:
                netloc += f":{parts.port}"
            server = urlunsplit((parts.scheme, netloc, "", "", ""))
        else:
            server = f"redis://{self.host}:{self.port}"
        return f"{server}/{self.db}/{self.key(rel)}"

    def lock_key(self, rel: str) -> tuple[Any, ...]:
        return ("redis", self.host, self.port, self.db, self.key(rel))

    def _server(self) -> str:
        """``redis://host:port``, for messages (never the password)."""
        return self.url().rsplit("/", 2)[0]

    # -- errors ---------------------------------------------------------------------------
    def map_error(self, exc: BaseException) -> BaseException | None:
        where = self._server()
        if isinstance(exc, (redis.AuthenticationError, redis.exceptions.NoPermissionError)):
            return permission_denied(f"Redis refused the credentials: {exc}")
        if isinstance(exc, redis.TimeoutError):
            return timed_out(f"Redis at {where} timed out")
        if isinstance(exc, redis.ConnectionError):
            return connection_refused(f"cannot reach Redis at {where} ({exc})")
        if isinstance(exc, redis.ResponseError) and "WRONGTYPE" in str(exc):
            return os_error(
                OSError, "the key holds a Redis type other than a string", code=errno.EINVAL
            )
        if isinstance(exc, redis.ResponseError) and "NOAUTH" in str(exc):
            return permission_denied("Redis needs a password (NOAUTH)")
        return None

    def is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, redis.AuthenticationError):
            return False
        return super().is_transient(exc) or isinstance(
            exc, (redis.ConnectionError, redis.TimeoutError)
        )

    def _call(self, fn: Callable[[], Any]) -> Any:
        return self.retrying(fn)

    # -- metadata -------------------------------------------------------------------------
    def _scan(self, rel: str) -> Iterator[str]:
        """Relative paths of every file key below ``rel`` (SCAN: never blocks the server)."""
        for key in self.client.scan_iter(match=self._pattern(rel), count=1000):
            sub = self._rel_of_key(key)
            if sub is not None:
                yield sub

    def _has_children(self, rel: str) -> bool:
        return self._call(lambda: next(iter(self._scan(rel)), None) is not None)

    def _is_file(self, rel: str) -> bool:
        return bool(rel) and bool(self._call(lambda: self.client.exists(self.key(rel))))

    def exists(self, rel: str) -> bool:
        return rel == "" or self._is_file(rel) or self._has_children(rel)

    def isfile(self, rel: str) -> bool:
        return self._is_file(rel)

    def isdir(self, rel: str) -> bool:
        return rel == "" or self._has_children(rel)

    def info(self, rel: str) -> Entry:
        if self._is_file(rel):
            size = self._call(lambda: self.client.strlen(self.key(rel)))
            return {"name": self.logical(rel), "size": int(size), "type": "file", "mtime": None}
        if self.isdir(rel):
            return {"name": self.logical(rel), "size": 0, "type": "directory", "mtime": None}
        raise not_found("no such file or directory")

    def size(self, rel: str) -> int:
        return int(self.info(rel)["size"])

    def ls(self, rel: str) -> list[Entry]:
        children: dict[str, str] = {}
        for sub in self._call(lambda: list(self._scan(rel))):
            rest = sub[len(rel) + 1 :] if rel else sub
            name, _, deeper = rest.partition("/")
            child = f"{rel}/{name}" if rel else name
            if deeper or children.get(child) != "directory":
                children[child] = "directory" if deeper else "file"
        if not children and rel:
            raise not_found("no such directory")
        files = [c for c, kind in children.items() if kind == "file"]
        sizes = self._call(lambda: self._strlens(files))
        return [
            {
                "name": self.logical(child),
                "size": sizes.get(child, 0),
                "type": kind,
                "mtime": None,
            }
            for child, kind in children.items()
        ]

    def _strlens(self, rels: list[str]) -> dict[str, int]:
        pipe = self.client.pipeline(transaction=False)
        for rel in rels:
            pipe.strlen(self.key(rel))
        return dict(zip(rels, (int(n) for n in pipe.execute()), strict=True))

    # -- changing the tree ------------------------------------------------------------------
    def makedirs(self, rel: str, exist_ok: bool = True) -> None:
        """Directories are implicit: nothing to create (a file in the way is an error)."""
        if self._is_file(rel):
            raise already_exists("a file exists where a directory was asked for")

    def remove(self, rel: str) -> None:
        if not self._is_file(rel):
            if self.isdir(rel):
                raise is_a_directory("is a directory; use rmdir")
            raise not_found("no such file")
        self._call(lambda: self.client.delete(self.key(rel), self._internal(_VERSION, rel)))

    def rmdir(self, rel: str, recursive: bool = False) -> None:
        if not self.isdir(rel):
            if self._is_file(rel):
                raise not_a_directory("not a directory")
            raise not_found("no such directory")
        if not recursive:
            raise not_empty("directory not empty; pass recursive=True")
        for batch in _batches(self._call(lambda: list(self._scan(rel))), 500):
            keys = [self.key(r) for r in batch] + [self._internal(_VERSION, r) for r in batch]
            self._call(lambda keys=keys: self.client.delete(*keys))

    def rename(self, src: str, dst: str) -> None:
        """``RENAME`` on the server: the data moves (aiofs' ``mv`` deleted it uncopied)."""
        if self._is_file(src):
            if self.isdir(dst):
                raise is_a_directory("the destination is a directory")
            pairs = [(src, dst)]
        else:
            pairs = [(s, dst + s[len(src) :]) for s in self._call(lambda: list(self._scan(src)))]
        pipe = self.client.pipeline(transaction=True)
        for old, new in pairs:
            pipe.rename(self.key(old), self.key(new))
            pipe.delete(self._internal(_VERSION, old))
            pipe.incr(self._internal(_VERSION, new))
        self._call(pipe.execute)

    # -- reading ----------------------------------------------------------------------------
    def open_remote(self, rel: str, offset: int, **options: Any) -> IO[bytes]:
        reader = RedisReader(self, rel)
        reader.seek(offset)
        return reader

    def open_read(self, rel: str, cache: Any = None) -> IO[bytes]:
        """A buffered ``GETRANGE`` reader; ``cache="file"`` makes a whole local copy first."""
        if cache == "file" or (cache is None and getattr(self, "cache", None) == "file"):
            return super().open_read(rel, "file")
        if not self._is_file(rel):
            if self.isdir(rel):
                raise is_a_directory("is a directory")
            raise not_found("no such file")
        return io.BufferedReader(RedisReader(self, rel), buffer_size=self._buffer(cache))

    def _buffer(self, cache: Any) -> int:
        if (cache or getattr(self, "cache", None)) == "stream":
            return self.chunk_size
        return int(getattr(self, "block_size", 0) or 512 << 10)

    # -- writing ----------------------------------------------------------------------------
    def cross_process_lock(self, rel: str) -> RedisLock:
        return RedisLock(self, self._internal(_LOCK, rel), self.logical(rel))

    def open_write(self, rel: str, mode: str, release: Any) -> AtomicWriteFile:
        if self.isdir(rel) and rel:
            raise is_a_directory("is a directory")
        upload = RedisUpload(self, rel, mode)
        logical = self.logical(rel)
        writer = AtomicWriteFile(
            upload, name=logical, commit=upload.commit, discard=upload.discard, release=release
        )
        # errors of write and close (a frozen or dropped server) name the logical path
        return writer.guarded_by(lambda: self.translate(logical))


def _human(size: int) -> str:
    """``2.0 GiB (2147483649 bytes)``: readable, and exact for whoever compares limits."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            return f"{size / (1 << shift):.1f} {unit} ({size} bytes)"
    return f"{size} bytes"


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class RedisReader(StreamReader):
    """Reads a string key in ``GETRANGE`` chunks, each checked against the key's version.

    Every chunk is fetched in one ``MULTI``/``EXEC`` with the version counter and the
    length; if either differs from what they were at open, the file was replaced meanwhile
    and the read fails with ``ESTALE`` rather than return a mix of two files.
    """

    def __init__(self, root: RedisFile, rel: str) -> None:
        super().__init__()
        self._root = root
        self._key = root.key(rel)
        self._version_key = root._internal(_VERSION, rel)
        self.name = root.logical(rel)
        self.chunk_size = root.chunk_size  # readall: one GETRANGE per read
        with root.translate(self.name):
            self._version, self._size = root._call(self._state)
        if self._size is None:
            raise not_found("no such file", self.name)

    def _state(self) -> tuple[bytes | None, int | None]:
        pipe = self._root.client.pipeline(transaction=True)
        pipe.get(self._version_key).exists(self._key).strlen(self._key)
        version, exists, size = pipe.execute()
        return version, (int(size) if exists else None)

    def _chunk(self, start: int, length: int) -> bytes:
        pipe = self._root.client.pipeline(transaction=True)
        pipe.getrange(self._key, start, start + length - 1)
        pipe.get(self._version_key).strlen(self._key)
        data, version, size = pipe.execute()
        if version != self._version or size != self._size:
            raise os_error(
                OSError, "the file was replaced while being read; open it again", code=errno.ESTALE
            )
        return bytes(data)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        # at most chunk_size per round trip: a large read is several GETRANGEs
        want = min(len(view), self._remaining(), self._root.chunk_size)
        if want == 0:
            return 0
        with self._root.translate(self.name):
            data = self._root._call(lambda: self._chunk(self._pos, want))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)


class RedisUpload(io.RawIOBase):
    """The raw side of a Redis writer: chunks go to a hidden temporary key; ``commit`` moves
    it onto the target in one transaction, under the ``WATCH`` taken at open.

    A write that would take the file past the server's limit deletes the temporary key at
    once and raises :class:`FileTooLargeError`; later writes and the commit raise it again,
    so a caller that catches it and closes anyway commits nothing.
    """

    def __init__(self, root: RedisFile, rel: str, mode: str) -> None:
        super().__init__()
        self._root = root
        self._limit = root.max_file_size
        self._failed: FileTooLargeError | None = None
        self._rel = rel
        self._mode = mode
        self._key = root.key(rel)
        self._temp = root._internal(_TEMP, f"{uuid.uuid4().hex}")
        self._buffer = bytearray()
        self._written = 0
        self.name = root.logical(rel)
        self._watch = root.client.pipeline(transaction=True)
        try:
            self._start()
        except BaseException:
            self._watch.reset()
            raise

    def _start(self) -> None:
        client = self._root.client
        self._watch.watch(self._key)  # holds one connection until commit or discard
        exists = client.exists(self._key)
        if self._mode == "xb" and exists:
            raise already_exists("already exists")
        if self._mode == "ab" and exists:
            client.copy(self._key, self._temp, replace=True)
            self._written = int(client.strlen(self._temp))
        else:
            client.set(self._temp, b"")
        client.expire(self._temp, TEMP_TTL)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        if self._failed is not None:
            raise self._failed
        if self.tell() + size > self._limit:
            error = self._root._too_large(
                self._rel, self.tell() + size, "the write was discarded", self._limit
            )
            self._give_up(error)
        self._buffer += data
        if len(self._buffer) >= self._root.chunk_size:
            self._send()
        return size

    def _send(self) -> None:
        if not self._buffer:
            return
        data = memoryview(bytes(self._buffer))
        pipe = self._root.client.pipeline(transaction=False)  # one round trip for all pieces
        for start in range(0, len(data), _MAX_BULK):
            pipe.append(self._temp, data[start : start + _MAX_BULK])
        try:
            with self._root.translate(self.name):
                pipe.execute()
        except redis.ResponseError as exc:
            if LIMIT_OPTION not in str(exc):
                raise
            self._give_up(self._root._refused(self._rel, self.tell()))
        self._written += len(self._buffer)
        self._buffer.clear()

    def _give_up(self, error: FileTooLargeError) -> NoReturn:
        """Drop what was sent now (the server's memory) and refuse every later call."""
        self._failed = error
        self._buffer.clear()
        try:
            self._root.client.delete(self._temp)
        except redis.RedisError:
            pass  # discard() tries again; else the temporary key expires by itself
        raise error from None  # the message says all; a server reply would only repeat it

    def tell(self) -> int:
        return self._written + len(self._buffer)

    def close(self) -> None:
        """Closing the raw side sends nothing: :meth:`commit` or :meth:`discard` decide."""
        super().close()

    def commit(self) -> None:
        root = self._root
        try:
            if self._failed is not None:
                raise self._failed
            self._send()
            version_key = root._internal(_VERSION, self._rel)
            pipe = self._watch
            pipe.multi()
            if self._mode == "xb":
                pipe.renamenx(self._temp, self._key)
            else:
                pipe.rename(self._temp, self._key)
            if root.expiry is not None:
                pipe.pexpire(self._key, int(root.expiry * 1000))
                pipe.incr(version_key).pexpire(version_key, int(root.expiry * 1000))
            else:
                pipe.persist(self._key)
                pipe.incr(version_key)
            with root.translate(self.name):
                try:
                    result = pipe.execute()
                except redis.WatchError:
                    raise FileBusyError(
                        f"{self.name} was changed by another writer while this one was open "
                        "(Redis WATCH); this write was discarded, the other one stands"
                    ) from None
            if self._mode == "xb" and not result[0]:
                raise already_exists("already exists", self.name)
        finally:
            self._watch.reset()

    def discard(self) -> None:
        try:
            self._watch.reset()
        finally:
            try:
                self._root.client.delete(self._temp)
            except redis.RedisError:
                pass  # the temporary key expires by itself


class RedisLock:
    """A writer lock key: ``SET key token NX PX ttl``, renewed while held, deleted on release
    only by its owner (a Lua compare-and-delete), so a lock that expired and was taken by
    another writer is never removed by the first."""

    def __init__(self, root: RedisFile, key: str, logical: str) -> None:
        self._root = root
        self._key = key
        self._logical = logical
        self._token = uuid.uuid4().hex.encode()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> RedisLock:
        ttl = int(self._root.lock_ttl * 1000)
        got = self._root._call(
            lambda: self._root.client.set(self._key, self._token, nx=True, px=ttl)
        )
        if not got:
            raise FileBusyError(
                f"{self._logical} is open for writing by another process (Redis lock key "
                f"{self._key!r}); try again when it is done"
            )
        self._thread = threading.Thread(
            target=self._renew, name=f"vfs-lock {self._key}", daemon=True
        )
        self._thread.start()
        return self

    def _renew(self) -> None:
        ttl = int(self._root.lock_ttl * 1000)
        while not self._stop.wait(self._root.lock_ttl / 3):
            try:
                self._root.client.eval(_RENEW, 1, self._key, self._token, ttl)
            except redis.RedisError:
                pass  # a dropped link: the commit will report it; the lock may lapse

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            self._root.client.eval(_RELEASE, 1, self._key, self._token)
        except redis.RedisError:
            pass  # it expires after lock_ttl
