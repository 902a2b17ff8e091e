"""``get_file`` from S3, Azure Blob and Redis against each service's own client, same server.

Per backend, one object (``--obj-size``, default 512 MiB, the largest Redis string; ``--size``
when this module runs on its own) is fetched with ``vfs.get_file`` and with the raw client:

* S3 (moto's server): boto3 ``download_file`` (its default: 8 MiB parts, 10 threads),
  target ≥ 0.8×;
* Azure Blob (Azurite): azure-storage-blob ``download_blob().readinto(file)``;
* Redis (redis-server): one redis-py ``GET`` written to the file;

and the peak resident memory growth of ``get_file`` (target < 64 MiB for every transfer),
measured in a fresh process after a 1 MiB warm-up read (so memory that earlier transfers
freed cannot hide it), beside the raw client's (measured first, in this process; the raw
Redis ``GET`` holds the whole value in memory, which is what ``get_file`` avoids).

The servers are the test servers (``tests.servers``), started for the run and stopped after.
Before every timed run the local target is removed and ``os.sync`` flushes earlier writes.
Timings alternate between ours and the raw client; the best of ``--repeats`` counts, and the
paired ratio (median of back-to-back rounds) is reported beside it.

Run alone: ``python -m benchmarks.bench_s3_azure_redis --size 64MiB --repeats 2``;
with the others: ``python -m benchmarks s3_azure_redis --obj-size 512MiB`` (and
``--obj-backends s3,redis`` for a subset).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from filestore_vfs import VirtualFileSystem

from ._report import (
    Figure,
    MiB,
    best_of,
    format_size,
    json_line,
    markdown_table,
    paired_ratio,
    parse_size,
    peak_rss_growth,
)

RSS_LIMIT = 64 * MiB
DEFAULT_SIZE = 512 * MiB
#: Redis refuses strings longer than 512 MB (``proto-max-bulk-len``).
REDIS_MAX = 512 * MiB


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("s3_azure_redis")
    group.add_argument(
        "--obj-size",
        type=parse_size,
        default=DEFAULT_SIZE,
        help="size of the object fetched from S3/Azure/Redis (default 512MiB)",
    )
    group.add_argument(
        "--obj-backends",
        default="s3,azure,redis",
        help="comma-separated subset of s3,azure,redis (default: all)",
    )


def _upload(vfs: VirtualFileSystem, path: str, size: int, attempts: int = 2) -> None:
    """Write the object through the VFS in 8 MiB pieces (memory stays flat); once more if
    the server fails it (moto, busy, sometimes answers a 512 MiB completion with a 500)."""
    block = os.urandom(8 * MiB)
    for attempt in range(attempts):
        try:
            with vfs.open(path, "wb") as f:
                left = size
                while left > 0:
                    n = min(left, len(block))
                    f.write(block[:n])
                    left -= n
            return
        except OSError as exc:
            if attempt + 1 == attempts:
                raise
            print(f"  set-up upload failed ({exc}); again", file=sys.stderr, flush=True)


def _timed(target: str, action: Callable[[], Any]) -> float:
    if os.path.exists(target):
        os.remove(target)
    os.sync()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


# -- one context per backend: (vfs, logical path, raw-client action writing to a target) -----
Setup = tuple[dict[str, Any], str, Callable[[str], None]]


@contextlib.contextmanager
def _s3(size: int) -> Iterator[Setup]:
    from tests.servers import s3_server

    with s3_server() as server:
        root = {
            "class": "S3File",
            "bucket": server.bucket,
            "endpoint_url": server.endpoint_url,
            "region": server.region,
            "key": server.access_key,
            "secret": server.secret_key,
        }
        vfs = VirtualFileSystem({"s3": root}, defaults=False)
        _upload(vfs, "/s3/big.bin", size)
        client: Any = server.client()

        def raw(target: str) -> None:
            client.download_file(server.bucket, "big.bin", target)

        vfs.close()
        yield root, "/s3/big.bin", raw


@contextlib.contextmanager
def _azure(size: int) -> Iterator[Setup]:
    from azure.storage.blob import BlobServiceClient

    from tests.servers import azurite_server

    with azurite_server() as server:
        root = {
            "class": "AzureBlobFile",
            "account_name": server.account_name,
            "account_key": server.account_key,
            "blob_endpoint": server.blob_endpoint,
            "container": server.container,
        }
        vfs = VirtualFileSystem({"az": root}, defaults=False)
        _upload(vfs, "/az/big.bin", size)
        blob = BlobServiceClient.from_connection_string(server.connection_string).get_blob_client(
            server.container, "big.bin"
        )

        def raw(target: str) -> None:
            with open(target, "wb") as f:
                blob.download_blob().readinto(f)

        vfs.close()
        yield root, "/az/big.bin", raw
        blob.close()


@contextlib.contextmanager
def _redis(size: int) -> Iterator[Setup]:
    import redis

    from tests.servers import redis_server

    with redis_server() as server:
        root = {
            "class": "RedisFile",
            "host": server.host,
            "port": server.port,
            "password": server.password,
        }
        vfs = VirtualFileSystem({"r": root}, defaults=False)
        _upload(vfs, "/r/big.bin", size)
        client = redis.Redis(host=server.host, port=server.port, password=server.password)

        def raw(target: str) -> None:
            data = client.get("big.bin")
            with open(target, "wb") as f:
                f.write(data)  # type: ignore[arg-type]

        vfs.close()
        yield root, "/r/big.bin", raw
        client.close()


BACKENDS = {
    "s3": ("S3 (moto)", "boto3 `download_file`", _s3, 0.8),
    "azure": ("Azure Blob (Azurite)", "`download_blob().readinto`", _azure, None),
    "redis": ("Redis", "redis-py `GET`", _redis, None),
}


_GROWTH = """
import json, os, sys
from filestore_vfs import VirtualFileSystem
from benchmarks._report import peak_rss_growth
spec, path, target = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
vfs = VirtualFileSystem({path.split("/")[1]: spec}, defaults=False)
with vfs.open(path, "rb", cache="stream") as f:  # load the client, connect
    f.read(1 << 20)
