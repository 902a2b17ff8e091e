"""Simulated EPICS IOCs for tests, demos and benchmarks of filestore-vfs.

``python -m sim_iocs areadetector --prefix SIM1: [--mount 'D:\\data=/srv/data'] [--port N]``
serves an areaDetector (``cam1:``, ``image1:``, ``HDF1:``, ``TIFF1:``) over real Channel
Access on loopback and writes real HDF5 and TIFF files; :mod:`sim_iocs.testing` starts it
from tests.  ``--alias cam1:=DET:`` serves a device under a second name and ``--cam-port``
names the cam's asyn port, for clients that expect another IOC's naming.
Importing this package needs neither softioc nor pyepics.
"""

from sim_iocs._areadetector import SimAreaDetector, SimDetectorCam
from sim_iocs._cli import main
from sim_iocs._file_plugins import FileTemplateError, check_file_template
from sim_iocs._frames import AD_DATA_TYPES, SIM_MODES, expected_frame, make_frame
from sim_iocs._ioc import DEFAULT_PORT, client_environment, serve, server_environment
from sim_iocs._mounts import Mount, MountTable, parse_mount
from sim_iocs._pvtable import (
    OPHYD_ASYNC_WRITERS,
    OPHYD_CLASSES,
    PVSpec,
    all_pv_names,
    load_pv_table,
    ophyd_async_pv_names,
    ophyd_pv_names,
)

__all__ = [
    "AD_DATA_TYPES",
    "DEFAULT_PORT",
    "OPHYD_ASYNC_WRITERS",
    "OPHYD_CLASSES",
    "FileTemplateError",
    "Mount",
    "MountTable",
    "PVSpec",
    "SIM_MODES",
    "SimAreaDetector",
    "SimDetectorCam",
    "all_pv_names",
    "check_file_template",
    "client_environment",
    "expected_frame",
    "load_pv_table",
    "main",
    "make_frame",
    "ophyd_async_pv_names",
    "ophyd_pv_names",
    "parse_mount",
    "serve",
    "server_environment",
]
