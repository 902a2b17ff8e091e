"""Filling frames through our handlers against area-detector-handlers and the raw libraries.

On one 1000-frame 512×512 UInt16 HDF5 file (``--handler-frames``), and on the same frames as
one TIFF file each, frames per second filled by ``event_model.Filler``:

* HDF5, local root: our ``AD_HDF5`` handler against area-detector-handlers on the same path
  (target ≥ 5×) and against raw h5py reading the dataset frame by frame (target ≥ 0.5×);
* TIFF, local root: our ``AD_TIFF`` handler against area-detector-handlers (reported) and
  against raw ``tifffile.imread`` per file (target ≥ 0.8×);
* HDF5 through an ``HttpFile`` root (nginx on loopback serving the same directory, the test
  server of ``tests.servers``) with ``cache="file"``: cold (the cache emptied before each
  run: the download is timed) and warm (the cached copy present) against the local root
  (warm target ≥ 0.8×); also ``cache="blocks"`` (ranged reads, nothing kept), reported.
  Every HTTP figure's handlers are built with the cache mode its label names
  (:data:`HTTP_FIGURES`).

To say where time goes, the handlers are also called directly (no Filler), and Filler is
timed with a handler that returns one ready frame (its own per-datum cost: it deep-copies
every Event and calls ``time.sleep(0)`` before every handler call, even with no retries).

Every fill goes through a fresh ``Filler`` (``retry_intervals=[]``) over one run's
documents (one Resource, 1000 Datums and Events), so handler construction and the file
open are inside the timing, as in a real read; every returned frame is made a numpy array
(area-detector-handlers returns dask arrays, which are computed). The files are read once
before timing, so every side reads from the page cache. Timings alternate; best of
``--repeats`` and the paired ratio are reported.

Run alone: ``python -m benchmarks.bench_handlers --repeats 3`` (``--no-handler-http``
without nginx), or with the others: ``python -m benchmarks handlers``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import event_model
import h5py
import numpy as np
import tifffile

from filestore_vfs import VirtualFileSystem
from filestore_vfs.handlers import handler_registry

from ._report import Figure, print_report, rate_figure

SHAPE = (512, 512)
DATASET = "/entry/data/data"
Docs = list[tuple[str, dict[str, Any]]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("handlers")
    group.add_argument(
        "--handler-frames",
        type=int,
        default=1000,
        help="frames in the HDF5 file and TIFF files (handlers; default 1000)",
    )
    group.add_argument(
        "--handler-http",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure through an HTTP root on a loopback nginx (handlers; default on)",
    )


def _frame(k: int) -> np.ndarray:
    """The sim IOC's frame formula (any reader can check content)."""
    y, x = np.indices(SHAPE, dtype=np.int64)
    return ((k + x + 2 * y) % 2**16).astype(np.uint16)


def write_files(directory: str, n: int) -> None:
    """``scan.h5`` with ``n`` frames (chunked one frame per chunk, as the IOC writes) and
    ``tiff/scan_NNNNNN.tiff``, one file per frame."""
    os.makedirs(os.path.join(directory, "tiff"), exist_ok=True)
    with h5py.File(os.path.join(directory, "scan.h5"), "w") as h5:
        ds = h5.create_dataset(DATASET, (n, *SHAPE), np.uint16, chunks=(1, *SHAPE))
        for k in range(n):
            frame = _frame(k)
            ds[k] = frame
            tifffile.imwrite(os.path.join(directory, "tiff", f"scan_{k:06d}.tiff"), frame)


def run_documents(root: str, spec: str, n: int) -> Docs:
    """One run: a Resource for ``scan.h5`` or the TIFF directory, ``n`` Datums and Events."""
    if spec == "AD_HDF5":
        path, kwargs = "scan.h5", {"frame_per_point": 1}
    else:
        path = "tiff"
        kwargs = {"template": "%s%s_%6.6d.tiff", "filename": "scan", "frame_per_point": 1}
    run = event_model.compose_run()
    key = {"source": "b", "dtype": "array", "shape": [1, *SHAPE], "external": "FILESTORE:"}
    desc = run.compose_descriptor(name="primary", data_keys={"img": key})
    res = run.compose_resource(
        spec=spec, root=root, resource_path=path, resource_kwargs=kwargs, path_semantics="posix"
    )
    docs: Docs = [("start", run.start_doc), ("descriptor", desc.descriptor_doc)]
    docs.append(("resource", res.resource_doc))
    for k in range(n):
        datum = res.compose_datum(datum_kwargs={"point_number": k})
        event = desc.compose_event(
            data={"img": datum["datum_id"]}, timestamps={"img": 0.0}, filled={"img": False}
        )
        docs += [("datum", datum), ("event", event)]
    docs.append(("stop", run.compose_stop()))
    return docs


