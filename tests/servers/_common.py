"""Process plumbing shared by the loopback test servers.

Every server runs as a subprocess in its own session (so its process-group id
is its pid and every worker it forks can be stopped with one ``killpg``), with
its output in a log file inside its private temp directory.  Readiness is a
real protocol request polled until a deadline, never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

HOST = "127.0.0.1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_PORT_ATTEMPTS = 3
_PR_SET_PDEATHSIG = 1
_IN_USE_MARKERS = ("in use", "EADDRINUSE", "Address already in use")


class ServerUnavailable(RuntimeError):  # noqa: N818 - reads better at call sites
    """The server or a client library it needs is not installed here.

    The fixtures turn this into a skip on a developer machine and into a
    failure under ``CI=true``; ``hint`` says what to install.
    """

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


class ServerStartError(RuntimeError):
    """The server is installed but did not come up; carries its log tail."""


def free_port() -> int:
    """Ask the kernel for a currently unused loopback TCP port.

    There is a window between closing this socket and the server binding the
    port; :func:`launch` retries with a new port if another process wins it.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_is_open(port: int, host: str = HOST) -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def require_executable(name: str, hint: str, candidates: Sequence[str] = ()) -> str:
    """Absolute path of an executable, or :class:`ServerUnavailable`.

    sbin directories are searched too because a non-root ``PATH`` often
    lacks them, and sshd insists on being started by absolute path.
    """
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/local/sbin"])
    found = shutil.which(name, path=path)
    if found is None:
        raise ServerUnavailable(f"{name} not found", hint)
    return os.path.abspath(found)


def require_module(module: str, hint: str) -> None:
    """Import check for a client library a readiness probe needs."""
    try:
        __import__(module)
    except ImportError as exc:
        raise ServerUnavailable(f"Python module {module!r} not importable: {exc}", hint) from exc


_TEMP_PREFIX = "fsvfs-server-"
_OWNER_FILE = ".owner-pid"


