"""Each loopback server answers its raw tool or client library, and leaves
nothing behind when its context manager exits.

Secrets never go on a command line (visible in ``ps``) or into an assertion
message: curl reads credentials from stdin, smbclient from an auth file, and
password checks assert on booleans computed beforehand.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.servers import (
    AzuriteServer,
    NginxServer,
    PostgresServer,
    RedisServer,
    S3Server,
    ServerUnavailable,
    SmbServer,
    SshdServer,
    client_options,
    port_is_open,
    server_pids,
)
from tests.servers._common import require_executable
from tests.servers._fixtures import SERVER_NAMES, own_server, require_server

pytestmark = pytest.mark.server

PAYLOAD = bytes(range(256)) * 64  # 16 KiB, every byte value


def _curl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run curl quietly; ``stdin`` may carry a ``-K -`` config (credentials)."""
    curl = shutil.which("curl")
    if curl is None:
        require_server("curl", ServerUnavailable("curl not found", "apt-get install curl"))
    return subprocess.run(
        [curl, "-sS", "--max-time", "20", *args],
        input=None if stdin is None else stdin.encode(),
        capture_output=True,
        timeout=30,
    )


def _status(*args: str, stdin: str | None = None) -> str:
    """HTTP status code of a curl request whose body is discarded."""
    result = _curl("-o", "/dev/null", "-w", "%{http_code}", *args, stdin=stdin)
    return result.stdout.decode()


# --------------------------------------------------------------------------- nginx


def test_nginx_range_request_returns_206(nginx_server: NginxServer) -> None:
    (nginx_server.root / "range.bin").write_bytes(PAYLOAD)
    result = _curl("-D", "-", "-r", "100-199", nginx_server.data_url + "range.bin")
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 206")
    assert body == PAYLOAD[100:200]


def test_nginx_norange_location_sends_full_body(nginx_server: NginxServer) -> None:
    (nginx_server.root / "norange.bin").write_bytes(PAYLOAD)
    result = _curl("-D", "-", "-r", "100-199", nginx_server.norange_url + "norange.bin")
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"accept-ranges" not in head.lower()
    assert body == PAYLOAD


def test_nginx_webdav_put_get_delete(nginx_server: NginxServer, tmp_path: Path) -> None:
    src = tmp_path / "up.bin"
    src.write_bytes(PAYLOAD)
    assert _status("-X", "MKCOL", nginx_server.dav_url + "newdir/") == "201"
    assert _status("-T", str(src), nginx_server.dav_url + "newdir/deep/up.bin") == "201"
    assert (nginx_server.root / "newdir/deep/up.bin").read_bytes() == PAYLOAD
    assert _curl(nginx_server.data_url + "newdir/deep/up.bin").stdout == PAYLOAD
    if nginx_server.propfind:
        propfind = ("-X", "PROPFIND", "-H", "Depth: 1", nginx_server.dav_url + "newdir/")
        assert _status(*propfind) == "207"
    assert _status("-X", "DELETE", nginx_server.dav_url + "newdir/deep/up.bin") == "204"
    assert _status(nginx_server.data_url + "newdir/deep/up.bin") == "404"
    # Read-only locations refuse writes.
    assert _status("-T", str(src), nginx_server.data_url + "ro.bin") == "405"


def test_nginx_basic_auth(nginx_server: NginxServer) -> None:
    (nginx_server.root / "secret.txt").write_text("s3cret data")
    url = nginx_server.auth_url + "secret.txt"
    good = f'user = "{nginx_server.user}:{nginx_server.password}"\n'
    bad = f'user = "{nginx_server.user}:not-the-password"\n'
    assert _status(url) == "401"
    assert _status("-K", "-", url, stdin=bad) == "401"
    assert _status("-K", "-", url, stdin=good) == "200"


def test_nginx_tls_verification_is_applied(nginx_server: NginxServer) -> None:
    (nginx_server.root / "tls.txt").write_text("over tls")
    url = nginx_server.tls_data_url + "tls.txt"
    untrusted = _curl(url)
    assert untrusted.returncode == 60, untrusted.stderr  # CURLE_PEER_FAILED_VERIFICATION
    trusted = _curl("--cacert", str(nginx_server.ca_cert), url)
    assert trusted.returncode == 0, trusted.stderr
    assert trusted.stdout == b"over tls"