def fill_all(registry: dict[str, Any], docs: Docs) -> int:
    """Fill every Event; every frame becomes a numpy array. Returns the frames filled."""
    count = 0
    with event_model.Filler(registry, inplace=False, retry_intervals=[]) as filler:
        for name, doc in docs:
            name, doc = filler(name, doc)
            if name == "event":
                np.asarray(doc["data"]["img"])
                count += 1
    return count


def call_handler(registry: dict[str, Any], docs: Docs) -> int:
    """The handler alone, as Filler would call it (one instance per Resource, one call per
    Datum), without Filler's per-datum bookkeeping: isolates the handler's own cost."""
    resource = next(doc for name, doc in docs if name == "resource")
    handler = registry[resource["spec"]](
        os.path.join(resource["root"], resource["resource_path"]), **resource["resource_kwargs"]
    )
    count = 0
    try:
        for name, doc in docs:
            if name == "datum":
                np.asarray(handler(**doc["datum_kwargs"]))
                count += 1
    finally:
        getattr(handler, "close", lambda: None)()
    return count


class NullHandler:
    """Returns one preallocated frame: what Filler alone costs per Datum (the ceiling)."""

    frame = np.zeros((1, *SHAPE), np.uint16)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, **kwargs: Any) -> np.ndarray:
        return self.frame


def raw_h5py(path: str) -> int:
    with h5py.File(path, "r") as h5:
        ds = h5[DATASET]
        for k in range(ds.shape[0]):
            ds[k : k + 1]
        return int(ds.shape[0])


def raw_tifffile(directory: str, n: int) -> int:
    for k in range(n):
        tifffile.imread(os.path.join(directory, f"scan_{k:06d}.tiff"))
    return n


def _untimed(_: object) -> None:
    """What a benchmarked call returns: ``None`` (time it whole), not its own result."""


def _stock_registry() -> dict[str, Any]:
    from area_detector_handlers.handlers import AreaDetectorHDF5Handler, AreaDetectorTiffHandler

    return {"AD_HDF5": AreaDetectorHDF5Handler, "AD_TIFF": AreaDetectorTiffHandler}


def _local_figures(vfs: VirtualFileSystem, data: str, n: int, repeats: int) -> list[Figure]:
    ours, stock = handler_registry(vfs), _stock_registry()
    h5_ours, h5_stock = run_documents("/bench", "AD_HDF5", n), run_documents(data, "AD_HDF5", n)
    tif_ours, tif_stock = run_documents("/bench", "AD_TIFF", n), run_documents(data, "AD_TIFF", n)
    for registry, docs in ((ours, h5_ours), (stock, h5_stock), (ours, tif_ours)):
        assert fill_all(registry, docs) == n  # warm the page cache, check the set-up
    h5_path, tiff_dir = os.path.join(data, "scan.h5"), os.path.join(data, "tiff")
    return [
        rate_figure(
            "HDF5 fill, local root: ours vs area-detector-handlers",
            repeats,
            n,
            lambda: _untimed(fill_all(ours, h5_ours)),
            lambda: _untimed(fill_all(stock, h5_stock)),
            "≥ 5×",
            5.0,
        ),
        rate_figure(
            "HDF5 fill, local root: ours vs raw h5py frame by frame",
            repeats,
            n,
            lambda: _untimed(fill_all(ours, h5_ours)),
            lambda: _untimed(raw_h5py(h5_path)),
            "≥ 0.5×",
            0.5,
        ),
        rate_figure(
            "TIFF fill, local root: ours vs area-detector-handlers",
            repeats,
            n,
            lambda: _untimed(fill_all(ours, tif_ours)),
            lambda: _untimed(fill_all(stock, tif_stock)),
        ),
        rate_figure(
            "TIFF fill, local root: ours vs raw tifffile per file",
            repeats,
            n,
            lambda: _untimed(fill_all(ours, tif_ours)),
            lambda: _untimed(raw_tifffile(tiff_dir, n)),
            "≥ 0.8×",
            0.8,
        ),
        rate_figure(
            "HDF5 handler calls without Filler: ours vs raw h5py",
            repeats,
            n,
            lambda: _untimed(call_handler(ours, h5_ours)),
            lambda: _untimed(raw_h5py(h5_path)),
        ),
        rate_figure(
            "TIFF handler calls without Filler: ours vs raw tifffile",
            repeats,
            n,
            lambda: _untimed(call_handler(ours, tif_ours)),
            lambda: _untimed(raw_tifffile(tiff_dir, n)),
        ),
        rate_figure(
            "Filler alone (a handler returning one ready frame) vs raw h5py",
            repeats,
            n,
            lambda: _untimed(fill_all({"AD_HDF5": NullHandler}, h5_ours)),
            lambda: _untimed(raw_h5py(h5_path)),
        ),
    ]


