"""One-file-per-frame sequences (AD_TIFF) read from an HTTP root against fsspec direct.

A run of ``--seq-frames`` (default 500) 512×512 UInt16 TIFF files, one per frame, served by
the loopback nginx of ``tests.servers``, frames per second:

* our ``AD_TIFF`` handler on an ``HttpFile`` root, called once per Datum as
  ``event_model.Filler`` calls it: each file read whole in one ``GET``, the next four fetched
  concurrently while the datums come in order (the handler's default ``prefetch = 4``),
  against fsspec direct: ``fsspec.open(url)`` per file and the same tifffile decoding
  (``TiffFile(f).pages.first.asarray()``, the handler's own), so the ratio is the transport
  alone (target ≥ 2×);
* the same handler with ``prefetch = 0`` (one ``GET`` per file, nothing fetched ahead)
  against fsspec direct: what the single request gives without the threads;
* our handler on the HTTP root against our handler on a local root over the very same files
  (the ceiling: the page cache), reported;
* a whole run filled by ``event_model.Filler`` (fresh Filler, handler construction inside
  the timing) on the HTTP root against the local root, reported.

Every side reads every frame; the frames are checked against the sim IOC's formula once
before timing. Timings alternate; best of ``--repeats`` and the paired ratio are reported.

Run alone: ``python -m benchmarks.bench_sequences --repeats 3``; with the others:
``python -m benchmarks sequences``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import fsspec
import numpy as np
import tifffile

from filestore_vfs import VirtualFileSystem
from filestore_vfs.handlers import AreaDetectorTiffHandler, handler_registry

from ._report import Figure, print_report, rate_figure
from .bench_handlers import _frame, call_handler, fill_all, run_documents

TEMPLATE = "scan_%06d.tiff"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sequences")
    group.add_argument(
        "--seq-frames",
        type=int,
        default=500,
        help="TIFF files in the sequence read over HTTP (sequences; default 500)",
    )


def write_tiffs(directory: str, n: int) -> None:
    os.makedirs(directory, exist_ok=True)
    for k in range(n):
        tifffile.imwrite(os.path.join(directory, TEMPLATE % k), _frame(k))


def fsspec_direct(url: str, n: int) -> int:
    """What a user without filestore-vfs writes: ``fsspec.open`` each file, tifffile reads it."""
    for k in range(n):
        with fsspec.open(url + TEMPLATE % k, "rb") as f, tifffile.TiffFile(f) as tif:
            tif.pages.first.asarray()
    return n


def _bound(vfs: VirtualFileSystem, prefetch: int) -> dict[str, Any]:
    registry = dict(handler_registry(vfs))
    registry["AD_TIFF"] = type(
        "AreaDetectorTiffHandler", (registry["AD_TIFF"],), {"prefetch": prefetch}
    )
    return registry


def _check(registry: dict[str, Any], docs: list[tuple[str, dict[str, Any]]], n: int) -> None:
    resource = next(doc for name, doc in docs if name == "resource")
    handler = registry["AD_TIFF"](
        f"{resource['root']}/{resource['resource_path']}", **resource["resource_kwargs"]
    )
    try:
        for k in range(n):
            if not np.array_equal(handler(point_number=k)[0], _frame(k)):
                raise RuntimeError(f"frame {k} read back wrong")
    finally:
        handler.close()


def run(options: argparse.Namespace) -> list[Figure]:
    from tests.servers import nginx_server

    n = getattr(options, "seq_frames", 500)
    assert AreaDetectorTiffHandler.prefetch == 4, "the labels below name the default"
    with nginx_server() as server:
        data = str(server.root / "seq")
        url = f"{server.data_url}seq/tiff/"
        print(f"  writing {n} TIFF files ...", file=sys.stderr, flush=True)
        write_tiffs(os.path.join(data, "tiff"), n)
        spec = {"class": "HttpFile", "download": server.data_url + "seq/"}
        web = VirtualFileSystem({"web": spec}, defaults=False)
        local = VirtualFileSystem({"bench": {"class": "LocalFile", "root": data}}, defaults=False)
        try:
            ahead, single, here = _bound(web, 4), _bound(web, 0), _bound(local, 4)
            http_docs = run_documents("/web", "AD_TIFF", n)
            local_docs = run_documents("/bench", "AD_TIFF", n)
            for registry, docs in ((ahead, http_docs), (single, http_docs), (here, local_docs)):
                _check(registry, docs, n)
            fsspec_direct(url, n)

            def _ahead() -> None:
                call_handler(ahead, http_docs)

            return [
                rate_figure(
                    "TIFF sequence, HTTP root, AD_TIFF handler (one GET per file, 4 fetched "
                    "ahead) vs fsspec.open + tifffile per file",
                    options.repeats,
                    n,
                    _ahead,
                    lambda: fsspec_direct(url, n) and None,
                    "≥ 2×",
                    2.0,
                ),
                rate_figure(
                    "TIFF sequence, HTTP root, AD_TIFF handler prefetch=0 (one GET per file) "
                    "vs fsspec.open + tifffile per file",
                    options.repeats,
                    n,
                    lambda: call_handler(single, http_docs) and None,
                    lambda: fsspec_direct(url, n) and None,
                ),
                rate_figure(
                    "TIFF sequence, AD_TIFF handler (4 fetched ahead): HTTP root vs local root",
                    options.repeats,
                    n,
                    _ahead,
                    lambda: call_handler(here, local_docs) and None,
                ),
                rate_figure(
                    "TIFF fill (event_model.Filler), HTTP root (4 fetched ahead) vs local root",
                    options.repeats,
                    n,
                    lambda: fill_all(ahead, http_docs) and None,
                    lambda: fill_all(here, local_docs) and None,
                ),
            ]
        finally:
            web.close()
            local.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_sequences")
    parser.add_argument("--repeats", type=int, default=3, help="repeats, best-of (default 3)")
    add_arguments(parser)
    options = parser.parse_args(argv)
    return print_report(run(options))


if __name__ == "__main__":
    sys.exit(main())
