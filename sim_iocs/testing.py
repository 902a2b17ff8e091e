"""Start sim IOCs from tests: free loopback ports, subprocesses, real readiness, clean stop.

libca reads ``EPICS_CA_*`` once, when pyepics creates its context, so a test process
must know every port it will use *before* the first PV is created.  Call
:func:`configure_client_environment` first (a ``conftest.py`` at import time is the right
place): it reserves a pool of free ports and points ``EPICS_CA_ADDR_LIST`` at all of
them.  :func:`sim_ioc` then starts each IOC on a port from that pool::

    # conftest.py
    from sim_iocs.testing import configure_client_environment
    configure_client_environment(ports=4)

    # a test
    with sim_ioc(mounts=[f"D:\\\\data={tmp_path}"]) as ioc:
        epics.caput(ioc.pv("HDF1:FilePath"), "D:\\\\data\\\\")

An IOC is ready when a real Channel Access get of one of its PVs answers, not after a
sleep.  Stopping sends SIGTERM (the IOC closes open files), then SIGKILL if needed; an
``atexit`` hook stops anything a crashed test left behind.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sim_iocs._ioc import client_environment
from sim_iocs._repeater import CARepeater

__all__ = [
    "SimIOC",
    "SimIOCError",
    "configure_client_environment",
    "free_port",
    "require_softioc",
    "sim_ioc",
    "sim_ioc_factory",
    "start_sim_ioc",
    "wait_for_device",
]

_pool: list[int] = []
_configured_ports: list[int] = []
_running: set[SimIOC] = set()
_counter = itertools.count(1)

#: The PV whose answer proves the IOC serves (a stringin with a known value).
READY_PV = "cam1:Manufacturer_RBV"


class SimIOCError(RuntimeError):
    """The sim IOC could not be started (the message has the tail of its log)."""


def free_port() -> int:
    """A loopback port free for both TCP and UDP (CA uses both on the server port).

    It is drawn below the kernel's ephemeral range (``ip_local_port_range``): a port the
    kernel handed out with ``bind(0)`` can be taken again by any outgoing connection before
    the IOC binds it (seen on a busy machine: "CAS: No TCP server started"), a port below
    that range only by a process that binds it on purpose.
    """
    low = _ephemeral_low()
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(10000, low)
        if port in (5064, 5065) or not _bindable(port):
            continue
        return port
    raise SimIOCError(f"no free loopback port for both TCP and UDP in 10000-{low - 1}")


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (32768 where it cannot be read)."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        low = int(text.split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return max(low, 10001)


def _bindable(port: int) -> bool:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", port))
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


def _ca_context_exists() -> bool:
    ca = sys.modules.get("epics.ca")
    return bool(ca is not None and getattr(ca, "libca", None) is not None)


def configure_client_environment(ports: int = 4) -> list[int]:
    """Reserve ``ports`` loopback ports and set this process's CA client variables.

    Call it before pyepics creates its context (before the first PV, caget or ophyd
    device).  Calling it again returns the same ports.  Existing ``EPICS_CA_ADDR_LIST``
    entries are kept, after ours.
    """
    if _configured_ports:
        return list(_configured_ports)
    if _ca_context_exists():
        raise SimIOCError(
            "pyepics already created its CA context; call configure_client_environment() "
            "before any PV is created (e.g. at the top of conftest.py)"
        )
    _configured_ports.extend(free_port() for _ in range(ports))
    _pool.extend(_configured_ports)
    env = client_environment(_configured_ports)
    env.update(_start_repeater())
    previous = os.environ.get("EPICS_CA_ADDR_LIST", "").strip()
    if previous and os.environ.get("EPICS_CA_AUTO_ADDR_LIST", "").upper() == "NO":
        env["EPICS_CA_ADDR_LIST"] += " " + previous
    os.environ.update(env)
    return list(_configured_ports)


_repeater: list[CARepeater] = []


def _start_repeater() -> dict[str, str]:
    """Run a CA repeater thread so that IOC beacons reach this process's libca."""
    if not _repeater:
        _repeater.append(CARepeater(free_port()).start())
    return {"EPICS_CA_REPEATER_PORT": str(_repeater[0].port)}