print(int(peak_rss_growth(lambda: vfs.get_file(path, target))))
os.remove(target)
"""


def _growth_in_fresh_process(spec: dict[str, Any], path: str, target: str) -> float:
    """Peak memory growth of one ``get_file``, in a process where nothing ran before it but
    a 1 MiB read (memory freed by earlier transfers would hide growth in this one)."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(
        [sys.executable, "-c", _GROWTH, json.dumps(spec), path, target],
        check=True,
        capture_output=True,
        text=True,
        cwd=repo,
        timeout=3600,
    )
    return float(out.stdout.split()[-1])


def _figures(name: str, size: int, repeats: int, tmp: str) -> list[Figure]:
    label, tool, setup, target_ratio = BACKENDS[name]
    if name == "redis":
        size = min(size, REDIS_MAX)
    ours_target = os.path.join(tmp, f"{name}-ours.bin")
    raw_target = os.path.join(tmp, f"{name}-raw.bin")
    with setup(size) as (spec, path, raw):
        # the raw client's memory first, before our transfers leave freed memory behind
        raw_growth = peak_rss_growth(lambda: raw(raw_target))
        vfs = VirtualFileSystem({path.split("/")[1]: spec}, defaults=False)
        vfs.get_file(path, ours_target)  # warm the connection and the server
        runs: list[list[float]] = []
        ours, anchor = best_of(
            repeats,
            lambda: _timed(ours_target, lambda: vfs.get_file(path, ours_target)),
            lambda: _timed(raw_target, lambda: raw(raw_target)),
            runs=runs,
        )
        if os.path.getsize(ours_target) != size or os.path.getsize(raw_target) != size:
            raise RuntimeError(f"{name}: a transfer came back short")
        vfs.close()
        os.remove(ours_target)
        growth = max(_growth_in_fresh_process(spec, path, ours_target) for _ in range(2))
    for target in (ours_target, raw_target):
        with contextlib.suppress(FileNotFoundError):
            os.remove(target)
    mib = size / MiB
    text = format_size(size)
    return [
        Figure(
            f"{label}: `get_file` {text} vs {tool}",
            mib / ours,
            mib / anchor,
            "MiB/s",
            target=f"≥ {target_ratio}×" if target_ratio else "throughput, no target",
            min_ratio=target_ratio,
            paired=paired_ratio(runs),
            notes={"runs": runs},
        ),
        Figure(
            f"{label}: `get_file` {text}, peak RSS growth vs {tool}",
            growth,
            raw_growth,
            "B",
            target="< 64 MiB",
            max_value=RSS_LIMIT,
        ),
    ]


def run(options: argparse.Namespace) -> list[Figure]:
    size = getattr(options, "obj_size", DEFAULT_SIZE)
    chosen = getattr(options, "obj_backends", "s3,azure,redis")
    names = [n.strip() for n in chosen.split(",") if n.strip()]
    unknown = sorted(set(names) - set(BACKENDS))
    if unknown:
        raise SystemExit(f"unknown backend(s) {unknown}; choose from {sorted(BACKENDS)}")
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-obj-", dir=options.tmp) as tmp:
        for name in names:
            print(f"  {name} ...", file=sys.stderr, flush=True)
            figures.extend(_figures(name, size, options.repeats, tmp))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_s3_azure_redis")
    parser.add_argument("--size", type=parse_size, default=DEFAULT_SIZE, help="default 512MiB")
    parser.add_argument("--repeats", type=int, default=3, help="repeats, best-of (default 3)")
    parser.add_argument("--tmp", default=None, help="directory for the local copies")
    parser.add_argument("--backends", default="s3,azure,redis", help="subset of s3,azure,redis")
    options = parser.parse_args(argv)
    options.obj_size = options.size
    options.obj_backends = options.backends
    figures = run(options)
    print(markdown_table(figures))
    print(json_line(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
