"""Benchmark the sim IOC: HDF5 streaming rate, CA latency, and ophyd's count(100).

Run ``python -m benchmarks sim_ioc`` (with the others), or ``python -m benchmarks.bench_sim_ioc
[--frames 1000] [--json-only]`` alone.  Alone, it prints a
table, then one JSON line (prefix ``BENCH_JSON``) for tools.  Nothing here is a test:
numbers depend on the machine.  The caproto figures of
``shared/reference/sim-ioc-feasibility.md`` (measured on this VM) are printed beside ours
as anchors, together with bluesky's own overhead measured now with ``ophyd.sim``.

Measured:

* frames/s the IOC sustains writing 512x512 UInt16 frames to one HDF5 file (Stream mode,
  AcquireTime = AcquirePeriod = 0) and the IOC's CPU use meanwhile (% of one core);
* CA put -> monitor latency (p50/p99) of a setpoint's ``_RBV`` while the IOC streams;
* trigger latency: ``cam1:Acquire`` = 1 until ``Acquire_RBV`` returns to 0 (1 ms exposure);
* wall time of ``RE(count([det], num=100))`` with filestore_vfs's ``SingleTrigger`` +
  ``HDF5Plugin_V34`` + ``FileStoreHDF5IterativeWrite``, 1 ms exposure, 64x64 frames.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

# libca reads EPICS_CA_* once: reserve the ports before anything imports ophyd/pyepics.
from sim_iocs.testing import SimIOC, configure_client_environment, sim_ioc, wait_for_device

configure_client_environment(ports=2)

import ophyd  # noqa: E402, F401 - swaps pyepics' PV class before any PV is cached

from ._report import Figure  # noqa: E402

#: caproto sim measured on this VM (shared/reference/sim-ioc-feasibility.md, section 3).
CAPROTO = {
    "count100_s": 0.68,
    "per_point_ms": 6.5,
    "trigger_done_median_ms": 4.8,
    "count100_default_batching_s": 1.65,
    "bluesky_synthetic_count100_s": 0.11,
}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Monitor:
    """A pyepics subscription that lets the caller wait for a given value."""

    def __init__(self, name: str) -> None:
        import epics

        self.cond = threading.Condition()
        self.values: list[tuple[float, object]] = []
        self.pv = epics.PV(name, auto_monitor=True, callback=self._update)
        self.pv.wait_for_connection(5)

    def _update(self, value: object = None, **_: object) -> None:
        with self.cond:
            self.values.append((time.perf_counter(), value))
            self.cond.notify_all()

    def wait_for(self, value: object, after: int, timeout: float = 30.0) -> float:
        """Wait for ``value`` among updates after index ``after``; return its arrival time."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for stamp, seen in self.values[after:]:
                    if seen == value:
                        return stamp
                if not self.cond.wait(max(deadline - time.monotonic(), 0)):
                    raise TimeoutError(f"{self.pv.pvname} never became {value!r}")

    def mark(self) -> int:
        with self.cond:
            return len(self.values)


def put(ioc: SimIOC, name: str, value: object) -> None:
    import epics

    if epics.caput(ioc.pv(name), value, wait=True, timeout=10) != 1:
        raise RuntimeError(f"caput {name} failed")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def bench_stream(ioc: SimIOC, frames: int, directory: Path) -> dict[str, float]:
    """HDF5 Stream at 512x512 UInt16, as fast as the IOC goes; latency probed meanwhile."""
    for name, value in (
        ("cam1:SizeX", 512),
        ("cam1:SizeY", 512),
        ("cam1:DataType", "UInt16"),
        ("cam1:AcquireTime", 0.0),
        ("cam1:AcquirePeriod", 0.0),
        ("cam1:ImageMode", "Multiple"),
        ("cam1:NumImages", frames),
        ("HDF1:EnableCallbacks", 1),
        ("HDF1:FileWriteMode", "Stream"),
        ("HDF1:LazyOpen", 1),
        ("HDF1:AutoIncrement", 1),
        ("HDF1:NumCapture", frames),
        ("HDF1:FileName", "stream"),
        ("HDF1:FilePath", "/bench/"),
        ("HDF1:Capture", 1),
    ):
        put(ioc, name, value)
    capture = Monitor(ioc.pv("HDF1:Capture_RBV"))
    gain = Monitor(ioc.pv("cam1:Gain_RBV"))
    mark = capture.mark()
    cpu0, t0 = cpu_seconds(ioc.process.pid), time.perf_counter()
    import epics

    epics.caput(ioc.pv("cam1:Acquire"), 1, wait=False)
    latencies = []
    for i in range(200):  # put -> monitor latency while the IOC writes
        if capture.mark() > mark and capture.values[-1][1] == 0:
            break
        before = gain.mark()
        sent = time.perf_counter()
        epics.caput(ioc.pv("cam1:Gain"), float(i + 2), wait=False)
        latencies.append(gain.wait_for(float(i + 2), before) - sent)
        time.sleep(0.002)
    done = capture.wait_for(0, mark, timeout=600)
    elapsed = done - t0
    cpu = cpu_seconds(ioc.process.pid) - cpu0
    size = (directory / "stream_000000.h5").stat().st_size
    return {
        "stream_frames": frames,
        "stream_fps": frames / elapsed,
        "stream_mb_per_s": size / elapsed / 1e6,
        "ioc_cpu_percent": 100 * cpu / elapsed,
        "latency_samples": len(latencies),
        "latency_p50_ms": 1e3 * percentile(latencies, 0.5),
        "latency_p99_ms": 1e3 * percentile(latencies, 0.99),
    }


