"""Gateway cost: the same trivial route served with and without authentication + RBAC + rate limiting.

Both apps run as one uvicorn worker on the same PostgreSQL/Redis, one after the other and alternating
(ABAB...) so machine noise hits both; wrk drives them with the same bounded load.

    uv run python bench/gateway.py [--seconds 10] [--rounds 3] [--connections 16]

Needs `wrk` (Debian package) and PostgreSQL + Redis on localhost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SERVER_CPU = ["taskset", "-c", "1"] if (os.cpu_count() or 1) >= 2 else []
CLIENT_CPU = ["taskset", "-c", "0"] if (os.cpu_count() or 1) >= 2 else []
"""The server (one process, one event loop) and wrk on cores of their own, so the load generator never takes
the server's core. It does not remove this machine's round-to-round noise (±25 % for the same app, 7 Dec)."""
WRK_SCRIPT = """
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH") or ""
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %f %f %f %d\\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(factory: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            *SERVER_CPU,
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            factory,
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health/live", timeout=1).status_code in {200, 401}:
                return process, base
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{factory} did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux `/proc`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, seconds: int, connections: int, auth: str) -> tuple[float, float, float, int]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.replace('os.getenv("BENCH_AUTH") or ""', repr(auth).replace("'", '"')))
    out = subprocess.run(
        [*CLIENT_CPU, "wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    match = re.search(r"RESULT (\d+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+)", out)
    if match is None:
        raise RuntimeError(out)
    requests, duration, p50, p99, errors = match.groups()
    return int(requests) / float(duration), float(p50), float(p99), int(errors)


async def admin_key(database_url: str) -> str:
    sys.path.insert(0, str(ROOT))
    from bench.bench_auth import viewer_key

    return await viewer_key(database_url, project="bench")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/mlplatform_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()

    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc"]
    name = args.database_url.rsplit("/", 1)[-1]
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {name}"], check=True)
    subprocess.run([*psql, f"CREATE DATABASE {name}"], check=True)
    data_dir = tempfile.mkdtemp()
    env = {
        **os.environ,
        "MLPLATFORM_DATABASE_URL": args.database_url,
        "MLPLATFORM_REDIS_URL": args.redis_url,
        "MLPLATFORM_DATA_DIR": data_dir,
        "MLPLATFORM_LOG_LEVEL": "WARNING",
        "MLPLATFORM_RATE_LIMITS__GROUPS": '{"api": 100000000, "anonymous": 100000000, "auth": 1000}',
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run([sys.executable, "-m", "mlplatform.cli", "migrate"], env=env, check=True, capture_output=True)
    key = asyncio.run(admin_key(args.database_url))
    results: dict[str, list[tuple[float, float, float, int]]] = {"without": [], "with": []}
    per_cpu: dict[str, list[float]] = {"without": [], "with": []}
    """Requests served per CPU-second of the server process: what the machine's noise (other tenants taking the
    core) does not move, unlike req/s."""
    for _ in range(args.rounds):
        for name, factory, auth in (
            ("without", "bench.gateway_apps:without_gateway", ""),
            ("with", "bench.gateway_apps:with_gateway", f"Bearer {key}"),
        ):
            process, base = serve(factory, env)
            try:
                url = f"{base}/api/v1/projects/bench/ping"
                assert httpx.get(url, headers={"Authorization": auth} if auth else {}).status_code == 200
                wrk(url, 2, args.connections, auth)
                cpu_before = cpu_seconds(process.pid)
                rate, p50, p99, errors = wrk(url, args.seconds, args.connections, auth)
                served_per_cpu_second = rate * args.seconds / (cpu_seconds(process.pid) - cpu_before)
                results[name].append((rate, p50, p99, errors))
                per_cpu[name].append(served_per_cpu_second)
            finally:
                process.terminate()
                process.wait()

    def summary(name: str) -> tuple[float, float, float]:
        rows = results[name]
        assert all(r[3] == 0 for r in rows), f"{name}: non-2xx responses {rows}"
        return (
            statistics.median(r[0] for r in rows),
            statistics.median(r[1] for r in rows),
            statistics.median(r[2] for r in rows),
        )

    plain, gated = summary("without"), summary("with")
    for index, (without, with_) in enumerate(zip(results["without"], results["with"], strict=True), start=1):
        print(
            f"round {index}: {without[0]:.0f} / {with_[0]:.0f} req/s, ratio {with_[0] / without[0]:.3f}; "
            f"per CPU-second {per_cpu['without'][index - 1]:.0f} / {per_cpu['with'][index - 1]:.0f}"
        )
    print(f"{'':28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'without gateway':28}{plain[0]:>10.0f}{plain[1]:>10.2f}{plain[2]:>10.2f}")
    print(f"{'with auth + RBAC + limit':28}{gated[0]:>10.0f}{gated[1]:>10.2f}{gated[2]:>10.2f}")
    ratio = gated[0] / plain[0]
    print(f"throughput ratio with/without: {ratio:.3f} (gateway cost {100 * (1 - ratio):.1f} %)")
    plain_cpu, gated_cpu = statistics.median(per_cpu["without"]), statistics.median(per_cpu["with"])
    print(
        f"requests per server CPU-second: {plain_cpu:.0f} without, {gated_cpu:.0f} with, "
        f"ratio {gated_cpu / plain_cpu:.3f}"
    )


if __name__ == "__main__":
    main()
