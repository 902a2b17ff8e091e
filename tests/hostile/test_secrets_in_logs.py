"""No credential in any log record, at any level, nor in any error (issue 17, item 7).

For every backend and every way it authenticates (HTTP bearer token and basic auth, SFTP
and SMB passwords, S3 key/secret/session token, Azure account key, SAS token and connection
string, Redis password), the root logger and every library logger are set to DEBUG and
every record is captured twice: by pytest's ``caplog`` (records propagated to the root) and
by a handler of our own on the root logger and on any logger that does not propagate. A
typical sequence runs (write, read, ls, info, a missing file), then failing operations (wrong
credentials, a dead server). No configured secret, nor its URL-quoted or base64 forms
(``user:password`` as basic auth sends it), may appear in any formatted record (message,
traceback, stack), nor in the ``str``/``repr``/``args``/attributes of any error along its
whole chain of causes and contexts.

The cases, per backend (each test below is one case; the redactor's own unit cases are at
the end): HTTP 6 (bearer token: sequence, refused, dead server; basic auth: sequence, wrong
password, dead server), SFTP 4 (password beside a key: sequence; password refused; password
sent to a server that offers password login and refused; dead server), SMB 3 (sequence,
wrong password, dead server), S3 3 (key, secret and session token: sequence, missing bucket,
dead server), Azure 7 (account key: sequence, wrong key, dead server; SAS token: sequence,
a write it forbids; connection string: sequence, wrong key), Redis 3 (password and password
in the URL: sequence, wrong password, dead server), and 14 unit cases of the redactor.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import logging
import secrets
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus

import pytest

from filestore_vfs import VirtualFileSystem
from filestore_vfs.vfs._redact import (
    SecretFilter,
    protect_logs,
    redact_text,
    register_secrets,
    scrub_exception,
)
from tests.servers import AzuriteServer, NginxServer, RedisServer, S3Server, SmbServer, SshdServer
from tests.servers._fixtures import own_server
from tests.vfs.helpers import (
    azure_spec,
    dav_spec,
    free_port,
    redis_spec,
    s3_spec,
    sftp_spec,
    smb_spec,
)

pytestmark = [pytest.mark.server, pytest.mark.timeout(180)]

DATA = b"frame data " * 100

#: the loggers of every client library a root configures (and ours)
LIBRARY_LOGGERS = (
    "filestore_vfs",
    "fsspec",
    "asyncio",
    "aiohttp",
    "sshfs",
    "asyncssh",
    "smbprotocol",
    "smbclient",
    "spnego",
    "botocore",
    "boto3",
    "aiobotocore",
    "s3fs",
    "urllib3",
    "azure",
    "adlfs",
    "redis",
)


def _import_clients() -> None:
    """Import the client libraries first, so their loggers exist when set to DEBUG."""
    for module in (
        "aiohttp",
        "asyncssh",
        "sshfs",
        "smbclient",
        "spnego",
        "botocore",
        "aiobotocore",
        "s3fs",
        "azure.core",
        "azure.storage.blob",
        "adlfs",
        "redis",
    ):
        __import__(module)


class _Capture(logging.Handler):
    """Every record, formatted when it is emitted (with traceback and stack)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))


@contextlib.contextmanager
def _debug_logging(caplog: pytest.LogCaptureFixture) -> Iterator[_Capture]:
    _import_clients()
    capture = _Capture()
    root = logging.getLogger()
    saved: list[tuple[logging.Logger, int, bool]] = []
    names = set(LIBRARY_LOGGERS) | set(logging.root.manager.loggerDict)
    loggers = [logging.getLogger(name) for name in sorted(names)]
    caplog.set_level(logging.DEBUG)
    root.addHandler(capture)
    try:
        for logger in loggers:
            saved.append((logger, logger.level, logger.disabled))
            logger.setLevel(logging.DEBUG)
            logger.disabled = False
            if not logger.propagate:
                logger.addHandler(capture)
        yield capture
    finally:
        root.removeHandler(capture)
        for logger, level, disabled in saved:
            logger.setLevel(level)
            logger.disabled = disabled
            logger.removeHandler(capture)