def bench_trigger(ioc: SimIOC, n: int = 200) -> dict[str, float]:
    """Acquire=1 -> Acquire_RBV back to Done, 64x64, 1 ms exposure, HDF1 streaming."""
    import epics

    for name, value in (
        ("cam1:SizeX", 64),
        ("cam1:SizeY", 64),
        ("cam1:AcquireTime", 0.001),
        ("cam1:ImageMode", "Single"),
        ("HDF1:Capture", 0),
        ("HDF1:NumCapture", 0),
        ("HDF1:FileName", "trigger"),
        ("HDF1:Capture", 1),
    ):
        put(ioc, name, value)
    acquire = Monitor(ioc.pv("cam1:Acquire_RBV"))
    samples = []
    for _ in range(n):
        mark = acquire.mark()
        sent = time.perf_counter()
        epics.caput(ioc.pv("cam1:Acquire"), 1, wait=False)
        acquire.wait_for(1, mark)
        samples.append(acquire.wait_for(0, mark + 1) - sent)
    put(ioc, "HDF1:Capture", 0)
    return {
        "trigger_done_p50_ms": 1e3 * percentile(samples, 0.5),
        "trigger_done_p99_ms": 1e3 * percentile(samples, 0.99),
    }


def bench_count(ioc: SimIOC, num: int = 100) -> dict[str, float]:
    """bluesky count(100) with ophyd's own classes; and with ophyd.sim's det as anchor."""
    from bluesky import RunEngine
    from bluesky.plans import count
    from ophyd import Component as Cpt
    from ophyd import Device
    from ophyd.areadetector import SimDetector
    from ophyd.areadetector.filestore_mixins import FileStoreHDF5IterativeWrite
    from ophyd.areadetector.plugins import HDF5Plugin_V34
    from ophyd.sim import det as synthetic

    from filestore_vfs.areadetector import SingleTrigger  # ophyd's can return None (#13)

    class HDF5PluginWithFileStore(HDF5Plugin_V34, FileStoreHDF5IterativeWrite):
        pass

    class Det(SingleTrigger, SimDetector):
        hdf1 = Cpt(HDF5PluginWithFileStore, "HDF1:", write_path_template="/bench/", root="/")

    Device.lazy_wait_for_connection = False
    det = Det(ioc.prefix, name="det")
    wait_for_device(det, 30)
    det.hdf1.kind = "normal"
    det.cam.acquire_time.set(0.001).wait(5)
    det.cam.acquire_period.set(0).wait(5)
    det.cam.num_images.set(1).wait(5)  # SingleTrigger takes NumImages frames per point
    engine = RunEngine({})
    races = 0

    def run(points: int) -> float:
        """One count; retried if ophyd's trigger race hits (not with our SingleTrigger)."""
        nonlocal races
        for _ in range(20):
            start = time.perf_counter()
            try:
                engine(count([det], num=points))
            except Exception as exc:  # bluesky wraps it; the message is ophyd's race
                if "finished_cb" not in repr(exc) and "finished_cb" not in str(exc.__cause__):
                    raise
                races += 1
                continue
            return time.perf_counter() - start
        raise RuntimeError("ophyd's trigger race hit 20 times in a row")

    run(3)  # warm up: connections, first stage
    timings = [run(num) for _ in range(3)]
    start = time.perf_counter()
    engine(count([synthetic], num=num))
    synthetic_s = time.perf_counter() - start
    best = min(timings)
    return {
        "count100_s": best,
        "count100_median_s": statistics.median(timings),
        "per_point_ms": 1e3 * best / num,
        "bluesky_synthetic_count100_s": synthetic_s,
        "ioc_added_per_point_ms": 1e3 * (best - synthetic_s) / num,
        "ophyd_trigger_races": races,
    }


