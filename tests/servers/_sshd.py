"""OpenSSH sshd on loopback with throw-away host and user keys.

The login user is the one running the tests (root in CI): sshd can only
switch to other users as root, and key-only authentication of the current
user needs no system account changes.  SFTP is ``internal-sftp`` starting in
the temp dir's ``root`` folder (no chroot, so absolute paths work too).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ._common import HOST, launch, require_executable, stop_process, temp_dir
from ._roots import VfsRoot

HINT = "sudo .ci/install-system-packages  (Debian: apt-get install openssh-server openssh-client)"


@dataclass(frozen=True)
class SshdServer(VfsRoot):
    """Everything an SFTP/SSH client test needs.

    Authenticate as ``user`` with the private key ``key_path`` (ed25519,
    OpenSSH format, no passphrase).  ``known_hosts`` holds the real host key
    for ``[127.0.0.1]:port``; ``wrong_known_hosts`` holds a different key for
    the same name (unknown/changed host key tests).  SFTP sessions start in
    ``root`` (an absolute path on this machine).  ``pid`` is the process-group id.
    """

    ROOT_CLASS = "SFTPFile"
    ROOT_OPTIONS = {
        "hostname": "host",
        "port": "port",
        "username": "user",
        "keyfile": "key_path",
        "known_hosts": "known_hosts",
        "root": "root",
    }

    host: str
    port: int
    pid: int
    user: str
    key_path: Path
    public_key_path: Path
    known_hosts: Path
    wrong_known_hosts: Path
    host_public_key: str
    root: Path
    workdir: Path


def _keygen(ssh_keygen: str, path: Path, comment: str) -> str:
    """Create an ed25519 key pair; return the public key line."""
    subprocess.run(
        [ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return path.with_suffix(".pub").read_text().strip()


def _config(work: Path, port: int, user: str, sftp_root: Path, password_auth: bool) -> str:
    return f"""
Port {port}
ListenAddress {HOST}
HostKey {work}/host_ed25519
PidFile {work}/sshd.pid
AuthorizedKeysFile {work}/authorized_keys
AllowUsers {user}
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication {"yes" if password_auth else "no"}
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
UseDNS no
PrintMotd no
MaxStartups 64:30:128
MaxSessions 64
LogLevel INFO
Subsystem sftp internal-sftp -d {sftp_root}
"""


def _probe(port: int) -> None:
    """Read the SSH identification string: sshd accepted and forked a session."""
    with socket.create_connection((HOST, port), timeout=2) as sock:
        banner = sock.recv(256)
    if not banner.startswith(b"SSH-2.0-"):
        raise ConnectionError(f"unexpected banner {banner[:40]!r}")


def _verify_login(server: SshdServer) -> None:
    """A full key exchange, host-key check, login and SFTP request with the
    real ssh client, so a fixture never hands out an sshd that rejects us."""
    sftp = require_executable("sftp", HINT)
    result = subprocess.run(
        [sftp, *client_options(server), "-b", "-", f"{server.user}@{server.host}"],
        input=b"pwd\n",
        capture_output=True,
        timeout=30,
    )
    if result.returncode != 0:
        log = (server.workdir / "sshd.out").read_text(errors="replace")[-3000:]
        raise RuntimeError(
            f"sftp login failed: {result.stderr.decode(errors='replace')}\n--- sshd log ---\n{log}"
        )


def client_options(server: SshdServer, known_hosts: Path | None = None) -> list[str]:
    """OpenSSH client options (for ``ssh``/``sftp``/``scp``) that use only the
    throw-away key and the given known_hosts, ignoring the user's own config."""
    return [
        "-F",
        "/dev/null",
        "-o",
        f"Port={server.port}",
        "-i",
        str(server.key_path),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={known_hosts or server.known_hosts}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "ConnectTimeout=10",
    ]


def _ensure_privsep_dir() -> None:
    """sshd started as root refuses to run without /run/sshd (a tmpfs dir
    that disappears on reboot, so the install script alone is not enough)."""
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)


@contextlib.contextmanager
def sshd_server(password_auth: bool = False) -> Iterator[SshdServer]:
    """Run sshd on a free loopback port with throw-away keys in a temp dir.

    ``password_auth``: also offer password authentication, so a client really sends a
    password (every password fails: the user's is not known to the tests).
    """
    sshd = require_executable("sshd", HINT, ["/usr/sbin/sshd"])
    ssh_keygen = require_executable("ssh-keygen", HINT)
    require_executable("sftp", HINT)
    _ensure_privsep_dir()
    user = pwd.getpwuid(os.geteuid()).pw_name
    with temp_dir("sshd") as work:
        (work / "root").mkdir()
        host_pub = _keygen(ssh_keygen, work / "host_ed25519", "fsvfs-test-host")
        user_pub = _keygen(ssh_keygen, work / "id_ed25519", "fsvfs-test-user")
        wrong_pub = _keygen(ssh_keygen, work / "wrong_host_ed25519", "fsvfs-test-wrong")
        (work / "authorized_keys").write_text(user_pub + "\n")
        conf = work / "sshd_config"

        def prepare(ports: tuple[int, ...]) -> list[str]:
            conf.write_text(_config(work, ports[0], user, work / "root", password_auth))
            return [sshd, "-D", "-e", "-f", str(conf)]

        proc, (port,) = launch("sshd", prepare, lambda ports: _probe(ports[0]), work)
        try:
            name = f"[{HOST}]:{port}"
            known, wrong = work / "known_hosts", work / "known_hosts.wrong"
            known.write_text(f"{name} {' '.join(host_pub.split()[:2])}\n")
            wrong.write_text(f"{name} {' '.join(wrong_pub.split()[:2])}\n")
            server = SshdServer(
                host=HOST,
                port=port,
                pid=proc.pid,
                user=user,
                key_path=work / "id_ed25519",
                public_key_path=work / "id_ed25519.pub",
                known_hosts=known,
                wrong_known_hosts=wrong,
                host_public_key=" ".join(host_pub.split()[:2]),
                root=work / "root",
                workdir=work,
            )
            _verify_login(server)
            yield server
        finally:
            stop_process(proc, str(work))
