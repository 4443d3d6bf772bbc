"""Gateway cost in CPU time per request, measured without sockets, so it holds on a busy machine.

Drives both apps of `bench/gateway_apps.py` through their ASGI interface directly (no HTTP server,
no client) and reports the process CPU time per request of each and the difference, which is what
the gateway adds. The wrk benchmark (`bench/gateway.py`) measures throughput end to end; this one
isolates the gateway's own work from the server, the client and the other processes on the machine.

    uv run python bench/gateway_cpu.py [--requests 20000] [--rounds 5]

Needs PostgreSQL + Redis on localhost (the rate limiter's Redis round trips are included).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


async def drive(app: Any, path: str, auth: str, requests: int) -> float:
    """CPU seconds per request for `requests` sequential GETs of `path`."""
    headers = [(b"host", b"bench"), (b"accept", b"application/json")]
    if auth:
        headers.append((b"authorization", auth.encode()))

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    def scope() -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }

    for _ in range(500):
        await app(scope(), receive, send)
    statuses.clear()
    started = time.process_time()
    for _ in range(requests):
        await app(scope(), receive, send)
    spent = time.process_time() - started
    if set(statuses) != {200}:
        raise RuntimeError(f"unexpected statuses {sorted(set(statuses))}")
    return spent / requests


async def measure(args: argparse.Namespace, key: str) -> None:
    sys.path.insert(0, str(ROOT))
    from bench.gateway_apps import with_gateway, without_gateway

    path = "/api/v1/projects/bench/ping"
    apps = {"without": without_gateway(), "with": with_gateway()}
    results: dict[str, list[float]] = {"without": [], "with": []}
    async with apps["without"].lifespan(), apps["with"].lifespan():
        for _ in range(args.rounds):
            for name, auth in (("without", ""), ("with", f"Bearer {key}")):
                results[name].append(await drive(apps[name], path, auth, args.requests))
    # The least CPU per round is the estimate least disturbed by whatever else runs on the machine.
    plain, gated = min(results["without"]), min(results["with"])
    print(f"CPU per request without gateway: {plain * 1e6:7.1f} µs")
    print(f"CPU per request with gateway:    {gated * 1e6:7.1f} µs")
    print(f"gateway adds {(gated - plain) * 1e6:.1f} µs ({100 * (gated - plain) / gated:.1f} % of a gated request)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/mlplatform_bench_cpu")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc"]
    name = args.database_url.rsplit("/", 1)[-1]
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {name}"], check=True)
    subprocess.run([*psql, f"CREATE DATABASE {name}"], check=True)
    os.environ.update(
        MLPLATFORM_DATABASE_URL=args.database_url,
        MLPLATFORM_REDIS_URL=args.redis_url,
        MLPLATFORM_DATA_DIR=tempfile.mkdtemp(),
        MLPLATFORM_LOG_LEVEL="WARNING",
        MLPLATFORM_RATE_LIMITS__GROUPS='{"api": 100000000, "anonymous": 100000000, "auth": 1000}',
    )
    migrated = subprocess.run([sys.executable, "-m", "mlplatform.cli", "migrate", "--no-mlflow"], capture_output=True)
    if migrated.returncode:
        raise SystemExit(migrated.stderr.decode(errors="replace"))
    sys.path.insert(0, str(ROOT))
    from bench.bench_auth import viewer_key

    key = asyncio.run(viewer_key(args.database_url, project="bench"))
    import uvloop  # what `mlplatform serve` (uvicorn[standard]) runs on

    uvloop.run(measure(args, key))


if __name__ == "__main__":
    main()
