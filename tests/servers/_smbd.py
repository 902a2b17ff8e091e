"""Samba smbd on loopback with a throw-away share, user and password.

All of Samba's state (passdb, locks, caches, pid file, logs) lives in the
temp dir, so nothing under /var/lib/samba or /etc/samba is read or written.
The SMB user needs a unix account of the same name (``fsvfs-test``, created
by ``.ci/install-system-packages``); its SMB password exists only in the
private passdb.  File access is forced to the user running the tests, so the
test process can read and write the share directory directly.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ._common import (
    HOST,
    ServerUnavailable,
    launch,
    require_executable,
    stop_process,
    temp_dir,
    write_private,
)
from ._roots import VfsRoot

HINT = "sudo .ci/install-system-packages  (apt-get install samba smbclient; user fsvfs-test)"
SMB_USER = "fsvfs-test"


@dataclass(frozen=True)
class SmbServer(VfsRoot):
    """Connect with smbprotocol (``smbclient.register_session(host,
    username=user, password=password, port=port)``, then paths like
    ``\\\\127.0.0.1\\<share>\\dir\\file``) or with the ``smbclient`` tool
    (``-p port -A auth_file``, no password on the command line).  ``root``
    is the share's directory on disk.  ``pid`` is the process-group id."""

    ROOT_CLASS = "SMBFile"
    ROOT_OPTIONS = {
        "hostname": "host",
        "port": "port",
        "share": "share",
        "username": "user",
        "password": "password",
    }

    host: str
    port: int
    pid: int
    user: str
    password: str = field(repr=False)
    share: str = "fsvfs"
    root: Path = Path()
    auth_file: Path = Path()
    workdir: Path = Path()

    @property
    def unc(self) -> str:
        """UNC path of the share root (the port is passed separately)."""
        return f"\\\\{self.host}\\{self.share}"


def _config(work: Path, port: int, share: str) -> str:
    me = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    return f"""
[global]
    server role = standalone server
    smb ports = {port}
    interfaces = {HOST}
    bind interfaces only = yes
    disable netbios = yes
    server min protocol = SMB2_10
    passdb backend = tdbsam:{work}/private/passdb.tdb
    private dir = {work}/private
    lock directory = {work}/lock
    state directory = {work}/state
    cache directory = {work}/cache
    pid directory = {work}/run
    ncalrpc dir = {work}/run/ncalrpc
    binddns dir = {work}/bind-dns
    usershare path =
    log file = {work}/log/smbd.log
    max log size = 0
    log level = 1
    logging = file
    load printers = no
    printing = bsd
    printcap name = /dev/null
    disable spoolss = yes
    map to guest = never
    restrict anonymous = 2
    unix password sync = no
    obey pam restrictions = no
    smb encrypt = if_required
    registry shares = no
    include system krb5 conf = no

[{share}]
    path = {work}/share
    read only = no
    browseable = yes
    valid users = {SMB_USER}
    force user = {me}
    force group = {group}
    create mask = 0644
    directory mask = 0755
"""


def _set_password(smbpasswd: str, conf: Path, password: str) -> None:
    """Add the SMB user to the private passdb (password on stdin, twice)."""
    result = subprocess.run(
        [smbpasswd, "-c", str(conf), "-s", "-a", SMB_USER],
        input=f"{password}\n{password}\n".encode(),
        capture_output=True,
        timeout=30,
    )
    if result.returncode != 0:
        # smbpasswd's messages never echo the password.
        raise RuntimeError(f"smbpasswd failed: {result.stdout!r} {result.stderr!r}")


def _probe(smbclient: str, port: int, share: str, auth_file: Path) -> None:
    """A real SMB session: negotiate, authenticate, tree-connect, list."""
    result = subprocess.run(
        [smbclient, f"//{HOST}/{share}", "-p", str(port), "-A", str(auth_file), "-c", "ls"],
        capture_output=True,
        timeout=5,  # short: something else may hold the port and never answer
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise ConnectionError(result.stdout.decode(errors="replace")[-300:])


def _require_unix_user() -> None:
    try:
        pwd.getpwnam(SMB_USER)
    except KeyError:
        raise ServerUnavailable(f"unix user {SMB_USER!r} does not exist", HINT) from None


@contextlib.contextmanager
def smbd_server(share: str = "fsvfs") -> Iterator[SmbServer]:
    """Run smbd on a free loopback port with one share in a temp dir."""
    smbd = require_executable("smbd", HINT, ["/usr/sbin/smbd"])
    smbpasswd = require_executable("smbpasswd", HINT, ["/usr/bin/smbpasswd"])
    smbclient = require_executable("smbclient", HINT, ["/usr/bin/smbclient"])
    if os.geteuid() != 0:
        raise ServerUnavailable("smbd must run as root to switch to the SMB user", HINT)
    _require_unix_user()
    with temp_dir("smbd") as work:
        for sub in ("private", "lock", "state", "cache", "run", "log", "share", "bind-dns"):
            (work / sub).mkdir()
        password = secrets.token_urlsafe(16)
        auth_file = write_private(
            work / "smbclient.auth", f"username = {SMB_USER}\npassword = {password}\n"
        )
        conf = work / "smb.conf"
        conf.write_text(_config(work, 445, share))
        _set_password(smbpasswd, conf, password)

        def prepare(ports: tuple[int, ...]) -> list[str]:
            conf.write_text(_config(work, ports[0], share))
            return [smbd, "--foreground", "--no-process-group", "--debug-stdout", "-s", str(conf)]

        proc, (port,) = launch(
            "smbd",
            prepare,
            lambda ports: _probe(smbclient, ports[0], share, auth_file),
            work,
            extra_logs=[work / "log/smbd.log"],
        )
        try:
            yield SmbServer(
                host=HOST,
                port=port,
                pid=proc.pid,
                user=SMB_USER,
                password=password,
                share=share,
                root=work / "share",
                auth_file=auth_file,
                workdir=work,
            )
        finally:
            stop_process(proc, str(work))
