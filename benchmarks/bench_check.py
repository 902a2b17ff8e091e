"""``filestore-vfs check`` on a 10,000-datum run (target < 5 s), against physical anchors.

Figures, each with its anchor measured in the same run on the same files:

* an ``AD_HDF5`` run of ``--check-datums`` datums (one file holding that many 16×24 frames):
  reading the JSONL file (its asset documents, as the command does) and :func:`check_run`,
  against event-model's ``Filler`` with the stock area-detector-handlers filling the same
  datums (what "checking by reading it back" costs today);
* an ``AD_TIFF`` run of as many datums (one file per frame): the same, against
  ``os.stat`` of every referenced file (the least any presence check can do);
* the real command, ``filestore-vfs check --json run.jsonl`` in a subprocess on the TIFF run,
  interpreter start-up included, against ``filestore-vfs roots`` (start-up alone).

Set-up (writing files and documents) is untimed; timings alternate and the best of
``--repeats`` counts (the stock Filler anchor runs once: it takes tens of seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import tifffile

from filestore_vfs import VirtualFileSystem
from filestore_vfs.check import ASSET_DOCUMENTS, check_run, read_documents

from ._report import Figure, best_of

TARGET_SECONDS = 5.0
SHAPE = (16, 24)
Docs = list[tuple[str, dict[str, Any]]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("check")
    group.add_argument(
        "--check-datums",
        type=int,
        default=10_000,
        help="datums in the runs checked (check; default 10000)",
    )


def _run(spec: str, rel: str, kwargs: dict[str, Any], n: int) -> Docs:
    """start, descriptor, one Resource, n × (Datum, Event), stop: as bluesky emits them."""
    start = {"uid": str(uuid.uuid4()), "time": time.time()}
    desc = {
        "uid": str(uuid.uuid4()),
        "run_start": start["uid"],
        "name": "primary",
        "time": time.time(),
        "data_keys": {
            "img": {"source": "SIM", "dtype": "array", "shape": [1, *SHAPE], "external": "FS:"}
        },
    }
    res = {
        "uid": str(uuid.uuid4()),
        "run_start": start["uid"],
        "spec": spec,
        "root": "/detector",
        "resource_path": rel,
        "resource_kwargs": kwargs,
        "path_semantics": "posix",
    }
    docs: Docs = [("start", start), ("descriptor", desc), ("resource", res)]
    for k in range(n):
        datum_id = f"{res['uid']}/{k}"
        docs.append(
            (
                "datum",
                {"resource": res["uid"], "datum_id": datum_id, "datum_kwargs": {"point_number": k}},
            )
        )
        event = {
            "uid": str(uuid.uuid4()),
            "descriptor": desc["uid"],
            "seq_num": k + 1,
            "time": time.time(),
            "data": {"img": datum_id},
            "timestamps": {"img": time.time()},
            "filled": {"img": False},
        }
        docs.append(("event", event))
    docs.append(
        (
            "stop",
            {
                "uid": str(uuid.uuid4()),
                "run_start": start["uid"],
                "time": time.time(),
                "exit_status": "success",
            },
        )
    )
    return docs


def _write_jsonl(path: Path, docs: Docs) -> Path:
    with open(path, "w") as f:
        for name, doc in docs:
            f.write(json.dumps([name, doc]) + "\n")
    return path


def _hdf5_setup(base: Path, n: int) -> Docs:
    (base / "h5").mkdir(parents=True)
    data = np.zeros((n, *SHAPE), np.uint16)
    with h5py.File(base / "h5" / "scan_000000.h5", "w") as h5:
        h5.create_dataset("/entry/data/data", data=data)
    return _run("AD_HDF5", "h5/scan_000000.h5", {"frame_per_point": 1}, n)


def _tiff_setup(base: Path, n: int) -> Docs:
    (base / "tiff").mkdir(parents=True)
    frame = np.zeros(SHAPE, np.uint16)
    for k in range(n):
        tifffile.imwrite(base / "tiff" / f"scan_{k:06d}.tiff", frame)
    kwargs = {"template": "%s%s_%6.6d.tiff", "filename": "scan", "frame_per_point": 1}
    return _run("AD_TIFF", "tiff", kwargs, n)


def _ours(path: Path, vfs: VirtualFileSystem, n: int) -> float:
    start = time.perf_counter()
    report = check_run(read_documents(path, names=ASSET_DOCUMENTS), vfs)
    elapsed = time.perf_counter() - start
    if not report.complete or report.present != n:
        raise RuntimeError(f"check_run found the run incomplete: {report.summary()}")
    return elapsed


def _stock_fill(docs: Docs, base: Path) -> float:
    """Filler + area-detector-handlers, every frame materialised (as a reader would)."""
    import event_model
    from area_detector_handlers.handlers import AreaDetectorHDF5Handler

    start = time.perf_counter()
    registry = {"AD_HDF5": AreaDetectorHDF5Handler}
    with event_model.Filler(
        registry, root_map={"/detector": str(base)}, inplace=False, retry_intervals=[]
    ) as filler:
        for name, doc in docs:
            _name, filled = filler(name, doc)
            if name == "event":
                np.asarray(filled["data"]["img"])
    return time.perf_counter() - start


def _stat_each(docs: Docs, base: Path) -> float:
    start = time.perf_counter()
    for name, doc in docs:
        if name == "datum":
            os.stat(base / "tiff" / f"scan_{doc['datum_kwargs']['point_number']:06d}.tiff")
    return time.perf_counter() - start


def _command(env: dict[str, str], *args: str) -> float:
    exe = shutil.which("filestore-vfs")
    if exe is None:
        raise RuntimeError("the filestore-vfs console script is not installed")
    start = time.perf_counter()
    subprocess.run([exe, *args], env=env, check=True, capture_output=True, timeout=120)
    return time.perf_counter() - start


def run(options: argparse.Namespace) -> list[Figure]:
    n = getattr(options, "check_datums", 10_000)
    repeats = options.repeats
    with tempfile.TemporaryDirectory(prefix="bench-check-", dir=options.tmp) as tmp:
        base = Path(tmp) / "detector"
        vfs = VirtualFileSystem({"detector": {"class": "LocalFile", "root": str(base)}})
        h5_docs, tiff_docs = _hdf5_setup(base, n), _tiff_setup(base, n)
        h5_file = _write_jsonl(Path(tmp) / "h5.jsonl", h5_docs)
        tiff_file = _write_jsonl(Path(tmp) / "tiff.jsonl", tiff_docs)
        config = Path(tmp) / "vfs.yaml"
        config.write_text(f"roots:\n  detector: {{class: LocalFile, root: '{base}'}}\n")
        env = {**os.environ, "FILESTORE_VFS_CONFIG": str(config)}

        (h5_ours,) = best_of(repeats, lambda: _ours(h5_file, vfs, n))
        stock = _stock_fill(h5_docs, base)
        tiff_ours, stat = best_of(
            repeats, lambda: _ours(tiff_file, vfs, n), lambda: _stat_each(tiff_docs, base)
        )
        cmd, startup = best_of(
            repeats,
            lambda: _command(env, "check", "--json", str(tiff_file)),
            lambda: _command(env, "roots"),
        )
    label = f"{n:,}-datum"
    target = f"< {TARGET_SECONDS:g} s"
    return [
        Figure(
            f"`check_run` {label} AD_HDF5 run (JSONL read + check) vs stock Filler fill",
            h5_ours,
            stock,
            "s",
            target=target,
            max_value=TARGET_SECONDS,
            notes={"anchor": "event_model.Filler + area_detector_handlers, run once"},
        ),
        Figure(
            f"`check_run` {label} AD_TIFF run ({n:,} files) vs `os.stat` of each file",
            tiff_ours,
            stat,
            "s",
            target=target,
            max_value=TARGET_SECONDS,
        ),
        Figure(
            f"`filestore-vfs check --json` {label} AD_TIFF run (subprocess) vs "
            "`filestore-vfs roots`",
            cmd,
            startup,
            "s",
            target=target,
            max_value=TARGET_SECONDS,
            notes={"anchor": "interpreter and CLI start-up alone"},
        ),
    ]
