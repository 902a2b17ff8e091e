"""Running ophyd-async's ``SimDetector`` on the sim IOC and checking what it wrote.

Shared by the run tests (``test_ophyd_async_sim``) and the read-back tests
(``test_async_readback``): the detector, the plans, the document checks (only logical
names, nothing of the writing machine) and the frame checks against the sim's formula.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from filestore_vfs import VirtualFileSystem
from filestore_vfs.areadetector import VFSPathProvider
from sim_iocs import expected_frame
from sim_iocs.testing import SimIOC

Docs = list[tuple[str, dict[str, Any]]]
SIZE = (64, 64)  # the IOC's default (x, y)
#: The writer roots the IOC sees: any spelling of them in a document is a leak.
WRITER_ROOTS = re.compile(r"/ioc/data|[a-z]:[\\/]+data", re.IGNORECASE)


def make_detector(RE: Any, ioc: SimIOC, writer: str, provider: VFSPathProvider) -> Any:
    """A connected SimDetector with one writer (``"hdf"`` or ``"tiff"``)."""
    from ophyd_async.core import init_devices
    from ophyd_async.epics.adcore import ADWriterFactory
    from ophyd_async.epics.adsimdetector import SimDetector

    with init_devices():
        det = SimDetector(ioc.prefix, getattr(ADWriterFactory, writer)(provider), name="det")
    return det


def of(docs: Docs, kind: str) -> list[dict[str, Any]]:
    return [doc for name, doc in docs if name == kind]


def strings(node: Any) -> Iterator[str]:
    """Every string in a document, keys included, however deep."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from strings(value)


def assert_no_physical_path(docs: Docs, mounts: Iterable[Path]) -> None:
    """No document names a host mount directory or the IOC's own view of the storage."""
    hosts = [str(path).casefold() for path in mounts]
    for name, doc in docs:
        for text in strings(doc):
            leak = WRITER_ROOTS.search(text)
            assert leak is None, f"writer path {leak.group()!r} in a {name} document: {text!r}"
            for host in hosts:
                assert host not in text.casefold(), f"{host!r} in a {name} document: {text!r}"


def logical(uri: str) -> str:
    assert uri.startswith("vfs://"), uri
    return "/" + uri[len("vfs://") :]


def tiff_uris(resource: dict[str, Any], count: int) -> list[str]:
    """The ``vfs://`` URI of each frame of a multipart TIFF StreamResource."""
    template = resource["parameters"]["template"]
    return [resource["uri"] + template.format(index) for index in range(count)]


def read_hdf5(vfs: VirtualFileSystem, uri: str, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    import h5py

    with vfs.open(logical(uri), "rb") as raw, h5py.File(raw, "r") as f:
        return f[dataset][()], f["entry/instrument/NDAttributes/NDArrayUniqueId"][()]


def read_tiffs(
    vfs: VirtualFileSystem, resource: dict[str, Any], count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Frames 0..count-1 of a multipart TIFF StreamResource, read through the VFS."""
    import tifffile

    frames, uids = [], []
    for uri in tiff_uris(resource, count):
        path = logical(uri)
        assert vfs.isfile(path), path
        with vfs.open(path, "rb") as raw, tifffile.TiffFile(raw) as tif:
            frames.append(tif.pages[0].asarray())
            uids.append(tif.pages[0].tags[65000].value)
    return np.asarray(frames), np.asarray(uids)


def sim_frames(counters: Iterable[int]) -> np.ndarray:
    """The sim's frames for ``cam1:ArrayCounter`` values ``k`` (0-based), stacked."""
    return np.stack([expected_frame(k, SIZE[1], SIZE[0], "uint16") for k in counters])


def assert_frames(frames: np.ndarray, unique_ids: np.ndarray) -> None:
    """Frame with unique id u is the sim's frame k = u - 1 (ArrayCounter before it)."""
    assert len(frames) == len(unique_ids) > 0
    np.testing.assert_array_equal(frames, sim_frames(int(uid) - 1 for uid in unique_ids))


def set_callbacks(RE: Any, det: Any, writer: str, enable: bool) -> None:
    import bluesky.plan_stubs as bps
    from ophyd_async.core import EnableDisable

    value = EnableDisable.ENABLE if enable else EnableDisable.DISABLE
    RE(bps.mv(getattr(det, writer).enable_callbacks, value))


def fly(det: Any, frames: int) -> Iterator[Any]:
    import bluesky.plan_stubs as bps
    from ophyd_async.core import TriggerInfo

    yield from bps.open_run()
    yield from bps.stage(det, wait=True)  # new-style devices: stage/unstage do not wait else
    yield from bps.prepare(det, TriggerInfo(number_of_events=frames), wait=True)
    yield from bps.declare_stream(det, name="primary", collect=True)
    yield from bps.kickoff(det, wait=True)
    yield from bps.collect_while_completing([det], [det], flush_period=0.1)
    yield from bps.unstage(det, wait=True)  # the file is closed when the run is over
    yield from bps.close_run()


def run_plan(RE: Any, det: Any, writer: str, plan: Any) -> Docs:
    """Run ``plan`` with the writer's callbacks on (ophyd-async's TIFF logic does not enable
    the plugin; its HDF5 logic does) and off again after; return the run's documents."""
    docs: Docs = []
    token = RE.subscribe(lambda name, doc: docs.append((name, doc)))
    set_callbacks(RE, det, writer, True)
    try:
        RE(plan)
    finally:
        RE.unsubscribe(token)
        if writer == "tiff":
            set_callbacks(RE, det, writer, False)
    return docs


def array_counter(det: Any) -> int:
    """``cam1:ArrayCounter_RBV``: how many frames the IOC has made so far."""
    from bluesky.run_engine import call_in_bluesky_event_loop

    return int(call_in_bluesky_event_loop(det.driver.array_counter.get_value()))
