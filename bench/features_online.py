"""Online serving: the platform's Feast-compatible endpoint vs Feast's own feature server, in one run.

Both read the same Redis data through the same SQL registry (PostgreSQL, schema `feast`):

- platform: `mlplatform serve --workers 1` with authentication (an API key) and rate limiting on (the
  `online` group given a budget above the offered load), answering `POST /feast/<project>/get-online-features`;
  measured twice: as configured by default (online reads get a sampled access log: one JSON line per
  100 successful reads, `http.access_log_sample_rate`) and with `MLPLATFORM_LOG_LEVEL=WARNING` (no
  access log at all, like Feast below);
- Feast: `feast serve --workers 1 --max-requests 0 --no-access-log` on a `feature_store.yaml` with the
  same registry and Redis, answering `POST /get-online-features`.

Load: `wrk` (closed loop, 1 thread) with 1 and 100 random entities per request, at 1 and 16 connections,
a warm-up then a measured window per cell. Also reports materialization throughput (the platform's
job, offline parquet -> Redis through Feast's writer).

    uv run python bench/features_online.py [--entities 100000] [--seconds 10] [--json out.json]

Needs PostgreSQL and Redis (MLPLATFORM_TEST_POSTGRES_URL / MLPLATFORM_BENCH_REDIS_URL, defaults as
in the tests) and the `wrk` binary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pandas as pd

POSTGRES_ADMIN = os.environ.get("MLPLATFORM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("MLPLATFORM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
ADMIN_KEY = "bench-admin-key-" + uuid.uuid4().hex
PROJECT = "bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 120, log: Path | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log is not None else ""
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}\n{tail}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready within {seconds} s")


@contextmanager
def running(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(args, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def create_database(prefix: str = "bench_features") -> tuple[str, str]:
    """A fresh PostgreSQL database: (name, SQLAlchemy URL). Drop it with `drop_database`."""
    import asyncio

    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = POSTGRES_ADMIN.replace("postgresql+asyncpg", "postgresql")

    async def run(statement: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    url = urlsplit(POSTGRES_ADMIN)._replace(path=f"/{name}").geturl()
    return name, url


def drop_database(name: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN.replace("postgresql+asyncpg", "postgresql"))
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(run())


def flush_redis(url: str = REDIS_URL) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def wait_for_job(admin: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    """Poll a job the platform started until it ends; its final record (raises unless it succeeded)."""
    while job["status"] not in {"succeeded", "failed", "cancelled"}:
        time.sleep(0.5)
        job = admin.get(f"/api/v1/jobs/{job['id']}").json()
    if job["status"] != "succeeded":
        raise RuntimeError(f"job {job['status']}: {job['error']}")
    return job


def feast_repo(directory: Path, database_url: str, redis_url: str) -> Path:
    """A Feast repository for `feast serve` on the platform's own data: Feast's SQL registry in the platform
    database at `database_url` (the served `feature_store.yaml` names the platform's registry endpoint, never
    the database) and the Redis database at `redis_url`."""
    from mlplatform.kernel.db import FEAST_SCHEMA
    from mlplatform.modules.features.adapters.feast_config import psycopg_url, with_search_path

    registry_path = with_search_path(psycopg_url(database_url), FEAST_SCHEMA)
    redis = urlsplit(redis_url)
    directory.mkdir()
    (directory / "feature_store.yaml").write_text(
        textwrap.dedent(
            f"""
            project: {PROJECT}
            provider: local
            registry:
              registry_type: sql
              path: {registry_path}
              cache_ttl_seconds: 60
            online_store:
              type: redis
              connection_string: "{redis.hostname}:{redis.port or 6379},db={redis.path.lstrip("/") or 0}"
            offline_store:
              type: file
            entity_key_serialization_version: 3
            """
        )
    )
    return directory


def upload(admin: httpx.Client, path: str, file: Path) -> None:
    """Put a file into the project's folder (where a parquet source's `path` is resolved)."""
    admin.put(f"/api/v1/projects/{PROJECT}/files/{path}", content=file.read_bytes()).raise_for_status()


def materialize(admin: httpx.Client) -> dict[str, Any]:
    """Materialize every online view of the project (the platform's job); the job's result."""
    job = wait_for_job(admin, admin.post(f"/api/v1/projects/{PROJECT}/features/materializations", json={}).json())
    if not job["result"]["rows"]:
        raise RuntimeError(f"materialization wrote no rows: {job['result']}")
    return dict(job["result"])


def feast_serve_command(repo: Path, port: int) -> list[str]:
    """Feast's feature server as a team would run it: one worker, no recycling, no access log."""
    return [
        sys.executable,
        "-m",
        "feast.cli.cli",
        "-c",
        str(repo),
        "serve",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        "1",
        "--max-requests",
        "0",
        "--no-access-log",
    ]


def feature_rows(count: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    now = datetime.now(UTC).replace(microsecond=0)
    return pd.DataFrame(
        {
            "driver_id": np.arange(1, count + 1, dtype="int64"),
            "event_timestamp": [now - timedelta(seconds=int(s)) for s in rng.integers(0, 3600, count)],
            "trips_today": rng.integers(0, 50, count).astype("int64"),
            "rating": rng.uniform(1, 5, count),
            "acceptance": rng.uniform(0, 1, count),
            "city": rng.choice(["paris", "lyon", "nice", "lille"], count),
            "lifetime_trips": rng.integers(0, 100_000, count).astype("int64"),
        }
    )


@dataclass
class Cell:
    system: str
    entities: int
    concurrency: int
    requests: int
    errors: int
    throughput: float
    p50_ms: float
    p99_ms: float


def wrk_script(path: Path, target: str, headers: dict[str, str], bodies: list[str]) -> Path:
    lua = path / f"{target}.lua"
    quoted = ",\n".join("[==[" + body + "]==]" for body in bodies)
    header_lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    lua.write_text(
        textwrap.dedent(
            """
            wrk.method = "POST"
            wrk.headers["Content-Type"] = "application/json"
            {headers}
            local bodies = {{
            {bodies}
            }}
            local n = 0
            request = function()
              n = n + 1
              return wrk.format(nil, nil, nil, bodies[(n % #bodies) + 1])
            end
            """
        ).format(headers=header_lines, bodies=quoted)
    )
    return lua


def _ms(text: str) -> float:
    """wrk's latency text (`812.00us`, `1.43ms`, `2.01s`) in ms; NaN when it has none (`-nanus`: no request
    completed in the window)."""
    parsed = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if parsed is None:
        return float("nan")
    value, unit = parsed.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def warm(url: str, script: Path, concurrency: int, seconds: int) -> None:
    subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "-s", str(script), url], capture_output=True, check=True
    )


