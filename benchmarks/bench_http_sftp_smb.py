"""``get_file`` over HTTP, SFTP and SMB against the raw tool on the same loopback server.

Per backend, one file (``--net-size``, default 512 MiB; ``--size`` when this module runs on
its own) is fetched with ``vfs.get_file`` and with the raw tool over the same server:

* HTTP: nginx, ``curl -o`` (target ≥ 0.8×);
* SFTP: OpenSSH sshd, ``sftp -b`` ``get`` (target ≥ 0.5×);
* SMB: Samba smbd, ``smbclient -c get`` (target ≥ 0.5×);

and the peak resident memory growth of ``get_file`` (target < 64 MiB for every transfer).

The servers are the test servers (``tests.servers``), started for the run and stopped after.
The remote file is read once before timing, so both sides read from the server's page cache;
before every timed run the local target is removed and ``os.sync`` flushes earlier writes.
Timings alternate between ours and the tool; the best of ``--repeats`` counts, and the paired
ratio (median of back-to-back rounds) is reported beside it.

Run alone: ``python -m benchmarks.bench_http_sftp_smb --size 64MiB --repeats 2``;
with the others: ``python -m benchmarks http_sftp_smb --net-size 512MiB`` (and
``--net-backends http,smb`` for a subset).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("http_sftp_smb")
    group.add_argument(
        "--net-size",
        type=parse_size,
        default=DEFAULT_SIZE,
        help="size of the file fetched over HTTP/SFTP/SMB (default 512MiB)",
    )
    group.add_argument(
        "--net-backends",
        default="http,sftp,smb",
        help="comma-separated subset of http,sftp,smb (default: all)",
    )


def _write_file(path: Path, size: int) -> None:
    block = os.urandom(8 * MiB)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n


def _timed(target: str, action: Callable[[], Any]) -> float:
    if os.path.exists(target):
        os.remove(target)
    os.sync()
    start = time.perf_counter()
    action()
    elapsed = time.perf_counter() - start
    return elapsed


def _run_tool(argv: list[str], **kwargs: Any) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=3600, **kwargs)


# -- one context per backend: (vfs, logical path, raw-tool action writing to a target) -------
Setup = tuple[VirtualFileSystem, str, Callable[[str], None]]


@contextlib.contextmanager
def _http(size: int) -> Iterator[Setup]:
    from tests.servers import nginx_server

    with nginx_server() as server:
        _write_file(server.root / "big.bin", size)
        vfs = VirtualFileSystem(
            {"h": {"class": "HttpFile", "download": server.data_url}}, defaults=False
        )
        url = server.data_url + "big.bin"
        yield vfs, "/h/big.bin", lambda target: _run_tool(["curl", "-sSf", "-o", target, url])


@contextlib.contextmanager
def _sftp(size: int) -> Iterator[Setup]:
    from tests.servers import client_options, sshd_server

    with sshd_server() as server:
        _write_file(server.root / "big.bin", size)
        spec = {
            "class": "SFTPFile",
            "hostname": server.host,
            "port": server.port,
            "username": server.user,
            "keyfile": str(server.key_path),
            "known_hosts": str(server.known_hosts),
            "root": str(server.root),
        }
        vfs = VirtualFileSystem({"s": spec}, defaults=False)
        remote = str(server.root / "big.bin")

        def raw(target: str) -> None:
            argv = ["sftp", *client_options(server), "-b", "-", f"{server.user}@{server.host}"]
            _run_tool(argv, input=f'get "{remote}" "{target}"\n'.encode())

        yield vfs, "/s/big.bin", raw


@contextlib.contextmanager
def _smb(size: int) -> Iterator[Setup]:
    from tests.servers import smbd_server

    with smbd_server() as server:
        _write_file(server.root / "big.bin", size)
        spec = {
            "class": "SMBFile",
            "hostname": server.host,
            "port": server.port,
            "share": server.share,
            "username": server.user,
            "password": server.password,
        }
        vfs = VirtualFileSystem({"m": spec}, defaults=False)

        def raw(target: str) -> None:
            argv = ["smbclient", f"//{server.host}/{server.share}", "-p", str(server.port)]
            argv += ["-A", str(server.auth_file), "-c", f'get big.bin "{target}"']
            _run_tool(argv, stdin=subprocess.DEVNULL)

        yield vfs, "/m/big.bin", raw


BACKENDS = {
    "http": ("HTTP (nginx)", "curl", _http, 0.8),
    "sftp": ("SFTP (sshd)", "sftp", _sftp, 0.5),
    "smb": ("SMB (smbd)", "smbclient", _smb, 0.5),
}


def _figures(name: str, size: int, repeats: int, tmp: str) -> list[Figure]:
    label, tool, setup, target_ratio = BACKENDS[name]
    ours_target = os.path.join(tmp, f"{name}-ours.bin")
    raw_target = os.path.join(tmp, f"{name}-raw.bin")
    with setup(size) as (vfs, path, raw):
        vfs.get_file(path, ours_target)  # warm the server's page cache and the connection
        runs: list[list[float]] = []
        ours, anchor = best_of(
            repeats,
            lambda: _timed(ours_target, lambda: vfs.get_file(path, ours_target)),
            lambda: _timed(raw_target, lambda: raw(raw_target)),
            runs=runs,
        )
        if os.path.getsize(ours_target) != size or os.path.getsize(raw_target) != size:
            raise RuntimeError(f"{name}: a transfer came back short")
        growth = 0.0
        for _ in range(max(1, min(repeats, 2))):
            os.remove(ours_target)
            growth = max(growth, peak_rss_growth(lambda: vfs.get_file(path, ours_target)))
        vfs.close()
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
            target=f"≥ {target_ratio}×",
            min_ratio=target_ratio,
            paired=paired_ratio(runs),
            notes={"runs": runs},
        ),
        Figure(
            f"{label}: `get_file` {text}, peak RSS growth",
            growth,
            None,
            "B",
            target="< 64 MiB",
            max_value=RSS_LIMIT,
        ),
    ]


def run(options: argparse.Namespace) -> list[Figure]:
    size = getattr(options, "net_size", DEFAULT_SIZE)
    chosen = getattr(options, "net_backends", "http,sftp,smb")
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
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_http_sftp_smb")
    parser.add_argument("--size", type=parse_size, default=DEFAULT_SIZE, help="default 512MiB")
    parser.add_argument("--repeats", type=int, default=3, help="repeats, best-of (default 3)")
    parser.add_argument("--tmp", default=None, help="directory for the local copies")
    parser.add_argument("--backends", default="http,sftp,smb", help="subset of http,sftp,smb")
    options = parser.parse_args(argv)
    options.net_size = options.size
    options.net_backends = options.backends
    figures = run(options)
    print(markdown_table(figures))
    print(json_line(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