# --------------------------------------------------------------------------- sshd


def _sftp(server: SshdServer, commands: str, known_hosts: Path | None = None) -> Any:
    sftp = require_executable("sftp", "apt-get install openssh-client")
    return subprocess.run(
        [sftp, *client_options(server, known_hosts), "-b", "-", f"{server.user}@{server.host}"],
        input=commands.encode(),
        capture_output=True,
        timeout=60,
    )


def test_sftp_put_get_with_known_hosts(sshd_server: SshdServer, tmp_path: Path) -> None:
    (tmp_path / "up.bin").write_bytes(PAYLOAD)
    (sshd_server.root / "down.bin").write_bytes(PAYLOAD[::-1])
    commands = f"put {tmp_path}/up.bin up.bin\nget down.bin {tmp_path}/down.bin\n"
    result = _sftp(sshd_server, commands)
    assert result.returncode == 0, result.stderr
    assert (sshd_server.root / "up.bin").read_bytes() == PAYLOAD
    assert (tmp_path / "down.bin").read_bytes() == PAYLOAD[::-1]


def test_sftp_wrong_host_key_is_refused(sshd_server: SshdServer) -> None:
    result = _sftp(sshd_server, "ls\n", known_hosts=sshd_server.wrong_known_hosts)
    assert result.returncode != 0
    assert b"Host key verification failed" in result.stderr


def test_paramiko_checks_host_key(sshd_server: SshdServer) -> None:
    paramiko = pytest.importorskip("paramiko")

    def connect(known_hosts: Path) -> Any:
        client = paramiko.SSHClient()
        client.load_host_keys(str(known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            sshd_server.host,
            sshd_server.port,
            sshd_server.user,
            key_filename=str(sshd_server.key_path),
            allow_agent=False,
            look_for_keys=False,
            timeout=10,
        )
        return client

    client = connect(sshd_server.known_hosts)
    try:
        assert client.open_sftp().normalize(".") == str(sshd_server.root)
    finally:
        client.close()
    with pytest.raises(paramiko.BadHostKeyException):
        connect(sshd_server.wrong_known_hosts).close()


# --------------------------------------------------------------------------- smbd


def test_smbclient_put_get(smbd_server: SmbServer, tmp_path: Path) -> None:
    smbclient = require_executable("smbclient", "apt-get install smbclient")
    (tmp_path / "up.bin").write_bytes(PAYLOAD)
    (smbd_server.root / "down.bin").write_bytes(PAYLOAD[::-1])
    commands = f"put {tmp_path}/up.bin up.bin; get down.bin {tmp_path}/down.bin"
    share = f"//{smbd_server.host}/{smbd_server.share}"
    base = [smbclient, share, "-p", str(smbd_server.port)]
    result = subprocess.run(
        [*base, "-A", str(smbd_server.auth_file), "-c", commands], capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stdout
    assert (smbd_server.root / "up.bin").read_bytes() == PAYLOAD
    assert (tmp_path / "down.bin").read_bytes() == PAYLOAD[::-1]

    wrong = tmp_path / "wrong.auth"
    wrong.write_text(f"username = {smbd_server.user}\npassword = not-the-password\n")
    refused = subprocess.run([*base, "-A", str(wrong), "-c", "ls"], capture_output=True, timeout=60)
    assert refused.returncode != 0
    assert b"NT_STATUS_LOGON_FAILURE" in refused.stdout + refused.stderr


def test_smbprotocol_round_trip(smbd_server: SmbServer) -> None:
    smbclient = pytest.importorskip("smbclient")
    smbclient.register_session(
        smbd_server.host,
        username=smbd_server.user,
        password=smbd_server.password,
        port=smbd_server.port,
    )
    try:
        path = smbd_server.unc + "\\proto dir\\ünï.bin"
        smbclient.makedirs(smbd_server.unc + "\\proto dir", port=smbd_server.port)
        with smbclient.open_file(path, "wb", port=smbd_server.port) as fh:
            fh.write(PAYLOAD)
        assert (smbd_server.root / "proto dir" / "ünï.bin").read_bytes() == PAYLOAD
        with smbclient.open_file(path, "rb", port=smbd_server.port) as fh:
            assert fh.read() == PAYLOAD
    finally:
        smbclient.reset_connection_cache()


# --------------------------------------------------------------------------- redis


def test_redis_set_get(redis_server: RedisServer) -> None:
    redis = pytest.importorskip("redis")
    client = redis.Redis(redis_server.host, redis_server.port, password=redis_server.password)
    try:
        client.set("fsvfs:test:key", PAYLOAD)
        assert client.get("fsvfs:test:key") == PAYLOAD
    finally:
        client.close()
    # redis-py 8 retries even an AuthenticationError with back-off (~4 s):
    # a client that should fail fast on a wrong password must say so.
    no_retry = redis.retry.Retry(redis.backoff.NoBackoff(), 0)
    wrong = redis.Redis(
        redis_server.host, redis_server.port, password="not-the-password", retry=no_retry
    )
    with pytest.raises(redis.exceptions.AuthenticationError):
        wrong.ping()
    wrong.close()


# --------------------------------------------------------------------------- S3


def test_s3_put_get(s3_server: S3Server) -> None:
    client: Any = s3_server.client()
    client.put_object(Bucket=s3_server.bucket, Key="dir/obj.bin", Body=PAYLOAD)
    body = client.get_object(Bucket=s3_server.bucket, Key="dir/obj.bin")["Body"].read()
    assert body == PAYLOAD
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_server.bucket)["Contents"]]
    assert "dir/obj.bin" in keys


