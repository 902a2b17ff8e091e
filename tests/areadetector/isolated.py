"""Scenarios that stop or leave behind an IOC, run in a process of their own.

A client that keeps hundreds of channels to an IOC that went away makes libca search for them
for the rest of the process, which can stall connections to IOCs started later in the same
test session. So these scenarios run here, in a subprocess, and print their findings as JSON:
``python -m tests.areadetector.isolated {unprimed|gone} <posix mount dir>``.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _detector(ioc: Any, mount: str, **kwargs: Any) -> Any:
    from ophyd import Device

    from filestore_vfs import VirtualFileSystem
    from filestore_vfs.areadetector import HDF5PluginWithVFS

    from .helpers import make_detector

    Device.lazy_wait_for_connection = False
    vfs = VirtualFileSystem(
        {"nfs": {"class": "LocalFile", "root": mount, "writer_root": "/ioc/data"}}
    )
    return make_detector(
        ioc, HDF5PluginWithVFS, "hdf1", root="/nfs", vfs=vfs, make_directories=True, **kwargs
    )


def unprimed(mount: str) -> dict[str, Any]:
    from sim_iocs.testing import sim_ioc

    with sim_ioc(mounts=[f"/ioc/data={mount}"]) as fresh:
        det = _detector(fresh, mount, write_path_template="unprimed")
        name = det.hdf1.file_name.get()
        try:
            det.stage()
        except Exception as exc:  # noqa: BLE001  # reported to the test
            return {
                "error": type(exc).__name__,
                "message": str(exc),
                "name_unchanged": det.hdf1.file_name.get() == name,
            }
    return {"error": None}


def gone(mount: str) -> dict[str, Any]:
    from sim_iocs.testing import sim_ioc

    with sim_ioc(mounts=[f"/ioc/data={mount}"], primed=True) as doomed:
        det = _detector(doomed, mount, write_path_template="gone", stage_timeout=2.0)
        doomed.stop()
        try:
            det.stage()
        except Exception as exc:  # noqa: BLE001  # reported to the test
            return {
                "error": type(exc).__name__,
                "message": str(exc),
                "is_timeout": isinstance(exc, TimeoutError),
                "asset_docs": len(list(det.hdf1.collect_asset_docs())),
            }
    return {"error": None}


def main() -> None:
    from sim_iocs.testing import configure_client_environment

    configure_client_environment(ports=2)  # before anything makes a CA context
    scenario, mount = sys.argv[1], sys.argv[2]
    result = {"unprimed": unprimed, "gone": gone}[scenario](mount)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
