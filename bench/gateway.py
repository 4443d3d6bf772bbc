"""Gateway cost: the same trivial route served with and without authentication + RBAC + rate limiting.

Both apps run side by side for the whole run, each as one uvicorn worker on the same core and the same
PostgreSQL/Redis; wrk drives one at a time with the same bounded load, in short rounds that alternate
(AB, BA, AB, ...). The result is the median of the per-round ratios: on these shared machines throughput drifts
by ±25 % over tens of seconds (7 Dec), and a ratio of two rounds seconds apart cancels most of that drift,
where a ratio of two medians taken minutes apart does not. The rounds are spread over several pairs of server
processes (`--processes`, 4 by default), as pyperf spreads its runs: a process's hash seed and memory layout make
it a few per cent faster or slower for its whole life, which one pair per run turned into run-to-run differences
(medians of 0.80 to 0.93 for the same code, 7 Dec).

    uv run python bench/gateway.py [--seconds 3] [--rounds 20] [--processes 4] [--connections 16]

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
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--processes", type=int, default=4, help="server pairs the rounds are spread over")
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
    apps = {
        "without": ("bench.gateway_apps:without_gateway", ""),
        "with": ("bench.gateway_apps:with_gateway", f"Bearer {key}"),
    }
    rounds: list[Round] = []
    for pair in range(args.processes):
        servers = {name: serve(factory, env) for name, (factory, _) in apps.items()}
        share = args.rounds // args.processes + (pair < args.rounds % args.processes)
        try:
            rounds += measure(servers, apps, args, share)
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait()
    report(rounds)


Round = dict[str, tuple[float, float, float, float]]
"""Per app: req/s, p50 ms, p99 ms, requests per server CPU-second."""


def measure(
    servers: dict[str, tuple[subprocess.Popen[bytes], str]],
    apps: dict[str, tuple[str, str]],
    args: argparse.Namespace,
    count: int,
) -> list[Round]:
    """`count` alternating rounds against one pair of server processes."""
    urls = {name: f"{base}/api/v1/projects/bench/ping" for name, (_, base) in servers.items()}
    for name, url in urls.items():
        auth = apps[name][1]
        assert httpx.get(url, headers={"Authorization": auth} if auth else {}).status_code == 200
        wrk(url, 2, args.connections, auth)
    rounds: list[Round] = []
    for index in range(count):
        order = ["without", "with"] if index % 2 == 0 else ["with", "without"]
        measured: Round = {}
        for name in order:
            pid = servers[name][0].pid
            cpu_before = cpu_seconds(pid)
            rate, p50, p99, errors = wrk(urls[name], args.seconds, args.connections, apps[name][1])
            assert errors == 0, f"{name}: {errors} non-2xx responses"
            measured[name] = (rate, p50, p99, rate * args.seconds / (cpu_seconds(pid) - cpu_before))
        rounds.append(measured)
    return rounds


def report(rounds: list[Round]) -> None:
    def median(name: str, field: int) -> float:
        return statistics.median(r[name][field] for r in rounds)

    ratios = [r["with"][0] / r["without"][0] for r in rounds]
    cpu_ratios = [r["with"][3] / r["without"][3] for r in rounds]
    for index, (r, ratio) in enumerate(zip(rounds, ratios, strict=True), start=1):
        print(f"round {index:2}: {r['without'][0]:6.0f} / {r['with'][0]:6.0f} req/s, ratio {ratio:.3f}")
    print(f"{'':28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    print(
        f"{'without gateway':28}{median('without', 0):>10.0f}{median('without', 1):>10.2f}{median('without', 2):>10.2f}"
    )
    print(
        f"{'with auth + RBAC + limit':28}{median('with', 0):>10.0f}{median('with', 1):>10.2f}{median('with', 2):>10.2f}"
    )
    low, ratio, high = statistics.quantiles(ratios, n=4)
    print(
        f"throughput ratio with/without (median of {len(rounds)} rounds): {ratio:.3f} "
        f"(quartiles {low:.3f}-{high:.3f}; gateway cost {100 * (1 - ratio):.1f} %)"
    )
    print(f"requests per server CPU-second, ratio with/without (median of rounds): {statistics.median(cpu_ratios):.3f}")


if __name__ == "__main__":
    main()
