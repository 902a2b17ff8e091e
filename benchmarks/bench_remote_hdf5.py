"""Remote HDF5 frames through ranged reads: our default cache beside the libraries and the wire.

h5py reads a file as many small scattered requests (superblock, object headers, B-tree
nodes) and one large read per chunk. Over a network each request is a round trip, so how a
root turns h5py's reads into requests decides the speed. One file of ``--hdf5-frames``
frames (512x512 UInt16, one chunk per frame) is served by each test server on loopback; 100
frames spread over the file are read with h5py, in the same run and alternating round by
round, by:

HTTP (nginx)
    our ``HttpFile`` with ``cache="blocks"`` (the default) and ``cache="stream"``; plain
    fsspec HTTP with ``cache_type`` ``none``, ``bytes`` and ``readahead`` (the user who skips
    filestore-vfs; the best of the three is the anchor); raw ``urllib3``, one keep-alive
    ranged ``GET`` per frame at offsets known in advance (the transport's ceiling, no h5py);
    and the local file (information).
S3 (moto)
    our ``S3File`` (``blocks``) against plain ``s3fs`` with its defaults and against
    ``boto3`` ranged ``GET`` requests (the transport). moto answers every ``GET`` in time
    proportional to the whole object, not the range (about 0.5 ms per MiB of object), so
    on moto fewer, larger requests win (s3fs' default 50 MiB read-ahead); ``ms_per_GET``
    in the notes says what one request cost, and ``ttfb_ms``, ``MB_per_s`` and
    ``gap_limit_MiB`` what our root measured (a forward gap below the limit is read
    through rather than asked for again).
SFTP (OpenSSH)
    our ``SFTPFile`` (``blocks``) against plain ``sshfs`` and against ``asyncssh``'s own
    ``read(size, offset)`` per frame (the transport).

Clients are made once per contender (outside the timing); each timed run opens the file,
reads the frames and closes it. Every figure is the median frames/s over ``--repeats``
rounds; *paired* is the median of the per-round ratios. Each run's frames are checked
against the local file before any timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from ._report import Figure, MiB

FRAME_SHAPE = (512, 512)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("remote_hdf5")
    group.add_argument("--hdf5-frames", type=int, default=1000, help="frames in the file")
    group.add_argument("--hdf5-read", type=int, default=100, help="frames read per run")
    group.add_argument(
        "--hdf5-transports",
        default="http,s3,sftp",
        help="comma-separated subset of http,s3,sftp (default: all)",
    )


def _write(path: str, frames: int, width: int = 512, height: int = 512) -> None:
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


def _indices(frames: int, count: int) -> list[int]:
    return [round(i * (frames - 1) / max(1, count - 1)) for i in range(count)]


def _chunks(path: str, indices: list[int]) -> list[tuple[int, int]]:
    """(offset, size) of each frame's chunk in the file: what the transport anchors fetch."""
    import h5py

    with h5py.File(path, "r") as h5:
        dataset = h5["/entry/data/data"]
        out = []
        for k in indices:
            info = dataset.id.get_chunk_info_by_coord((k, 0, 0))
            out.append((info.byte_offset, info.size))
    return out


def read_frames(fileobj: Any, indices: list[int]) -> list[Any]:
    """The frames ``indices`` of ``fileobj`` through h5py (what every contender times)."""
    import h5py

    with h5py.File(fileobj, "r") as h5:
        data = h5["/entry/data/data"]
        return [data[k] for k in indices]


def _timed_open(opener: Callable[[], Any], indices: list[int]) -> Callable[[], float]:
    def run() -> float:
        t0 = time.perf_counter()
        with opener() as f:
            read_frames(f, indices)
        return time.perf_counter() - t0

    return run