def progress(step: str) -> None:
    print(f"... {step}", file=sys.stderr, flush=True)


def table(results: dict[str, float]) -> str:
    rows = [
        ("HDF5 Stream 512x512 UInt16 (frames/s)", "stream_fps", None, ">= 200"),
        ("  write rate (MB/s)", "stream_mb_per_s", None, ""),
        ("  IOC CPU while streaming (% of a core)", "ioc_cpu_percent", None, ""),
        ("CA put->monitor p50 while writing (ms)", "latency_p50_ms", None, ""),
        ("CA put->monitor p99 while writing (ms)", "latency_p99_ms", None, ""),
        ("trigger->done p50, 1 ms exposure (ms)", "trigger_done_p50_ms", 4.8, ""),
        ("trigger->done p99 (ms)", "trigger_done_p99_ms", None, ""),
        ("count(100), 64x64, 1 ms (s)", "count100_s", 0.68, "<= 0.4"),
        ("  per point (ms)", "per_point_ms", 6.5, ""),
        ("  bluesky + ophyd.sim det count(100) (s)", "bluesky_synthetic_count100_s", 0.11, ""),
        ("  added by the IOC per point (ms)", "ioc_added_per_point_ms", None, ""),
        ("ophyd SingleTrigger races (retried runs)", "ophyd_trigger_races", None, ""),
    ]
    lines = [f"{'measure':44} {'softioc':>10} {'caproto':>10}  target"]
    for label, key, anchor, target in rows:
        anchor_text = f"{anchor:10.2f}" if anchor is not None else f"{'':>10}"
        lines.append(f"{label:44} {results[key]:10.2f} {anchor_text}  {target}")
    return "\n".join(lines)


def measure(frames: int) -> dict[str, float]:
    """Every measurement above on one fresh sim IOC."""
    with tempfile.TemporaryDirectory(prefix="bench-sim-ioc-") as tmp:
        with sim_ioc(mounts=[f"/bench={tmp}"], primed=True, size=(64, 64)) as ioc:
            progress("stream")
            results = bench_stream(ioc, frames, Path(tmp))
            progress("trigger")
            results.update(bench_trigger(ioc))
            progress("count")
            results.update(bench_count(ioc))
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sim_ioc")
    group.add_argument(
        "--ioc-frames", type=int, default=1000, help="frames for the sim IOC's stream test"
    )


def run(options: argparse.Namespace) -> list[Figure]:
    """The figures for ``python -m benchmarks sim_ioc`` (caproto's as anchors, where known)."""
    r = measure(getattr(options, "ioc_frames", 1000))
    return [
        Figure(
            "sim IOC: HDF5 Stream 512×512 UInt16",
            r["stream_fps"],
            None,
            "frames/s",
            target="≥ 200/s",
            min_value=200,
            notes={"ioc_cpu_percent": r["ioc_cpu_percent"]},
        ),
        Figure(
            "sim IOC: CA put → monitor p50 while writing",
            r["latency_p50_ms"],
            None,
            "ms",
            notes={"p99_ms": r["latency_p99_ms"]},
        ),
        Figure(
            "sim IOC: trigger → done p50, 1 ms exposure (anchor: caproto sim)",
            r["trigger_done_p50_ms"],
            CAPROTO["trigger_done_median_ms"],
            "ms",
            notes={"p99_ms": r["trigger_done_p99_ms"]},
        ),
        Figure(
            "sim IOC: `count([det], num=100)`, 64×64, 1 ms (anchor: caproto sim)",
            r["count100_s"],
            CAPROTO["count100_s"],
            "s",
            target="≤ 0.4 s",
            max_value=0.4,
            notes={"races": r["ophyd_trigger_races"]},
        ),
        Figure(
            "bluesky + `ophyd.sim` det `count(100)` (the client's own share)",
            r["bluesky_synthetic_count100_s"],
            CAPROTO["bluesky_synthetic_count100_s"],
            "s",
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000, help="frames for the stream test")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args()
    results = {key: round(value, 3) for key, value in measure(args.frames).items()}
    results["ca_server"] = "pythonSoftIOC (EPICS 7 rsrv)"
    results["cpus"] = os.cpu_count()
    if not args.json_only:
        print(table(results))
        print("caproto column: reference measurements of a caproto sim on this VM")
    print("BENCH_JSON " + json.dumps(results, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # ophyd/pyepics threads can keep a finished interpreter alive
