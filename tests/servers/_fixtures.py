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
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest

from . import (
    ServerUnavailable,
    _azurite,
    _nginx,
    _postgres,
    _redis,
    _s3,
    _smbd,
    _sshd,
)

__all__ = [
    "SERVER_NAMES",
    "azurite_server",
    "in_ci",
    "nginx_server",
    "own_server",
    "postgres_server",
    "redis_server",
    "require_server",
    "s3_server",
    "smbd_server",
    "sshd_server",
]

#: server name -> its module: ``<module>.<name>_server(**options)`` starts it, ``HINT`` says
#: what to install.
_MODULES = {
    "nginx": _nginx,
    "sshd": _sshd,
    "smbd": _smbd,
    "redis": _redis,
    "s3": _s3,
    "azurite": _azurite,
    "postgres": _postgres,
}
INSTALL_HINTS = {name: module.HINT for name, module in _MODULES.items()}
#: the names :func:`own_server` starts
SERVER_NAMES = tuple(_MODULES)


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


@contextlib.contextmanager
def own_server(name: str, **options: Any) -> Iterator[Any]:
    """Run one server (``nginx``, ``sshd``, ``smbd``, ``redis``, ``s3``, ``azurite`` or
    ``postgres``) for the ``with`` block, mapping "not installed" to :func:`require_server`.
    The session fixtures use it, and so does a test that needs a server of its own (one it
    may stop or kill); a server that is installed but fails to start is an error in every
    environment."""
    starter = getattr(_MODULES[name], f"{name}_server")
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(starter(**options))
        except ServerUnavailable as exc:
            require_server(name, exc)
        yield server


def _session_fixture(name: str, doc: str) -> Any:
    """The session fixture ``<name>_server``: the server starts on first use, once."""

    def fixture() -> Iterator[Any]:
        with own_server(name) as server:
            yield server

    fixture.__doc__ = doc
    return pytest.fixture(scope="session", name=f"{name}_server")(fixture)


nginx_server = _session_fixture("nginx", "nginx: GET/Range, no-range, WebDAV, basic auth, TLS.")
sshd_server = _session_fixture("sshd", "OpenSSH sshd with SFTP, throw-away keys, known_hosts.")
smbd_server = _session_fixture("smbd", "Samba smbd with one share and a throw-away user.")
redis_server = _session_fixture("redis", "redis-server with a throw-away password, no disk.")
s3_server = _session_fixture("s3", "moto's S3 server mode with one empty bucket.")
azurite_server = _session_fixture("azurite", "Azurite blob service with one empty container.")
postgres_server = _session_fixture("postgres", "A throw-away PostgreSQL cluster (scram, loopback).")
