"""``filestore-vfs sim-ioc``: run the simulated area-detector IOC (same options as
``python -m sim_iocs areadetector``).

``sim_iocs`` and softioc are imported inside :func:`run` only: ``filestore_vfs`` never
imports the simulator otherwise, and ``filestore-vfs --help`` stays fast.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run"]

_DEFAULT_PORT = 5064


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``sim-ioc``; its options mirror ``python -m sim_iocs areadetector``."""
    parser = subparsers.add_parser(
        "sim-ioc",
        help="run a simulated areaDetector IOC (Channel Access on loopback)",
        description="Serve cam1:, image1:, HDF1: and TIFF1: over Channel Access on "
        "127.0.0.1 and write real HDF5/TIFF files; needs the 'sim' extra.",
    )
    parser.add_argument("--prefix", default="SIM1:", help="PV prefix (default SIM1:)")
    parser.add_argument(
        "--mount",
        action="append",
        default=[],
        metavar="WRITER=HOST",
        help="writer path seen by the IOC = host directory holding the files (repeatable)",
    )
    parser.add_argument("--port", type=int, default=_DEFAULT_PORT, help="CA server port")
    parser.add_argument("--list-pvs", action="store_true", help="print every PV and exit")
    parser.add_argument(
        "--primed", action="store_true", help="start as if the plugins had seen one frame"
    )
    parser.add_argument("--size", default="64x64", metavar="WxH", help="frame size")
    parser.add_argument(
        "--alias",
        action="append",
        default=[],
        metavar="DEVICE=ALIAS",
        help="serve every PV of DEVICE (cam1:, image1:, HDF1:, TIFF1:) also under "
        "PREFIX+ALIAS (repeatable), e.g. 'cam1:=DET:'",
    )
    parser.add_argument(
        "--cam-port", default="SIM1", metavar="NAME", help="the cam's asyn port name"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log plugin errors")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Parse the options with the simulator's own parser, then serve (or list PVs)."""
    try:
        from sim_iocs import main
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError(f"the sim IOC is not installed: {exc}") from exc
    argv = ["areadetector", "--prefix", args.prefix, "--port", str(args.port)]
    argv += ["--size", args.size]
    for mount in args.mount:
        argv += ["--mount", mount]
    for alias in args.alias:
        argv += ["--alias", alias]
    argv += ["--cam-port", args.cam_port]
    if args.list_pvs:
        argv.append("--list-pvs")
    if args.primed:
        argv.append("--primed")
    if args.verbose:
        argv.append("--verbose")
    return main(argv)
