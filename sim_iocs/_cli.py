"""Command line of the sim IOC, shared by ``python -m sim_iocs`` and ``filestore-vfs sim-ioc``."""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Sequence

from sim_iocs._areadetector import CAM_PORT, DEVICES, check_aliases, check_port
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


def _alias(text: str) -> tuple[str, str]:
    device, sep, alias = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"alias {text!r} is not of the form DEVICE=ALIAS")
    try:
        return check_aliases([(device, alias)])[0]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _port_name(text: str) -> str:
    try:
        return check_port(text)
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
    parser.add_argument(
        "--alias",
        action="append",
        default=[],
        type=_alias,
        metavar="DEVICE=ALIAS",
        help=f"serve every PV of DEVICE ({', '.join(DEVICES)}) also under PREFIX+ALIAS "
        "(repeatable), e.g. 'cam1:=DET:'",
    )
    parser.add_argument(
        "--cam-port",
        type=_port_name,
        default=CAM_PORT,
        metavar="NAME",
        help=f"the cam's asyn port (PortName_RBV, the plugins' NDArrayPort; default {CAM_PORT})",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log plugin errors")


def run_areadetector(args: argparse.Namespace) -> int:
    """List the PVs (aliases too), or serve until stopped."""
    try:
        aliases = check_aliases(args.alias)  # each is valid; together they must not clash
    except ValueError as exc:
        raise SystemExit(f"python -m sim_iocs areadetector: error: {exc}") from exc
    if args.list_pvs:
        for spec in load_pv_table():
            kind = spec.rtyp or spec.kind
            names = [spec.name] + [a + spec.name[len(d) :] for d, a in aliases if spec.plugin == d]
            for name in names:
                print(f"{args.prefix}{name}\t{kind}\t{spec.kind}")
        return 0
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    return serve(
        args.prefix,
        args.mount,
        args.port,
        primed=args.primed,
        size=args.size,
        aliases=aliases,
        cam_port=args.cam_port,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sim_iocs``."""
    parser = argparse.ArgumentParser(prog="python -m sim_iocs", description=__doc__)
    sub = parser.add_subparsers(dest="ioc", metavar="IOC", required=True)
    ad = sub.add_parser("areadetector", help="a simulated areaDetector (cam1, image1, HDF1, TIFF1)")
    add_areadetector_arguments(ad)
    ad.set_defaults(func=run_areadetector)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)
