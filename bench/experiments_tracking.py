"""MLflow tracking: a standalone `mlflow server` vs the platform's `/mlflow`, on the same PostgreSQL.

Both servers run on loopback (the standalone one as one worker; the platform as it is deployed, with
MLflow's app in its own process unless `--mlflow-server in-process`), share one database (MLflow's
`mlflow` schema, migrated once), proxy artifacts to a local folder, and are driven by the stock
`MlflowClient`. The platform is called with a contributor's API key, so every request pays
authentication, rate limiting (Redis), project authorization and auditing. Then a burst of MLflow
logging runs against the platform while a non-MLflow route (`GET /api/v1/me`) is timed, in rounds that
alternate with the same route on the idle platform and under the same burst aimed at the standalone server
(the machine's floor: what sharing the cores with such a burst costs a process that serves none of it).

    uv run python bench/experiments_tracking.py [--quick] [--burst-only] [--samples N] [--burst-rounds N]
        [--mlflow-server process|in-process] [--mlflow-niceness N]

Needs PostgreSQL (MLPLATFORM_TEST_POSTGRES_URL, default postgres@127.0.0.1) and Redis
(MLPLATFORM_TEST_REDIS_URL, default 127.0.0.1:6379/13).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg
import httpx

POSTGRES = os.environ.get("MLPLATFORM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("MLPLATFORM_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
ADMIN_KEY = f"bench-admin-{uuid.uuid4().hex}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def wait_until_warm(url: str, timeout: float = 180) -> None:
    """Measure the steady state: Feast loads in a background thread after start and its import holds the
    GIL for seconds at a time; readiness reports every component up once it is done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(url, timeout=5).json().get("status") == "up":
            time.sleep(1)
            return
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not report every component up")


def create_database() -> tuple[str, str]:
    name = f"bench_mlflow_{uuid.uuid4().hex[:8]}"
    admin = POSTGRES.replace("postgresql+asyncpg", "postgresql")

    async def run() -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(run())
    return name, POSTGRES.rsplit("/", 1)[0] + f"/{name}"


def drop_database(name: str) -> None:
    admin = POSTGRES.replace("postgresql+asyncpg", "postgresql")

    async def run() -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(run())


class Servers(NamedTuple):
    standalone: str
    platform: str
    standalone_group: int
    """Process group of the standalone server and its uvicorn child (to lower their priority together)."""


