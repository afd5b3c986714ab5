"""A real S3-compatible server for one test: moto's (`moto_server`) on a free loopback port,
with one bucket. Never a cloud endpoint."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import httpx

from app.localcluster.ports import free_port

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

MOTO_SERVER = str(Path(sys.executable).parent / "moto_server")
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "trackr-test",
    "AWS_SECRET_ACCESS_KEY": "trackr-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class S3Server:
    def __init__(self, port: int, bucket: str) -> None:
        self.port = port
        self.bucket = bucket
        self.endpoint = f"http://127.0.0.1:{port}"

    def client(self) -> S3Client:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def env(self, prefix: str) -> dict[str, str]:
        """What `trackr backup` needs to keep its dumps under s3://bucket/prefix here."""
        return {
            **CREDENTIALS,
            "BACKUP_REPOSITORY": f"s3://{self.bucket}/{prefix}",
            "BACKUP_S3_ENDPOINT_URL": self.endpoint,
        }


@contextmanager
def s3_server(bucket: str = "trackr-backups", timeout: float = 30) -> Iterator[S3Server]:
    port = free_port()
    process = subprocess.Popen(
        [MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = S3Server(port, bucket)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(server.endpoint, timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        server.client().create_bucket(Bucket=bucket)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
