"""``get_file`` over every network backend against the raw tool or client, same loopback server.

Per backend, one file (``--net-size``, default 512 MiB; ``--size`` when this module runs on
its own) is fetched with ``vfs.get_file`` and with the raw tool or client over the same
server:

* HTTP: nginx, ``curl -o`` (target ≥ 0.8×);
* SFTP: OpenSSH sshd, ``sftp -b`` ``get`` with its default cipher (ChaCha20-Poly1305) and
  with ``-c aes128-gcm@openssh.com`` (the cipher ``SFTPFile`` prefers), each a figure
  (target ≥ 0.8×; ``get_file`` is asyncssh's own download, several reads in flight);
* SMB: Samba smbd, ``smbclient -c get`` (target ≥ 0.8×; four 4 MiB reads in flight, each
  reply received straight into a reused buffer and its signature checked as it arrives,
  ``backends/_smb_reads.py``);
* S3 (moto's server): boto3 ``download_file`` (its default: 8 MiB parts, 10 threads),
  target ≥ 0.8×;
* Azure Blob (Azurite): azure-storage-blob ``download_blob().readinto(file)``;
* Redis (redis-server): one redis-py ``GET`` written to the file (at most 512 MiB, the
  largest Redis string);

and the peak resident memory growth of ``get_file`` (target < 64 MiB for every transfer).
For the object stores it is measured in a fresh process after a 1 MiB warm-up read (so
memory that earlier transfers freed cannot hide it), beside the raw client's (measured
first, in this process; the raw Redis ``GET`` holds the whole value in memory, which is
what ``get_file`` avoids).

The servers are the test servers (``tests.servers``), started for the run and stopped after.
HTTP, SFTP and SMB serve a file written into the server's directory, read once before timing
so both sides read from the server's page cache; the object stores get theirs uploaded
through the VFS. Before every timed run the local target is removed and ``os.sync`` flushes
earlier writes. Timings alternate between ours and the raw tool; the best of ``--repeats``
counts, and the paired ratio (median of back-to-back rounds) is reported beside it.

Run alone: ``python -m benchmarks.bench_network --size 64MiB --repeats 2`` (``--backends
http,s3`` for a subset); with the others: ``python -m benchmarks network --net-size 512MiB``
(and ``--net-backends http,smb`` for a subset).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filestore_vfs import VirtualFileSystem

from ._report import (
    Figure,
    MiB,
    best_of,
    format_size,
    paired_ratio,
    parse_size,
    peak_rss_growth,
    print_report,
    timed_fresh,
)

RSS_LIMIT = 64 * MiB
#: The cipher SFTPFile prefers, given to the ``sftp`` tool as a second anchor.
SFTP_GCM = "aes128-gcm@openssh.com"
DEFAULT_SIZE = 512 * MiB
#: Redis refuses strings longer than 512 MB (``proto-max-bulk-len``).
REDIS_MAX = 512 * MiB


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("network")
    group.add_argument(
        "--net-size",
        type=parse_size,
        default=DEFAULT_SIZE,
        help="size of the file fetched over each network backend (default 512MiB)",
    )
    group.add_argument(
        "--net-backends",
        default=",".join(BACKENDS),
        help=f"comma-separated subset of {','.join(BACKENDS)} (default: all)",
    )


def _write_file(path: Path, size: int) -> None:
    block = os.urandom(8 * MiB)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n


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


def _run_tool(argv: list[str], **kwargs: Any) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=3600, **kwargs)


def _uploaded(spec: dict[str, Any], path: str, size: int) -> None:
    vfs = VirtualFileSystem({path.split("/")[1]: spec}, defaults=False)
    _upload(vfs, path, size)
    vfs.close()


# -- one context per backend: (root spec, logical path, raw action writing to a target, and
# more raw actions, by tool name, each a figure of its own against the same runs of ours) ----
Raw = Callable[[str], None]
Setup = tuple[dict[str, Any], str, Raw, dict[str, Raw]]


@contextlib.contextmanager
def _http(size: int) -> Iterator[Setup]:
    from tests.servers import nginx_server

    with nginx_server() as server:
        _write_file(server.root / "big.bin", size)
        url = server.data_url + "big.bin"
        yield (
            server.vfs_root(),
            "/h/big.bin",
            lambda t: _run_tool(["curl", "-sSf", "-o", t, url]),
            {},
        )


@contextlib.contextmanager
def _sftp(size: int) -> Iterator[Setup]:
    from tests.servers import client_options, sshd_server

    with sshd_server() as server:
        _write_file(server.root / "big.bin", size)
        remote = str(server.root / "big.bin")

        def raw(target: str, cipher: list[str] | None = None) -> None:
            argv = ["sftp", *client_options(server), *(cipher or [])]
            argv += ["-b", "-", f"{server.user}@{server.host}"]
            _run_tool(argv, input=f'get "{remote}" "{target}"\n'.encode())

        # OpenSSH's default cipher is ChaCha20-Poly1305; ours prefers AES-128-GCM, so the
        # tool with that cipher is measured too
        gcm = ["-c", SFTP_GCM]
        yield server.vfs_root(), "/s/big.bin", raw, {f"sftp -c {SFTP_GCM}": lambda t: raw(t, gcm)}


@contextlib.contextmanager
def _smb(size: int) -> Iterator[Setup]:
    from tests.servers import smbd_server

    with smbd_server() as server:
        _write_file(server.root / "big.bin", size)

        def raw(target: str) -> None:
            argv = ["smbclient", f"//{server.host}/{server.share}", "-p", str(server.port)]
            argv += ["-A", str(server.auth_file), "-c", f'get big.bin "{target}"']
            _run_tool(argv, stdin=subprocess.DEVNULL)

        yield server.vfs_root(), "/m/big.bin", raw, {}


@contextlib.contextmanager
def _s3(size: int) -> Iterator[Setup]:
    from tests.servers import s3_server

    with s3_server() as server:
        root = server.vfs_root()
        _uploaded(root, "/s3/big.bin", size)
        client: Any = server.client()

        def raw(target: str) -> None:
            client.download_file(server.bucket, "big.bin", target)

        yield root, "/s3/big.bin", raw, {}


@contextlib.contextmanager
def _azure(size: int) -> Iterator[Setup]:
    from azure.storage.blob import BlobServiceClient

    from tests.servers import azurite_server

    with azurite_server() as server:
        root = server.vfs_root()
        _uploaded(root, "/az/big.bin", size)
        blob = BlobServiceClient.from_connection_string(server.connection_string).get_blob_client(
            server.container, "big.bin"
        )

        def raw(target: str) -> None:
            with open(target, "wb") as f:
                blob.download_blob().readinto(f)

        yield root, "/az/big.bin", raw, {}
        blob.close()


@contextlib.contextmanager
def _redis(size: int) -> Iterator[Setup]:
    import redis

    from tests.servers import redis_server

    with redis_server() as server:
        root = server.vfs_root()
        _uploaded(root, "/r/big.bin", size)
        client = redis.Redis(host=server.host, port=server.port, password=server.password)

        def raw(target: str) -> None:
            data = client.get("big.bin")
            with open(target, "wb") as f:
                f.write(data)  # type: ignore[arg-type]

        yield root, "/r/big.bin", raw, {}
        client.close()


@dataclass(frozen=True)
class Backend:
    label: str
    tool: str
    setup: Callable[[int], AbstractContextManager[Setup]]
    target_ratio: float | None
    #: an object store: memory measured in a fresh process, beside the raw client's
    object_store: bool = False
    max_size: int | None = None


BACKENDS = {
    "http": Backend("HTTP (nginx)", "curl", _http, 0.8),
    "sftp": Backend("SFTP (sshd)", "sftp", _sftp, 0.8),
    "smb": Backend("SMB (smbd)", "smbclient", _smb, 0.8),
    "s3": Backend("S3 (moto)", "boto3 `download_file`", _s3, 0.8, object_store=True),
    "azure": Backend(
        "Azure Blob (Azurite)", "`download_blob().readinto`", _azure, None, object_store=True
    ),
    "redis": Backend(
        "Redis", "redis-py `GET`", _redis, None, object_store=True, max_size=REDIS_MAX
    ),
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


def _fresh(target: str, raw: Raw) -> Callable[[], float]:
    return lambda: timed_fresh(target, lambda: raw(target))


def _figures(name: str, size: int, repeats: int, tmp: str) -> list[Figure]:
    backend = BACKENDS[name]
    if backend.max_size is not None:
        size = min(size, backend.max_size)
    ours_target = os.path.join(tmp, f"{name}-ours.bin")
    raw_target = os.path.join(tmp, f"{name}-raw.bin")
    raw_growth = None
    with backend.setup(size) as (spec, path, raw, extras):
        if backend.object_store:
            # the raw client's memory first, before our transfers leave freed memory behind
            raw_growth = peak_rss_growth(lambda: raw(raw_target))
        vfs = VirtualFileSystem({path.split("/")[1]: spec}, defaults=False)
        vfs.get_file(path, ours_target)  # warm the server's cache and the connection
        runs: list[list[float]] = []
        ours, anchor, *others = best_of(
            repeats,
            lambda: timed_fresh(ours_target, lambda: vfs.get_file(path, ours_target)),
            lambda: timed_fresh(raw_target, lambda: raw(raw_target)),
            *(_fresh(raw_target, other) for other in extras.values()),
            runs=runs,
        )
        load = os.getloadavg()  # busy neighbours slow both sides; the report says how busy
        if os.path.getsize(ours_target) != size or os.path.getsize(raw_target) != size:
            raise RuntimeError(f"{name}: a transfer came back short")
        growth = 0.0
        if backend.object_store:
            vfs.close()
            os.remove(ours_target)
            growth = max(_growth_in_fresh_process(spec, path, ours_target) for _ in range(2))
        else:
            for _ in range(max(1, min(repeats, 2))):
                os.remove(ours_target)
                growth = max(growth, peak_rss_growth(lambda: vfs.get_file(path, ours_target)))
            vfs.close()
    for target in (ours_target, raw_target):
        with contextlib.suppress(FileNotFoundError):
            os.remove(target)
    mib = size / MiB
    text = format_size(size)
    ratio = backend.target_ratio
    memory = f"{backend.label}: `get_file` {text}, peak RSS growth"
    tools = [(backend.tool, anchor), *zip(extras, others, strict=True)]
    return [
        *(
            Figure(
                f"{backend.label}: `get_file` {text} vs {tool}",
                mib / ours,
                mib / best,
                "MiB/s",
                target=f"≥ {ratio}×" if ratio else "throughput, no target",
                min_ratio=ratio,
                paired=paired_ratio([[r[0], r[i + 1]] for r in runs]),
                notes={"runs": [[r[0], r[i + 1]] for r in runs], "loadavg": load},
            )
            for i, (tool, best) in enumerate(tools)
        ),
        Figure(
            f"{memory} vs {backend.tool}" if backend.object_store else memory,
            growth,
            raw_growth,
            "B",
            target="< 64 MiB",
            max_value=RSS_LIMIT,
        ),
    ]


def run(options: argparse.Namespace) -> list[Figure]:
    size = getattr(options, "net_size", DEFAULT_SIZE)
    chosen = getattr(options, "net_backends", ",".join(BACKENDS))
    names = [n.strip() for n in chosen.split(",") if n.strip()]
    unknown = sorted(set(names) - set(BACKENDS))
    if unknown:
        raise SystemExit(f"unknown backend(s) {unknown}; choose from {sorted(BACKENDS)}")
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-net-", dir=options.tmp) as tmp:
        for name in names:
            print(f"  {name} ...", file=sys.stderr, flush=True)
            figures.extend(_figures(name, size, options.repeats, tmp))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_network")
    parser.add_argument("--size", type=parse_size, default=DEFAULT_SIZE, help="default 512MiB")
    parser.add_argument("--repeats", type=int, default=3, help="repeats, best-of (default 3)")
    parser.add_argument("--tmp", default=None, help="directory for the local copies")
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help=f"subset of {','.join(BACKENDS)}"
    )
    options = parser.parse_args(argv)
    options.net_size = options.size
    options.net_backends = options.backends
    return print_report(run(options))


if __name__ == "__main__":
    sys.exit(main())
