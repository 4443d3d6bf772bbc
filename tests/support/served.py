"""`mlplatform serve` as a real process on a free loopback port (end-to-end tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    base_url: str
    startup_seconds: float
    workdir: Path
    process: subprocess.Popen[bytes]


@contextmanager
def serve(
    workdir: Path, env: dict[str, str] | None = None, timeout: float = 90, log: Path | None = None
) -> Iterator[Served]:
    """Run `mlplatform serve` in `workdir` with only `env` as MLPLATFORM_* settings; yield once ready.
    With `log`, the server's output goes to that file (else its stderr is kept for a start-up failure)."""
    port = free_port()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("MLPLATFORM_")}
    started = time.monotonic()
    output = log.open("wb") if log is not None else None
    process = subprocess.Popen(
        [sys.executable, "-m", "mlplatform.cli", "serve", "--port", str(port)],
        cwd=workdir,
        env={**base_env, "MLPLATFORM_FEAST_REGISTRY__PORT": "0", **(env or {})},  # a free port, not 6570
        stdout=output or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if output else subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                if log is not None:
                    failure = log.read_text(errors="replace")
                else:
                    failure = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"serve exited: {failure}")
            try:
                if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"serve did not become ready within {timeout} s")
            time.sleep(0.05)
        yield Served(base, time.monotonic() - started, workdir, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        if output is not None:
            output.close()
