"""Session-scoped pytest fixtures for the loopback test servers.

Register them for the whole suite with, in the rootdir ``tests/conftest.py``::

    pytest_plugins = ["tests.servers._fixtures"]

Each fixture starts its server once per session, on first use.  If the
server's software is missing, :func:`require_server` skips the test with an
install hint on a developer machine and fails it under ``CI=true``, where a
silently skipped backend would look like a passing one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import NoReturn, TypeVar

import pytest

from . import (
    AzuriteServer,
    NginxServer,
    RedisServer,
    S3Server,
    ServerUnavailable,
    SmbServer,
    SshdServer,
    _azurite,
    _nginx,
    _redis,
    _s3,
    _smbd,
    _sshd,
)

__all__ = [
    "azurite_server",
    "in_ci",
    "nginx_server",
    "redis_server",
    "require_server",
    "s3_server",
    "smbd_server",
    "sshd_server",
]

T = TypeVar("T")

INSTALL_HINTS = {
    "nginx": _nginx.HINT,
    "sshd": _sshd.HINT,
    "smbd": _smbd.HINT,
    "redis": _redis.HINT,
    "s3": _s3.HINT,
    "azurite": _azurite.HINT,
}


def in_ci() -> bool:
    """True when the ``CI`` environment variable says so (``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def require_server(name: str, exc: BaseException) -> NoReturn:
    """Skip (developer machine) or fail (``CI=true``) because ``name`` is missing.

    ``exc`` says what is missing; its ``hint`` attribute, if any, or the
    known hint for ``name`` says what to install.
    """
    hint = getattr(exc, "hint", None) or INSTALL_HINTS.get(name, "see docs/test-servers.rst")
    message = f"{name} test server unavailable: {exc}; install with: {hint}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing server is a failure)", pytrace=False)
    pytest.skip(message)


def _serve(name: str, factory: Callable[[], AbstractContextManager[T]]) -> Iterator[T]:
    """Run one server for the fixture's lifetime, mapping "not installed" to
    :func:`require_server`; a server that is installed but fails to start is
    an error in every environment."""
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(factory())
        except ServerUnavailable as exc:
            require_server(name, exc)
        yield server


@pytest.fixture(scope="session")
def nginx_server() -> Iterator[NginxServer]:
    """nginx: GET/Range, no-range, WebDAV, basic-auth and TLS locations."""
    yield from _serve("nginx", _nginx.nginx_server)


@pytest.fixture(scope="session")
def sshd_server() -> Iterator[SshdServer]:
    """OpenSSH sshd with SFTP, throw-away host/user keys and known_hosts files."""
    yield from _serve("sshd", _sshd.sshd_server)


@pytest.fixture(scope="session")
def smbd_server() -> Iterator[SmbServer]:
    """Samba smbd with one share and a throw-away user/password."""
    yield from _serve("smbd", _smbd.smbd_server)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """redis-server with a throw-away password and persistence off."""
    yield from _serve("redis", _redis.redis_server)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server mode with one empty bucket."""
    yield from _serve("s3", _s3.s3_server)


@pytest.fixture(scope="session")
def azurite_server() -> Iterator[AzuriteServer]:
    """Azurite blob service with one empty container."""
    yield from _serve("azurite", _azurite.azurite_server)
