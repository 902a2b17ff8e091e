"""``filestore-vfs demo``: the main job, on the embedded default roots.

This version shows the virtual file system on its own: the roots, a round trip of a frame
through ``/local``, a cross-root copy to ``/memory`` and the writer's view of the file. The
detector scenario (sim IOC, bluesky run, a second machine reading it) joins it later.
"""

from __future__ import annotations

import argparse
import hashlib
import time

from ._files import cmd_roots, load_vfs

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo",
        help="show the VFS at work on the default roots",
        description=(
            "Steps: (1) list the roots; (2) write a 512x512 uint16 frame as HDF5 under "
            "/local/demo/<time>/ atomically; (3) read it back and check every pixel; "
            "(4) copy it to /memory across roots and compare checksums; (5) show how a "
            "writer (IOC) and fsspec (vfs://) name the same file."
        ),
    )
    p.add_argument("--config", metavar="YAML", help="VFS config file (default: see docs)")
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    vfs = load_vfs(args)
    print("== roots")
    cmd_roots(args)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = f"/local/demo/{stamp}/frame_000000.h5"
    y, x = np.mgrid[0:512, 0:512]
    frame = ((0 + x + 2 * y) % 2**16).astype(np.uint16)
    vfs.write_array(path, frame)
    print(f"\n== wrote {path} ({vfs.info(path)['size']} bytes)")
    back = vfs.read_array(path)
    if not np.array_equal(back, frame):
        raise RuntimeError(f"{path} read back different pixels")
    print("== read back: every pixel matches (k + x + 2*y) % 2**16")
    copy = f"/memory/demo/{stamp}.h5"
    vfs.copy(path, copy)
    digests = {p: hashlib.sha256(vfs.read_bytes(p)).hexdigest()[:16] for p in (path, copy)}
    if len(set(digests.values())) != 1:
        raise RuntimeError(f"copy differs: {digests}")
    print(f"== copied to {copy}: sha256 {digests[copy]} on both")
    print(f"== this machine's path:  {vfs.local_path(path)}")
    print(f"== the writer's path:    {vfs.writer_path(path)}")
    print(f"== for fsspec tools:     vfs://{path.lstrip('/')}")
    return 0