#: The HTTP figures: (label, the cache mode the handlers read with, how it is timed). Each
#: label names its cache mode as ``cache=<mode>``, and its handlers are built with that mode
#: (``http_registry``); ``tests/test_benchmarks_http_labels.py`` checks both.
HTTP_FIGURES: tuple[tuple[str, str, str], ...] = (
    (
        "HDF5 fill, HTTP root cache=file, cold (whole-file download timed) vs local root",
        "file",
        "cold",
    ),
    (
        "HDF5 fill, HTTP root cache=file, warm (the cached whole-file copy, no request) "
        "vs local root",
        "file",
        "warm",
    ),
    ("HDF5 fill, HTTP root cache=blocks (ranged reads) vs local root", "blocks", "warm"),
)


def http_registry(web: VirtualFileSystem, cache: str) -> dict[str, Any]:
    """Our handlers reading ``web`` with ``cache`` (always explicit: the handlers' own default
    is ``file``, so a registry built without it would time the whole-file copy)."""
    return handler_registry(web, cache=cache)


def _http_figures(
    vfs: VirtualFileSystem, data: str, url: str, n: int, repeats: int
) -> list[Figure]:
    local = handler_registry(vfs)
    h5_local = run_documents("/bench", "AD_HDF5", n)
    h5_http = run_documents("/web", "AD_HDF5", n)
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        spec = {"class": "HttpFile", "download": url, "cache_dir": cache}
        web = VirtualFileSystem({"web": spec}, defaults=False)
        try:
            assert fill_all(http_registry(web, "blocks"), h5_http) == n  # nginx reads it once
            figures = []
            for label, mode, how in HTTP_FIGURES:
                registry = http_registry(web, mode)
                if how == "cold":

                    def ours(registry: dict[str, Any] = registry) -> float:
                        shutil.rmtree(cache)
                        os.makedirs(cache)
                        start = time.perf_counter()
                        fill_all(registry, h5_http)
                        return time.perf_counter() - start

                else:

                    def ours(registry: dict[str, Any] = registry) -> float | None:
                        return _untimed(fill_all(registry, h5_http))

                warm_copy = mode == "file" and how == "warm"
                figures.append(
                    rate_figure(
                        label,
                        repeats,
                        n,
                        ours,
                        lambda: _untimed(fill_all(local, h5_local)),
                        "≥ 0.8×" if warm_copy else "",
                        0.8 if warm_copy else None,
                    )
                )
            return figures
        finally:
            web.close()


@contextlib.contextmanager
def _data_dir(options: argparse.Namespace, http: bool) -> Iterator[tuple[str, str | None]]:
    """Where the files go: inside a loopback nginx's served directory when HTTP is measured
    (so the local and the HTTP root read the very same file), else a temporary directory."""
    if not http:
        with tempfile.TemporaryDirectory(prefix="bench-handlers-", dir=options.tmp) as tmp:
            yield os.path.join(tmp, "data"), None
        return
    from tests.servers import nginx_server

    with nginx_server() as server:
        yield str(server.root / "bench"), f"{server.data_url}bench/"


def run(options: argparse.Namespace) -> list[Figure]:
    """Measure every figure of this module."""
    n = getattr(options, "handler_frames", 1000)
    http = getattr(options, "handler_http", True)
    with _data_dir(options, http) as (data, url):
        print(f"  writing {n} frames as HDF5 and TIFF ...", file=sys.stderr, flush=True)
        write_files(data, n)
        vfs = VirtualFileSystem({"bench": {"class": "LocalFile", "root": data}}, defaults=False)
        try:
            figures = _local_figures(vfs, data, n, options.repeats)
            if url is not None:
                print("  HTTP root ...", file=sys.stderr, flush=True)
                figures += _http_figures(vfs, data, url, n, options.repeats)
        finally:
            vfs.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_handlers")
    parser.add_argument("--repeats", type=int, default=3, help="repeats, best-of (default 3)")
    parser.add_argument("--tmp", default=None, help="directory for the files (no HTTP)")
    add_arguments(parser)
    options = parser.parse_args(argv)
    return print_report(run(options))


if __name__ == "__main__":
    sys.exit(main())
