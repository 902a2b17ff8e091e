"""nginx on loopback: static GET with ranges, a no-range location, WebDAV, basic
auth and TLS, all serving one directory so a file PUT through ``/dav/`` can be
read back through every other location.

The configuration is the one docs/how-to/http.rst documents as safe: ``disable_symlinks on``
(GET and HEAD refuse any path through a symlink, which ``HttpFile``'s
``require_confinement`` relies on). ``nginx_server(follow_symlinks=True)`` leaves it out: the
unsafe server of the hostile tests."""

from __future__ import annotations

import base64
import contextlib
import grp
import hashlib
import http.client
import os
import pwd
import secrets
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._common import HOST, launch, require_executable, stop_process, temp_dir, write_private
from ._roots import VfsRoot
from ._tls import make_tls_files

HINT = "sudo .ci/install-system-packages  (Debian: apt-get install nginx libnginx-mod-http-dav-ext)"
DAV_EXT_MODULE = Path("/usr/lib/nginx/modules/ngx_http_dav_ext_module.so")


@dataclass(frozen=True)
class NginxServer(VfsRoot):
    """Everything an HTTP client test needs.

    All locations serve ``root``: ``/data/`` (GET, HEAD, Range → 206,
    autoindex), ``/norange/`` (ignores Range: always 200 with the full body,
    no ``Accept-Ranges``), ``/dav/`` (adds PUT, DELETE, MKCOL, COPY, MOVE and,
    if ``propfind``, PROPFIND/OPTIONS) and ``/private/`` (like ``/dav/`` behind
    basic auth ``user``/``password``).  The ``tls_*`` URLs are the same
    locations over HTTPS with a cert signed by the throw-away CA ``ca_cert``.
    ``pid`` is also the process-group id (``os.killpg`` stops all workers).
    """

    ROOT_CLASS = "HttpFile"
    ROOT_OPTIONS = {
        "download": "data_url",
    }

    host: str
    port: int
    tls_port: int
    pid: int
    root: Path
    base_url: str
    data_url: str
    norange_url: str
    dav_url: str
    auth_url: str
    tls_base_url: str
    tls_data_url: str
    tls_dav_url: str
    tls_auth_url: str
    ca_cert: Path
    user: str
    password: str = field(repr=False)
    propfind: bool = False
    workdir: Path = Path()
    follow_symlinks: bool = False

    def dav_root(self, **extra: Any) -> dict[str, Any]:
        """A read-write ``HttpFile`` root spec: download from ``/data/``, upload through
        WebDAV on ``/dav/``; ``extra`` adds options."""
        return self.vfs_root(**{"upload": self.dav_url, "upload_mode": "webdav", **extra})


def _ssha(password: str) -> str:
    """An htpasswd ``{SSHA}`` entry (nginx's ngx_crypt understands it)."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()  # the htpasswd {SSHA} format
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _user_directive() -> str:
    """As root, nginx would drop workers to ``nobody``, who cannot read the
    private temp dir: keep them as the current user instead."""
    if os.geteuid() != 0:
        return ""
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    return f"user {user} {group};"


def _config(
    work: Path,
    ports: tuple[int, int],
    tls_cert: Path,
    tls_key: Path,
    follow_symlinks: bool = False,
) -> str:
    root = work / "www"
    propfind = DAV_EXT_MODULE.exists()
    dav = "dav_methods PUT DELETE MKCOL COPY MOVE;\n"
    dav += "            create_full_put_path on;\n            dav_access user:rw group:rw all:r;\n"
    if propfind:
        dav += "            dav_ext_methods PROPFIND OPTIONS;\n"
    tmp = work / "tmp"
    # GET/HEAD through a symlink: 403 (the link is the last component) or 404 (one above it).
    # nginx's WebDAV methods ignore it: HttpFile checks their paths with a HEAD first.
    symlinks = "" if follow_symlinks else "disable_symlinks on;"
    return f"""
