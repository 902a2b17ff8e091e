"""A process whose SMB server went away exits quietly (smbclient logged a traceback per
pooled connection at exit, which reads as a failure of the user's run)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import server_pids
from tests.servers._fixtures import own_server

pytestmark = pytest.mark.timeout(90)

CHILD = """
import json, sys
from filestore_vfs import VirtualFileSystem
vfs = VirtualFileSystem({"t": json.loads(sys.stdin.readline())}, defaults=False)
vfs.write_bytes("/t/exit.bin", b"written before the server went away")
print("WRITTEN", flush=True)
sys.stdin.readline()  # the server is killed meanwhile
print("EXITING", flush=True)
"""


def test_exit_after_the_smb_server_died_prints_no_traceback() -> None:
    with own_server("smbd") as server:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        try:
            assert child.stdin is not None and child.stdout is not None
            spec = server.vfs_root(timeout=2, retries=0)
            child.stdin.write(json.dumps(spec) + "\n")  # the password stays off the argv
            child.stdin.flush()
            assert child.stdout.readline().strip() == "WRITTEN"
            for pid in server_pids(server.pid, str(server.workdir)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            out, err = child.communicate("\n", timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
    assert child.returncode == 0, err
    assert out.strip() == "EXITING"
    assert "Traceback" not in err and "Failed to close" not in err, err
