"""`mlplatform serve` as a real process on the embedded default, over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.embedded]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, float]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPLATFORM_")}
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlplatform.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = started + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"serve exited: {process.stderr.read().decode() if process.stderr else ''}")
            try:
                if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            pytest.fail("serve did not become ready within 60 s")
        yield base, time.monotonic() - started
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert (tmp_path / ".mlplatform" / "mlplatform.db").is_file()


def test_serve_in_an_empty_folder_is_ready_and_speaks_problem_json(served: tuple[str, float]) -> None:
    base, startup_seconds = served
    ready = httpx.get(f"{base}/health/ready").json()
    assert ready["status"] == "up"
    spec = httpx.get(f"{base}/schema/openapi.json").json()
    assert spec["info"]["title"] == "mlplatform"
    missing = httpx.get(f"{base}/no/such/route")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.headers["x-request-id"]
    print(f"cold start to ready: {startup_seconds:.2f}s")
