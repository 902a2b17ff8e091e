"""Real servers on loopback for the network-backend tests.

Each function is a context manager that starts one server as a subprocess on
127.0.0.1 with free ports and a private temp directory, returns only once the
server answers a real protocol request, yields a frozen dataclass with what a
client needs, and on exit stops every process it started and removes the temp
directory.  Missing software raises :class:`ServerUnavailable` (with an
install hint); the pytest fixtures in :mod:`tests.servers._fixtures` turn
that into a skip, or a failure under ``CI=true``.

``pid`` in every dataclass is also the server's process-group id, so a test
simulating a crash can ``os.killpg(server.pid, signal.SIGKILL)`` (use a
server of its own for that, not a session fixture).
"""

from ._azurite import AzuriteServer, azurite_server
from ._common import ServerStartError, ServerUnavailable, port_is_open, server_pids
from ._nginx import NginxServer, nginx_server
from ._postgres import PostgresServer, postgres_server
from ._redis import RedisServer, redis_server
from ._s3 import S3Server, s3_server
from ._smbd import SmbServer, smbd_server
from ._sshd import SshdServer, client_options, sshd_server

__all__ = [
    "AzuriteServer",
    "NginxServer",
    "PostgresServer",
    "RedisServer",
    "S3Server",
    "ServerStartError",
    "ServerUnavailable",
    "SmbServer",
    "SshdServer",
    "azurite_server",
    "client_options",
    "nginx_server",
    "port_is_open",
    "postgres_server",
    "redis_server",
    "s3_server",
    "server_pids",
    "smbd_server",
    "sshd_server",
]