# --------------------------------------------------------------------------- Azurite


def test_azurite_upload_download(azurite_server: AzuriteServer) -> None:
    blob = pytest.importorskip("azure.storage.blob")
    service = blob.BlobServiceClient.from_connection_string(azurite_server.connection_string)
    with service:
        client = service.get_blob_client(azurite_server.container, "dir/blob.bin")
        client.upload_blob(PAYLOAD, overwrite=True)
        assert client.download_blob().readall() == PAYLOAD
    # The account-name/key/endpoint triple works as well as the connection string.
    by_key = blob.BlobServiceClient(
        azurite_server.blob_endpoint,
        credential={
            "account_name": azurite_server.account_name,
            "account_key": azurite_server.account_key,
        },
    )
    with by_key:
        names = [c.name for c in by_key.list_containers()]
    assert azurite_server.container in names


# --------------------------------------------------------------------------- lifecycle


def _ports(server: Any) -> list[int]:
    return [server.port] + ([server.tls_port] if hasattr(server, "tls_port") else [])


@pytest.mark.parametrize("name", SERVER_NAMES)
def test_exit_closes_ports_and_leaves_no_process(name: str) -> None:
    with own_server(name) as server:
        ports, workdir = _ports(server), server.workdir
        pids = server_pids(server.pid, str(workdir))
        assert server.pid in pids
        assert all(port_is_open(port) for port in ports)
        leaked = any(
            str(getattr(server, f.name)) in repr(server)
            for f in dataclasses.fields(server)
            if not f.repr
        )
        assert not leaked, "a secret field shows up in the dataclass repr"
    assert not any(port_is_open(port) for port in ports)
    alive = [pid for pid in pids if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
    assert alive == []
    assert server_pids(server.pid, str(workdir)) == []
    assert not workdir.exists()


def _zombie(pid: int) -> bool:
    """Exited processes the container's init has not reaped yet don't count."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


# --------------------------------------------------------------------------- CI rule


def test_require_server_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    exc = ServerUnavailable("nginx not found", "apt-get install nginx")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install nginx"):
        require_server("nginx", exc)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_server("nginx", exc)


def test_missing_executable_is_unavailable_not_error() -> None:
    with pytest.raises(ServerUnavailable) as info:
        require_executable("fsvfs-no-such-server", "install it")
    assert info.value.hint == "install it"
    assert os.sep not in str(info.value)


# --------------------------------------------------------------------------- postgres


def test_postgres_answers_sql_and_refuses_a_wrong_password(postgres_server: PostgresServer) -> None:
    uri = postgres_server.create_database("probe_db")
    assert uri.endswith(f"@{postgres_server.host}:{postgres_server.port}/probe_db")
    assert postgres_server.psql("SELECT 40 + 2", "probe_db") == "42"
    wrong = dataclasses.replace(postgres_server, password="not-the-password")
    with pytest.raises(RuntimeError, match="password authentication failed"):
        wrong.psql("SELECT 1")
    assert postgres_server.password not in repr(postgres_server)
