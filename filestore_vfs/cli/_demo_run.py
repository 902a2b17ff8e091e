"""The demo's steps (see ``filestore-vfs demo --help``)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import time
from typing import Any

from ..vfs import VirtualFileSystem
from ._files import load_vfs
from ._png import png_bytes

__all__ = ["Demo"]

#: Exposure of the sim cams (s). Short on purpose: filestore_vfs's ``SingleTrigger`` keeps
#: its status when a frame is done before ``trigger()`` returns.
EXPOSURE = 0.001
#: The sim cams' frame pattern: a ring and a spot that moves with the frame number
#: (``sim_iocs``' documented Peaks formula; every pixel is still checked).
SIM_MODE = "Peaks"


class Demo:
    """One demo run: steps in order, every process started is stopped at the end."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.vfs: VirtualFileSystem = load_vfs(args)
        self.out = f"/local/demo/{time.strftime('%Y%m%d-%H%M%S')}"
        self.summary: dict[str, Any] = {"output": self.out, "timings_s": {}}
        self.width, self.height = (int(v) for v in args.size.lower().split("x"))
        self._step = 0

    def where(self) -> str:
        try:
            return f"{self.out} ({self.vfs.local_path(self.out)})"
        except Exception:  # noqa: BLE001  # only for a message
            return self.out

    def say(self, text: str) -> None:
        self._step += 1
        print(f"[{self._step}/7] {text}", flush=True)

    def run(self) -> int:
        start = time.monotonic()
        with contextlib.ExitStack() as stack:
            self._timed("writable", self.check_writable)
            iocs = self._timed("iocs", lambda: self.start_iocs(stack))
            docs = self._timed("count", lambda: self.count(iocs))
            self._timed("store", lambda: self.store(docs))
            frames = self._timed("read_back", lambda: self.read_back(docs, stack))
            self._timed("check", lambda: self.check(docs))
            self._timed("picture", lambda: self.picture(frames))
        self.summary["timings_s"]["total"] = round(time.monotonic() - start, 2)
        self.finish()
        return 0 if self.summary.get("check_ok", True) else 3

    def _timed(self, name: str, step: Any) -> Any:
        t0 = time.monotonic()
        result = step()
        self.summary["timings_s"][name] = round(time.monotonic() - t0, 2)
        return result

    # -- 1 ----------------------------------------------------------------------------------
    def check_writable(self) -> None:
        self.say(f"checking that {self.out} is writable")
        try:
            self.vfs.write_text(f"{self.out}/README.txt", "filestore-vfs demo output\n")
        except (PermissionError, OSError) as exc:
            raise RuntimeError(
                f"cannot write the demo's output under /local ({exc}); set FILESTORE_VFS_DATA "
                "to a writable directory or pass --config with a writable /local root"
            ) from None
        self.local_dir = self.vfs.local_path("/local")
        print(f"      /local is {self.local_dir}")

    # -- 2 ----------------------------------------------------------------------------------
    def start_iocs(self, stack: contextlib.ExitStack) -> dict[str, Any]:
        self.say("starting two sim IOCs (HDF5 and TIFF) on loopback")
        ports = [self._port(self.args.port), _free_port()]
        from sim_iocs import client_environment

        os.environ.update(client_environment(ports))  # before pyepics makes its CA context
        with contextlib.suppress(ImportError):  # pyepics should use epicscorelibs' libca
            import epicscorelibs.path.pyepics  # noqa: F401
        from sim_iocs.testing import start_sim_ioc

        mount = f"{self.local_dir}={self.local_dir}"  # the IOC sees /local where we do
        iocs = {}
        for kind, port in zip(("hdf5", "tiff"), ports, strict=True):
            ioc = start_sim_ioc(
                f"DEMO{os.getpid()}{kind.upper()}:",
                [mount],
                primed=True,
                size=(self.width, self.height),
                port=port,
            )
            stack.callback(ioc.stop)
            iocs[kind] = ioc
            print(f"      {kind}: prefix {ioc.prefix} on 127.0.0.1:{port}")
        return iocs

    def _port(self, wanted: int | None) -> int:
        if wanted is None:
            return _free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", wanted))
            except OSError:
                raise RuntimeError(
                    f"port {wanted} is taken by another process; pass another --port, "
                    "or leave --port out to use a free one"
                ) from None
        return wanted

    # -- 3 ----------------------------------------------------------------------------------
    def count(self, iocs: dict[str, Any]) -> list[tuple[str, dict]]:
        self.say(f"running bluesky count of {self.args.points} points with both detectors")
        from bluesky import RunEngine
        from bluesky.plans import count

        detectors = [self._detector(iocs["hdf5"], "hdf5"), self._detector(iocs["tiff"], "tiff")]
        docs: list[tuple[str, dict]] = []
        engine = RunEngine({})
        engine.subscribe(lambda name, doc: docs.append((name, doc)))
        bar = self._bar(self.args.points, "points")
        engine.subscribe(lambda name, doc: bar.update(1) if name == "event" else None)
        try:
            engine(count(detectors, num=self.args.points), purpose="filestore-vfs demo")
        finally:
            bar.close()
        self.summary["run_uid"] = docs[0][1]["uid"]
        self.summary["documents"] = len(docs)
        return docs

    def _detector(self, ioc: Any, kind: str) -> Any:
        from ophyd import Component as Cpt
        from ophyd import Device
        from ophyd.areadetector import SimDetector

        from sim_iocs.testing import wait_for_device

        from ..areadetector import HDF5PluginWithVFS, SingleTrigger, TIFFPluginWithVFS

        plugin, attr = (
            (HDF5PluginWithVFS, "hdf1") if kind == "hdf5" else (TIFFPluginWithVFS, "tiff1")
        )
        suffix = "HDF1:" if kind == "hdf5" else "TIFF1:"
        rel = self.out.split("/", 2)[2]  # demo/<time>
        body = {
            attr: Cpt(
                plugin,
                suffix,
                root="/local",
                write_path_template=f"{rel}/{kind}",
                vfs=self.vfs,
                make_directories=True,
            )
        }
        cls = type(f"Demo{kind.upper()}Detector", (SingleTrigger, SimDetector), body)
        Device.lazy_wait_for_connection = False
        det = cls(ioc.prefix, name=f"det_{kind}")
        wait_for_device(det, 30)  # ophyd's wait, with a pyepics race worked around
        getattr(det, attr).kind = "normal"
        det.cam.stage_sigs["array_counter"] = 0
        det.cam.acquire_time.set(EXPOSURE).wait(5)
        det.cam.acquire_period.set(0).wait(5)
        det.cam.data_type.set("UInt16").wait(5)
        det.cam.sim_mode.set(SIM_MODE).wait(5)
        return det

    def _bar(self, total: int, unit: str) -> Any:
        from tqdm.auto import tqdm

        return tqdm(total=total, unit=unit, disable=self.args.quiet, leave=False, file=sys.stderr)

    # -- 4 ----------------------------------------------------------------------------------
    def store(self, docs: list[tuple[str, dict]]) -> None:
        self.say("storing the documents under /local (JSONL, and a tiled catalog if installed)")
        path = f"{self.out}/documents.jsonl"
        with self.vfs.open(path, "w") as f:
            for name, doc in docs:
                f.write(json.dumps([name, doc]) + "\n")
        self.summary["documents_jsonl"] = path
        self.summary["tiled_catalog"] = catalog = self._tiled_catalog(docs)
        print(f"      {path}" + (f"\n      {catalog} (tiled, SQLite)" if catalog else ""))

    def _tiled_catalog(self, docs: list[tuple[str, dict]]) -> str | None:
        if self.args.no_tiled:
            return None
        from ._demo_tiled import write_catalog

        try:
            return write_catalog(self.vfs, self.out, docs)
        except ImportError:  # tiled or bluesky-tiled-plugins not installed: JSONL only
            return None

    # -- 5 ----------------------------------------------------------------------------------
    def read_back(self, docs: list[tuple[str, dict]], stack: contextlib.ExitStack) -> list[Any]:
        self.say("reading every frame back over HTTP through a separate reader VFS")
        import event_model
        import numpy as np

        from sim_iocs import expected_frame

        from ..handlers import handler_registry
        from ._demo_http import StaticServer

        server = stack.enter_context(StaticServer(self.local_dir))
        reader = VirtualFileSystem(
            {"local": {"class": "HttpFile", "download": server.url}}, defaults=False
        )
        print(f"      reader VFS: /local -> HttpFile {server.url}")
        frames, checked = [], 0
        bar = self._bar(2 * self.args.points, "frames")
        with event_model.Filler(handler_registry(reader), inplace=False) as filler:
            for name, doc in docs:
                name, doc = filler(name, doc)
                if name != "event":
                    continue
                for key in ("det_hdf5_image", "det_tiff_image"):
                    image = np.asarray(doc["data"][key])[0]
                    k = doc["seq_num"] - 1
                    want = expected_frame(k, self.height, self.width, image.dtype, SIM_MODE)
                    if not np.array_equal(image, want):
                        raise RuntimeError(f"{key} of event {doc['seq_num']} read back wrong")
                    frames.append(image)
                    checked += 1
                    bar.update(1)
        bar.close()
        print(f"      {checked} frames read over HTTP, every pixel as written")
        self.summary["frames_verified_over_http"] = checked
        return frames

    # -- 6 ----------------------------------------------------------------------------------
    def check(self, docs: list[tuple[str, dict]]) -> None:
        self.say("checking that every referenced frame is present (filestore-vfs check)")
        try:
            from ..check import check_run
        except ImportError:
            print("      (check is not available in this version)")
            return
        report = check_run(docs, self.vfs)
        ok = getattr(report, "ok", True)
        self.summary["check_ok"] = bool(ok)
        print(f"      {report.summary() if hasattr(report, 'summary') else report}")

    # -- 7 ----------------------------------------------------------------------------------
    def picture(self, frames: list[Any]) -> None:
        self.say("writing a PNG of the last frame, a README and the summary")
        png = f"{self.out}/frame.png"
        self.vfs.write_bytes(png, png_bytes(frames[-1]))
        self.summary["png"] = png
        self.vfs.write_text(f"{self.out}/README.txt", self.readme())

    def readme(self) -> str:
        """What the run is, what each file is, and how to read it back."""
        out, summary = self.out, self.summary
        catalog = summary.get("tiled_catalog")
        lines = [
            f"filestore-vfs demo run {summary.get('run_uid', '?')}",
            f"written {time.strftime('%Y-%m-%d %H:%M:%S')} by `filestore-vfs demo`",
            "",
            f"A bluesky count of {self.args.points} points with two simulated area detectors",
            "(sim IOCs over Channel Access): det_hdf5 wrote one HDF5 file, det_tiff one TIFF per",
            f"frame, {self.width}x{self.height} UInt16. Frame k (0-based) is the sim IOC's Peaks",
            "pattern: a ring and a spot that moves with k (sim_iocs.expected_frame(k, height,",
            "width, 'uint16', 'Peaks') gives every pixel). The documents name files only by",
            f"logical path ({out}/...), so they read the same on any machine whose VFS",
            "config has a /local root.",
            "",
            "Files:",
            "  documents.jsonl  the run's bluesky documents, one [name, doc] per line",
            "  hdf5/            det_hdf5's HDF5 file (frames in /entry/data/data)",
            "  tiff/            det_tiff's TIFF files, one per frame",
        ]
        if catalog:
            lines += [
                "  catalog.db       a tiled catalog (SQLite) of the run",
                "  tiled/           the catalog's own storage",
            ]
        lines += [
            "  frame.png        the last frame, scaled to its full range",
            "  summary.json     what the demo did, with timings",
            "  README.txt       this file",
            "",
            "Read it back:",
            f"  filestore-vfs check {out}/documents.jsonl",
            f"  filestore-vfs ls {out}/hdf5",
            f"  filestore-vfs resolve {out}/documents.jsonl",
            "",
            "  # in Python",
            "  import event_model, json",
            "  from filestore_vfs import default_vfs",
            "  from filestore_vfs.handlers import handler_registry",
            "  vfs = default_vfs()",
            f'  docs = [json.loads(line) for line in vfs.read_text("{out}/documents.jsonl")'
            ".splitlines()]",
            "  with event_model.Filler(handler_registry(vfs), inplace=False) as filler:",
            "      for name, doc in docs:",
            "          name, doc = filler(name, doc)",
            "          if name == 'event':",
            "              image = doc['data']['det_hdf5_image']  # a numpy array",
            "",
        ]
        return "\n".join(lines)

    def finish(self) -> None:
        summary_path = f"{self.out}/summary.json"
        self.vfs.write_text(summary_path, json.dumps(self.summary, indent=2) + "\n")
        local = self.vfs.local_path(self.out)
        print(f"\ndone in {self.summary['timings_s']['total']} s; everything is in {local}:")
        for name in sorted(os.listdir(local)):
            print(f"  {self.out}/{name}")
        if self.args.json:
            print(json.dumps(self.summary, indent=2))


def _free_port() -> int:
    """A free loopback port outside the kernel's ephemeral range (see sim_iocs.testing)."""
    from sim_iocs.testing import free_port

    return free_port()
