"""``--alias`` and ``--cam-port`` of the sim IOC, from both command lines.

``--list-pvs`` shows what an alias serves without starting an IOC; the live behaviour (the
alias is the same record over Channel Access) is in ``tests/async_ioc/test_upstream_behaviours``.
A bad value is refused before anything is served, with a message naming it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

EXE = shutil.which("filestore-vfs")
COMMANDS = {
    "python -m sim_iocs": [sys.executable, "-m", "sim_iocs", "areadetector"],
    "filestore-vfs sim-ioc": [str(EXE), "sim-ioc"],
}


def run(command: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert EXE, "the filestore-vfs console script is not installed"
    argv = [*COMMANDS[command], "--prefix", "AL:", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", COMMANDS)
def test_alias_lists_every_pv_of_the_device_under_the_second_name(command: str) -> None:
    plain = run(command, "--list-pvs").stdout.splitlines()
    proc = run(command, "--alias", "cam1:=DET:", "--alias", "HDF1:=HDF5:", "--list-pvs")
    assert proc.returncode == 0, proc.stderr
    listed = proc.stdout.splitlines()
    for device, alias in (("cam1:", "DET:"), ("HDF1:", "HDF5:")):
        originals = [line for line in plain if line.startswith(f"AL:{device}")]
        aliased = [line for line in listed if line.startswith(f"AL:{alias}")]
        assert originals and len(aliased) == len(originals)
        assert [a.replace(alias, device, 1) for a in aliased] == originals
    assert set(plain) <= set(listed)
    assert "AL:DET:PortName_RBV\tstringin\tstr" in listed


BAD = [
    (["--alias", "cam1:DET:"], "not of the form DEVICE=ALIAS"),
    (["--alias", "cam7:=DET:"], "no device 'cam7:'"),
    (["--alias", "cam1:=DET"], "must be PV-name characters ending in ':'"),
    (["--alias", "cam1:=D ET:"], "must be PV-name characters ending in ':'"),
    (["--alias", "cam1:=HDF1:"], "'HDF1:' is a device"),
    (["--alias", "cam1:=X:", "--alias", "HDF1:=X:"], "'X:' is already an alias of cam1:"),
    (["--cam-port", "DET PROC"], "cam port 'DET PROC' must be 1-40 characters"),
    (["--cam-port", ""], "cam port '' must be 1-40 characters"),
]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_alias_or_port_is_refused_with_the_reason(
    command: str, args: list[str], message: str
) -> None:
    proc = run(command, *args, "--list-pvs")
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
    assert proc.stdout == ""  # nothing listed, nothing served
