"""``HttpFile``: files under an HTTP(S) URL, read with ranges, written with PUT/WebDAV/pyobs.

Reads go through fsspec's ``HTTPFileSystem`` (aiohttp). A sequential read (``get_file``,
``copy``, ``cache="stream"``) is one streaming ``GET`` (``Range: bytes=N-`` when it resumes),
which keeps up with curl; random access (h5py) uses ranged block reads. A server that ignores
``Range`` still works: sequential reads stream, random access reads a whole-file local copy.

Writes spool to a local temporary file (memory stays flat) and are uploaded when the file is
closed, according to ``upload_mode``:

``webdav``
    ``PUT`` to a hidden temporary name, then ``MOVE`` over the target: readers see the old
    file or the new one. Listing uses ``PROPFIND``; ``DELETE`` and ``MKCOL`` do the rest.
``put``
    ``PUT`` straight to the target (atomic on servers that store the body before renaming
    it into place, like nginx; others may expose a partial file).
``pyobs``
    ``POST`` of a multipart form with the field ``file`` (pyobs' HttpFileCache protocol).

TLS certificates are verified by default (``verify_tls``), unlike pyobs' HttpFile, which
stored the option and never used it.

Confinement: HTTP shows a client no symlink, and nginx's WebDAV methods (``PROPFIND``, ``PUT``,
``MKCOL``, ``COPY``, ``MOVE``, ``DELETE``) follow symlinks whatever ``disable_symlinks`` says;
only its ``GET``/``HEAD`` honour it. So with ``require_confinement: true`` the root proves at
first use that the download location refuses a symlink the deployer placed
(:data:`PROBE_NAME`), and before every operation asks that location (``HEAD``) whether the path
passes through a symlink: one it refuses is a :class:`PathEscapeError`. What remains (a symlink
created on the server between the check and the operation; the names of links in a listing) is
documented in ``docs/how-to/http.rst``.

Bounded waits: connecting and every read wait at most ``timeout`` for the server; an upload
(at ``close()``) is watched: no byte sent and no answer for ``timeout`` seconds cancels it with
a :class:`TimeoutError` naming the logical path, and the old file stays.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import errno
import io
import os
import posixpath
import socket
import ssl
import struct
import tempfile
import threading
import time
import uuid
import warnings
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import IO, Any, Literal
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import aiohttp
import yarl
from fsspec.asyn import sync
from fsspec.implementations.http import HTTPFileSystem
from multidict import CIMultiDict, CIMultiDictProxy

from .._atomic import AtomicWriteFile
from .._errors import (
    ConfigError,
    PathEscapeError,
    already_exists,
    connection_refused,
    connection_reset,
    io_error,
    is_a_directory,
    not_empty,
    not_found,
    os_error,
    permission_denied,
    timed_out,
)
from .._paths import INTERNAL_PREFIX
from .._root import Entry
from ._lockfile import temp_name
from ._network import FsspecNetworkRoot
from ._streams import RangedReader, StreamReader, read_upto

__all__ = ["HttpFile"]

UploadMode = Literal["put", "webdav", "pyobs"]
#: aiohttp's read buffer: large enough that a streaming GET keeps up with curl.
READ_BUFSIZE = 2 << 20
#: A forward seek shorter than this inside a stream reads on instead of reconnecting.
SKIP_LIMIT = 1 << 20
_DAV = "{DAV:}"
_PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>'
    b"<D:resourcetype/><D:getcontentlength/><D:getlastmodified/></D:prop></D:propfind>"
)
#: The symlink a deployer places in the root's directory on the server (pointing at any file
#: outside it) so that a root with ``require_confinement`` can prove the server refuses links.
PROBE_NAME = f"{INTERNAL_PREFIX}confinement-probe"
#: Idle keep-alive connections a root keeps for its ranged reads.
IDLE_CONNECTIONS = 4
#: Files whose small blocks (HDF5 metadata) a root keeps across opens (32 x 64 KiB each).
METADATA_FILES = 8
#: Seconds since its last change before a file's blocks are kept across opens.
SETTLED = 2.0
#: Any HTTP status is an answer (the caller decides what it means).
_ANY_STATUS = tuple(range(100, 600))
#: How many bytes an upload hands aiohttp at a time (each one is progress for the watchdog).
UPLOAD_CHUNK = 1 << 20


class HttpFile(FsspecNetworkRoot):
    """Files under a URL (pyobs' options, plus authentication, TLS and upload modes).

    download
        The base URL files are read from (``https://host/data/``).
    upload
        The base URL (``put``, ``webdav``) or endpoint (``pyobs``) writes go to; without it
        the root is read-only.
    upload_mode
        ``pyobs`` (default, pyobs' HttpFileCache), ``webdav`` (atomic, with listing and
        deletes) or ``put``.
    token
        A bearer token (use ``${ENV}`` in YAML).
    username, password
        HTTP basic authentication (use ``${ENV}`` for the password).
    verify_tls
        ``true`` (default: the system's CAs), ``false`` (warns), or the path of a CA bundle.
    require_confinement
        ``true``: do not trust the server to keep paths inside the root. At first use the
        download location must refuse the probe symlink :data:`PROBE_NAME` (nginx:
        ``disable_symlinks on;``), else every operation is a :class:`ConfigError`; then every
        operation first checks (``HEAD`` on the download location) that its path passes
        through no symlink (:class:`PathEscapeError`). See ``docs/how-to/http.rst``.
    prefetch
        ``true`` (default): with ``cache="blocks"``, once a file's large reads (HDF5 chunks)
        move by a steady stride, the next one is fetched on a second connection while the
        caller works on this one (its request is sent; the answer waits in the socket);
        ``false``: every read is its own request, made when it is asked for. See
        ``docs/explanations/performance.rst``.
    """

    extra = "http"

    def __init__(
        self,
        *,
        download: str,
        upload: str | None = None,
        upload_mode: UploadMode = "pyobs",
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        verify_tls: bool | str = True,
        require_confinement: bool = False,
        prefetch: bool = True,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.require_confinement = bool(require_confinement)
        self.prefetch = bool(prefetch)
        self._probed = False
        if upload_mode not in ("put", "webdav", "pyobs"):
            raise ConfigError(f"upload_mode must be put, webdav or pyobs, not {upload_mode!r}")
        self.download, user, pw = _split_credentials(download, "download")
        self.upload = None
        if upload:
            # pyobs posts to its endpoint exactly as written; the other modes name a directory
            self.upload, user2, pw2 = _split_credentials(
                upload, "upload", directory=upload_mode != "pyobs"
            )
            user, pw = user or user2, pw or pw2
        self.upload_mode: UploadMode = upload_mode
        self.username = username or user
        self._password = password if password is not None else pw
        self._token = token
        if isinstance(verify_tls, str) and not os.path.isfile(os.path.expanduser(verify_tls)):
            raise ConfigError(f"verify_tls: no CA bundle at {verify_tls!r}")
        self.verify_tls = (
            os.path.expanduser(verify_tls) if isinstance(verify_tls, str) else verify_tls
        )
        if self.upload is None:
            self.read_only = True  # nowhere to write: every write is a ReadOnlyRootError
        self._auth = self._auth_header()
        self.secrets = frozenset(
            s for s in (token, self._password, self._auth.split(" ")[-1] if self._auth else "") if s
        )
        self._ranges: dict[str, bool] = {}
        self._idle: list[_Wire] = []  # keep-alive connections of the read path
        self._metadata: dict[tuple[str, int, float], OrderedDict[int, bytes]] = {}
        self._idle_lock = threading.Lock()
        self._tls_context: ssl.SSLContext | None = None
        if verify_tls is False:
            warnings.warn(
                f"HttpFile {self.download}: verify_tls is false, so the server's identity is "
                "not checked; give the CA bundle instead (verify_tls: /path/ca.pem)",
                UserWarning,
                stacklevel=2,
            )

    # -- the connection -------------------------------------------------------------------
    def _auth_header(self) -> str | None:
        if self._token:
            return f"Bearer {self._token}"
        if self.username is not None or self._password is not None:
            pair = f"{self.username or ''}:{self._password or ''}".encode()
            return "Basic " + base64.b64encode(pair).decode()
        return None

    def _ssl(self) -> ssl.SSLContext | bool:
        """aiohttp's ``ssl``: ``True`` is its verified default context (the system's CAs,
        made once per process: making one per root cost 20 ms of loading CAs)."""
        if self.verify_tls is False:
            return False
        if isinstance(self.verify_tls, str):
            try:
                return ssl.create_default_context(cafile=self.verify_tls)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    f"verify_tls: cannot load CA bundle {self.verify_tls!r}: {exc}"
                ) from None
        return True

    def _make_fs(self) -> HTTPFileSystem:
        context = self._ssl()
        headers = {"Authorization": self._auth} if self._auth else {}
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.timeout, sock_read=self.timeout
        )

        async def get_client(**kwargs: Any) -> aiohttp.ClientSession:
            return aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=context),
                headers=headers,
                timeout=timeout,
                read_bufsize=READ_BUFSIZE,
                **kwargs,
            )

        return HTTPFileSystem(
            get_client=get_client,
            skip_instance_cache=True,
            block_size=self.block_size,
            encoded=True,
        )

    @property
    def base(self) -> str:
        return self.download.rstrip("/")

    def fs_path(self, rel: str) -> str:
        return _join(self.download, rel)

    def rel_of(self, fs_name: str) -> str:
        for top in filter(None, (self.download, self.upload)):
            path, top_path = urlsplit(fs_name).path, urlsplit(top).path.rstrip("/")
            if path.rstrip("/") == top_path:
                return ""
            if path.startswith(top_path + "/"):
                return unquote(path[len(top_path) + 1 :]).rstrip("/")
        raise io_error(f"the server listed {fs_name!r}, which is not under the root")

    def url(self, rel: str = "") -> str:
        return self.fs_path(rel)

    def close(self) -> None:
        self._fs = None
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    # -- keep-alive connections for the read path ----------------------------------------
    def _connection(self) -> tuple[_Wire, bool]:
        """An idle keep-alive connection (and ``True``: it was used before), or a new one."""
        with self._idle_lock:
            if self._idle:
                return self._idle.pop(), True
        parts = urlsplit(self.download)
        context = None
        if parts.scheme == "https":
            if self._tls_context is None:
                made = self._ssl()
                if not isinstance(made, ssl.SSLContext):
                    made = ssl.create_default_context()
                    if self.verify_tls is False:
                        made.check_hostname = False
                        made.verify_mode = ssl.CERT_NONE
                self._tls_context = made
            context = self._tls_context
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return _Wire(parts.hostname or "", port, self.timeout, context), False

    def _release(self, connection: _Wire) -> None:
        """Keep ``connection`` for the next request (its last response was read whole)."""
        with self._idle_lock:
            if len(self._idle) < IDLE_CONNECTIONS:
                self._idle.append(connection)
                return
        connection.close()

    def _exchange(
        self, method: str, url: str, headers: dict[str, str], sink: _Sink | None = None
    ) -> tuple[int, CIMultiDict[str], int]:
        """One request on a blocking keep-alive connection (:class:`_Wire`), not on fsspec's
        event loop: the read path (``HEAD``, ranged ``GET``, ``read_bytes``) is round
        trips, and handing each one to another thread and back cost more than the request
        itself (on a busy machine, many times more). ``sink(status, length)`` says where the
        body goes (``None``: discarded); the answer is the status, the headers and the bytes
        received.

        A connection the server closed while idle is replaced at once; other errors are
        built-in ones (as :meth:`_builtin` makes them), retried by the readers.
        """
        target = urlsplit(url)
        path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        if self._auth:
            headers = {**headers, "Authorization": self._auth}
        while True:
            try:
                connection, reused = self._connection()
            except OSError as exc:
                raise self._plain_error(exc, connected=False) from None
            try:
                status, answer, got, keep = connection.exchange(method, path, headers, sink)
            except _StaleConnectionError:
                connection.close()
                if reused:
                    continue  # the server closed it while it was idle
                raise self._plain_error(ConnectionResetError(), connected=True) from None
            except OSError as exc:
                connection.close()
                raise self._plain_error(exc, connected=reused) from None
            except BaseException:
                connection.close()
                raise
            break
        if keep:
            self._release(connection)
        else:
            connection.close()
        return status, answer, got

    def _plain_error(self, exc: BaseException, *, connected: bool) -> BaseException:
        """The socket's errors as :meth:`_builtin` words aiohttp's."""
        where = urlsplit(self.download).netloc
        if isinstance(exc, ssl.SSLError):
            return os_error(
                OSError,
                f"TLS verification of {where} failed ({exc}); set verify_tls to the CA "
                "bundle that signed the server's certificate",
                code=errno.EPROTO,
            )
        if isinstance(exc, TimeoutError):
            return timed_out(f"no answer from {where} within {self.timeout:g} s (timeout)")
        if isinstance(exc, _BadResponseError) or (connected and isinstance(exc, ConnectionError)):
            return connection_reset(f"lost the connection to {where}")
        return connection_refused(f"cannot connect to {where}")

    def _head(self, url: str) -> tuple[int, CIMultiDict[str]]:
        """``HEAD url`` (no redirect followed): the status and the headers."""
        status, headers, _ = self._exchange("HEAD", url, {})
        return status, headers

    def _get_range_into(self, url: str, offset: int, view: memoryview) -> int:
        """One ``GET`` with ``Range: bytes=offset-(offset+len-1)``, received into ``view``."""
        headers = {"Range": f"bytes={offset}-{offset + len(view) - 1}"}
        status, _, got = self._exchange(
            "GET", url, headers, lambda s, n: view if s == 206 else None
        )
        if status == 416:  # past the end
            return 0
        if status == 200:
            self._ranges[url] = False
            raise io_error(f"HTTP 200 for a ranged GET {url}: the server ignores Range")
        if status != 206:
            raise self._status_error(status, "GET", url)
        return got

    def _send_range(self, url: str, offset: int, length: int) -> _Wire | None:
        """Send a ranged ``GET`` on a connection of its own and return it, its answer
        unread (see :class:`_AheadGets`); ``None`` if the request could not be sent."""
        target = urlsplit(url)
        path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        headers = {"Range": f"bytes={offset}-{offset + length - 1}"}
        if self._auth:
            headers["Authorization"] = self._auth
        try:
            connection, _ = self._connection()
        except OSError:
            return None
        try:
            connection.send("GET", path, headers)
        except (OSError, _StaleConnectionError):
            connection.close()
            return None
        return connection

    def _answer_range(self, connection: _Wire, skip: int, view: memoryview) -> bool:
        """Receive the answer :meth:`_send_range` asked for: its bytes from ``skip`` on into
        ``view``. ``False`` on any error or a short answer; the caller then asks again
        itself, so an error is reported by a request of its own."""

        def sink(status: int, length: int) -> list[memoryview] | None:
            if status != 206:
                return None
            return [memoryview(bytearray(skip)), view] if skip else [view]

        try:
            status, _, got, keep = connection.answer("GET", sink)
        except (OSError, _StaleConnectionError):
            connection.close()
            return False
        if keep:
            self._release(connection)
        else:
            connection.close()
        return status == 206 and got >= skip + len(view)

    # -- requests -------------------------------------------------------------------------
    def _run(self, coro_fn: Callable[[], Awaitable[Any]], progress: _Progress | None = None) -> Any:
        """Run a coroutine on fsspec's loop with aiohttp errors made into built-in ones.

        aiohttp bounds connecting and each wait for the server's bytes (``sock_connect``,
        ``sock_read``), but not sending: a request with a body (an upload) passes a
        ``progress`` that its body ticks, and is cancelled when neither a chunk went out nor
        the answer came within ``timeout`` (a frozen server stops draining the socket).
        The built-in error has neither cause nor context: aiohttp's errors hold the request
        headers (``Authorization``).
        """
        fs = self.fs
        call = coro_fn if progress is None else self._watched(coro_fn, progress)
        try:
            return sync(fs.loop, call, timeout=None)
        except Exception as exc:  # noqa: BLE001  # every error is mapped below
            error = self._builtin(exc)
            if error is exc:
                raise
            self._scrub(exc)
        raise error  # outside the except block: no __context__ holding aiohttp's error

    def _watched(
        self, coro_fn: Callable[[], Awaitable[Any]], progress: _Progress
    ) -> Callable[[], Awaitable[Any]]:
        async def watched() -> Any:
            task = asyncio.ensure_future(coro_fn())
            try:
                while True:
                    left = self.timeout - (time.monotonic() - progress.last)
                    if left <= 0:
                        raise TimeoutError("the upload made no progress")
                    done, _ = await asyncio.wait({task}, timeout=left)
                    if done:
                        return task.result()
            finally:
                if not task.done():
                    task.cancel()
                    try:
                        await task
                    except BaseException:  # noqa: BLE001  # cancelled: the timeout is the error
                        pass

        return watched

    def _request(
        self,
        method: str,
        url: str,
        *,
        ok: tuple[int, ...] = (200,),
        progress: _Progress | None = None,
        **kwargs: Any,
    ) -> tuple[int, dict[str, str], bytes]:
        async def call() -> tuple[int, dict[str, str], bytes]:
            session = await self.fs.set_session()
            async with session.request(method, yarl.URL(url, encoded=True), **kwargs) as r:
                body = await r.read() if method not in ("HEAD", "PUT", "MOVE") else b""
                return r.status, dict(r.headers), body

        status, headers, body = self._run(call, progress)
        if status not in ok:
            raise self._status_error(status, method, url)
        return status, headers, body

    def _status_error(self, status: int, method: str, url: str) -> OSError:
        what = f"HTTP {status} for {method} {url}"
        if status == 404:
            return not_found(f"no such file or directory ({what})")
        if status in (401, 403):
            hint = "check the token" if self._token else "check the username and password"
            if self._auth is None:
                hint = "the server wants credentials: set token or username/password"
            return permission_denied(f"access denied ({what}): {hint}")
        if status == 412:
            return already_exists(f"already exists ({what})")
        if status == 409:
            return not_found(f"the parent collection does not exist ({what})")
        if status in (405, 501):
            return permission_denied(f"the server does not allow {method} ({what})")
        return io_error(what)

    def _builtin(self, exc: BaseException) -> BaseException:
        if isinstance(exc, aiohttp.ClientResponseError):
            return self._status_error(
                exc.status, exc.request_info.method, str(exc.request_info.url)
            )
        if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError)):
            return os_error(
                OSError,
                f"TLS verification of {urlsplit(self.download).netloc} failed ({exc}); set "
                "verify_tls to the CA bundle that signed the server's certificate",
                code=errno.EPROTO,
            )
        if isinstance(exc, aiohttp.ClientConnectorError):
            return connection_refused(f"cannot connect to {urlsplit(self.download).netloc}")
        if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)) or (
            isinstance(exc, aiohttp.ClientOSError)
            and exc.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED)
        ):  # a reset is a ConnectionError, also when it comes as the server dies
            return connection_reset(f"lost the connection to {urlsplit(self.download).netloc}")
        if isinstance(exc, aiohttp.ClientError):
            return io_error(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, TimeoutError):
            where = urlsplit(self.download).netloc
            return timed_out(f"no answer from {where} within {self.timeout:g} s (timeout)")
        return exc

    def _scrub(self, exc: BaseException) -> BaseException:
        """Also drop the request headers aiohttp keeps in its errors (``repr`` shows them,
        ``Authorization`` included): in ``request_info``, in ``args`` (a
        ``ClientResponseError`` keeps its ``RequestInfo`` there too) and in ``history``,
        along the whole chain of causes and contexts."""
        todo: list[BaseException] = [exc]
        seen: set[int] = set()
        while todo:
            current = todo.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            super()._scrub(current)
            info = getattr(current, "request_info", None)
            if isinstance(info, aiohttp.RequestInfo):
                current.request_info = _headerless(info)  # type: ignore[attr-defined]
            current.args = tuple(
                _headerless(a) if isinstance(a, aiohttp.RequestInfo) else a for a in current.args
            )
            if getattr(current, "history", None):
                current.history = ()  # type: ignore[attr-defined]  # responses: their requests
            todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        return exc

    def map_error(self, exc: BaseException) -> BaseException | None:
        mapped = self._builtin(exc)
        return mapped if mapped is not exc else None

    def is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError)):
            return False
        if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)):
            return True
        return super().is_transient(exc)

    # -- confinement ----------------------------------------------------------------------
    def confine(self, rel: str) -> None:
        """With ``require_confinement``: the server must refuse the probe link, and ``rel``
        must pass through no symlink (as the download location, which honours
        ``disable_symlinks``, answers a ``HEAD``)."""
        if not self.require_confinement:
            return
        with self.translate(self.logical(rel)):
            self._check_probe()
            self._check_path(rel)

    def _status(self, rel: str, *, slash: bool = False) -> int:
        url = self.fs_path(rel) + ("/" if slash and rel else "")
        status, _, _ = self._request("HEAD", url, ok=_ANY_STATUS, allow_redirects=False)
        return status

    def _check_probe(self) -> None:
        if self._probed:
            return
        where = self.fs_path(PROBE_NAME)
        status = self._status(PROBE_NAME)
        if status == 404:
            raise ConfigError(
                f"root /{self.name}: require_confinement is set, but the server has no probe "
                f"link at {where}; on the server, create a symlink from the root's directory "
                f"to any file outside it: ln -s /etc/hostname <directory>/{PROBE_NAME} "
                "(see docs/how-to/http.rst)"
            )
        if status != 403:
            raise ConfigError(
                f"root /{self.name}: require_confinement is set, but the server follows the "
                f"probe symlink {where} (HTTP {status}): a symlink in the root could lead out "
                "of it. Configure the server to refuse symlinks (nginx: disable_symlinks on; "
                "see docs/how-to/http.rst)"
            )
        self._probed = True

    def _check_path(self, rel: str) -> None:
        """Refuse ``rel`` if the server refuses to follow one of its components.

        With ``disable_symlinks on`` nginx answers a ``HEAD`` through a symlink with 403 (the
        link is the last component) or 404 (one above it): 200 or a redirect means no
        component is a link. On a 404 the components are asked one by one from the top, down
        to the first one missing (nothing below it exists to escape through).
        """
        if not rel:
            return
        status = self._status(rel)
        if status in (200, 301, 302, 307, 308):
            return
        if status == 403:
            raise self._escape(rel, rel)
        if status != 404:
            return  # the operation itself reports it (401, 5xx)
        parent = posixpath.dirname(rel)
        if not parent or self._status(parent, slash=True) == 200:
            return  # the parent is a directory reached without a link; rel is missing
        parts = rel.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            status = self._status(prefix)
            if status == 403:
                raise self._escape(rel, prefix)
            if status not in (301, 302, 307, 308):
                return  # missing (or a file): nothing below it to escape through

    def _escape(self, rel: str, link: str) -> PathEscapeError:
        return PathEscapeError(
            f"{self.logical(rel)}: the server refuses {self.logical(link)} (HTTP 403), a "
            f"symlink it does not follow or a file it may not read; root /{self.name} "
            "(require_confinement) never passes through a symlink on the server"
        )

    # -- metadata -------------------------------------------------------------------------
    @property
    def _dav(self) -> bool:
        return self.upload is not None and self.upload_mode == "webdav"

    def info(self, rel: str) -> Entry:
        if rel == "":
            return {"name": self.logical(""), "size": 0, "type": "directory", "mtime": None}
        if self._dav:
            entries = self._propfind(rel, depth=0)
            if entries:
                return {**entries[0], "name": self.logical(rel)}
        return self._head_info(rel)

    def _head_info(self, rel: str) -> Entry:
        url = self.fs_path(rel)
        status, headers = self._head(url)  # on a keep-alive connection: no loop hop
        if status in (405, 501):  # a server without HEAD: the headers of a GET
            status, headers = self._get_headers(url)
        elif status not in (200, 301, 302, 404):
            raise self._status_error(status, "HEAD", url)
        if status == 200:
            self._ranges[url] = headers.get("Accept-Ranges", "").lower() == "bytes"
            return self._file_entry(rel, headers.get("Content-Length"), headers)
        location = headers.get("Location", "")
        if status == 404:
            status, _ = self._head(url + "/")
            if status not in (200, 404):
                raise self._status_error(status, "HEAD", url + "/")
        if status in (200, 301, 302) and (status == 200 or location.endswith("/")):
            return {"name": self.logical(rel), "size": 0, "type": "directory", "mtime": None}
        raise not_found("no such file or directory")

    def _get_headers(self, url: str) -> tuple[int, dict[str, str]]:
        async def call() -> tuple[int, dict[str, str]]:
            session = await self.fs.set_session()
            async with session.get(yarl.URL(url, encoded=True), allow_redirects=False) as r:
                r.close()  # the headers are all we need
                return r.status, dict(r.headers)

        status, headers = self._run(call)
        if status not in (200, 301, 302, 404):
            raise self._status_error(status, "GET", url)
        return status, headers

    def _file_entry(self, rel: str, size: Any, headers: dict[str, str]) -> Entry:
        return {
            "name": self.logical(rel),
            "size": int(size or 0),
            "type": "file",
            "mtime": _http_date(headers.get("Last-Modified")),
        }

    def _kind(self, rel: str) -> str | None:
        """``"file"``, ``"directory"`` or ``None`` (missing), in one request."""
        try:
            return self.info(rel)["type"]
        except FileNotFoundError:
            return None

    def exists(self, rel: str) -> bool:
        return self._kind(rel) is not None

    def isdir(self, rel: str) -> bool:
        return rel == "" or self._kind(rel) == "directory"

    def isfile(self, rel: str) -> bool:
        return rel != "" and self._kind(rel) == "file"

    def size(self, rel: str) -> int | None:
        return self.info(rel)["size"]

    def ls(self, rel: str) -> list[Entry]:
        if self._dav:
            entries = self._propfind(rel, depth=1)
            return [e for e in entries[1:] if not _internal(e["name"])]
        url = self.fs_path(rel) + "/"
        try:
            names = self.fs.ls(url, detail=False)
        except FileNotFoundError:
            if rel == "":
                return []
            raise
        out = []
        for name in names:
            try:
                sub = self.rel_of(name)
            except OSError:
                continue  # a link out of the root (parent directory, another site)
            if not sub or sub == rel or _internal(sub) or "/" in sub[len(rel) + 1 if rel else 0 :]:
                continue
            kind = "directory" if name.endswith("/") else "file"
            out.append({"name": self.logical(sub), "size": 0, "type": kind, "mtime": None})
        return out

    def _propfind(self, rel: str, depth: int) -> list[Entry]:
        url = _join(self.upload or self.download, rel)
        if depth or not rel:
            url += "/"  # a collection: nginx refuses PROPFIND on its name without the slash
        _, _, body = self._request(
            "PROPFIND",
            url,
            ok=(207,),
            data=_PROPFIND_BODY,
            headers={"Depth": str(depth), "Content-Type": "application/xml"},
        )
        entries = [self._dav_entry(r) for r in ET.fromstring(body).iter(f"{_DAV}response")]
        entries.sort(key=lambda e: len(e["name"]))  # the collection itself first
        return entries

    def _dav_entry(self, response: ET.Element) -> Entry:
        href = response.findtext(f"{_DAV}href") or ""
        sub = self.rel_of(href)
        prop = response.find(f".//{_DAV}prop")
        is_dir = prop is not None and prop.find(f"{_DAV}resourcetype/{_DAV}collection") is not None
        size = prop.findtext(f"{_DAV}getcontentlength") if prop is not None else None
        modified = prop.findtext(f"{_DAV}getlastmodified") if prop is not None else None
        return {
            "name": self.logical(sub),
            "size": 0 if is_dir else int(size or 0),
            "type": "directory" if is_dir else "file",
            "mtime": _http_date(modified),
        }

    # -- reading --------------------------------------------------------------------------
    def read_bytes(self, rel: str) -> bytes:
        """The whole file in one ``GET`` (no ``HEAD`` first) on a keep-alive connection of
        the read path, received into one buffer of its ``Content-Length``. A redirect (a
        directory without its slash) or a body of unknown length goes the general way,
        which says what is there."""
        if rel:
            url = self.fs_path(rel)
            status, body = self.retrying(lambda: self._get_whole(url))
            if body is not None:
                return body
            if status not in (200, 301, 302, 303, 307, 308):
                raise self._status_error(status, "GET", url)
        return super().read_bytes(rel)

    def _get_whole(self, url: str) -> tuple[int, bytes | None]:
        """``GET url`` (no redirect followed): the status and, for a ``200`` of known
        length, the body."""
        buffers: list[bytearray] = []

        def sink(status: int, length: int) -> memoryview | None:
            if status != 200:
                return None
            buffers.append(bytearray(length))
            return memoryview(buffers[0])

        status, _, got = self._exchange("GET", url, {}, sink)
        if not buffers or got != len(buffers[0]):
            return status, None
        return status, bytes(buffers[0])

    def open_remote(self, rel: str, offset: int, **options: Any) -> IO[bytes]:
        url = self.fs_path(rel)
        info = self._head_info(rel)
        if info["type"] == "directory":
            raise is_a_directory("is a directory")
        size = info["size"]
        if options.get("cache_type") == "readahead" or size == 0:
            reader: IO[bytes] = _StreamReader(self, url, size, offset)
            return reader
        if not self._ranges.get(url, False):
            local = open(self.cached_copy(rel), "rb")  # noqa: SIM115  # the caller closes it
            local.seek(offset)
            return local
        blocks = self._blocks_of(url, size, info.get("mtime"))
        return _RangeGetReader(self, url, size, offset, options.get("block_size"), blocks)

    def _blocks_of(self, url: str, size: int, mtime: float | None) -> OrderedDict[int, bytes]:
        """The small blocks (HDF5 metadata) of ``url``, kept across opens while its size and
        modification time stay the same, as the whole-file cache does: a handler or a tiled
        server opens a file per request, and each open read the same superblock and B-tree
        nodes again (one round trip per node). A file changed in the last
        :data:`SETTLED` seconds, or without a ``Last-Modified``, gets blocks of its own."""
        if mtime is None or time.time() - mtime < SETTLED:
            return OrderedDict()
        key = (url, size, mtime)
        with self._idle_lock:
            blocks = self._metadata.pop(key, None)
            if blocks is None:
                for old in [k for k in self._metadata if k[0] == url]:
                    del self._metadata[old]  # an earlier version of the file
                blocks = OrderedDict()
            self._metadata[key] = blocks  # the most recent last
            while len(self._metadata) > METADATA_FILES:
                self._metadata.pop(next(iter(self._metadata)))
        return blocks

    # -- writing --------------------------------------------------------------------------
    def open_write(self, rel: str, mode: str, release: Any) -> AtomicWriteFile:
        if self._dav and self.isdir(rel):
            raise is_a_directory("is a directory")
        if mode == "xb" and self.exists(rel):
            raise already_exists("already exists")
        spool = tempfile.TemporaryFile(prefix=".~vfs-upload-")  # noqa: SIM115
        if mode == "ab" and self.exists(rel):
            with self.open_read(rel, "stream") as src:
                _copy(src, spool)

        def commit() -> None:
            spool.flush()
            with self.translate(self.logical(rel)):  # errors at close() name the path too
                self._upload(rel, spool, exclusive=mode == "xb")

        def discard() -> None:
            spool.close()

        return AtomicWriteFile(
            _Spool(spool), name=self.logical(rel), commit=commit, discard=discard, release=release
        )

    def _upload(self, rel: str, spool: IO[bytes], *, exclusive: bool) -> None:
        spool.seek(0)
        try:
            if self.upload_mode == "pyobs":
                self._post_form(rel, spool)
            elif self.upload_mode == "put":
                self._put(_join(self.upload or "", rel), spool)
            else:
                self._dav_put(rel, spool, exclusive=exclusive)
        finally:
            spool.close()

    def _put(self, url: str, spool: IO[bytes]) -> None:
        """``PUT`` the spool, watched: a server that stops taking bytes is a timeout."""
        progress = _Progress()
        body = _TickingReader(spool, progress)
        self._request("PUT", url, ok=(200, 201, 204), data=body, progress=progress)

    def _post_form(self, rel: str, spool: IO[bytes]) -> None:
        progress = _Progress()
        form = aiohttp.FormData()
        form.add_field(
            "file",
            _TickingReader(spool, progress),
            filename=rel,
            content_type="application/octet-stream",
        )
        self._request("POST", self.upload or "", ok=(200, 201, 204), data=form, progress=progress)

    def _dav_put(self, rel: str, spool: IO[bytes], *, exclusive: bool) -> None:
        parent = posixpath.dirname(rel)
        if parent:
            self._mkcol_all(parent)
        head, _, tail = rel.rpartition("/")
        temp = f"{head}/" if head else ""
        temp += temp_name(tail, _token())  # within 255 bytes for any legal name
        temp_url = _join(self.upload or "", temp)
        try:
            self._put(temp_url, spool)
        except BaseException:
            self._delete_quietly(temp_url)  # a half-sent body nginx may have kept
            raise
        try:
            self._move(temp_url, _join(self.upload or "", rel), overwrite=not exclusive)
        except BaseException:
            self._delete_quietly(temp_url)
            raise

    def _move(self, src_url: str, dst_url: str, *, overwrite: bool) -> None:
        headers = {"Destination": dst_url, "Overwrite": "T" if overwrite else "F"}
        self._request("MOVE", src_url, ok=(201, 204), headers=headers)

    def _mkcol_all(self, rel: str) -> None:
        if self.isdir(rel):
            return
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            self._request(
                "MKCOL", _join(self.upload or "", "/".join(parts[:i])) + "/", ok=(201, 405)
            )  # 405: it exists

    def _delete_quietly(self, url: str) -> None:
        try:
            self._request("DELETE", url, ok=(200, 204, 404))
        except OSError:
            pass

    def _writable_base(self) -> str:
        if self.upload is None or self.upload_mode == "pyobs":
            raise permission_denied(
                f"upload_mode {self.upload_mode} cannot change the tree; use webdav or put"
            )
        return self.upload

    def makedirs(self, rel: str, exist_ok: bool = True) -> None:
        self._writable_base()
        if self.isfile(rel):
            raise already_exists("a file exists where a directory was asked for")
        if not exist_ok and self.isdir(rel):
            raise already_exists("already exists")
        self._mkcol_all(rel)

    def remove(self, rel: str) -> None:
        base = self._writable_base()
        if self.isdir(rel):
            raise is_a_directory("is a directory; use rmdir")
        self._request("DELETE", _join(base, rel), ok=(200, 204))

    def rmdir(self, rel: str, recursive: bool = False) -> None:
        base = self._writable_base()
        if not self.isdir(rel):
            kind = NotADirectoryError if self.exists(rel) else FileNotFoundError
            raise kind(20 if kind is NotADirectoryError else 2, "not a directory")
        if not recursive and self.ls(rel):
            raise not_empty("directory not empty; pass recursive=True to remove its content")
        self._request(
            "DELETE", _join(base, rel) + "/", ok=(200, 204), headers={"Depth": "infinity"}
        )

    def rename(self, src: str, dst: str) -> None:
        base = self._writable_base()
        if dst.startswith(f"{src}/") or not src:
            # nginx answers a failed rename into itself by copying the tree into itself
            raise _into_itself(self.logical(src), self.logical(dst))
        if self.upload_mode != "webdav":
            raise NotImplementedError  # the VFS copies, then deletes
        if self.isdir(dst) and not self.isdir(src):
            raise is_a_directory("the destination is a directory")
        slash = "/" if self.isdir(src) else ""
        parent = posixpath.dirname(dst)
        if parent:
            self._mkcol_all(parent)
        self._move(_join(base, src) + slash, _join(base, dst) + slash, overwrite=True)


class _Progress:
    """When an upload last moved (a chunk read for sending, or the answer)."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def tick(self) -> None:
        self.last = time.monotonic()


class _TickingReader(io.RawIOBase):
    """The spool as aiohttp reads it for sending: every chunk read is progress.

    aiohttp reads a chunk, then waits until the socket takes it; when the server stops
    reading, no further chunk is read and the watchdog of :meth:`HttpFile._run` fires.
    ``fileno`` and ``tell`` give aiohttp the ``Content-Length``.
    """

    def __init__(self, f: IO[bytes], progress: _Progress) -> None:
        super().__init__()
        self._f = f
        self._progress = progress

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self._progress.tick()
        data = self._f.read(UPLOAD_CHUNK if size is None or size < 0 else min(size, UPLOAD_CHUNK))
        self._progress.tick()
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def fileno(self) -> int:
        return self._f.fileno()

    def close(self) -> None:  # the spool is closed by its owner, after the upload
        super().close()


class _Spool(io.BufferedIOBase):
    """The local spool a writer fills; closing it does not delete it (the upload reads it)."""

    def __init__(self, f: IO[bytes]) -> None:
        super().__init__()
        self._f = f
        self.write = f.write  # type: ignore[method-assign]

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def flush(self) -> None:
        if not self._f.closed:
            self._f.flush()

    def fileno(self) -> int:
        return self._f.fileno()


class _StreamReader(StreamReader):
    """One streaming ``GET`` read in order; a seek away from the stream reconnects there.

    Works on servers without ``Range`` support too, as long as reads go forward (the bytes
    before the offset are skipped). A seek only moves the position (the base's ``_move``):
    the next read decides whether the open response can still serve it (a short forward
    skip) or a new ``GET`` starts there.
    """

    def __init__(self, root: HttpFile, url: str, size: int, pos: int) -> None:
        super().__init__(pos, size)
        self._root = root
        self._url = url
        self._response: aiohttp.ClientResponse | None = None
        self._at = 0  # the stream's position

    def read(self, size: int | None = -1) -> bytes:
        """The rest in one read when ``size`` is negative (the response is already open)."""
        left = self._remaining()
        size = left if size is None or size < 0 else min(size, left)
        if size <= 0:
            return b""
        parts: list[bytes] = []

        async def receive(content: aiohttp.StreamReader) -> int:
            parts.append(await read_upto(content, size))
            return len(parts[0])

        self._receive(size, receive)
        return parts[0]

    def readinto(self, buffer: Any) -> int:
        """Copies aiohttp's chunks straight into ``buffer`` (no joined bytes in between)."""
        view = memoryview(buffer).cast("B")
        size = min(len(view), self._remaining())
        if size <= 0:
            return 0

        async def receive(content: aiohttp.StreamReader) -> int:
            got = 0
            while got < size:
                chunk = await content.read(size - got)
                if not chunk:
                    break
                view[got : got + len(chunk)] = chunk
                got += len(chunk)
            return got

        return self._receive(size, receive)

    def _receive(self, size: int, receive: Callable[[aiohttp.StreamReader], Awaitable[int]]) -> int:
        """Run ``receive`` on the body at the position, which answers how many bytes it got.

        A response that cannot reach the position (it is behind, or more than
        :data:`SKIP_LIMIT` ahead) is replaced by a new ``GET`` there; the bytes before the
        position are skipped. Fewer than ``size`` bytes means the server ended the stream.
        """
        if self._response is None or not 0 <= self._pos - self._at <= SKIP_LIMIT:
            self._connect()
        assert self._response is not None
        content = self._response.content
        skip = self._pos - self._at

        async def run() -> int:
            left = skip
            while left:
                chunk = await content.read(min(left, SKIP_LIMIT))
                if not chunk:
                    return 0
                left -= len(chunk)
            return await receive(content)

        got = self._root._run(run)
        self._at = self._pos = self._pos + got
        if got < size:
            raise connection_reset(f"the server closed the stream at byte {self._pos}")
        return got

    def _connect(self) -> None:
        self._disconnect()
        headers = {"Range": f"bytes={self._pos}-"} if self._pos else {}

        async def start() -> aiohttp.ClientResponse:
            session = await self._root.fs.set_session()
            return await session.get(yarl.URL(self._url, encoded=True), headers=headers)

        response = self._root._run(start)
        if response.status not in (200, 206):
            self._root._run(_closer(response))
            raise self._root._status_error(response.status, "GET", self._url)
        self._response = response
        self._at = self._pos if response.status == 206 else 0  # 200: the server ignores Range

    def _disconnect(self) -> None:
        if self._response is not None:
            response, self._response = self._response, None
            try:
                self._root._run(_closer(response))
            except Exception:  # noqa: BLE001  # the link is already gone
                pass

    def close(self) -> None:
        self._disconnect()
        super().close()


class _StaleConnectionError(Exception):
    """The connection was closed before any answer (a kept connection the server dropped)."""


class _BadResponseError(OSError):
    """An answer that is not HTTP/1.x as this client reads it."""


#: The most header bytes an answer may have.
MAX_HEADER = 64 << 10
#: Where an answer's body goes: ``sink(status, content_length)`` gives a buffer, or ``None``
#: to discard it.
_Sink = Callable[[int, int], "memoryview | list[memoryview] | None"]


class _Wire:
    """One blocking keep-alive HTTP/1.1 connection for the read path: ``HEAD`` and ranged
    ``GET``.

    ``http.client`` parses every answer's headers with the ``email`` package and wraps the
    socket in a buffered file per response, a fifth of the time of a ranged read of a
    512 KiB chunk on loopback. This reads the status line and headers itself and receives a
    ``206`` body straight into the caller's buffer. Anything it does not expect (no
    ``Content-Length``, a chunked body) ends the connection after the answer.
    """

    def __init__(self, host: str, port: int, timeout: float, context: ssl.SSLContext | None):
        sock = _connect(host, port, timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if context is not None:
                sock = context.wrap_socket(sock, server_hostname=host)
            else:
                _kernel_timeouts(sock, timeout)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        # a plain socket receives a whole body in one call, outside the GIL (MSG_WAITALL)
        self._waitall = socket.MSG_WAITALL if context is None else 0
        default = 443 if context is not None else 80
        self._host = host if port == default else f"{host}:{port}"
        if ":" in host and not host.startswith("["):
            self._host = f"[{host}]" + ("" if port == default else f":{port}")
        self._buf = bytearray()

    def close(self) -> None:
        self._sock.close()

    def exchange(
        self, method: str, path: str, headers: dict[str, str], sink: _Sink | None
    ) -> tuple[int, CIMultiDict[str], int, bool]:
        """Send one request, read its answer whole: (status, headers, bytes put where
        ``sink(status, length)`` said, whether the connection can be used again)."""
        self.send(method, path, headers)
        return self.answer(method, sink)

    def send(self, method: str, path: str, headers: dict[str, str]) -> None:
        """Send a request (its answer is read by :meth:`answer`, now or later)."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        try:
            self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        except ConnectionError:
            raise _StaleConnectionError from None
        except BlockingIOError:  # SO_SNDTIMEO ran out
            raise TimeoutError from None

    def answer(self, method: str, sink: _Sink | None) -> tuple[int, CIMultiDict[str], int, bool]:
        """Read the answer to the request sent last, as :meth:`exchange` says. ``sink`` may
        give one buffer or several, filled in turn (the rest of the body is discarded)."""
        status, answer = self._read_head()
        length_text = answer.get("Content-Length")
        chunked = "chunked" in answer.get("Transfer-Encoding", "").lower()
        keep = answer.get("Connection", "").lower() != "close" and not chunked
        if method == "HEAD" or status in (204, 304):
            return status, answer, 0, keep
        if length_text is None or chunked:
            return status, answer, 0, False  # a body we do not read: the connection ends
        length = int(length_text)
        into = sink(status, length) if sink is not None else None
        got = 0
        for view in [into] if isinstance(into, memoryview) else into or ():
            got += self._receive(view[: min(len(view), length - got)])
        rest = length - got
        if rest > 1 << 20:
            return status, answer, got, False
        if rest:
            self._receive(memoryview(bytearray(rest)))
        return status, answer, got, keep

    def _read_head(self) -> tuple[int, CIMultiDict[str]]:
        buf = self._buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            if len(buf) > MAX_HEADER:
                raise _BadResponseError("the answer's headers are too long")
            try:
                chunk = self._sock.recv(MAX_HEADER)
            except BlockingIOError:  # SO_RCVTIMEO ran out
                raise TimeoutError from None
            if not chunk:
                if not buf:
                    raise _StaleConnectionError
                raise _BadResponseError("the connection closed inside the answer's headers")
            buf += chunk
        head = buf[:end].decode("latin-1").split("\r\n")
        del buf[: end + 4]
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise _BadResponseError(f"not an HTTP/1.x answer: {head[0][:80]!r}")
        answer: CIMultiDict[str] = CIMultiDict()
        for line in head[1:]:
            name, _, value = line.partition(":")
            answer.add(name.strip(), value.strip())
        if parts[0] == "HTTP/1.0" and answer.get("Connection", "").lower() != "keep-alive":
            answer["Connection"] = "close"
        return int(parts[1]), answer

    def _receive(self, view: memoryview) -> int:
        """Fill ``view``: first what came with the headers, then from the socket."""
        got = min(len(self._buf), len(view))
        view[:got] = self._buf[:got]
        del self._buf[:got]
        while got < len(view):
            try:
                n = self._sock.recv_into(view[got:], 0, self._waitall)
            except BlockingIOError:  # SO_RCVTIMEO ran out
                raise TimeoutError from None
            if not n:
                raise _BadResponseError("the connection closed inside the answer's body")
            got += n
        return got


#: Receive buffer of a read-path connection: room for a whole chunk requested ahead
#: (see :mod:`._prefetch`) to arrive while the caller works, instead of 128 KiB of it.
RECEIVE_BUFFER = 1 << 20


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    """``socket.create_connection`` with :data:`RECEIVE_BUFFER` set before the connection
    is made (the TCP window scale is agreed then)."""
    error: OSError | None = None
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"cannot resolve {host}")


def _kernel_timeouts(sock: socket.socket, timeout: float) -> None:
    """Make ``sock`` blocking with the timeout kept by the kernel (``SO_RCVTIMEO``,
    ``SO_SNDTIMEO``), so ``MSG_WAITALL`` can wait for a whole body in one call; Python's
    own timeout makes the socket non-blocking, where ``MSG_WAITALL`` returns at once."""
    whole = int(timeout)
    value = struct.pack("ll", whole, int((timeout - whole) * 1e6))
    sock.settimeout(None)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)


class _RangeGetReader(RangedReader):
    """``cache="blocks"`` over HTTP: ranged ``GET`` requests on keep-alive connections (see
    :class:`RangedReader` for which reads are direct and which come from blocks)."""

    def __init__(
        self,
        root: HttpFile,
        url: str,
        size: int,
        pos: int,
        block_size: int | None,
        blocks: OrderedDict[int, bytes] | None = None,
    ) -> None:
        ahead = _AheadGets(root, url) if root.prefetch else None
        block_size = block_size or root.block_size
        super().__init__(pos, size, block_size=block_size, ahead=ahead, blocks=blocks)
        self._root = root
        self._url = url

    def _fetch_into(self, offset: int, view: memoryview) -> int:
        return self._root._get_range_into(self._url, offset, view)


class _AheadGets:
    """Read-ahead over HTTP (:class:`~._prefetch.AheadTransport`): the ranged ``GET`` for
    the next chunk is sent on a keep-alive connection of its own and its answer read when
    the chunk is asked for; the answer to a request that is not needed is read and dropped."""

    def __init__(self, root: HttpFile, url: str) -> None:
        self._root = root
        self._url = url

    def start(self, offset: int, length: int) -> _Wire | None:
        return self._root._send_range(self._url, offset, length)

    def finish(self, handle: _Wire, skip: int, view: memoryview) -> bool:
        return self._root._answer_range(handle, skip, view)

    def abandon(self, handle: _Wire) -> None:
        # read and drop the answer (it is on its way; closing the connection instead made
        # the next request on another one wait 40 ms for nginx in tests)
        self._root._answer_range(handle, 0, memoryview(bytearray()))


def _closer(response: aiohttp.ClientResponse) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        response.close()

    return close


def _headerless(info: aiohttp.RequestInfo) -> aiohttp.RequestInfo:
    """``info`` without its headers (``Authorization``)."""
    no_headers = CIMultiDictProxy(CIMultiDict())
    return aiohttp.RequestInfo(info.url, info.method, no_headers, info.real_url)


def _into_itself(src: str, dst: str) -> OSError:
    return os_error(
        OSError,
        f"cannot move {src} into itself ({dst}): the destination is inside the source",
        code=errno.EINVAL,
    )


def _split_credentials(
    url: str, option: str, *, directory: bool = True
) -> tuple[str, str | None, str | None]:
    """The URL without ``user:password@`` (never shown), and the credentials it held.

    A ``directory`` URL gets a trailing '/', so relative names join under it; an endpoint
    (pyobs' upload URL) is kept as written: its server may route ``/upload`` and not
    ``/upload/``.
    """
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(f"HttpFile '{option}' must be an http(s) URL, not {url!r}")
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    if directory and not clean.endswith("/"):
        clean += "/"
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return clean, user, password


def _join(base: str, rel: str) -> str:
    return base.rstrip("/") + ("/" + quote(rel, safe="/") if rel else "")


def _internal(name: str) -> bool:
    return name.rstrip("/").rsplit("/", 1)[-1].startswith(INTERNAL_PREFIX)


def _http_date(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError):
        return None


def _token() -> str:
    return uuid.uuid4().hex[:12]


def _copy(src: IO[bytes], dst: IO[bytes]) -> None:
    while chunk := src.read(8 << 20):
        dst.write(chunk)
