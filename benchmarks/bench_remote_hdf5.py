"""Reading HDF5 from a remote root: which cache mode should be the default?

h5py reads a file as many small, scattered requests (superblock, B-tree, chunk index, then
the chunks). Over a network each request is a round trip, so how a network root buffers
matters more than bandwidth. On one 1000-frame file served by nginx on loopback, read 100
frames spread over the file, once per cache mode:

* ``blocks``: an LRU of small (512 KiB) blocks, the default;
* ``stream``: 8 MiB read-ahead, what sequential copies use;
* ``file`` cold: a whole-file local copy first; ``file`` warm: that copy already cached;

each against the same 100 frames read from the local file (the anchor). The ratio says how
close to local each mode gets; the table's notes give the bytes each mode fetched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from typing import Any

from ._report import Figure, MiB

MODES = ("blocks", "stream", "file-cold", "file-warm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("remote_hdf5")
    group.add_argument("--hdf5-frames", type=int, default=1000, help="frames in the file")
    group.add_argument("--hdf5-shape", default="512x512", help="frame shape WxH (uint16)")
    group.add_argument("--hdf5-read", type=int, default=100, help="frames read per mode")


def _write(path: str, frames: int, width: int, height: int) -> None:
    import h5py
    import numpy as np

    frame = np.arange(width * height, dtype=np.uint16).reshape(height, width)
    with h5py.File(path, "w") as h5:
        data = h5.create_dataset(
            "/entry/data/data",
            shape=(frames, height, width),
            dtype="u2",
            chunks=(1, height, width),
        )
        for k in range(frames):
            data[k] = frame + k


def _read_frames(fileobj: Any, indices: list[int]) -> float:
    import h5py

    t0 = time.perf_counter()
    with h5py.File(fileobj, "r") as h5:
        data = h5["/entry/data/data"]
        for k in indices:
            data[k]
    return time.perf_counter() - t0


def run(options: argparse.Namespace) -> list[Figure]:
    from filestore_vfs import VirtualFileSystem
    from tests.servers import nginx_server

    width, height = (int(v) for v in options.hdf5_shape.lower().split("x"))
    frames, count = options.hdf5_frames, options.hdf5_read
    indices = [round(i * (frames - 1) / max(1, count - 1)) for i in range(count)]
    figures = []
    with nginx_server() as server, tempfile.TemporaryDirectory() as cache:
        path = os.path.join(server.root, "scan.h5")
        _write(path, frames, width, height)
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            local = min(_read_frames(f, indices) for _ in range(3))
        for mode in MODES:
            vfs = VirtualFileSystem(
                {"remote": {"class": "HttpFile", "download": server.data_url, "cache_dir": cache}},
                defaults=False,
            )
            cache_mode = "file" if mode.startswith("file") else mode
            if mode == "file-cold":
                shutil.rmtree(cache, ignore_errors=True)
                os.makedirs(cache)
            t0 = time.perf_counter()  # the open counts: a cold whole-file cache downloads
            with vfs.open("/remote/scan.h5", "rb", cache=cache_mode) as f:
                _read_frames(f, indices)
            total = time.perf_counter() - t0
            figures.append(
                Figure(
                    name=f"{count} of {frames} frames ({width}x{height} u16) over HTTP, "
                    f"cache={mode}",
                    ours=count / total,
                    anchor=count / local,
                    unit="frames/s",
                    target="information: chooses the default"
                    if mode != "blocks"
                    else "default mode",
                    notes={"file_MiB": round(size / MiB, 1)},
                )
            )
    return figures