def _verify(opener: Callable[[], Any], indices: list[int], expected: list[Any]) -> None:
    import numpy as np

    with opener() as f:
        got = read_frames(f, indices)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def _rounds(repeats: int, contenders: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Each contender once per round, the order reversed every other round; times per name."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(repeats):
        for name in names if r % 2 == 0 else reversed(names):
            times[name].append(contenders[name]())
    return times


def _figure(
    name: str,
    count: int,
    ours: list[float],
    anchor: list[float],
    *,
    target: str,
    min_ratio: float | None = None,
    notes: dict[str, Any] | None = None,
) -> Figure:
    paired = statistics.median(a / o for o, a in zip(ours, anchor, strict=True))
    return Figure(
        name=name,
        ours=count / statistics.median(ours),
        anchor=count / statistics.median(anchor),
        unit="frames/s",
        target=target,
        min_ratio=min_ratio,
        paired=paired,
        notes=notes or {},
    )


def _best_per_round(times: dict[str, list[float]], names: list[str]) -> list[float]:
    """The anchor "best mode": per round, the fastest of ``names``."""
    return [min(times[n][i] for n in names) for i in range(len(times[names[0]]))]


def _requests(f: Any) -> tuple[int, int] | None:
    """(ranged requests, bytes) a reader of ours made, when it counts them."""
    raw = getattr(f, "_file", f)
    if hasattr(raw, "requests"):
        return raw.requests, raw.fetched
    return None


def _cost(opener: Callable[[], Any], indices: list[int]) -> dict[str, Any]:
    with opener() as f:
        read_frames(f, indices)
        counted = _requests(f)
    if counted is None:
        return {}
    requests, fetched = counted
    return {
        "requests_per_frame": round(requests / len(indices), 2),
        "KiB_per_frame": round(fetched / len(indices) / 1024),
    }


# -- HTTP --------------------------------------------------------------------------------------
def _http(path: str, options: argparse.Namespace, indices: list[int], expected: list[Any]):
    import fsspec
    import urllib3

    from filestore_vfs import VirtualFileSystem
    from tests.servers import nginx_server

    count = len(indices)
    chunks = _chunks(path, indices)
    with nginx_server() as server:
        remote = os.path.join(server.root, "scan.h5")
        _place(path, remote)
        url = server.data_url + "scan.h5"
        vfs = VirtualFileSystem(
            {"remote": {"class": "HttpFile", "download": server.data_url}}, defaults=False
        )
        plain = fsspec.filesystem("http", skip_instance_cache=True)
        pool = urllib3.HTTPConnectionPool(server.host, server.port, maxsize=1)
        url_path = "/" + url.split("/", 3)[3]

        def raw() -> float:
            t0 = time.perf_counter()
            for offset, size in chunks:
                r = pool.request(
                    "GET", url_path, headers={"Range": f"bytes={offset}-{offset + size - 1}"}
                )
                assert len(r.data) == size
            return time.perf_counter() - t0

        openers: dict[str, Callable[[], Any]] = {
            "ours-blocks": lambda: vfs.open("/remote/scan.h5", "rb"),
            "ours-stream": lambda: vfs.open("/remote/scan.h5", "rb", cache="stream"),
            "fsspec-none": lambda: plain.open(url, "rb", cache_type="none"),
            "fsspec-bytes": lambda: plain.open(url, "rb", cache_type="bytes"),
            "fsspec-readahead": lambda: plain.open(url, "rb", cache_type="readahead"),
            "local": lambda: open(path, "rb"),  # noqa: SIM115
        }
        for opener in openers.values():
            _verify(opener, indices, expected)
        contenders = {name: _timed_open(o, indices) for name, o in openers.items()}
        contenders["raw"] = raw
        raw()  # warm the connection as the others are warm
        times = _rounds(options.repeats, contenders)
        cost = _cost(openers["ours-blocks"], indices)
        vfs.close()
        pool.close()
    fsspec_modes = ["fsspec-none", "fsspec-bytes", "fsspec-readahead"]
    best = _best_per_round(times, fsspec_modes)
    fsspec_fps = {n: round(count / statistics.median(times[n])) for n in fsspec_modes}
    what = f"{count} spread frames (512x512 u16, h5py)"
    return [
        _figure(
            f"{what}, HTTP root cache=blocks (ranged GETs) vs plain fsspec HTTP, best of "
            "cache_type none/bytes/readahead",
            count,
            times["ours-blocks"],
            best,
            target="≥ 2×",
            min_ratio=2.0,
            notes={**cost, **{f"{k}_fps": v for k, v in fsspec_fps.items()}},
        ),
        _figure(
            f"{what}, HTTP root cache=blocks vs raw urllib3 keep-alive ranged GET per frame "
            "(the transport; offsets known, no h5py)",
            count,
            times["ours-blocks"],
            times["raw"],
            target="≥ 0.7×",
            min_ratio=0.7,
        ),
        _figure(
            f"{what}, HTTP root cache=stream (8 MiB read-ahead) vs plain fsspec HTTP best mode",
            count,
            times["ours-stream"],
            best,
            target="information",
        ),
        _figure(
            f"{what}, HTTP root cache=blocks vs the local file (page cache)",
            count,
            times["ours-blocks"],
            times["local"],
            target="information",
        ),
    ]


# -- S3 ----------------------------------------------------------------------------------------
def _s3(path: str, options: argparse.Namespace, indices: list[int], expected: list[Any]):
    import boto3
    import s3fs

    from filestore_vfs import VirtualFileSystem
    from tests.servers import s3_server

    count = len(indices)
    chunks = _chunks(path, indices)
    with s3_server() as server:
        credentials = {
            "aws_access_key_id": server.access_key,
            "aws_secret_access_key": server.secret_key,
            "region_name": server.region,
        }
        client = boto3.client("s3", endpoint_url=server.endpoint_url, **credentials)
        client.upload_file(path, server.bucket, "scan.h5")
        vfs = VirtualFileSystem({"remote": server.vfs_root()}, defaults=False)
        plain = s3fs.S3FileSystem(
            key=server.access_key,
            secret=server.secret_key,
            endpoint_url=server.endpoint_url,
            client_kwargs={"region_name": server.region},
            skip_instance_cache=True,
        )
        key = f"{server.bucket}/scan.h5"

        def raw() -> float:
            t0 = time.perf_counter()
            for offset, size in chunks:
                body = client.get_object(
                    Bucket=server.bucket, Key="scan.h5", Range=f"bytes={offset}-{offset + size - 1}"
                )["Body"].read()
                assert len(body) == size
            return time.perf_counter() - t0

        openers: dict[str, Callable[[], Any]] = {
            "ours-blocks": lambda: vfs.open("/remote/scan.h5", "rb"),
            "s3fs-default": lambda: plain.open(key, "rb"),
        }
        for opener in openers.values():
            _verify(opener, indices, expected)
        contenders = {name: _timed_open(o, indices) for name, o in openers.items()}
        contenders["boto3"] = raw
        raw()
        times = _rounds(options.repeats, contenders)
        cost = _cost(openers["ours-blocks"], indices)
        costs = vfs.roots["remote"].request_costs
        cost.update(
            ttfb_ms=round(costs.ttfb * 1000, 1),
            MB_per_s=round(costs.bandwidth / 1e6),
            gap_limit_MiB=round(costs.gap_limit() / MiB, 1),
        )
        vfs.close()
    what = f"{count} spread frames (512x512 u16, h5py)"
    return [
        _figure(
            f"{what}, S3 root cache=blocks (moto) vs plain s3fs, default cache",
            count,
            times["ours-blocks"],
            times["s3fs-default"],
            target="≥ 1.0×",
            min_ratio=1.0,
            notes=cost,
        ),
        _figure(
            f"{what}, S3 root cache=blocks (moto) vs boto3 ranged GET per frame "
            "(the transport; offsets known, no h5py)",
            count,
            times["ours-blocks"],
            times["boto3"],
            target="information: near the transport",
            notes={"ms_per_GET": round(1000 * statistics.median(times["boto3"]) / count, 1)},
        ),
    ]


# -- SFTP --------------------------------------------------------------------------------------
def _sftp(path: str, options: argparse.Namespace, indices: list[int], expected: list[Any]):
    import asyncssh
    from sshfs import SSHFileSystem

    from filestore_vfs import VirtualFileSystem
    from tests.servers import sshd_server

    count = len(indices)
    chunks = _chunks(path, indices)
    with sshd_server() as server, _event_loop() as loop:
        remote = os.path.join(server.root, "scan.h5")
        _place(path, remote)
        connect = {
            "port": server.port,
            "username": server.user,
            "client_keys": [str(server.key_path)],
            "known_hosts": str(server.known_hosts),
        }
        vfs = VirtualFileSystem({"remote": server.vfs_root()}, defaults=False)
        plain = SSHFileSystem(server.host, skip_instance_cache=True, **connect)
        conn = loop.run_until_complete(asyncssh.connect(server.host, **connect))
        sftp = loop.run_until_complete(conn.start_sftp_client())

        async def fetch() -> None:
            async with sftp.open(remote, "rb") as f:
                for offset, size in chunks:
                    data = await f.read(size, offset)
                    assert len(data) == size

        def raw() -> float:
            t0 = time.perf_counter()
            loop.run_until_complete(fetch())
            return time.perf_counter() - t0

        openers: dict[str, Callable[[], Any]] = {
            "ours-blocks": lambda: vfs.open("/remote/scan.h5", "rb"),
            "sshfs": lambda: plain.open(remote, "rb"),
        }
        for opener in openers.values():
            _verify(opener, indices, expected)
        contenders = {name: _timed_open(o, indices) for name, o in openers.items()}
        contenders["asyncssh"] = raw
        raw()
        times = _rounds(options.repeats, contenders)
        cost = _cost(openers["ours-blocks"], indices)
        vfs.close()
        sftp.exit()
        conn.close()
        loop.run_until_complete(conn.wait_closed())
    what = f"{count} spread frames (512x512 u16, h5py)"
    return [
        _figure(
            f"{what}, SFTP root cache=blocks vs plain sshfs",
            count,
            times["ours-blocks"],
            times["sshfs"],
            target="≥ 1.0×",
            min_ratio=1.0,
            notes=cost,
        ),
        _figure(
            f"{what}, SFTP root cache=blocks vs asyncssh read(size, offset) per frame "
            "(the transport; offsets known, no h5py)",
            count,
            times["ours-blocks"],
            times["asyncssh"],
            target="information: near the transport",
        ),
    ]


@contextlib.contextmanager
def _event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.close()


def _place(src: str, dst: str) -> None:
    """The file where the server serves it: a hard link when it can be, else a copy."""
    import shutil

    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


TRANSPORTS = {"http": _http, "s3": _s3, "sftp": _sftp}


def run(options: argparse.Namespace) -> list[Figure]:
    import tempfile

    frames, count = options.hdf5_frames, options.hdf5_read
    indices = _indices(frames, count)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(dir=options.tmp) as tmp:
        path = os.path.join(tmp, "scan.h5")
        _write(path, frames, *FRAME_SHAPE)
        with open(path, "rb") as f:
            expected = read_frames(f, indices)
        size = round(os.path.getsize(path) / MiB, 1)
        for name in options.hdf5_transports.split(","):
            for figure in TRANSPORTS[name.strip()](path, options, indices, expected):
                figure.notes["file_MiB"] = size
                figures.append(figure)
    return figures