def forms(*values: str) -> set[str]:
    """The values and the forms a library may send or print them in."""
    out: set[str] = set()
    for value in values:
        if not value:
            continue
        out |= {value, quote(value, safe=""), quote_plus(value)}
        out.add(base64.b64encode(value.encode()).decode())
    return out


def _error_texts(exc: BaseException) -> Iterator[tuple[str, str]]:
    """What an error shows along its whole chain: str, repr, args and attributes."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        err = todo.pop()
        if id(err) in seen:
            continue
        seen.add(id(err))
        name = type(err).__name__
        yield name, str(err)
        yield name, repr(err)
        yield name, repr(err.args)
        yield name, repr(vars(err))
        if isinstance(err, OSError):
            yield name, repr((err.strerror, err.filename, err.filename2))
        todo.extend(e for e in (err.__cause__, err.__context__) if e is not None)


class Watch:
    """The captured records and errors of one case, and the secrets they must not show."""

    def __init__(self, capture: _Capture, caplog: pytest.LogCaptureFixture) -> None:
        self.capture = capture
        self.caplog = caplog
        self.errors: list[BaseException] = []

    def fails(self, call: Any, *args: Any, kind: Any = OSError) -> BaseException:
        with pytest.raises(kind) as info:
            call(*args)
        self.errors.append(info.value)
        return info.value

    def check(self, *secret_values: str, min_records: int = 0) -> None:
        hidden = forms(*secret_values)
        texts = list(self.capture.texts)
        texts += [self.caplog.text]
        texts += [record.getMessage() for record in self.caplog.records]
        assert len(self.capture.texts) >= min_records, "too few log records captured"
        for text in texts:
            for secret in hidden:
                assert secret not in text, f"a secret in a log record: {text[:2000]}"
        for exc in self.errors:
            for name, text in _error_texts(exc):
                for secret in hidden:
                    assert secret not in text, f"a secret in {name}: {text[:2000]}"


@pytest.fixture
def watch(caplog: pytest.LogCaptureFixture) -> Iterator[Watch]:
    with _debug_logging(caplog) as capture:
        yield Watch(capture, caplog)


def typical_sequence(vfs: VirtualFileSystem, base: str, watch: Watch) -> None:
    """Write, read, list, info, and a missing file (an error)."""
    path = f"{base}/a.bin"
    vfs.write_bytes(path, DATA)
    assert vfs.read_bytes(path) == DATA
    with vfs.open(path, "rb") as f:
        assert f.read(5) == DATA[:5]
    assert path in vfs.ls(base)
    assert vfs.info(path)["size"] == len(DATA)
    watch.fails(vfs.read_bytes, f"{base}/missing.bin", kind=FileNotFoundError)
    vfs.close()


def _base(root: str) -> str:
    return f"/{root}/{uuid.uuid4().hex[:8]}"


def _odd_secret(tag: str) -> str:
    """A secret with the characters URL-quoting and base64 change."""
    return f"{tag}-{secrets.token_hex(6)}+/=%:@"


# -- HTTP ---------------------------------------------------------------------------------------


def test_http_bearer_token(nginx_server: NginxServer, watch: Watch) -> None:
    token = _odd_secret("bearer")
    vfs = VirtualFileSystem({"t": dav_spec(nginx_server, token=token)})
    typical_sequence(vfs, _base("t"), watch)
    watch.check(token)


def test_http_bearer_token_refused(nginx_server: NginxServer, watch: Watch) -> None:
    """The basic-auth location does not take a bearer token: 401."""
    token = _odd_secret("bearer")
    spec = {"class": "HttpFile", "download": nginx_server.auth_url, "token": token, "timeout": 5}
    vfs = VirtualFileSystem({"t": spec})
    watch.fails(vfs.read_bytes, "/t/anything.bin", kind=PermissionError)
    watch.check(token)


def test_http_bearer_token_dead_server(watch: Watch) -> None:
    token = _odd_secret("bearer")
    url = f"http://127.0.0.1:{free_port()}/dav/"
    spec = {"class": "HttpFile", "download": url, "upload": url, "upload_mode": "webdav"}
    vfs = VirtualFileSystem({"t": {**spec, "token": token, "timeout": 2, "retries": 0}})
    watch.fails(vfs.read_bytes, "/t/x.bin", kind=ConnectionError)
    watch.fails(vfs.write_bytes, "/t/x.bin", b"x", kind=ConnectionError)
    watch.check(token)


def _basic(server: NginxServer, password: str, **extra: Any) -> dict[str, Any]:
    return {
        "class": "HttpFile",
        "download": server.auth_url,
        "upload": server.auth_url,
        "upload_mode": "webdav",
        "username": server.user,
        "password": password,
        "timeout": 10,
        **extra,
    }


def test_http_basic_auth(nginx_server: NginxServer, watch: Watch) -> None:
    vfs = VirtualFileSystem({"t": _basic(nginx_server, nginx_server.password)})
    typical_sequence(vfs, _base("t"), watch)
    pair = f"{nginx_server.user}:{nginx_server.password}"
    watch.check(nginx_server.password, pair)


def test_http_basic_auth_wrong_password(nginx_server: NginxServer, watch: Watch) -> None:
    wrong = _odd_secret("wrong")
    vfs = VirtualFileSystem({"t": _basic(nginx_server, wrong)})
    watch.fails(vfs.read_bytes, "/t/x.bin", kind=PermissionError)
    watch.fails(vfs.write_bytes, "/t/x.bin", b"x", kind=PermissionError)
    watch.fails(vfs.ls, "/t", kind=PermissionError)
    watch.check(wrong, f"{nginx_server.user}:{wrong}")


def test_http_basic_auth_dead_server(nginx_server: NginxServer, watch: Watch) -> None:
    password = _odd_secret("basic")
    url = f"http://127.0.0.1:{free_port()}/private/"
    spec = {**_basic(nginx_server, password), "download": url, "upload": url}
    vfs = VirtualFileSystem({"t": {**spec, "timeout": 2, "retries": 0}})
    watch.fails(vfs.read_bytes, "/t/x.bin", kind=ConnectionError)
    watch.fails(vfs.write_bytes, "/t/x.bin", b"x", kind=ConnectionError)
    watch.check(password, f"{nginx_server.user}:{password}")


# -- SFTP ---------------------------------------------------------------------------------------


def test_sftp_password(sshd_server: SshdServer, watch: Watch) -> None:
    """Key and password configured: the key logs in, the password must still stay hidden."""
    password = _odd_secret("sftp")
    vfs = VirtualFileSystem({"t": sftp_spec(sshd_server, password=password)})
    typical_sequence(vfs, _base("t"), watch)
    watch.check(password)


def test_sftp_wrong_password(sshd_server: SshdServer, watch: Watch) -> None:
    password = _odd_secret("sftp")
    spec = sftp_spec(sshd_server, password=password, timeout=5, retries=0)
    del spec["keyfile"]
    vfs = VirtualFileSystem({"t": spec})
    watch.fails(vfs.read_bytes, "/t/x.bin", kind=PermissionError)
    watch.fails(vfs.write_bytes, "/t/x.bin", b"x", kind=PermissionError)
    watch.check(password)


def test_sftp_password_sent_and_refused(watch: Watch) -> None:
    """A server of our own that offers password authentication: asyncssh really sends the
    password (and the server refuses it)."""
    password = _odd_secret("sftp")
    with own_server("sshd", password_auth=True) as server:
        spec = sftp_spec(server, password=password, timeout=5, retries=0)
        del spec["keyfile"]
        vfs = VirtualFileSystem({"t": spec})
        watch.fails(vfs.read_bytes, "/t/x.bin", kind=PermissionError)
        watch.fails(vfs.write_bytes, "/t/x.bin", b"x", kind=PermissionError)
    assert any("password" in text.lower() for text in watch.capture.texts)
    watch.check(password)


def test_sftp_dead_server(sshd_server: SshdServer, watch: Watch) -> None:
    password = _odd_secret("sftp")
    spec = sftp_spec(sshd_server, password=password, port=free_port(), timeout=2, retries=0)
    vfs = VirtualFileSystem({"t": spec})
    watch.fails(vfs.read_bytes, "/t/x.bin")
    watch.fails(vfs.write_bytes, "/t/x.bin", b"x")
    watch.check(password)


# -- SMB ----------------------------------------------------------------------------------------


def test_smb_password(smbd_server: SmbServer, watch: Watch) -> None:
    vfs = VirtualFileSystem({"t": smb_spec(smbd_server)})
    typical_sequence(vfs, _base("t"), watch)
    watch.check(smbd_server.password)


def test_smb_wrong_password(smbd_server: SmbServer, watch: Watch) -> None:
    wrong = _odd_secret("smb")
    vfs = VirtualFileSystem({"t": smb_spec(smbd_server, password=wrong, timeout=5, retries=0)})
    watch.fails(vfs.read_bytes, "/t/x.bin", kind=PermissionError)
    watch.fails(vfs.write_bytes, "/t/x.bin", b"x", kind=PermissionError)
    watch.check(wrong, smbd_server.password)


def test_smb_dead_server(smbd_server: SmbServer, watch: Watch) -> None:
    password = _odd_secret("smb")
    spec = smb_spec(smbd_server, password=password, port=free_port(), timeout=2, retries=0)
    vfs = VirtualFileSystem({"t": spec})
    watch.fails(vfs.read_bytes, "/t/x.bin")
    watch.fails(vfs.write_bytes, "/t/x.bin", b"x")
    watch.check(password)


# -- S3 -----------------------------------------------------------------------------------------


def _s3_credentials() -> dict[str, str]:
    return {
        "key": f"AKIA{secrets.token_hex(8).upper()}",
        "secret": _odd_secret("s3secret"),
        "token": "FwoGZXIvYXdzE" + _odd_secret("session"),
    }


def test_s3_key_secret_and_session_token(s3_server: S3Server, watch: Watch) -> None:
    """botocore logs the whole request at DEBUG: headers (x-amz-security-token,
    Authorization), the canonical request and the signature."""
    credentials = _s3_credentials()
    spec = s3_spec(s3_server, prefix=f"t{uuid.uuid4().hex[:8]}", **credentials)
    vfs = VirtualFileSystem({"s3": spec})
    typical_sequence(vfs, "/s3/d", watch)
    watch.check(*credentials.values(), min_records=10)


def test_s3_missing_bucket(s3_server: S3Server, watch: Watch) -> None:
    credentials = _s3_credentials()
    spec = s3_spec(s3_server, bucket="no-such-bucket-here", **credentials)
    vfs = VirtualFileSystem({"s3": spec})
    watch.fails(vfs.read_bytes, "/s3/x.bin", kind=FileNotFoundError)
    watch.fails(vfs.ls, "/s3", kind=FileNotFoundError)
    watch.check(*credentials.values())


def test_s3_dead_server(s3_server: S3Server, watch: Watch) -> None:
    credentials = _s3_credentials()
    endpoint = f"http://127.0.0.1:{free_port()}"
    spec = s3_spec(s3_server, endpoint_url=endpoint, timeout=2, retries=0, **credentials)
    vfs = VirtualFileSystem({"s3": spec})
    watch.fails(vfs.read_bytes, "/s3/x.bin")
    watch.fails(vfs.write_bytes, "/s3/x.bin", b"x")
    watch.check(*credentials.values())


# -- Azure --------------------------------------------------------------------------------------


def _prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def test_azure_account_key(azurite_server: AzuriteServer, watch: Watch) -> None:
    vfs = VirtualFileSystem({"az": azure_spec(azurite_server, prefix=_prefix())})
    typical_sequence(vfs, "/az/d", watch)
    watch.check(azurite_server.account_key, min_records=10)


def test_azure_wrong_account_key(azurite_server: AzuriteServer, watch: Watch) -> None:
    wrong = base64.b64encode(secrets.token_bytes(64)).decode()
    vfs = VirtualFileSystem({"az": azure_spec(azurite_server, prefix=_prefix(), account_key=wrong)})
    watch.fails(vfs.read_bytes, "/az/x.bin", kind=PermissionError)
    watch.fails(vfs.write_bytes, "/az/x.bin", b"x", kind=PermissionError)
    watch.check(wrong, azurite_server.account_key)


def test_azure_dead_server(azurite_server: AzuriteServer, watch: Watch) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}/{azurite_server.account_name}"
    spec = azure_spec(azurite_server, blob_endpoint=endpoint, timeout=2, retries=0)
    vfs = VirtualFileSystem({"az": spec})
    watch.fails(vfs.read_bytes, "/az/x.bin")
    watch.fails(vfs.write_bytes, "/az/x.bin", b"x")
    watch.check(azurite_server.account_key)


def _sas(server: AzuriteServer, **permissions: bool) -> tuple[str, str]:
    """A container SAS token, and its signature (the secret part)."""
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    token = generate_container_sas(
        server.account_name,
        server.container,
        account_key=server.account_key,
        permission=ContainerSasPermissions(**permissions),
        expiry=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
    )
    return token, parse_qs(token)["sig"][0]


def _sas_spec(server: AzuriteServer, token: str) -> dict[str, Any]:
    spec = azure_spec(server, prefix=_prefix(), sas_token=token)
    del spec["account_key"]
    return spec


def test_azure_sas_token(azurite_server: AzuriteServer, watch: Watch) -> None:
    token, signature = _sas(
        azurite_server, read=True, write=True, list=True, delete=True, add=True, create=True
    )
    vfs = VirtualFileSystem({"az": _sas_spec(azurite_server, token)})
    typical_sequence(vfs, "/az/d", watch)
    watch.check(token, signature, min_records=10)


def test_azure_sas_token_forbids_the_write(azurite_server: AzuriteServer, watch: Watch) -> None:
    token, signature = _sas(azurite_server, read=True, list=True)
    vfs = VirtualFileSystem({"az": _sas_spec(azurite_server, token)})
    watch.fails(vfs.write_bytes, "/az/x.bin", b"x", kind=PermissionError)
    watch.fails(vfs.read_bytes, "/az/x.bin", kind=FileNotFoundError)
    watch.check(token, signature)


def _connection_spec(server: AzuriteServer, connection_string: str) -> dict[str, Any]:
    return {
        "class": "AzureBlobFile",
        "connection_string": connection_string,
        "container": server.container,
        "prefix": _prefix(),
        "timeout": 5,
        "retries": 1,
        "retry_backoff": 0.05,
    }


def test_azure_connection_string(azurite_server: AzuriteServer, watch: Watch) -> None:
    spec = _connection_spec(azurite_server, azurite_server.connection_string)
    vfs = VirtualFileSystem({"az": spec})
    typical_sequence(vfs, "/az/d", watch)
    watch.check(azurite_server.connection_string, azurite_server.account_key, min_records=10)


def test_azure_connection_string_wrong_key(azurite_server: AzuriteServer, watch: Watch) -> None:
    wrong = base64.b64encode(secrets.token_bytes(64)).decode()
    connection = azurite_server.connection_string.replace(azurite_server.account_key, wrong)
    vfs = VirtualFileSystem({"az": _connection_spec(azurite_server, connection)})
    watch.fails(vfs.read_bytes, "/az/x.bin", kind=PermissionError)
    watch.fails(vfs.write_bytes, "/az/x.bin", b"x", kind=PermissionError)
    watch.check(connection, wrong)


# -- Redis --------------------------------------------------------------------------------------


def test_redis_password(redis_server: RedisServer, watch: Watch) -> None:
    vfs = VirtualFileSystem({"r": redis_spec(redis_server, prefix=_prefix())})
    typical_sequence(vfs, "/r/d", watch)
    by_url = {"class": "RedisFile", "url": redis_server.url, "prefix": _prefix(), "timeout": 5}
    typical_sequence(VirtualFileSystem({"r": by_url}), "/r/d", watch)
    watch.check(redis_server.password, redis_server.url)


def test_redis_wrong_password(redis_server: RedisServer, watch: Watch) -> None:
    wrong = _odd_secret("redis")
    spec = redis_spec(redis_server, password=wrong, retries=0)
    vfs = VirtualFileSystem({"r": spec})
    watch.fails(vfs.read_bytes, "/r/x.bin", kind=PermissionError)
    watch.fails(vfs.write_bytes, "/r/x.bin", b"x", kind=PermissionError)
    url = f"redis://:{quote(wrong, safe='')}@{redis_server.host}:{redis_server.port}/0"
    by_url = VirtualFileSystem({"r": {"class": "RedisFile", "url": url, "timeout": 5}})
    watch.fails(by_url.read_bytes, "/r/x.bin", kind=PermissionError)
    watch.check(wrong, url)


def test_redis_dead_server(redis_server: RedisServer, watch: Watch) -> None:
    password = _odd_secret("redis")
    spec = redis_spec(redis_server, password=password, port=free_port(), timeout=2, retries=0)
    vfs = VirtualFileSystem({"r": spec})
    watch.fails(vfs.read_bytes, "/r/x.bin")
    watch.fails(vfs.write_bytes, "/r/x.bin", b"x")
    watch.check(password)


# -- the redactor itself ------------------------------------------------------------------------

CANNED = [
    # botocore's "Sending http request" (headers as a dict of bytes)
    "Sending http request: <AWSPreparedRequest method=PUT, url=http://h/b/k?X-Amz-Security-Token"
    "=FwoG%2Fabc&X-Amz-Signature=0af3, headers={'x-amz-security-token': b'FwoG/abc', "
    "'Authorization': b'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/s3/aws4_"
    "request, SignedHeaders=host, Signature=0af3'}>",
    # botocore.auth's canonical request and signature
    "CanonicalRequest:\nGET\n/b/k\n\nhost:h\nx-amz-security-token:FwoG/abc\n",
    "Signature:\n0af3",
    # azure-core's network trace
    "Request headers:\n    'Authorization': 'SharedKey devstoreaccount1:0af3=='\n"
    "    'x-ms-lease-id': '0af3'\n    'x-ms-copy-source': 'http://h/c/b?sv=1&sig=0af3%3D'",
    "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=0af3==;SharedAccessSignature=sig=0af3",
    "GET https://a.blob.core.windows.net/c/b?sv=2021&sp=r&sig=0af3%2B HTTP/1.1",
    # URLs with a password, reprs and header lines
    "connecting to redis://:0af3@127.0.0.1:6379/0 and https://user:0af3@host/x",
    "options {'password': '0af3', 'username': 'u'} Authorization: Basic 0af3\r\nHost: h",
]


@pytest.mark.parametrize("text", CANNED)
def test_secret_looking_values_are_redacted(text: str) -> None:
    cleaned = redact_text(text)
    assert "0af3" not in cleaned and "FwoG" not in cleaned and "***" in cleaned
    for harmless in ("x-ms-version: 1", "Key=dir/x.bin", "Host: h", "AccountName=a"):
        assert redact_text(harmless) == harmless


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "text",
    ["a." * 100_000 + "=", "tokentoken.x" * 20_000 + ":", "x:Basic " * 20_000, "token='" * 50_000],
)
def test_redaction_of_hostile_text_returns(text: str) -> None:
    """Long runs that a backtracking pattern would take minutes over (the scan is linear):
    a library may log a large body at DEBUG."""
    assert len(redact_text(text)) > 0


def test_registered_secrets_are_hidden_in_records_made_anywhere(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Records of a child logger, of a logger made after registration, with arguments,
    a traceback and a stack: the factory scrubs each once, when it is made."""
    secret = _odd_secret("unit")
    register_secrets([secret])
    protect_logs()
    caplog.set_level(logging.DEBUG)
    child = logging.getLogger(f"some.library.{uuid.uuid4().hex}")
    child.debug("connect(%r)", {"pw": secret})
    child.debug("quoted %s", quote(secret, safe=""))
    try:
        raise ValueError(f"bad {secret}")
    except ValueError:
        child.exception("failed", stack_info=True)
    assert caplog.records
    for secret_form in forms(secret):
        assert secret_form not in caplog.text
    filtered = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (secret,), None)
    assert SecretFilter().filter(filtered) and secret not in filtered.getMessage()


def test_scrub_exception_walks_causes_and_hidden_contexts() -> None:
    secret = _odd_secret("exc")
    try:
        try:
            try:
                raise KeyError({"password": secret})
            except KeyError as inner:
                raise OSError(5, f"failed with {secret}", f"/x/{secret}") from inner
        except OSError:
            raise PermissionError("denied") from None
    except PermissionError as exc:
        scrub_exception(exc, [secret])
        for name, text in _error_texts(exc):
            assert secret not in text, f"{name}: {text}"
