"""HttpFile against symlinks placed on a real nginx: what the server refuses, what the root
refuses, and what stays impossible to see from the client.

Two servers of this module's own: the *safe* one runs the documented configuration
(``disable_symlinks on``, tests/servers/_nginx.py) and the root sets ``require_confinement``;
the *unsafe* one follows symlinks (nginx's default). Each has, next to the root's directory,
an ``outside`` directory that no operation may read, list, change or delete.

- safe server, every operation x every kind of link: :class:`PathEscapeError` naming the
  logical path, before a byte is sent through the link, and ``outside`` unchanged;
- unsafe server with ``require_confinement``: the first use fails (the probe link is
  followed), naming the fix, and nothing is touched;
- unsafe server without it: what the client sees on logical paths still holds: a move or copy
  into itself is refused at once, a walk into a symlink to an ancestor stops (no runaway).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from filestore_vfs import ConfigError, PathEscapeError, VirtualFileSystem
from filestore_vfs.vfs.backends.http import PROBE_NAME
from tests.servers import NginxServer
from tests.servers._fixtures import own_server

pytestmark = [pytest.mark.server, pytest.mark.timeout(60)]

SECRET = b"outside the root: never read"


@dataclass
class Site:
    """One nginx with a root directory full of links and an ``outside`` directory."""

    server: NginxServer
    root: Path
    outside: Path

    def spec(self, **extra: Any) -> dict[str, Any]:
        name = self.root.name
        return {
            "class": "HttpFile",
            "download": f"{self.server.data_url}{name}/",
            "upload": f"{self.server.dav_url}{name}/",
            "upload_mode": "webdav",
            "timeout": 2,
            "retries": 0,
            **extra,
        }

    def vfs(self, **extra: Any) -> VirtualFileSystem:
        return VirtualFileSystem({"s": self.spec(**extra)}, defaults=False)

    def outside_state(self) -> dict[str, str]:
        """Every path under ``outside`` with a digest of its content (directories: "dir")."""
        state = {}
        for path in sorted(self.outside.rglob("*")):
            rel = str(path.relative_to(self.outside))
            state[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
        return state


def _populate(www: Path, name: str) -> Site:
    root, outside = www / name, www / f"{name}-outside"
    (root / "inside").mkdir(parents=True)
    (root / "inside" / "data.txt").write_bytes(b"inside")
    (root / "top.txt").write_bytes(b"top")
    (root / "d").mkdir()
    (root / "d" / "f.txt").write_bytes(b"f")
    (outside / "sub").mkdir(parents=True)
    (outside / "SECRET.txt").write_bytes(SECRET)
    (outside / "sub" / "victim.txt").write_bytes(SECRET)
    os.symlink(f"../{name}-outside", root / "out-link")  # a directory outside
    os.symlink(f"../{name}-outside/SECRET.txt", root / "file-link")  # a file outside
    os.symlink(str(outside), root / "abs-link")  # an absolute link outside
    os.symlink("..", root / "d" / "up")  # an ancestor inside the root
    os.symlink(str(outside / "SECRET.txt"), root / PROBE_NAME)  # the deployer's probe
    return Site(server=None, root=root, outside=outside)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def safe() -> Iterator[Site]:
    with own_server("nginx") as server:
        site = _populate(server.root, "safe")
        site.server = server
        yield site


@pytest.fixture(scope="module")
def unsafe() -> Iterator[Site]:
    with own_server("nginx", follow_symlinks=True) as server:
        site = _populate(server.root, "unsafe")
        site.server = server
        yield site


# -- the table: operations x links --------------------------------------------------------------
#: a path through each kind of link: (name, path under the link, what that path is outside)
LINKS = {
    "dir-link": "out-link/SECRET.txt",
    "dir-link-sub": "out-link/sub/victim.txt",
    "file-link": "file-link",
    "absolute-link": "abs-link/SECRET.txt",
    "ancestor-link": "d/up/top.txt",
}
#: the directory each kind of link reaches
LINK_DIRS = {
    "dir-link": "out-link",
    "dir-link-sub": "out-link/sub",
    "file-link": "file-link",
    "absolute-link": "abs-link",
    "ancestor-link": "d/up",
}

Op = Callable[[VirtualFileSystem, str, str, Path], Any]
OPERATIONS: dict[str, Op] = {
    "read_bytes": lambda v, p, d, t: v.read_bytes(p),
    "open-stream": lambda v, p, d, t: v.open(p, "rb", cache="stream").read(),
    "open-file-cache": lambda v, p, d, t: v.open(p, "rb", cache="file").read(),
    "info": lambda v, p, d, t: v.info(p),
    "exists": lambda v, p, d, t: v.exists(p),
    "isfile": lambda v, p, d, t: v.isfile(p),
    "isdir": lambda v, p, d, t: v.isdir(d),
    "ls": lambda v, p, d, t: v.ls(d),
    "find": lambda v, p, d, t: v.find(d),
    "write_bytes": lambda v, p, d, t: v.write_bytes(p, b"evil"),
    "write-new": lambda v, p, d, t: v.write_bytes(f"{d}/new.txt", b"evil"),
    "append": lambda v, p, d, t: v.open(p, "ab").close(),
    "makedirs": lambda v, p, d, t: v.makedirs(f"{d}/newdir"),
    "remove": lambda v, p, d, t: v.remove(p),
    "rmdir-recursive": lambda v, p, d, t: v.rmdir(d, recursive=True),
    "move-from": lambda v, p, d, t: v.move(p, "/s/inside/moved.txt"),
    "move-to": lambda v, p, d, t: v.move("/s/inside/data.txt", f"{d}/moved.txt"),
    "move-dir-from": lambda v, p, d, t: v.move(d, "/s/inside/moved-dir"),
    "copy-from": lambda v, p, d, t: v.copy(p, "/s/inside/copied.txt"),
    "copy-to": lambda v, p, d, t: v.copy("/s/inside/data.txt", f"{d}/copied.txt"),
    "get_file": lambda v, p, d, t: v.get_file(p, t / "got"),
    "put_file": lambda v, p, d, t: v.put_file(t / "local.txt", p),
    "storage-get": lambda v, p, d, t: v.storage("s").get_file(p[3:], str(t / "got2")),
    "storage-add": lambda v, p, d, t: v.storage("s").add_file(str(t / "local.txt"), p[3:]),
    "storage-delete": lambda v, p, d, t: v.storage("s").delete_file(p[3:]),
    "vfs-uri-read": lambda v, p, d, t: v.read_bytes("vfs://" + p[1:]),
}


@pytest.fixture
def local(tmp_path: Path) -> Path:
    (tmp_path / "local.txt").write_bytes(b"evil")
    return tmp_path


def _inside_unchanged(site: Site) -> None:
    assert (site.root / "inside" / "data.txt").read_bytes() == b"inside"
    assert sorted(p.name for p in (site.root / "inside").iterdir()) == ["data.txt"]


@pytest.mark.parametrize("link", list(LINKS))
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_safe_server_every_operation_through_every_link_is_refused(
    safe: Site, local: Path, operation: str, link: str
) -> None:
    before = safe.outside_state()
    vfs = safe.vfs(require_confinement=True)
    path, directory = f"/s/{LINKS[link]}", f"/s/{LINK_DIRS[link]}"
    with pytest.raises(PathEscapeError, match="symlink") as info:
        OPERATIONS[operation](vfs, path, directory, local)
    assert "/s/" in str(info.value)  # names the logical path
    assert SECRET.decode() not in str(info.value)
    assert safe.outside_state() == before
    _inside_unchanged(safe)
    assert not (local / "got").exists() and not (local / "got2").exists()


@pytest.mark.parametrize("operation", ["read_bytes", "ls", "write_bytes", "remove", "move-to"])
def test_unsafe_server_with_require_confinement_fails_at_first_use(
    unsafe: Site, local: Path, operation: str
) -> None:
    before = unsafe.outside_state()
    vfs = unsafe.vfs(require_confinement=True)
    with pytest.raises(ConfigError, match="follows the probe symlink.*disable_symlinks on"):
        OPERATIONS[operation](vfs, "/s/out-link/SECRET.txt", "/s/out-link", local)
    with pytest.raises(ConfigError, match="follows the probe"):  # every use, not only the first
        vfs.read_bytes("/s/inside/data.txt")
    assert unsafe.outside_state() == before
    _inside_unchanged(unsafe)


def test_require_confinement_without_the_probe_names_the_fix(safe: Site) -> None:
    name = f"noprobe-{uuid.uuid4().hex[:6]}"
    (safe.server.root / name).mkdir()
    (safe.server.root / name / "a.txt").write_bytes(b"a")
    spec = {**safe.spec(require_confinement=True)}
    spec["download"] = f"{safe.server.data_url}{name}/"
    spec["upload"] = f"{safe.server.dav_url}{name}/"
    vfs = VirtualFileSystem({"s": spec}, defaults=False)
    with pytest.raises(ConfigError, match=f"no probe link.*ln -s .*{PROBE_NAME}"):
        vfs.read_bytes("/s/a.txt")


def test_safe_server_the_root_works_inside(safe: Site, local: Path) -> None:
    """Confinement costs nothing inside: reads, writes, listings, moves and deletes work."""
    vfs = safe.vfs(require_confinement=True)
    sub = f"/s/ok-{uuid.uuid4().hex[:6]}"
    vfs.write_bytes(f"{sub}/a/b.txt", b"b")
    assert vfs.read_bytes(f"{sub}/a/b.txt") == b"b"
    assert vfs.ls(sub) == [f"{sub}/a"]
    vfs.move(f"{sub}/a", f"{sub}/c")
    assert vfs.find(sub) == [f"{sub}/c/b.txt"]
    vfs.put_file(local / "local.txt", f"{sub}/new/deep/x.txt")
    assert vfs.read_bytes(f"{sub}/new/deep/x.txt") == b"evil"
    vfs.rmdir(sub, recursive=True)
    assert not vfs.exists(sub)
    assert PROBE_NAME not in " ".join(vfs.ls("/s"))  # the probe is not listed


def test_safe_server_refuses_links_even_without_require_confinement(safe: Site) -> None:
    """GET/HEAD honour ``disable_symlinks``: reads through links fail on the server alone
    (403/404), naming the logical path; nothing outside comes back."""
    vfs = safe.vfs()
    for path in ("/s/out-link/SECRET.txt", "/s/file-link", "/s/abs-link/SECRET.txt"):
        with pytest.raises((PermissionError, FileNotFoundError)) as info:
            vfs.open(path, "rb", cache="stream").read()
        assert info.value.filename == path


# -- the unsafe server: what the client itself refuses --------------------------------------------
@pytest.mark.parametrize(
    "action",
    [
        lambda v: v.move("/s/loop", "/s/loop/inner/moved"),
        lambda v: v.move("/s/loop", "/s/loop/moved"),
        lambda v: v.copy("/s/loop", "/s/loop/inner/copy", recursive=True),
        lambda v: v.copy("/s/loop", "/s/loop/copy", recursive=True),
    ],
    ids=["move-deep", "move", "copy-deep", "copy"],
)
@pytest.mark.parametrize("mode", ["webdav", "put"])
@pytest.mark.timeout(30)
def test_unsafe_server_move_or_copy_into_itself_is_refused_at_once(
    unsafe: Site, mode: str, action: Callable[[VirtualFileSystem], Any]
) -> None:
    vfs = unsafe.vfs(upload_mode=mode)
    vfs.write_bytes("/s/loop/inner/a.txt", b"a")
    try:
        with pytest.raises(OSError, match="into itself") as info:
            action(vfs)
        assert info.value.filename == "/s/loop"
        assert sorted(
            str(p.relative_to(unsafe.root)) for p in (unsafe.root / "loop").rglob("*")
        ) == [
            "loop/inner",
            "loop/inner/a.txt",
        ]
    finally:
        vfs.rmdir("/s/loop", recursive=True)


WALKS: dict[str, Callable[[VirtualFileSystem], Any]] = {
    "find": lambda v: v.find("/s/d"),
    "walk": lambda v: list(v.walk("/s")),
    "copy-tree": lambda v: v.copy("/s/d", "/s/inside/d-copy", recursive=True),
    "move-tree": lambda v: v.move("/s/d", "/s/inside/d-moved"),
}


@pytest.mark.parametrize("mode", ["webdav", "put"])
@pytest.mark.parametrize("walk", list(WALKS))
@pytest.mark.timeout(60)
def test_unsafe_server_a_link_to_an_ancestor_stops_the_walk(
    unsafe: Site, mode: str, walk: str
) -> None:
    """``d/up -> ..``: the client cannot see the link, but a directory that lists what its
    ancestor lists is a loop; the walk stops with ELOOP instead of copying the tree into
    itself without end. (In webdav mode a move is one rename on the server: no walk.)"""
    vfs = unsafe.vfs(upload_mode=mode)
    try:
        if walk == "move-tree" and mode == "webdav":
            WALKS[walk](vfs)
            assert (unsafe.root / "inside" / "d-moved" / "f.txt").read_bytes() == b"f"
            vfs.move("/s/inside/d-moved", "/s/d")
        else:
            with pytest.raises(OSError, match="directory loop") as info:
                WALKS[walk](vfs)
            assert info.value.errno == errno.ELOOP
        assert (unsafe.root / "d" / "f.txt").read_bytes() == b"f"  # nothing lost
    finally:
        for extra in ("d-copy", "d-moved"):
            shutil.rmtree(unsafe.root / "inside" / extra, ignore_errors=True)
    _inside_unchanged(unsafe)


def test_unsafe_server_what_the_client_cannot_see(unsafe: Site) -> None:
    """Documented limits: without ``require_confinement`` (or with a server that follows
    links) a link is just a directory to an HTTP client; this pins that behaviour so the docs
    stay true."""
    vfs = unsafe.vfs()
    assert vfs.read_bytes("/s/out-link/SECRET.txt") == SECRET