def run_wrk(url: str, script: Path, concurrency: int, seconds: int) -> tuple[int, int, float, float, float]:
    """(requests, non-2xx or socket errors, requests/s, p50 ms, p99 ms)"""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    throughput = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # Anchored: the thread stats above the distribution end in percentages too (`84.50%`).
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        errors += int(non_2xx.group(1))
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sockets:
        errors += sum(int(g) for g in sockets.groups())
    return requests, errors, throughput, p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=100_000, help="rows materialized (one per driver)")
    parser.add_argument("--seconds", type=int, default=10, help="measured window per cell")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (apt-get install wrk)")

    workdir = Path(tempfile.mkdtemp(prefix="bench-features-"))
    db_name, db_url = create_database()
    flush_redis()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("MLPLATFORM_")}
    env = {
        **base_env,
        "MLPLATFORM_DATA_DIR": str(workdir / "data"),
        "MLPLATFORM_DATABASE_URL": db_url,
        "MLPLATFORM_REDIS_URL": REDIS_URL,
        "MLPLATFORM_STORAGE_URL": str(workdir / "objects"),
        "MLPLATFORM_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "MLPLATFORM_LOG_JSON": "true",
        # Rate limiting stays on; the online group gets a budget above what the benchmark offers.
        "MLPLATFORM_RATE_LIMITS__GROUPS": json.dumps(
            {"api": 100_000, "auth": 600, "online": 50_000_000, "mlflow": 6000, "anonymous": 300}
        ),
    }
    frame = feature_rows(args.entities)
    frame.to_parquet(workdir / "drivers.parquet", index=False)
    results: dict[str, object] = {"entities_materialized": args.entities, "seconds_per_cell": args.seconds}
    try:
        subprocess.run([sys.executable, "-m", "mlplatform.cli", "migrate"], env=env, check=True, capture_output=True)
        port, quiet_port = free_port(), free_port()
        platform_url = f"http://127.0.0.1:{port}"
        quiet_url = f"http://127.0.0.1:{quiet_port}"
        serve = [sys.executable, "-m", "mlplatform.cli", "serve", "--workers", "1", "--port"]
        with (
            running([*serve, str(port)], env, workdir / "serve.log") as server,
            # The same platform without per-request access log lines: the like-for-like counterpart of
            # `feast serve --no-access-log`.
            running(
                [*serve, str(quiet_port)], {**env, "MLPLATFORM_LOG_LEVEL": "WARNING"}, workdir / "quiet.log"
            ) as quiet,
            running([sys.executable, "-m", "mlplatform.cli", "worker"], env, workdir / "worker.log"),
        ):
            wait_ready(f"{platform_url}/health/live", server, log=workdir / "serve.log")
            wait_ready(f"{quiet_url}/health/live", quiet, log=workdir / "quiet.log")
            admin = httpx.Client(base_url=platform_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=120)
            admin.post("/api/v1/projects", json={"name": PROJECT}).raise_for_status()
            upload(admin, "raw/drivers.parquet", workdir / "drivers.parquet")
            api = f"/api/v1/projects/{PROJECT}/features"
            for path, body in [
                ("entities", {"name": "driver", "join_key": "driver_id"}),
                (
                    "data-sources",
                    {
                        "name": "drivers",
                        "kind": "parquet",
                        "path": "raw/drivers.parquet",
                        "timestamp_field": "event_timestamp",
                    },
                ),
                (
                    "feature-views",
                    {
                        "name": "driver_stats",
                        "entities": ["driver"],
                        "features": [
                            {"name": "trips_today", "dtype": "int64"},
                            {"name": "rating", "dtype": "float64"},
                            {"name": "acceptance", "dtype": "float64"},
                            {"name": "city", "dtype": "string"},
                            {"name": "lifetime_trips", "dtype": "int64"},
                        ],
                        "source": "drivers",
                        "ttl_seconds": 7 * 86400,
                    },
                ),
                ("feature-services", {"name": "scoring", "features": ["driver_stats"]}),
            ]:
                admin.post(f"{api}/{path}", json=body).raise_for_status()
            done = materialize(admin)
            results["materialization"] = {k: done[k] for k in ("rows", "seconds", "rows_per_second")}
            print(f"materialized {done['rows']} rows in {done['seconds']} s ({done['rows_per_second']} rows/s)")

            repo = feast_repo(workdir / "feast_repo", db_url, REDIS_URL)
            feast_port = free_port()
            feast_url = f"http://127.0.0.1:{feast_port}"
            with running(feast_serve_command(repo, feast_port), base_env, workdir / "feast.log") as feast:
                wait_ready(f"{feast_url}/health", feast)
                rng = random.Random(11)
                cells: list[Cell] = []
                bearer = {"Authorization": f"Bearer {ADMIN_KEY}"}
                targets = {
                    "platform": (f"{platform_url}/feast/{PROJECT}/get-online-features", bearer),
                    "platform-nolog": (f"{quiet_url}/feast/{PROJECT}/get-online-features", bearer),
                    "feast": (f"{feast_url}/get-online-features", {}),
                }
                check = {"feature_service": "scoring", "entities": {"driver_id": [1, args.entities + 5]}}
                ours = httpx.post(targets["platform"][0], json=check, headers=targets["platform"][1]).json()
                theirs = httpx.post(targets["feast"][0], json=check).json()
                assert ours["results"][1]["values"][0] is not None, ours
                results["sanity"] = {
                    "platform_statuses": [r["statuses"] for r in ours["results"]],
                    "feast_statuses": [r["statuses"] for r in theirs["results"]],
                }
                for size in (1, 100):
                    bodies = [
                        json.dumps(
                            {
                                "feature_service": "scoring",
                                "entities": {"driver_id": [rng.randint(1, args.entities) for _ in range(size)]},
                            }
                        )
                        for _ in range(200)
                    ]
                    for concurrency in (1, 16):
                        for system, (url, headers) in targets.items():
                            script = wrk_script(workdir, f"{system}-{size}", headers, bodies)
                            warm(url, script, concurrency, args.warmup)
                            requests, errors, rps, p50, p99 = run_wrk(url, script, concurrency, args.seconds)
                            cell = Cell(system, size, concurrency, requests, errors, rps, p50, p99)
                            cells.append(cell)
                            print(
                                f"{system:14} entities={size:<3} c={concurrency:<2} {rps:9.1f} req/s  "
                                f"p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  errors {errors}"
                            )
        results["cells"] = [asdict(c) for c in cells]
        ratios = []
        for system in ("platform", "platform-nolog"):
            for size in (1, 100):
                for concurrency in (1, 16):
                    ours_cell = next(
                        c for c in cells if c.system == system and c.entities == size and c.concurrency == concurrency
                    )
                    feast_cell = next(
                        c for c in cells if c.system == "feast" and c.entities == size and c.concurrency == concurrency
                    )
                    ratio = {
                        "system": system,
                        "entities": size,
                        "concurrency": concurrency,
                        "throughput_x": round(ours_cell.throughput / feast_cell.throughput, 2),
                        "p99_ratio": round(ours_cell.p99_ms / feast_cell.p99_ms, 3),
                    }
                    ratios.append(ratio)
                    print(
                        f"ratio {system:14} entities={size:<3} c={concurrency:<2} "
                        f"throughput {ratio['throughput_x']}x  p99 {ratio['p99_ratio']}x"
                    )
        results["ratios"] = ratios
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        drop_database(db_name)
        flush_redis()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