def _take_port() -> int:
    if _pool:
        return _pool.pop(0)
    if _ca_context_exists():
        raise SimIOCError(
            f"all {len(_configured_ports)} ports reserved by configure_client_environment() "
            "are in use and pyepics has already read its address list: reserve more ports"
        )
    port = free_port()
    _configured_ports.append(port)
    os.environ.update(client_environment(_configured_ports))
    return port


def require_softioc() -> None:
    """Skip the calling test when softioc is missing; fail instead under ``CI=true``."""
    try:
        import softioc  # noqa: F401
    except ImportError as exc:
        import pytest

        message = f"the sim IOC needs pythonSoftIOC: pip install filestore-vfs[sim] ({exc})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


class SimIOC:
    """A running sim IOC subprocess."""

    def __init__(
        self,
        prefix: str,
        port: int,
        process: subprocess.Popen[bytes],
        log_path: Path,
        mounts: Sequence[str],
    ) -> None:
        self.prefix = prefix
        self.port = port
        self.process = process
        self.log_path = log_path
        self.mounts = tuple(mounts)
        self._ready_pv: object = None

    def pv(self, name: str) -> str:
        """The full PV name of ``name`` (e.g. ``"HDF1:FilePath"``)."""
        return self.prefix + name

    @property
    def environment(self) -> dict[str, str]:
        """The client variables for this IOC alone (for client subprocesses)."""
        return client_environment([self.port])

    def log_tail(self, lines: int = 30) -> str:
        """The end of the IOC's output, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (files get closed), then SIGKILL after ``timeout``; idempotent."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self in _running:
            _running.discard(self)
            _pool.append(self.port)
        return self.process.returncode

    def __repr__(self) -> str:
        return f"SimIOC(prefix={self.prefix!r}, port={self.port}, pid={self.process.pid})"


def _wait_ready(ioc: SimIOC, deadline: float) -> None:
    """Wait for the IOC's ready line, then for a real CA get of :data:`READY_PV`."""
    while True:
        if not ioc.alive():
            raise SimIOCError(f"{ioc} exited with {ioc.process.returncode}:\n{ioc.log_tail()}")
        with contextlib.suppress(OSError):
            log = ioc.log_path.read_text(errors="replace")
            if "sim_iocs: ready" in log:
                break
            if "No TCP server started" in log:  # libCom suspends the IOC: it never exits
                raise SimIOCError(
                    f"{ioc} could not bind 127.0.0.1:{ioc.port} (taken by another process):"
                    f"\n{ioc.log_tail()}"
                )
        if time.monotonic() > deadline:
            raise SimIOCError(f"{ioc} did not start in time:\n{ioc.log_tail()}")
        time.sleep(0.02)
    import epics

    # A PV of its own, not epics.get_pv(): the shared cache would hand ophyd a plain PV.
    # It lives as long as the SimIOC object: disconnecting pyepics PVs by hand and then
    # letting them be garbage-collected can crash libca.
    pv = ioc._ready_pv = epics.PV(ioc.pv(READY_PV), auto_monitor=False)
    while time.monotonic() < deadline:
        if pv.wait_for_connection(timeout=0.2) and pv.get(timeout=1.0) is not None:
            return
        if not ioc.alive():
            break
    raise SimIOCError(
        f"{ioc} runs but no CA get answers: is 127.0.0.1:{ioc.port} in EPICS_CA_ADDR_LIST "
        f"({os.environ.get('EPICS_CA_ADDR_LIST')!r}) of this process? Call "
        f"configure_client_environment() before pyepics starts.\n{ioc.log_tail()}"
    )


