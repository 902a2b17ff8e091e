"""A second writer of the same path is refused across processes too (local roots)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from filestore_vfs import FileBusyError, VirtualFileSystem

HOLDER = textwrap.dedent(
    """
    import sys, filestore_vfs as f
    vfs = f.VirtualFileSystem({"d": {"class": "LocalFile", "root": sys.argv[1]}})
    with vfs.open("/d/frames/x.h5", "wb") as w:
        w.write(b"from the other process")
        print("holding", flush=True)
        sys.stdin.readline()  # hold the lock until told to finish
    print("done", flush=True)
    """
)


@pytest.fixture
def holder(tmp_path: Path):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline().strip() == "holding"
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_writer_in_other_process_blocks_us(tmp_path: Path, holder: subprocess.Popen) -> None:
    vfs = VirtualFileSystem({"d": {"class": "LocalFile", "root": str(tmp_path)}})
    with pytest.raises(FileBusyError, match="another process"):
        vfs.open("/d/frames/x.h5", "wb")
    assert not vfs.exists("/d/frames/x.h5")  # the other writer has not committed yet
    holder.communicate("go\n", timeout=30)
    assert holder.returncode == 0
    assert vfs.read_bytes("/d/frames/x.h5") == b"from the other process"
    vfs.write_bytes("/d/frames/x.h5", b"ours now")  # the lock went with the other writer
    assert vfs.read_bytes("/d/frames/x.h5") == b"ours now"
    assert vfs.ls("/d/frames") == ["/d/frames/x.h5"]  # no lock or temp file left visible


def test_killed_writer_leaves_old_content_and_no_stale_lock(
    tmp_path: Path, holder: subprocess.Popen
) -> None:
    vfs = VirtualFileSystem({"d": {"class": "LocalFile", "root": str(tmp_path)}})
    holder.kill()
    holder.wait()
    assert not vfs.exists("/d/frames/x.h5")  # half a file never became visible
    vfs.write_bytes("/d/frames/x.h5", b"next writer")  # flock died with the process
    assert vfs.read_bytes("/d/frames/x.h5") == b"next writer"
