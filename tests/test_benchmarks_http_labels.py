"""Every HTTP handler figure of ``benchmarks/bench_handlers.py`` measures the cache mode its
label names (issue #14: "cache=blocks (ranged reads)" once timed the whole-file copy, because
the handlers' own default is ``cache="file"``).

No timing is asserted: the benchmark's HTTP part runs once on a few frames, and every read its
handlers make through the HTTP root is recorded with its cache mode."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from benchmarks import bench_handlers
from filestore_vfs import HttpFile, VirtualFileSystem
from tests.servers import NginxServer


def _named_mode(label: str) -> str:
    modes = re.findall(r"cache=(\w+)", label)
    assert len(modes) == 1, f"{label!r} must name exactly one cache mode"
    return modes[0]


@pytest.mark.parametrize(("label", "mode", "how"), bench_handlers.HTTP_FIGURES)
def test_label_names_the_mode_its_registry_uses(label: str, mode: str, how: str) -> None:
    assert _named_mode(label) == mode
    assert ("cold" in label) == (how == "cold")
    web = VirtualFileSystem({"memory": {"class": "MemoryFile"}}, defaults=False)
    registry = bench_handlers.http_registry(web, mode)
    assert {handler.cache for handler in registry.values()} == {mode}


def test_every_http_figure_reads_with_the_mode_it_names(
    nginx_server: NginxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = Path(nginx_server.root) / "bench-labels"
    n = 3
    bench_handlers.write_files(str(data), n)
    url = f"{nginx_server.data_url}bench-labels/"
    reads: dict[str, list[str]] = {}
    current: list[str] = [""]
    real_open_read = HttpFile.open_read

    def recording_open_read(self: HttpFile, rel: str, cache: Any = None) -> Any:
        reads.setdefault(current[0], []).append(cache or self.cache)
        return real_open_read(self, rel, cache)

    def one_round(
        name: str, repeats: int, count: int, ours: Any, anchor: Any, *a: Any, **kw: Any
    ) -> str:
        current[0] = name
        ours()  # only ours reads through the HTTP root; the anchor is the local root
        current[0] = ""
        return name

    monkeypatch.setattr(HttpFile, "open_read", recording_open_read)
    monkeypatch.setattr(bench_handlers, "rate_figure", one_round)
    local = VirtualFileSystem({"bench": {"class": "LocalFile", "root": str(data)}}, defaults=False)
    try:
        labels = bench_handlers._http_figures(local, str(data), url, n, 1)
    finally:
        local.close()
    assert labels == [label for label, _, _ in bench_handlers.HTTP_FIGURES]
    for label in labels:
        assert reads.get(label), f"{label!r} read nothing through the HTTP root"
        assert set(reads[label]) == {_named_mode(label)}, (label, reads[label])
