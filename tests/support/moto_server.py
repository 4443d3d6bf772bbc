"""A real S3 endpoint for tests: moto's standalone server in a subprocess on a free loopback port.

    with start_moto_server() as endpoint_url:   # sets dummy AWS_* credentials while active
        ...

Set `MLPLATFORM_TEST_S3_ENDPOINT` (e.g. a MinIO at http://127.0.0.1:9000) to test against that
endpoint instead; the credentials already in the environment are then kept. A subprocess (rather
than `ThreadedMotoServer`) keeps the server out of the test process, so the store really talks HTTP
to another process, and it is ready in well under a second.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import IO

import aioboto3

ENDPOINT_ENV = "MLPLATFORM_TEST_S3_ENDPOINT"

DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (also usable as a "closed port" for failure tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class MotoS3Server:
    """`python -m moto.server` on a free loopback port; `start()` returns its endpoint URL."""

    def __init__(self, host: str = "127.0.0.1", startup_timeout: float = 15.0) -> None:
        self.host = host
        self.startup_timeout = startup_timeout
        self.endpoint_url: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> str:
        if self.endpoint_url is not None:
            return self.endpoint_url
        last_error = ""
        for _ in range(3):  # another process may grab the port between probe and bind
            port = free_port(self.host)
            self._log = tempfile.NamedTemporaryFile(prefix="moto-server-", suffix=".log")  # noqa: SIM115
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(port)],
                stdout=self._log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            url = f"http://{self.host}:{port}"
            if self._wait_ready(url):
                self.endpoint_url = url
                atexit.register(self.stop)
                return url
            last_error = self._read_log()
            self.stop()
        raise RuntimeError(f"moto server did not start:\n{last_error}")

    def stop(self) -> None:
        atexit.unregister(self.stop)
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
        self.endpoint_url = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wait_ready(self, url: str) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=0.5):
                    return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        return False

    def _read_log(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-4000:]


@contextlib.contextmanager
def aws_test_credentials(*, force: bool) -> Iterator[None]:
    """Put dummy AWS credentials in the environment, restoring the previous values afterwards.

    With `force`, existing values are overwritten, so real credentials can never reach a test
    server; without it they are only filled in where missing (for an external test endpoint).
    """
    saved = {name: os.environ.get(name) for name in DUMMY_AWS_ENV}
    for name, value in DUMMY_AWS_ENV.items():
        if force or name not in os.environ:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous


@contextlib.contextmanager
def start_moto_server() -> Iterator[str]:
    """Yield the endpoint URL of an S3 server for tests: `$MLPLATFORM_TEST_S3_ENDPOINT` or a fresh moto."""
    external = os.environ.get(ENDPOINT_ENV)
    if external:
        with aws_test_credentials(force=False):
            yield external
        return
    with aws_test_credentials(force=True), MotoS3Server() as endpoint_url:
        yield endpoint_url


@functools.cache
def test_session() -> aioboto3.Session:
    """One aioboto3 session for test helpers: its loaded service models make new clients cheap."""
    return aioboto3.Session()


@contextlib.asynccontextmanager
async def temporary_bucket(endpoint_url: str, region: str = "us-east-1") -> AsyncIterator[str]:
    """Create a uniquely named bucket, yield its name, then empty and remove it."""
    bucket = f"test-{uuid.uuid4().hex[:16]}"
    session = test_session()
    async with session.client("s3", endpoint_url=endpoint_url, region_name=region) as client:
        await client.create_bucket(Bucket=bucket)
    try:
        yield bucket
    finally:
        async with session.client("s3", endpoint_url=endpoint_url, region_name=region) as client:
            uploads = await client.list_multipart_uploads(Bucket=bucket)
            for upload in uploads.get("Uploads", ()):
                await client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            async for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for item in page.get("Contents", ()):
                    await client.delete_object(Bucket=bucket, Key=item["Key"])
            await client.delete_bucket(Bucket=bucket)