def start_servers(stack: ExitStack, database_url: str, workdir: Path, platform_settings: dict[str, str]) -> Servers:
    from mlplatform.modules.experiments.hosting.config import backend_store_uri
    from mlplatform.settings import Settings

    settings = Settings(data_dir=workdir / "platform", database_url=database_url)
    subprocess.run(
        [sys.executable, "-m", "mlplatform.cli", "migrate"],
        env={**os.environ, "MLPLATFORM_DATABASE_URL": database_url, "MLPLATFORM_DATA_DIR": str(workdir)},
        check=True,
        capture_output=True,
    )
    from mlplatform.modules.experiments.api import upgrade_mlflow_schema

    upgrade_mlflow_schema(settings)

    standalone_port, platform_port = free_port(), free_port()
    quiet = {k: v for k, v in os.environ.items() if not k.startswith(("MLPLATFORM_", "MLFLOW_"))}
    standalone = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            backend_store_uri(settings),
            "--serve-artifacts",
            "--artifacts-destination",
            str(workdir / "standalone-artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(standalone_port),
            "--workers",
            "1",
        ],
        # MLflow's job runner (seven huey consumer processes, ~250 MB each) serves GenAI jobs the platform does
        # not run; on a 2-core machine its start-up and polling would land in both servers' measurements.
        env={**quiet, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Its own process group but this session: with autogroup scheduling a session is a CPU group of its
        # own, and the floor measurement (`burst`) must rank it by niceness against the platform.
        process_group=0,
    )
    stack.callback(_stop, standalone)
    platform_env = {
        **quiet,
        "MLPLATFORM_DATABASE_URL": database_url,
        "MLPLATFORM_REDIS_URL": REDIS,
        "MLPLATFORM_DATA_DIR": str(workdir / "platform"),
        "MLPLATFORM_STORAGE_URL": str(workdir / "platform-objects"),
        "MLPLATFORM_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "MLPLATFORM_LOG_LEVEL": "WARNING",
        # Budgets far above what the benchmark sends: the limiter's Redis round trip is still paid.
        "MLPLATFORM_RATE_LIMITS__GROUPS": json.dumps({"mlflow": 10_000_000, "api": 10_000_000, "anonymous": 10_000}),
        **platform_settings,
    }
    platform = subprocess.Popen(
        [sys.executable, "-m", "mlplatform.cli", "serve", "--port", str(platform_port)],
        env=platform_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack.callback(_stop, platform)
    wait_until_up(f"http://127.0.0.1:{standalone_port}/health", standalone)
    wait_until_up(f"http://127.0.0.1:{platform_port}/health/live", platform)
    wait_until_warm(f"http://127.0.0.1:{platform_port}/health/ready")
    return Servers(f"http://127.0.0.1:{standalone_port}", f"http://127.0.0.1:{platform_port}", standalone.pid)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def contributor_key(platform: str, project: str) -> str:
    with httpx.Client(base_url=platform, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60) as admin:
        admin.post("/api/v1/projects", json={"name": project}).raise_for_status()
        name = f"bench-{uuid.uuid4().hex[:6]}"
        admin.post("/api/v1/users", json={"name": name}).raise_for_status()
        admin.put(f"/api/v1/projects/{project}/members/user:{name}", json={"role": "contributor"}).raise_for_status()
        created = admin.post("/api/v1/api-keys", json={"name": "bench", "owner": f"user:{name}"})
        created.raise_for_status()
        return str(created.json()["key"])


def use_token(token: str | None) -> None:
    """Make `token` the MLflow client's credential (it reads the environment on every request)."""
    if token:
        os.environ["MLFLOW_TRACKING_TOKEN"] = token
    else:
        os.environ.pop("MLFLOW_TRACKING_TOKEN", None)


def client_for(uri: str, token: str | None) -> Any:
    from mlflow import MlflowClient

    use_token(token)
    return MlflowClient(tracking_uri=uri)


class Target:
    """One server under test with an experiment and a run to log into."""

    def __init__(self, uri: str, token: str | None, experiment: str, search_experiment: str) -> None:
        self.token = token
        self.client = client_for(uri, token)
        self.search_experiment = search_experiment
        self.run_id = self.client.create_run(self.client.create_experiment(experiment)).info.run_id
        self.step = 0

    def use(self) -> Any:
        """Make this target's credential current (the client reads the token on every request)."""
        use_token(self.token)
        return self.client


def workloads(quick: bool) -> dict[str, tuple[int, Callable[[Target, int], None]]]:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)

    def log_metric(t: Target, i: int) -> None:
        t.step += 1
        t.client.log_metric(t.run_id, "m", float(i), step=t.step)

    def log_batch(size: int) -> Callable[[Target, int], None]:
        def run(t: Target, i: int) -> None:
            t.step += 1
            metrics = [Metric(f"k{j % 100}", float(j), now, t.step * 10 + j // 100) for j in range(size)]
            t.client.log_batch(t.run_id, metrics=metrics)

        return run

    def search(t: Target, _: int) -> None:
        runs = t.client.search_runs([t.search_experiment], max_results=1000)
        if len(runs) != 1000:
            raise RuntimeError(f"expected 1000 runs, got {len(runs)}")

    scale = 1 if quick else 4
    return {
        "log_metric /s": (25 * scale, log_metric),
        "log_batch(10) /s": (20 * scale, log_batch(10)),
        "log_batch(1000) /s": (5 * scale, log_batch(1000)),
        "search_runs(1k runs) /s": (1 * scale, search),
    }


def paired(standalone: Target, platform: Target, quick: bool, rounds: int) -> dict[str, dict[str, float]]:
    """Alternate short rounds on the two servers so background load on the machine hits both alike;
    report median rates and the median of the per-round ratios."""
    results: dict[str, dict[str, float]] = {}
    for name, (calls, work) in workloads(quick).items():
        rates: dict[str, list[float]] = {"standalone": [], "platform": []}
        for round_ in range(rounds + 1):
            for label, target in (("standalone", standalone), ("platform", platform)):
                target.use()
                work(target, 0)  # warm-up call
                started = time.perf_counter()
                for i in range(calls):
                    work(target, i)
                if round_:  # the first round only warms both servers up
                    rates[label].append(calls / (time.perf_counter() - started))
        ratios = [p / s for p, s in zip(rates["platform"], rates["standalone"], strict=True)]
        results[name] = {
            "standalone": statistics.median(rates["standalone"]),
            "platform": statistics.median(rates["platform"]),
            "ratio": statistics.median(ratios),
        }
    return results


def seed_runs(uri: str, token: str, name: str) -> str:
    from mlflow.entities import Metric, Param

    client = client_for(uri, token)
    experiment_id = client.create_experiment(name)
    now = int(time.time() * 1000)
    for i in range(1000):
        run_id = client.create_run(experiment_id).info.run_id
        client.log_batch(run_id, metrics=[Metric("m", i / 1000, now, 0)], params=[Param("i", str(i))])
    os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
    return str(experiment_id)


def _burst_worker(uri: str, token: str | None, run_id: str, go: Any) -> None:
    """Log metrics as fast as one client can while `go` is set, until terminated.

    In the lowest CPU scheduling class (SCHED_IDLE; `nice 19` where there is none): the MLflow client
    spends several ms of CPU per call, so four of them take both cores of a 2-core benchmark machine from
    the server under test, and even niced they delay the wake-up of the platform's event loop by up to a
    scheduler tick. In a deployment the load generators run elsewhere; here they get only the CPU time
    nothing else wants, and the burst still saturates the server's MLflow capacity (the report shows the
    `log_metric` rate during the measurement)."""
    if hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    else:
        os.nice(19)
    client = client_for(uri, token)
    i = 0
    while True:
        go.wait()
        client.log_metric(run_id, "burst", float(i), step=i)
        i += 1


def latency_samples(platform: str, token: str, samples: int) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"}
    durations: list[float] = []
    with httpx.Client(base_url=platform, headers=headers, timeout=30) as http:
        for _ in range(20):
            http.get("/api/v1/me").raise_for_status()
        for _ in range(samples):
            started = time.perf_counter()
            http.get("/api/v1/me").raise_for_status()
            durations.append((time.perf_counter() - started) * 1000)
            time.sleep(0.002)
    return durations


def profile(durations: list[float]) -> dict[str, float]:
    ordered = sorted(durations)
    return {"p50 ms": statistics.median(ordered), "p99 ms": ordered[int(len(ordered) * 0.99) - 1]}


class Burst:
    """`workers` load-generator processes logging into one run of one server whenever `go` is set."""

    def __init__(self, uri: str, token: str | None, experiment: str, workers: int) -> None:
        # MLflow calls first: the platform loads MLflow on the first `/mlflow` request (seconds of import
        # that hold the GIL), which is start-up, not the idle state.
        self.token = token
        self.client = client_for(uri, token)
        self.run_id = self.client.create_run(self.client.create_experiment(experiment)).info.run_id
        context = multiprocessing.get_context("spawn")
        self.go = context.Event()
        self.processes = [
            context.Process(target=_burst_worker, args=(uri, token, self.run_id, self.go)) for _ in range(workers)
        ]
        for process in self.processes:
            process.start()
        self.logged, self.seconds = 0, 0.0

    def logged_calls(self) -> int:
        use_token(self.token)
        return len(self.client.get_metric_history(self.run_id, "burst"))

    def warm_up(self) -> None:
        self.go.set()
        deadline = time.monotonic() + 120
        while self.logged_calls() < 50 * len(self.processes):  # every worker is logging
            if time.monotonic() > deadline:
                raise RuntimeError("the burst workers did not start logging")
            time.sleep(0.5)
        self.go.clear()

    def measure(self, platform: str, token: str, samples: int) -> list[float]:
        self.go.set()
        time.sleep(1.0)  # the burst is at full rate
        before, started = self.logged_calls(), time.perf_counter()
        durations = latency_samples(platform, token, samples)
        self.logged += self.logged_calls() - before
        self.seconds += time.perf_counter() - started
        self.go.clear()
        time.sleep(1.0)  # calls in flight finish
        return durations

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
            process.join()


def burst(
    servers: Servers, token: str, project: str, workers: int, samples: int, rounds: int, niceness: int
) -> dict[str, Any]:
    """`rounds` rounds of three conditions for `GET /api/v1/me`: the platform idle, under a burst of MLflow
    logging through its `/mlflow`, and under the same burst aimed at the standalone server at the
    platform's MLflow niceness instead (the platform serves none of it). The last is the machine's floor:
    what the load generators, PostgreSQL and an MLflow server sharing the cores cost any other process.
    Each condition's percentiles are over all its rounds' samples (alternating spreads the machine's other
    load over the conditions)."""
    through_platform = Burst(f"{servers.platform}/mlflow", token, f"{project}/burst-{uuid.uuid4().hex[:6]}", workers)
    elsewhere = Burst(servers.standalone, None, f"burst-{uuid.uuid4().hex[:6]}", workers)
    os.setpriority(os.PRIO_PGRP, servers.standalone_group, niceness)  # every thread of its processes
    idle: list[float] = []
    loaded: list[float] = []
    floor: list[float] = []
    try:
        through_platform.warm_up()
        elsewhere.warm_up()
        time.sleep(1.0)
        per_round = max(1, samples // rounds)
        for _ in range(rounds):
            idle += latency_samples(platform=servers.platform, token=token, samples=per_round)
            loaded += through_platform.measure(servers.platform, token, per_round)
            floor += elsewhere.measure(servers.platform, token, per_round)
    finally:
        through_platform.stop()
        elsewhere.stop()
    return {
        "idle": profile(idle),
        "under burst": {
            **profile(loaded),
            "mlflow log_metric calls/s during the measurement": through_platform.logged / through_platform.seconds,
        },
        "under a burst on the standalone server (floor)": {
            **profile(floor),
            "mlflow log_metric calls/s during the measurement": elsewhere.logged / elsewhere.seconds,
            "standalone server niceness": niceness,
        },
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer calls (a smoke run)")
    parser.add_argument("--burst-workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds per measure")
    parser.add_argument("--burst-only", action="store_true", help="only the non-MLflow route under a burst")
    parser.add_argument("--samples", type=int, default=None, help="timed GET /api/v1/me per profile")
    parser.add_argument("--burst-rounds", type=int, default=10, help="rounds of idle, burst and floor samples")
    parser.add_argument("--mlflow-server", choices=("process", "in-process"), default="process")
    parser.add_argument("--mlflow-niceness", type=int, default=None, help="experiments.server_niceness")
    args = parser.parse_args()
    name, url = create_database()
    try:
        with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
            platform_settings = {"MLPLATFORM_EXPERIMENTS__SERVER": args.mlflow_server}
            if args.mlflow_niceness is not None:
                platform_settings["MLPLATFORM_EXPERIMENTS__SERVER_NICENESS"] = str(args.mlflow_niceness)
            servers = start_servers(stack, url, Path(tmp), platform_settings)
            standalone, platform = servers.standalone, servers.platform
            project = "bench"
            token = contributor_key(platform, project)
            report: dict[str, Any] = {"tracking": {}}
            if not args.burst_only:
                seeded = seed_runs(f"{platform}/mlflow", token, f"{project}/search-1k")
                report["tracking"] = paired(
                    Target(standalone, None, "standalone-bench", seeded),
                    Target(f"{platform}/mlflow", token, f"{project}/bench", seeded),
                    args.quick,
                    args.rounds,
                )
            samples = args.samples or (200 if args.quick else 3000)
            from mlplatform.settings import ExperimentsSettings

            niceness = 0 if args.mlflow_server == "in-process" else args.mlflow_niceness
            if niceness is None:
                niceness = ExperimentsSettings().server_niceness
            report["non-mlflow route (GET /api/v1/me)"] = burst(
                servers, token, project, args.burst_workers, samples, args.burst_rounds, niceness
            )
            report["platform settings"] = platform_settings
            print(json.dumps(report, indent=2))
            print()
            print("| measure | standalone mlflow server | platform /mlflow | ratio |")
            print("|---|---|---|---|")
            for key, value in report["tracking"].items():
                print(f"| {key} | {value['standalone']:.1f} | {value['platform']:.1f} | {value['ratio']:.2f}x |")
            profile = report["non-mlflow route (GET /api/v1/me)"]
            idle, loaded = profile["idle"], profile["under burst"]
            floor = profile["under a burst on the standalone server (floor)"]
            print()
            print(
                f"GET /api/v1/me p99: idle {idle['p99 ms']:.2f} ms; under a {args.burst_workers}-process MLflow "
                f"logging burst through the platform {loaded['p99 ms']:.2f} ms "
                f"({loaded['p99 ms'] / idle['p99 ms']:.2f}x, p50 {idle['p50 ms']:.2f} → {loaded['p50 ms']:.2f} ms); "
                f"the same burst on the standalone server (floor) {floor['p99 ms']:.2f} ms "
                f"({floor['p99 ms'] / idle['p99 ms']:.2f}x, p50 {floor['p50 ms']:.2f} ms)"
            )
    finally:
        drop_database(name)


if __name__ == "__main__":
    main()
