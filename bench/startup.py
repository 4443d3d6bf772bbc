"""Cold start to ready on the embedded default: `mlplatform serve` in an empty folder until
`/health/ready` answers 200 (first start includes creating and migrating the SQLite database).

    uv run python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_start(workdir: str) -> float:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPLATFORM_")}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlplatform.cli", "serve", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() - started < 60:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                time.sleep(0.01)
        raise RuntimeError("not ready within 60 s")
    finally:
        process.terminate()
        process.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    first, warm = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as empty:
            first.append(one_start(empty))
            warm.append(one_start(empty))
    print(f"empty folder (creates + migrates SQLite): median {statistics.median(first):.2f}s  max {max(first):.2f}s")
    print(f"existing data dir:                        median {statistics.median(warm):.2f}s  max {max(warm):.2f}s")


if __name__ == "__main__":
    main()
