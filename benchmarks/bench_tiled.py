"""A whole run's frames read through tiled: our HDF5 adapter against tiled's own.

One ``--tiled-frames`` × 512×512 UInt16 HDF5 file (default 200 frames, 100 MiB, one frame
per chunk as the IOC writes) is registered twice in one tiled app, each node an external
``application/x-hdf5`` array of ``/entry/data/data``:

* ``ours``: mimetype ``application/x-hdf5``, which the catalog's ``adapters_by_mimetype``
  maps to ours (:func:`filestore_vfs.tiled.adapters_by_mimetype`), URI
  ``vfs://bench/scan.h5`` on a ``LocalFile`` root;
* ``stock``: a mimetype of its own mapped to tiled's ``HDF5Adapter``, URI ``file://`` of the
  same file (under ``readable_storage``).

Both nodes are in one SQL catalog, so one app serves them.

The same tiled client (in-process, over the app's ASGI transport) reads the whole array of
each (``node.read()``, tiled's default chunking of the request), then frame by frame
(``node[k]``, one request per frame); target ≥ 1.0× for the whole read. The frames are
checked equal once before timing. Timings alternate; best of ``--repeats`` and the paired
ratio are reported.

Run alone: ``python -m benchmarks.bench_tiled --repeats 3``; with the others:
``python -m benchmarks tiled``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Any

import h5py
import numpy as np

from filestore_vfs import VirtualFileSystem

from ._report import Figure, print_report, rate_figure
from .bench_handlers import DATASET, SHAPE, _frame

HDF5 = "application/x-hdf5"
#: the mimetype the catalog maps to tiled's own HDF5 adapter
STOCK = "application/x-hdf5-tiled"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("tiled")
    group.add_argument(
        "--tiled-frames",
        type=int,
        default=200,
        help="frames in the HDF5 file read through tiled (tiled; default 200)",
    )


def write_h5(path: str, n: int) -> None:
    with h5py.File(path, "w") as h5:
        ds = h5.create_dataset(DATASET, (n, *SHAPE), np.uint16, chunks=(1, *SHAPE))
        for k in range(n):
            ds[k] = _frame(k)


def _register(container: Any, key: str, mimetype: str, uri: str, n: int) -> Any:
    from tiled.structures.array import ArrayStructure, BuiltinDtype
    from tiled.structures.core import StructureFamily
    from tiled.structures.data_source import Asset, DataSource, Management

    structure = ArrayStructure(
        data_type=BuiltinDtype.from_numpy_dtype(np.dtype(np.uint16)),
        shape=(n, *SHAPE),
        chunks=((1,) * n, (SHAPE[0],), (SHAPE[1],)),
    )
    source = DataSource(
        structure_family=StructureFamily.array,
        structure=structure,
        mimetype=mimetype,
        parameters={"dataset": DATASET},
        assets=[Asset(data_uri=uri, is_directory=False, parameter="data_uris", num=0)],
        management=Management.external,
    )
    return container.new(
        structure_family=StructureFamily.array,
        data_sources=[source],
        key=key,
    )


def _read_all(node: Any) -> None:
    np.asarray(node.read())


def _frame_by_frame(node: Any, n: int) -> None:
    for k in range(n):
        np.asarray(node[k])


def run(options: argparse.Namespace) -> list[Figure]:
    from tiled.adapters.hdf5 import HDF5Adapter
    from tiled.catalog import from_uri
    from tiled.client import Context, from_context
    from tiled.server.app import build_app

    from filestore_vfs.tiled import adapters_by_mimetype

    n = getattr(options, "tiled_frames", 200)
    with tempfile.TemporaryDirectory(prefix="bench-tiled-", dir=options.tmp) as tmp:
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        path = os.path.join(data, "scan.h5")
        print(f"  writing {n} frames ...", file=sys.stderr, flush=True)
        write_h5(path, n)
        vfs = VirtualFileSystem({"bench": {"class": "LocalFile", "root": data}}, defaults=False)
        # one catalog, so one server and one client: tiled's own adapter under a mimetype
        # of its own beside ours
        mimetypes = {**adapters_by_mimetype(vfs), STOCK: HDF5Adapter}
        catalog = from_uri(
            f"sqlite:///{tmp}/catalog.db",
            init_if_not_exists=True,
            readable_storage=[data],
            adapters_by_mimetype=mimetypes,
        )
        app = build_app(catalog)
        try:
            with Context.from_app(app) as context:
                client = from_context(context)
                ours = _register(client, "ours", HDF5, "vfs://bench/scan.h5", n)
                stock = _register(client, "stock", STOCK, f"file://localhost{path}", n)
                for node in (ours, stock):  # warm the page cache, check the set-up
                    frames = node.read()
                    for k in (0, n // 2, n - 1):
                        if not np.array_equal(frames[k], _frame(k)):
                            raise RuntimeError(f"frame {k} read back wrong through tiled")
                return [
                    rate_figure(
                        "tiled: a run's whole HDF5 array (node.read()), our VFSHDF5Adapter on "
                        "vfs://, local root vs tiled's HDF5Adapter on file://",
                        options.repeats,
                        n,
                        lambda: _read_all(ours),
                        lambda: _read_all(stock),
                        "≥ 1.0×",
                        1.0,
                        unit="frames/s",
                    ),
                    rate_figure(
                        "tiled: frame by frame (node[k]), our VFSHDF5Adapter on vfs://, "
                        "local root vs tiled's HDF5Adapter on file://",
                        options.repeats,
                        n,
                        lambda: _frame_by_frame(ours, n),
                        lambda: _frame_by_frame(stock, n),
                        unit="frames/s",
                    ),
                ]
        finally:
            vfs.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_tiled")
    parser.add_argument("--repeats", type=int, default=3, help="repeats, best-of (default 3)")
    parser.add_argument("--tmp", default=None, help="directory for the file")
    add_arguments(parser)
    options = parser.parse_args(argv)
    return print_report(run(options))


if __name__ == "__main__":
    sys.exit(main())
