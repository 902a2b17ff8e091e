"""Command line of the sim IOC, shared by ``python -m sim_iocs`` and ``filestore-vfs sim-ioc``."""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Sequence

from sim_iocs._ioc import DEFAULT_PORT, serve
from sim_iocs._mounts import parse_mount
from sim_iocs._pvtable import load_pv_table

__all__ = ["add_areadetector_arguments", "main", "run_areadetector"]


def _size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)[xX](\d+)", text)
    if not match:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT")
    return int(match.group(1)), int(match.group(2))


def _mount(text: str) -> object:
    try:
        return parse_mount(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_areadetector_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the area-detector IOC (also used by ``filestore-vfs sim-ioc``)."""
    parser.add_argument("--prefix", default="SIM1:", help="PV prefix (default SIM1:)")
    parser.add_argument(
        "--mount",
        action="append",
        default=[],
        type=_mount,
        metavar="WRITER=HOST",
        help="writer path seen by the IOC = host directory holding the files (repeatable), "
        "e.g. 'D:\\data=/srv/data'",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="CA server port")
    parser.add_argument("--list-pvs", action="store_true", help="print every PV and exit")
    parser.add_argument(
        "--primed", action="store_true", help="start as if the plugins had seen one frame"
    )
    parser.add_argument(
        "--size", type=_size, default=(64, 64), metavar="WxH", help="frame size (default 64x64)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log plugin errors")


def run_areadetector(args: argparse.Namespace) -> int:
    """List the PVs, or serve until stopped."""
    if args.list_pvs:
        for spec in load_pv_table():
            kind = spec.rtyp or spec.kind
            print(f"{args.prefix}{spec.name}\t{kind}\t{spec.kind}")
        return 0
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    return serve(args.prefix, args.mount, args.port, primed=args.primed, size=args.size)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sim_iocs``."""
    parser = argparse.ArgumentParser(prog="python -m sim_iocs", description=__doc__)
    sub = parser.add_subparsers(dest="ioc", metavar="IOC", required=True)
    ad = sub.add_parser("areadetector", help="a simulated areaDetector (cam1, image1, HDF1, TIFF1)")
    add_areadetector_arguments(ad)
    ad.set_defaults(func=run_areadetector)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)
