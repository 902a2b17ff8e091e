"""HttpFile on a real nginx (ranges, no ranges, WebDAV, basic auth, TLS) and on a small
aiohttp server that speaks pyobs' HttpFileCache protocol: the shared suite and bad inputs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from filestore_vfs import ConfigError, ReadOnlyRootError, VirtualFileSystem
from tests.servers import NginxServer

from .helpers import (
    assert_secret_hidden,
    check_disk_full_in_subprocess,
    dav_spec,
    free_port,
    server_dying_mid_transfer,
)
from .suite import BackendSuite, MiB

pytestmark = pytest.mark.server
BACKEND = "http"  # the fixtures of conftest.py: backend on /t


class TestHttpFileWebDAV(BackendSuite):
    """Read-write through WebDAV; the read-only view is a download-only root on /data/
    (its ``backend`` fixture: conftest.py)."""


def test_download_only_root_is_read_only_and_reads_dropped_files(
    nginx_server: NginxServer,
) -> None:
    sub = uuid.uuid4().hex[:8]
    (nginx_server.root / sub / "with space").mkdir(parents=True)
    data = os.urandom(MiB + 3)
    (nginx_server.root / sub / "with space" / "日本 語.bin").write_bytes(data)
    (nginx_server.root / sub / "zero").write_bytes(b"")
    vfs = VirtualFileSystem({"t": {"class": "HttpFile", "download": nginx_server.data_url}})
    base = f"/t/{sub}"
    assert vfs.read_bytes(f"{base}/with space/日本 語.bin") == data
    assert vfs.read_bytes(f"{base}/zero") == b""
    assert vfs.info(f"{base}/zero")["size"] == 0
    assert vfs.ls(base) == [f"{base}/with space", f"{base}/zero"]
    assert vfs.isdir(f"{base}/with space") and vfs.isfile(f"{base}/zero")
    with vfs.open(f"{base}/with space/日本 語.bin", "rb") as f:  # ranged, seekable
        f.seek(MiB)
        assert f.read(3) == data[MiB:]
        f.seek(10)
        assert f.read(5) == data[10:15]
    with pytest.raises(ReadOnlyRootError, match="read-only"):
        vfs.write_bytes(f"{base}/new", b"x")
    with pytest.raises(FileNotFoundError) as info:  # 404
        vfs.read_bytes(f"{base}/missing")
    assert info.value.filename == f"{base}/missing"


def test_server_without_range_support(nginx_server: NginxServer, tmp_path: Path) -> None:
    sub = uuid.uuid4().hex[:8]
    data = os.urandom(3 * MiB + 11)
    (nginx_server.root / sub).mkdir()
    (nginx_server.root / sub / "f.bin").write_bytes(data)
    spec = {"class": "HttpFile", "download": nginx_server.norange_url, "cache_dir": str(tmp_path)}
    vfs = VirtualFileSystem({"t": spec})
    path = f"/t/{sub}/f.bin"
    assert vfs.read_bytes(path) == data
    out = vfs.get_file(path, tmp_path / "out.bin")
    assert Path(out).read_bytes() == data
    with vfs.open(path, "rb") as f:  # random access: through a whole-file local copy
        f.seek(2 * MiB)
        assert f.read(100) == data[2 * MiB : 2 * MiB + 100]
        f.seek(5)
        assert f.read(5) == data[5:10]
    with vfs.open(path, "rb", cache="stream") as f:  # forward seeks skip on the stream
        f.seek(MiB)
        assert f.read(10) == data[MiB : MiB + 10]


def test_basic_auth_from_the_environment(
    nginx_server: NginxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FSVFS_TEST_HTTP_PASSWORD", nginx_server.password)
    vfs = VirtualFileSystem.from_yaml(
        f"""
        roots:
          t:
            class: HttpFile
            download: {nginx_server.auth_url}
            upload: {nginx_server.auth_url}
            upload_mode: webdav
            username: {nginx_server.user}
            password: ${{FSVFS_TEST_HTTP_PASSWORD}}
        """
    )
    path = f"/t/{uuid.uuid4().hex[:8]}/secret.txt"
    vfs.write_text(path, "behind basic auth")
    assert vfs.read_text(path) == "behind basic auth"
    assert nginx_server.password not in repr(vfs.roots["t"]) + vfs.resolve(path).url


def test_wrong_password_and_missing_credentials(nginx_server: NginxServer) -> None:
    secret = "pw-" + uuid.uuid4().hex
    spec = dav_spec(nginx_server, download=nginx_server.auth_url, upload=nginx_server.auth_url)
    wrong = VirtualFileSystem({"t": {**spec, "username": nginx_server.user, "password": secret}})
    for action in (
        lambda: wrong.read_bytes("/t/x"),
        lambda: wrong.write_bytes("/t/x", b"1"),
        lambda: wrong.ls("/t"),
    ):
        with pytest.raises(PermissionError, match="check the username and password") as info:
            action()
        assert_secret_hidden(info.value, secret)
    nobody = VirtualFileSystem({"t": spec})
    with pytest.raises(PermissionError, match="wants credentials"):
        nobody.read_bytes("/t/x")


def test_credentials_in_the_url_are_never_shown(nginx_server: NginxServer) -> None:
    url = nginx_server.auth_url.replace("://", f"://{nginx_server.user}:{nginx_server.password}@")
    vfs = VirtualFileSystem(
        {"t": {"class": "HttpFile", "download": url, "upload": url, "upload_mode": "webdav"}}
    )
    path = f"/t/{uuid.uuid4().hex[:8]}.txt"
    vfs.write_bytes(path, b"ok")
    assert vfs.read_bytes(path) == b"ok"
    assert nginx_server.password not in vfs.resolve(path).url + repr(vfs.roots["t"])
    with pytest.raises(FileNotFoundError) as info:
        vfs.read_bytes("/t/missing")
    assert_secret_hidden(info.value, nginx_server.password)


def test_tls_is_verified_by_default(nginx_server: NginxServer) -> None:
    (nginx_server.root / "tls.txt").write_bytes(b"over TLS")
    default = VirtualFileSystem({"t": {"class": "HttpFile", "download": nginx_server.tls_data_url}})
    with pytest.raises(OSError, match="TLS verification .* failed.*verify_tls"):
        default.read_bytes("/t/tls.txt")
    spec = {"class": "HttpFile", "download": nginx_server.tls_data_url}
    trusted = VirtualFileSystem({"t": {**spec, "verify_tls": str(nginx_server.ca_cert)}})
    assert trusted.read_bytes("/t/tls.txt") == b"over TLS"
    with pytest.warns(UserWarning, match="verify_tls is false"):
        insecure = VirtualFileSystem({"t": {**spec, "verify_tls": False}})
    assert insecure.read_bytes("/t/tls.txt") == b"over TLS"


def test_put_mode(nginx_server: NginxServer) -> None:
    spec = dav_spec(nginx_server, upload_mode="put")
    vfs = VirtualFileSystem({"t": spec})
    path = f"/t/{uuid.uuid4().hex[:8]}/put.bin"
    data = os.urandom(2 * MiB)
    vfs.write_bytes(path, data)
    assert vfs.read_bytes(path) == data
    vfs.remove(path)
    assert not vfs.exists(path)


def test_server_down_at_open(nginx_server: NginxServer) -> None:
    free = free_port()
    vfs = VirtualFileSystem(
        {"t": {"class": "HttpFile", "download": f"http://127.0.0.1:{free}/data/", "retries": 0}}
    )
    with pytest.raises(ConnectionError, match="cannot connect") as info:
        vfs.read_bytes("/t/x")
    assert info.value.filename == "/t/x"


def test_server_dies_mid_transfer(tmp_path: Path) -> None:
    with server_dying_mid_transfer("nginx", dav_spec, tmp_path) as (error, server):
        assert error.filename == "/t/big.bin"
        assert sorted(p.name for p in server.root.iterdir()) == ["big.bin", "keep.bin"]


def test_disk_full_on_the_local_side(nginx_server: NginxServer, tmp_path: Path) -> None:
    sub = uuid.uuid4().hex[:8]
    (nginx_server.root / sub).mkdir()
    (nginx_server.root / sub / "big.bin").write_bytes(os.urandom(3 * MiB))
    spec = {"class": "HttpFile", "download": nginx_server.data_url}
    check_disk_full_in_subprocess(spec, f"/t/{sub}/big.bin", tmp_path)


# -- pyobs' HttpFileCache protocol -----------------------------------------------------------


class FileCacheServer:
    """A tiny HttpFileCache-compatible server: ``GET /{name}``, multipart ``POST /`` with the
    field ``file``, and a bearer token (401 without one, 403 with a wrong one)."""

    def __init__(self, token: str, post_path: str = "/") -> None:
        self.token = token
        self.post_path = post_path
        self.files: dict[str, bytes] = {}
        self.url = ""

    def _check(self, request: web.Request) -> None:
        auth = request.headers.get("Authorization")
        if auth is None:
            raise web.HTTPUnauthorized()
        if auth != f"Bearer {self.token}":
            raise web.HTTPForbidden()

    async def get(self, request: web.Request) -> web.StreamResponse:
        self._check(request)
        name = request.match_info["name"]
        if name not in self.files:
            raise web.HTTPNotFound()
        data = self.files[name]
        if request.method == "HEAD":
            return web.Response(headers={"Content-Length": str(len(data))})
        return web.Response(body=data)

    async def post(self, request: web.Request) -> web.Response:
        self._check(request)
        reader = await request.multipart()
        async for part in reader:
            if part.name == "file":
                self.files[part.filename or ""] = bytes(await part.read())
        return web.json_response({"ok": True})

    @contextlib.contextmanager
    def running(self) -> Iterator[FileCacheServer]:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_get("/{name:.+}", self.get)  # and HEAD, as aiohttp does
        app.router.add_post(self.post_path, self.post)
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/"
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.run_until_complete(runner.cleanup())
            loop.close()


@pytest.fixture
def file_cache() -> Iterator[FileCacheServer]:
    with FileCacheServer(token="tok-" + uuid.uuid4().hex).running() as server:
        yield server


def test_pyobs_mode_posts_multipart_field_file(file_cache: FileCacheServer) -> None:
    vfs = VirtualFileSystem.from_config(
        {
            "vfs": {
                "class": "pyobs.vfs.VirtualFileSystem",
                "roots": {
                    "cache": {
                        "class": "pyobs.vfs.HttpFile",
                        "download": file_cache.url,
                        "upload": file_cache.url,
                        "token": file_cache.token,
                    }
                },
            }
        }
    )
    data = os.urandom(2 * MiB + 1)
    vfs.write_bytes("/cache/pyobs-0001.fits.gz", data)
    assert file_cache.files["pyobs-0001.fits.gz"] == data
    assert vfs.read_bytes("/cache/pyobs-0001.fits.gz") == data

    async def aio() -> bytes:
        async with vfs.open_file("/cache/a.txt", "w") as f:
            await f.write("async pyobs")
        async with vfs.open_file("/cache/a.txt", "r") as f:
            return await f.read()

    assert asyncio.run(aio()) == "async pyobs"


def test_pyobs_mode_posts_to_an_endpoint_without_trailing_slash() -> None:
    """pyobs configs name the upload endpoint as their server routes it (``.../upload``);
    posting to ``.../upload/`` instead was a 404 on every write."""
    server = FileCacheServer(token="tok-" + uuid.uuid4().hex, post_path="/upload")
    with server.running():
        spec = {
            "class": "pyobs.vfs.HttpFile",
            "download": server.url,
            "upload": server.url + "upload",
            "token": server.token,
        }
        vfs = VirtualFileSystem({"cache": spec})
        vfs.write_bytes("/cache/image-0001.fits", b"pixels")
        assert server.files == {"image-0001.fits": b"pixels"}
        assert vfs.read_bytes("/cache/image-0001.fits") == b"pixels"


def test_pyobs_mode_wrong_and_missing_token(file_cache: FileCacheServer) -> None:
    file_cache.files["x"] = b"1"
    secret = "tok-" + uuid.uuid4().hex
    spec = {"class": "HttpFile", "download": file_cache.url, "upload": file_cache.url}
    wrong = VirtualFileSystem({"c": {**spec, "token": secret}})
    for action in (lambda: wrong.read_bytes("/c/x"), lambda: wrong.write_bytes("/c/y", b"2")):
        with pytest.raises(PermissionError, match="HTTP 403.*check the token") as info:
            action()
        assert_secret_hidden(info.value, secret)
    assert "y" not in file_cache.files
    with pytest.raises(PermissionError, match="HTTP 401"):
        VirtualFileSystem({"c": spec}).read_bytes("/c/x")


def test_a_silent_server_times_out_naming_the_root() -> None:
    with socket.socket() as sock:  # accepts connections (backlog), never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/data/"
        vfs = VirtualFileSystem(
            {"t": {"class": "HttpFile", "download": url, "timeout": 0.5, "retries": 0}}
        )
        with pytest.raises(TimeoutError, match=r"within 0.5 s.*root /t") as info:
            vfs.read_bytes("/t/x")
        assert info.value.filename == "/t/x"


def test_verify_tls_must_name_an_existing_bundle(tmp_path: Path) -> None:
    spec = {"class": "HttpFile", "download": "https://example.invalid/"}
    with pytest.raises(ConfigError, match="no CA bundle"):
        VirtualFileSystem({"t": {**spec, "verify_tls": str(tmp_path / "none.pem")}})
    with pytest.raises(ConfigError, match="http"):
        VirtualFileSystem({"t": {**spec, "download": "ftp://example.invalid/"}})


def test_aiohttp_errors_lose_their_request_headers() -> None:
    """aiohttp's errors keep the request headers (the token) and show them in ``repr``."""
    import multidict
    import yarl
    from aiohttp import ClientResponseError, RequestInfo

    secret = "tok-" + uuid.uuid4().hex
    vfs = VirtualFileSystem(
        {"t": {"class": "HttpFile", "download": "http://127.0.0.1:9/", "token": secret}}
    )
    url = yarl.URL("http://127.0.0.1:9/x")
    headers = multidict.CIMultiDictProxy(multidict.CIMultiDict(Authorization=f"Bearer {secret}"))
    error = ClientResponseError(RequestInfo(url, "GET", headers, url), (), status=403)
    assert secret in repr(error)
    with pytest.raises(PermissionError, match="check the token") as info:
        with vfs.roots["t"].translate("/t/x"):
            raise error
    assert_secret_hidden(info.value, secret)
