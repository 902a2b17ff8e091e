"""moto's S3 server mode on loopback: a real HTTP S3 endpoint for s3fs/boto3."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ._common import HOST, launch, require_module, stop_process, temp_dir
from ._roots import VfsRoot

HINT = "python -m pip install 'moto[server]' boto3"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server(VfsRoot):
    """Point s3fs/boto3 at ``endpoint_url`` with ``access_key``/``secret_key``
    and ``region``; ``bucket`` exists and is empty at start.  moto keeps all
    objects in the server process's memory.  ``pid`` is the process-group id.
    """

    ROOT_CLASS = "S3File"
    ROOT_OPTIONS = {
        "bucket": "bucket",
        "endpoint_url": "endpoint_url",
        "region": "region",
        "key": "access_key",
        "secret": "secret_key",
    }

    host: str
    port: int
    pid: int
    endpoint_url: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = REGION
    bucket: str = "fsvfs-test"
    workdir: Path = Path()

    def client(self, **config: object) -> object:
        """A boto3 S3 client for this server (for test set-up and checks);
        ``config`` goes to ``botocore.config.Config``."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(**config),
        )


def _server_env() -> dict[str, str]:
    """The server needs no credentials; drop any real ones from the parent."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.contextmanager
def s3_server(bucket: str = "fsvfs-test") -> Iterator[S3Server]:
    """Run ``python -m moto.server`` on a free loopback port with one bucket."""
    require_module("moto.server", HINT)
    require_module("flask", HINT)
    require_module("boto3", HINT)
    with temp_dir("s3") as work:

        def server(port: int) -> S3Server:
            return S3Server(
                host=HOST,
                port=port,
                pid=0,
                endpoint_url=f"http://{HOST}:{port}",
                access_key="fsvfs-test-key",
                secret_key="fsvfs-test-secret",
                bucket=bucket,
                workdir=work,
            )

        def prepare(ports: tuple[int, ...]) -> list[str]:
            return [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(ports[0])]

        def probe(ports: tuple[int, ...]) -> None:
            # One attempt per poll: botocore's own retry back-off would only
            # slow down noticing that the server is up.
            client = server(ports[0]).client(
                retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5
            )
            client.list_buckets()  # type: ignore[attr-defined]

        proc, (port,) = launch("moto-s3", prepare, probe, work, env=_server_env())
        try:
            info = server(port)
            info.client().create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
            yield dataclasses.replace(info, pid=proc.pid)
        finally:
            stop_process(proc, str(work))
