"""PostgreSQL on loopback: a throw-away cluster (``initdb``) in a private temp directory.

The Debian ``postgresql`` package's binaries (``/usr/lib/postgresql/<major>/bin``) run a
cluster of our own: password authentication (scram) for one superuser, TCP on 127.0.0.1 only,
the Unix socket inside the temp directory, and durability off (``fsync``) because a test
cluster is thrown away. PostgreSQL refuses to run as root, so under root the cluster runs as
the package's ``postgres`` user (``setpriv``); the temp directory is handed to that user.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ._common import (
    HOST,
    ServerStartError,
    ServerUnavailable,
    launch,
    log_tail,
    stop_process,
    temp_dir,
    write_private,
)

HINT = "sudo .ci/install-system-packages  (Debian: apt-get install postgresql)"
SUPERUSER = "tiled"
#: settings for a disposable cluster: no durability, small memory, enough connections for a
#: multi-worker tiled server plus the test's own clients
SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "200",
    "listen_addresses": HOST,
}


@dataclass(frozen=True)
class PostgresServer:
    """A running cluster. ``uri(db)`` is SQLAlchemy's asyncpg URI (tiled's catalog ``uri``);
    it embeds the password, so neither it nor ``password`` appears in the repr. ``pid`` is
    the postmaster's process-group id."""

    host: str
    port: int
    pid: int
    user: str
    password: str = field(repr=False)
    workdir: Path = Path()
    bindir: Path = Path()
    #: argv prefix that runs a command as the cluster's owner; the postmaster's own options
    prefix: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def uri(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with ``psql`` (the password goes through the environment, not argv)."""
        argv = [str(self.bindir / "psql"), "-h", self.host, "-p", str(self.port)]
        argv += ["-U", self.user, "-d", database, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        env = {**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "5"}
        done = subprocess.run(argv + ["-c", sql], capture_output=True, text=True, env=env)
        if done.returncode:
            raise RuntimeError(f"psql {sql!r} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def create_database(self, name: str) -> str:
        """A new empty database; returns its asyncpg URI."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.uri(name)

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m <mode>`` and wait: ``fast`` ends every session (a database
        stopped under its clients), ``immediate`` is a crash, ``smart`` waits for them."""
        self._pg_ctl("stop", "-m", mode)

    def start(self) -> None:
        """Start the stopped cluster again on the same port with the same settings (``pg_ctl
        start`` waits until it accepts connections). The cluster's context manager stops it
        (its command line names the cluster's directory)."""
        log = str(self.workdir / "postgres-restarted.out")  # the first log is not its own
        self._pg_ctl("start", "-l", log, "-o", " ".join(self.options))

    def _pg_ctl(self, *args: str) -> None:
        argv = [*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.workdir / "data")]
        done = subprocess.run([*argv, "-w", "-t", "60", *args], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"pg_ctl {args[0]} failed: {done.stdout}{done.stderr}".strip())


def find_bindir(base: Path = Path("/usr/lib/postgresql")) -> Path:
    """The newest installed ``<base>/<major>/bin`` holding ``postgres`` (``base``: where the
    Debian packages install; another one lets a test see a machine without them)."""
    majors = sorted(
        (p for p in base.glob("*/bin") if (p / "postgres").exists() and p.parent.name.isdigit()),
        key=lambda p: int(p.parent.name),
    )
    if not majors:
        raise ServerUnavailable(f"no PostgreSQL server binaries under {base}", HINT)
    return majors[-1]


def _as_postgres_user(workdir: Path) -> list[str]:
    """argv prefix that drops root to the ``postgres`` user (empty when not root)."""
    if os.geteuid() != 0:
        return []
    try:
        user = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ServerUnavailable("running as root and there is no 'postgres' user", HINT) from exc
    for path in [workdir, *workdir.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]


def _initdb(bindir: Path, workdir: Path, password: str) -> list[str]:
    """Create the cluster in ``workdir/data``; returns the prefix that runs as its owner."""
    pwfile = write_private(workdir / "pwfile", password + "\n")
    prefix = _as_postgres_user(workdir)
    argv = [*prefix, str(bindir / "initdb"), "-D", str(workdir / "data"), "-U", SUPERUSER]
    argv += ["--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync"]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=workdir)
    pwfile.unlink()
    if done.returncode:
        raise ServerStartError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
    return prefix


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Run a fresh cluster on a free loopback port with a throw-away password."""
    bindir = find_bindir()
    with temp_dir("postgres") as work:
        password = secrets.token_urlsafe(16)
        (work / "sock").mkdir()
        prefix = _initdb(bindir, work, password)

        def options(port: int) -> list[str]:
            argv = ["-p", str(port), "-k", str(work / "sock")]
            return argv + [f"--{k.replace('_', '-')}={v}" for k, v in SETTINGS.items()]

        def prepare(ports: tuple[int, ...]) -> list[str]:
            argv = [*prefix, str(bindir / "postgres"), "-D", str(work / "data")]
            return argv + options(ports[0])

        def probe(ports: tuple[int, ...]) -> None:
            PostgresServer(HOST, ports[0], 0, SUPERUSER, password, work, bindir).psql("SELECT 1")

        proc, (port,) = launch("postgres", prepare, probe, work, timeout=60.0)
        server = PostgresServer(HOST, port, proc.pid, SUPERUSER, password, work, bindir)
        try:
            yield dataclasses.replace(server, prefix=tuple(prefix), options=tuple(options(port)))
        finally:
            stop_process(proc, str(work))


def server_log(server: PostgresServer) -> str:
    """The tail of the cluster's log (for assertion messages)."""
    return log_tail(server.workdir / "postgres.out")
