"""redis-server on loopback, password-protected, with persistence off."""

from __future__ import annotations

import contextlib
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ._common import HOST, launch, require_executable, stop_process, temp_dir, write_private
from ._roots import VfsRoot

HINT = "sudo .ci/install-system-packages  (Debian: apt-get install redis-server)"


@dataclass(frozen=True)
class RedisServer(VfsRoot):
    """Connect with ``redis.Redis(host, port, password=password, db=db)`` or
    ``redis.Redis.from_url(url)``.  ``url`` embeds the password, so neither it
    nor ``password`` appears in the repr.  ``pid`` is the process-group id."""

    ROOT_CLASS = "RedisFile"
    ROOT_OPTIONS = {
        "host": "host",
        "port": "port",
        "password": "password",
    }

    host: str
    port: int
    pid: int
    password: str = field(repr=False)
    url: str = field(repr=False)
    db: int = 0
    workdir: Path = Path()


def _resp(*args: str) -> bytes:
    """Encode a command in the Redis wire protocol (RESP2)."""
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _probe(port: int, password: str) -> None:
    """AUTH then PING over a raw socket (no client library needed)."""
    with socket.create_connection((HOST, port), timeout=2) as sock:
        sock.sendall(_resp("AUTH", password) + _resp("PING"))
        answer = b""
        while answer.count(b"\r\n") < 2:
            chunk = sock.recv(256)
            if not chunk:
                break
            answer += chunk
    if answer != b"+OK\r\n+PONG\r\n":
        raise ConnectionError(f"unexpected answer {answer[:60]!r}")


def _config(work: Path, port: int, password: str) -> str:
    # The password lives in a 0600 config file, not on the command line (ps).
    return f"""
port {port}
bind {HOST}
protected-mode yes
daemonize no
dir {work}
save ""
appendonly no
logfile ""
loglevel warning
requirepass {password}
"""


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """Run redis-server on a free loopback port with a throw-away password."""
    exe = require_executable("redis-server", HINT, ["/usr/bin/redis-server"])
    with temp_dir("redis") as work:
        password = secrets.token_urlsafe(16)
        conf = work / "redis.conf"

        def prepare(ports: tuple[int, ...]) -> list[str]:
            write_private(conf, _config(work, ports[0], password))
            return [exe, str(conf)]

        proc, (port,) = launch("redis", prepare, lambda ports: _probe(ports[0], password), work)
        try:
            yield RedisServer(
                host=HOST,
                port=port,
                pid=proc.pid,
                password=password,
                url=f"redis://:{password}@{HOST}:{port}/0",
                workdir=work,
            )
        finally:
            stop_process(proc, str(work))
