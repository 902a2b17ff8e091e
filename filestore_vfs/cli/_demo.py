"""``filestore-vfs demo``: the main job, end to end, on the embedded default roots.

It needs no config and no services: it starts what it uses and stops it again.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser"]

DESCRIPTION = """\
Run a small beamline on this machine and read its data back as a second machine would.

Steps:
  1. check that /local (this machine's data root) is writable;
  2. start two simulated area detectors (sim IOCs over real Channel Access on loopback),
     one writing HDF5 and one writing TIFF, both into /local;
  3. run a bluesky count with both, through filestore-vfs's ophyd mixins: the documents
     name files only by logical path (/local/demo/<time>/...);
  4. store the documents under /local/demo/<time>/ (JSONL, and a tiled SQLite catalog
     when tiled is installed);
  5. serve /local over loopback HTTP and read every frame back through a *separate*
     reader VFS whose /local root is an HttpFile, checking each pixel against the
     simulator's formula;
  6. run `filestore-vfs check` on the run;
  7. write a PNG of one frame and a summary, and say where everything is.
No process is left behind, also on Ctrl-C (which says where the partial output is).
"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo",
        help="run the main job: a simulated beamline written and read back through the VFS",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", metavar="YAML", help="VFS config file (default: see docs)")
    p.add_argument("--points", type=int, default=10, help="points in the count (default 10)")
    p.add_argument("--size", default="256x256", metavar="WxH", help="frame size (default 256x256)")
    p.add_argument(
        "--port", type=int, help="Channel Access port of the first sim IOC (default: a free one)"
    )
    p.add_argument(
        "--no-tiled", action="store_true", help="skip the tiled catalog even if tiled is installed"
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON at the end")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ._demo_run import Demo

    demo = Demo(args)
    try:
        return demo.run()
    except KeyboardInterrupt:
        print(f"\ninterrupted; partial output is in {demo.where()}", file=sys.stderr)
        raise