daemon off;
master_process on;
worker_processes 2;
pid {work}/nginx.pid;
error_log {work}/logs/error.log warn;
{f"load_module {DAV_EXT_MODULE};" if propfind else ""}
{_user_directive()}
events {{ worker_connections 512; }}
http {{
    default_type application/octet-stream;
    types {{ text/plain txt; text/html html; application/json json; }}
    access_log {work}/logs/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    sendfile on;
    tcp_nopush on;
    client_max_body_size 0;
    server {{
        listen {HOST}:{ports[0]};
        listen {HOST}:{ports[1]} ssl;
        server_name localhost;
        {symlinks}
        ssl_certificate {tls_cert};
        ssl_certificate_key {tls_key};
        location = /_ready {{ default_type text/plain; return 200 "ready"; }}
        location /data/ {{ alias {root}/; autoindex on; }}
        location /norange/ {{ alias {root}/; autoindex on; max_ranges 0; }}
        location /dav/ {{
            alias {root}/;
            autoindex on;
            {dav}
        }}
        location /private/ {{
            alias {root}/;
            autoindex on;
            auth_basic "filestore-vfs test";
            auth_basic_user_file {work}/htpasswd;
            {dav}
        }}
    }}
}}
"""


def _probe(ports: tuple[int, ...], ca_cert: Path) -> None:
    """GET /_ready over plain HTTP and over HTTPS verified against the CA."""
    plain = http.client.HTTPConnection(HOST, ports[0], timeout=2)
    context = ssl.create_default_context(cafile=str(ca_cert))
    secure = http.client.HTTPSConnection(HOST, ports[1], timeout=2, context=context)
    for conn in (plain, secure):
        try:
            conn.request("GET", "/_ready")
            response = conn.getresponse()
            if response.status != 200 or response.read() != b"ready":
                raise ConnectionError(f"unexpected answer {response.status}")
        finally:
            conn.close()


@contextlib.contextmanager
def nginx_server(user: str = "fsvfs", follow_symlinks: bool = False) -> Iterator[NginxServer]:
    """Run nginx on two free loopback ports (HTTP and HTTPS) in a temp dir.

    ``follow_symlinks=True`` drops ``disable_symlinks on`` (an unsafely configured server).
    """
    exe = require_executable("nginx", HINT, ["/usr/sbin/nginx"])
    with temp_dir("nginx") as work:
        for sub in ("www", "logs", "tmp", "tls"):
            (work / sub).mkdir()
        tls = make_tls_files(work / "tls")
        password = secrets.token_urlsafe(16)
        write_private(work / "htpasswd", f"{user}:{_ssha(password)}\n")
        conf = work / "nginx.conf"

        def prepare(ports: tuple[int, ...]) -> list[str]:
            conf.write_text(_config(work, (ports[0], ports[1]), tls.cert, tls.key, follow_symlinks))
            return [exe, "-p", str(work), "-e", str(work / "logs/error.log"), "-c", str(conf)]

        proc, (port, tls_port) = launch(
            "nginx",
            prepare,
            lambda ports: _probe(ports, tls.ca_cert),
            work,
            nports=2,
            extra_logs=[work / "logs/error.log"],
        )
        try:
            base, tls_base = f"http://{HOST}:{port}", f"https://{HOST}:{tls_port}"
            yield NginxServer(
                host=HOST,
                port=port,
                tls_port=tls_port,
                pid=proc.pid,
                root=work / "www",
                base_url=base,
                data_url=f"{base}/data/",
                norange_url=f"{base}/norange/",
                dav_url=f"{base}/dav/",
                auth_url=f"{base}/private/",
                tls_base_url=tls_base,
                tls_data_url=f"{tls_base}/data/",
                tls_dav_url=f"{tls_base}/dav/",
                tls_auth_url=f"{tls_base}/private/",
                ca_cert=tls.ca_cert,
                user=user,
                password=password,
                propfind=DAV_EXT_MODULE.exists(),
                workdir=work,
                follow_symlinks=follow_symlinks,
            )
        finally:
            stop_process(proc, str(work))