def _sweep_stale_temp_dirs() -> None:
    """Remove temp dirs left by test processes that were killed too hard to
    run their finalizers (their servers died with them, see
    :func:`_die_with_parent`).  Dirs of live processes are left alone."""
    for path in Path(tempfile.gettempdir()).glob(f"{_TEMP_PREFIX}*"):
        try:
            owner = int((path / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if not Path(f"/proc/{owner}").exists():
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def temp_dir(name: str) -> Iterator[Path]:
    """A private temp directory that is removed, whatever happens, on exit."""
    _sweep_stale_temp_dirs()
    path = Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{name}-"))
    try:
        (path / _OWNER_FILE).write_text(str(os.getpid()))
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_private(path: Path, text: str) -> Path:
    """Write a file readable by its owner only (keys, passwords, configs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def log_tail(path: Path, limit: int = 4000) -> str:
    """Last ``limit`` characters of a log file, for start-failure messages."""
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


# --------------------------------------------------------------------------- processes


def _stat_fields(pid: int | str) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state is [0],
    ppid [1], pgrp [2]); None if the process is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields


def _all_pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def group_pids(pgid: int) -> list[int]:
    """Live processes whose process group is ``pgid`` (zombies excluded)."""
    return [pid for pid in _all_pids() if (f := _stat_fields(pid)) and int(f[2]) == pgid]


def descendant_pids(root: int) -> list[int]:
    """Live descendants of ``root``.

    Needed because some servers' per-connection children call ``setsid``
    (sshd does), leaving the process group and surviving their parent.
    """
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        if fields := _stat_fields(pid):
            children.setdefault(int(fields[1]), []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def pids_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains ``text`` (e.g. a temp dir).

    Catches helpers that neither stayed in the process group nor are still
    below the server (a double-forked daemon).
    """
    pids = []
    for pid in _all_pids():
        if pid == os.getpid() or _stat_fields(pid) is None:
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if text in cmdline.decode(errors="replace"):
            pids.append(pid)
    return pids


def server_pids(pid: int, marker: str | None = None) -> list[int]:
    """Every live process belonging to a server started by :func:`launch`."""
    pids = {pid} if _stat_fields(pid) else set()
    pids.update(group_pids(pid), descendant_pids(pid))
    if marker:
        pids.update(pids_mentioning(marker))
    return sorted(pids)


def _signal_all(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def stop_process(proc: subprocess.Popen[bytes], marker: str | None = None) -> None:
    """terminate → wait → kill, for the server, its process group, its
    descendants and any helper whose command line mentions ``marker``.

    The pids are collected before the first signal: once the server exits,
    its orphans are reparented and no longer look like its descendants.
    """
    known = set(server_pids(proc.pid, marker))

    def remaining() -> set[int]:
        alive = {pid for pid in known if _stat_fields(pid)}
        known.update(server_pids(proc.pid, marker) if proc.poll() is None else ())
        return alive | set(group_pids(proc.pid)) | set(pids_mentioning(marker) if marker else ())

    _signal_all(known, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT)
    deadline = time.monotonic() + 2.0
    while remaining() and time.monotonic() < deadline:
        time.sleep(0.05)
    if left := remaining():
        _signal_all(left, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=STOP_TIMEOUT)
    deadline = time.monotonic() + STOP_TIMEOUT
    while remaining() and time.monotonic() < deadline:
        time.sleep(0.05)


# --------------------------------------------------------------------------- start-up


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies.

    A pytest killed hard (SIGKILL, a thread-method timeout) runs no
    finalizers; without this its servers would outlive it.  Linux only; the
    signal follows the *thread* that started the server, so start servers
    from the main thread (as fixtures and plain tests do).
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class _NotReady(Exception):  # noqa: N818 - internal control flow
    pass


def _wait_ready(
    proc: subprocess.Popen[bytes], probe: Callable[[], object], name: str, timeout: float
) -> None:
    """Poll ``probe`` (a real protocol request) until it succeeds.

    Any exception from the probe means "not yet"; the last one is reported if
    the deadline passes.  A server that exits early fails at once.
    """
    deadline = time.monotonic() + timeout
    delay = 0.02
    last: BaseException | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise _NotReady(f"{name} exited with status {proc.returncode}")
        try:
            probe()
            return
        except Exception as exc:  # any failure means "not ready yet"
            last = exc
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)
    raise _NotReady(f"{name} did not answer within {timeout:.0f} s (last error: {last!r})")


def spawn(
    argv: list[str], workdir: Path, log: Path, *, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in ``workdir`` as the leader of a new session, its output appended to
    ``log``; it gets SIGTERM if this process dies.  No waiting: see :func:`launch`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # pytest runs fixtures in one thread
        )


def launch(
    name: str,
    prepare: Callable[[tuple[int, ...]], list[str]],
    probe: Callable[[tuple[int, ...]], object],
    workdir: Path,
    *,
    nports: int = 1,
    env: dict[str, str] | None = None,
    timeout: float = START_TIMEOUT,
    extra_logs: Sequence[Path] = (),
) -> tuple[subprocess.Popen[bytes], tuple[int, ...]]:
    """Start a server on free ports and wait until it really answers.

    ``prepare(ports)`` writes whatever config depends on the ports and returns
    the argv; ``probe(ports)`` performs one real request.  If the ports were
    grabbed by someone else in the meantime, it retries with new ones.
    """
    log = workdir / f"{name}.out"
    for attempt in range(_PORT_ATTEMPTS):
        ports = tuple(free_port() for _ in range(nports))
        proc = spawn(prepare(ports), workdir, log, env=env)
        try:
            _wait_ready(proc, lambda p=ports: probe(p), name, timeout)
            return proc, ports
        except _NotReady as exc:
            stop_process(proc, str(workdir))
            tail = "\n".join(log_tail(p) for p in (log, *extra_logs))
            if attempt + 1 < _PORT_ATTEMPTS and any(m in tail for m in _IN_USE_MARKERS):
                continue
            raise ServerStartError(f"{exc}\n--- log tail ---\n{tail}") from None
        except BaseException:
            stop_process(proc, str(workdir))
            raise
    raise AssertionError("unreachable")  # pragma: no cover