def start_sim_ioc(
    prefix: str | None = None,
    mounts: Sequence[str] = (),
    *,
    primed: bool = False,
    size: tuple[int, int] = (64, 64),
    port: int | None = None,
    timeout: float = 30.0,
    extra_args: Sequence[str] = (),
) -> SimIOC:
    """Start an IOC subprocess and return once it answers CA; call ``stop()`` yourself."""
    prefix = prefix or f"SIMT{os.getpid()}N{next(_counter)}:"
    port = port or _take_port()
    log_dir = Path(tempfile.mkdtemp(prefix="sim-ioc-"))
    log_path = log_dir / "ioc.log"
    args = [sys.executable, "-m", "sim_iocs", "areadetector", "--prefix", prefix]
    args += ["--port", str(port), "--size", f"{size[0]}x{size[1]}", "--verbose"]
    for mount in mounts:
        args += ["--mount", mount]
    if primed:
        args.append("--primed")
    args += list(extra_args)
    env = dict(os.environ)
    if _repeater:  # beacons go to this process's repeater
        env["EPICS_CA_REPEATER_PORT"] = env["EPICS_CAS_BEACON_PORT"] = str(_repeater[0].port)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
    ioc = SimIOC(prefix, port, process, log_path, mounts)
    _running.add(ioc)
    try:
        _wait_ready(ioc, time.monotonic() + timeout)
    except BaseException:
        ioc.stop()
        raise
    return ioc


@contextlib.contextmanager
def sim_ioc(
    prefix: str | None = None,
    mounts: Sequence[str] = (),
    *,
    primed: bool = False,
    size: tuple[int, int] = (64, 64),
    port: int | None = None,
    timeout: float = 30.0,
) -> Iterator[SimIOC]:
    """Context manager: a running sim IOC, stopped (and its log removed) on exit."""
    ioc = start_sim_ioc(prefix, mounts, primed=primed, size=size, port=port, timeout=timeout)
    try:
        yield ioc
    finally:
        ioc.stop()
        shutil.rmtree(ioc.log_path.parent, ignore_errors=True)


@atexit.register
def _stop_leftovers() -> None:
    for ioc in list(_running):
        ioc.stop(timeout=5)


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the fixture
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(scope="session")
    def sim_ioc_factory() -> Iterator[Callable[..., SimIOC]]:
        """A session fixture: call it like :func:`start_sim_ioc`; all IOCs stop at the end."""
        require_softioc()
        started: list[SimIOC] = []

        def factory(*args: object, **kwargs: object) -> SimIOC:
            ioc = start_sim_ioc(*args, **kwargs)  # type: ignore[arg-type]
            started.append(ioc)
            return ioc

        yield factory
        for ioc in started:
            ioc.stop()


def wait_for_device(device: Any, timeout: float = 30.0) -> None:
    """``device.wait_for_connection(all_signals=True)``, immune to a pyepics race.

    Two ophyd signals often share a PV (ophyd's ``dim0_sa`` and ``dim_sa.dim0_sa`` both
    write ``Dim0SA``). The second gets the PV from pyepics' cache, where ``get_pv`` first
    checks ``pv.connected`` and only then appends the signal's connection callback: a PV that
    connects in between (libca's thread) never tells that signal, which then waits forever
    although its PV is connected (6 of 15 runs of the IOC tests here, always on the
    ``DimNSA`` PVs). After a first wait, such signals are told what they missed, then waited
    for again.
    """
    try:
        device.wait_for_connection(all_signals=True, timeout=timeout)
        return
    except TimeoutError:
        if not _replay_missed_connections(device):
            raise
    device.wait_for_connection(all_signals=True, timeout=timeout)


def _replay_missed_connections(device: Any) -> int:
    """Call the connection and access callbacks of unconnected signals whose PVs are already
    connected (ophyd's own callbacks, as pyepics would have); return how many PVs."""
    replayed = 0
    for walk in device.walk_signals(include_lazy=True):
        signal_ = walk.item
        if signal_.connected:
            continue
        for pv in {id(p): p for p in _pvs_of(signal_)}.values():
            if pv.connected:
                signal_._pv_connected(pvname=pv.pvname, conn=True, pv=pv)
                signal_._pv_access_callback(pv.read_access, pv.write_access, pv=pv)
                replayed += 1
    return replayed


def _pvs_of(signal_: Any) -> list[Any]:
    return [pv for pv in (getattr(signal_, name, None) for name in ("_read_pv", "_write_pv")) if pv]
