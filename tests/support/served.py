"""`mlplatform serve` as a real process on a free loopback port (end-to-end tests): the one way every
e2e test starts a server; and `mlplatform worker` processes, the one way a test starts a worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from mlplatform.settings import Settings
from tests.support.moto_server import free_port
from tests.support.wait import wait_until


@dataclass
class Served:
    base_url: str
    startup_seconds: float
    workdir: Path
    process: subprocess.Popen[bytes]


@contextmanager
def serve(
    workdir: Path,
    env: dict[str, str] | None = None,
    timeout: float = 90,
    log: Path | None = None,
    ready_path: str = "/health/ready",
) -> Iterator[Served]:
    """Run `mlplatform serve` in `workdir` with only `env` as MLPLATFORM_*/MLFLOW_* settings; yield once
    `ready_path` answers 200 (`/health/live` for a test that needs the process up, not every component).
    With `log`, the server's output goes to that file (else its stderr is kept for a start-up failure).
    On exit the server gets SIGTERM and up to 60 s to stop: a graceful shutdown waits for a Feast import
    thread that is still running."""
    port = free_port()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("MLPLATFORM_", "MLFLOW_"))}
    started = time.monotonic()
    output = log.open("wb") if log is not None else None
    process = subprocess.Popen(
        [sys.executable, "-m", "mlplatform.cli", "serve", "--port", str(port)],
        cwd=workdir,
        env={**base_env, "MLPLATFORM_FEAST_REGISTRY__PORT": "0", **(env or {})},  # a free port, not 6570
        stdin=subprocess.DEVNULL,
        stdout=output or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if output else subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            if log is not None:
                failure = log.read_text(errors="replace")[-3000:]
            else:
                failure = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"serve exited: {failure}")
        try:
            return httpx.get(f"{base}{ready_path}", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(ready, timeout=timeout, message=f"serve answering {ready_path}")
        yield Served(base, time.monotonic() - started, workdir, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if output is not None:
            output.close()


E2E_ADMIN_KEY = "e2e-admin-key-0123456789abcdef0123456789"
"""The bootstrap admin key of platforms the e2e tests serve (`stack_env` in tests/e2e/conftest.py)."""


def served_env(
    data_dir: Path, *, database_url: str, redis_url: str, s3_endpoint: str, s3_bucket: str, admin_key: str
) -> dict[str, str]:
    """The MLPLATFORM_* variables of a platform served on the test stack (a clean database and Redis, a moto
    bucket) whose admin key the test chose."""
    return {
        "MLPLATFORM_DATA_DIR": str(data_dir),
        "MLPLATFORM_DATABASE_URL": database_url,
        "MLPLATFORM_REDIS_URL": redis_url,
        "MLPLATFORM_STORAGE_URL": f"s3://{s3_bucket}/platform",
        "MLPLATFORM_S3_ENDPOINT_URL": s3_endpoint,
        "MLPLATFORM_S3_REGION": "us-east-1",
        "MLPLATFORM_BOOTSTRAP_ADMIN_KEY": admin_key,
        "MLPLATFORM_LOG_JSON": "false",
    }


def worker_env(settings: Settings) -> dict[str, str]:
    """This process's environment with the MLPLATFORM_* variables that point a worker at `settings`' stack
    (other MLPLATFORM_* variables set in this process, e.g. by a fixture, reach the worker too)."""
    return {
        **os.environ,
        "MLPLATFORM_DATA_DIR": str(settings.data_dir),
        "MLPLATFORM_DATABASE_URL": settings.resolved_database_url,
        "MLPLATFORM_REDIS_URL": settings.redis_url or "",
        "MLPLATFORM_STORAGE_URL": settings.resolved_storage_url,
        "MLPLATFORM_S3_ENDPOINT_URL": settings.s3_endpoint_url or "",
        "MLPLATFORM_S3_REGION": "us-east-1",
        "MLPLATFORM_LOG_JSON": "false",
    }


def start_worker(env: dict[str, str], log: Path, *options: str) -> subprocess.Popen[bytes]:
    """`mlplatform worker --shutdown-grace 1 <options>` with exactly `env`, its output in `log`."""
    with log.open("wb") as output:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "mlplatform.cli", "worker", "--shutdown-grace", "1", *options],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def stop_worker(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM (a graceful stop), then SIGKILL after `timeout` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def worker(env: dict[str, str], log: Path, *options: str) -> Iterator[subprocess.Popen[bytes]]:
    """`start_worker` for the length of a `with` block, then `stop_worker`."""
    process = start_worker(env, log, *options)
    try:
        yield process
    finally:
        stop_worker(process)
