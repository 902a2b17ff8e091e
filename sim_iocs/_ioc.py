"""Run the simulated IOC in this process: loopback-only Channel Access, clean stop.

libca and the IOC read the ``EPICS_*`` variables when they start, so :func:`serve` sets
them in ``os.environ`` before importing softioc.  The server is confined to loopback: it
listens on ``127.0.0.1`` only, on its own port, sends beacons only to ``127.0.0.1`` and
runs no PV Access server.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Sequence

from sim_iocs._mounts import Mount, MountTable

__all__ = ["DEFAULT_PORT", "MAX_ARRAY_BYTES", "client_environment", "serve", "server_environment"]

DEFAULT_PORT = 5064
#: Big enough for ``image1:ArrayData`` (2**20 int32 elements) and the long strings.
MAX_ARRAY_BYTES = 10_000_000


def server_environment(port: int) -> dict[str, str]:
    """The EPICS variables of an IOC that serves on loopback port ``port`` only.

    Beacons go to ``EPICS_CAS_BEACON_PORT`` (default: ``EPICS_CA_REPEATER_PORT``, 5065)
    on 127.0.0.1, where a CA repeater may pass them on to clients.
    """
    return {
        "EPICS_CA_SERVER_PORT": str(port),
        "EPICS_CAS_SERVER_PORT": str(port),
        "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1",
        "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
        "EPICS_CAS_BEACON_ADDR_LIST": "127.0.0.1",
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CA_ADDR_LIST": "127.0.0.1",
        "EPICS_CA_MAX_ARRAY_BYTES": str(MAX_ARRAY_BYTES),
        "EPICS_PVAS_INTF_ADDR_LIST": "127.0.0.1",
        "EPICS_PVAS_AUTO_BEACON_ADDR_LIST": "NO",
    }


def client_environment(ports: Sequence[int]) -> dict[str, str]:
    """The EPICS variables a CA client needs to find IOCs on these loopback ports."""
    return {
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CA_ADDR_LIST": " ".join(f"127.0.0.1:{port}" for port in ports),
        "EPICS_CA_MAX_ARRAY_BYTES": str(MAX_ARRAY_BYTES),
    }


def banner(
    prefix: str,
    port: int,
    mounts: MountTable,
    aliases: Sequence[tuple[str, str]] = (),
    cam_port: str = "SIM1",
) -> str:
    """What ``python -m sim_iocs areadetector`` prints once it serves."""
    env = client_environment([port])
    lines = [
        f"sim_iocs areadetector: serving prefix {prefix} on 127.0.0.1:{port} (Channel Access)",
        f"  devices: {prefix}cam1:  {prefix}image1:  {prefix}HDF1:  {prefix}TIFF1:",
        f"  cam port: {cam_port}",
        *(f"  alias: {prefix}{alias} = {prefix}{device}" for device, alias in aliases),
        "mounts (writer path -> host directory):",
        mounts.describe(),
        "client environment:",
        *(f"  export {key}='{value}'" for key, value in env.items()),
    ]
    return "\n".join(lines)


def serve(
    prefix: str,
    mounts: Sequence[Mount] = (),
    port: int = DEFAULT_PORT,
    *,
    primed: bool = False,
    size: tuple[int, int] = (64, 64),
    aliases: Sequence[tuple[str, str]] = (),
    cam_port: str = "SIM1",
) -> int:
    """Serve until SIGINT/SIGTERM; close open files, then exit the process.

    ``aliases`` are ``(DEVICE, ALIAS)`` pairs: every PV of ``DEVICE`` (e.g. ``cam1:``) is
    served under ``prefix + ALIAS`` too; ``cam_port`` is the cam's asyn port name.
    """
    os.environ.update(server_environment(port))
    from softioc import asyncio_dispatcher, softioc

    from sim_iocs._areadetector import SimAreaDetector

    table = MountTable(list(mounts))
    detector = SimAreaDetector(
        prefix, table, primed=primed, size=size, aliases=aliases, cam_port=cam_port
    )
    detector.build()
    from softioc import builder

    builder.LoadDatabase()
    dispatcher = asyncio_dispatcher.AsyncioDispatcher()
    softioc.iocInit(dispatcher, enable_pva=False)
    _run_in_loop(dispatcher.loop, detector.after_init)
    print(banner(prefix, port, table, detector.aliases, detector.cam.port), flush=True)
    print("sim_iocs: ready", flush=True)
    _wait_for_stop_signal()
    _run_in_loop(dispatcher.loop, detector.shutdown)
    print("sim_iocs: stopped", flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # epicsExit could block on CA client threads; files are closed already


def _run_in_loop(loop: asyncio.AbstractEventLoop, func: object, timeout: float = 30) -> None:
    async def call() -> None:
        func()  # type: ignore[operator]

    asyncio.run_coroutine_threadsafe(call(), loop).result(timeout)


def _wait_for_stop_signal() -> None:
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    while not stop.wait(1.0):
        pass
