"""Serving: the platform's predict-with-features against what a team assembles without it, in one run.

Same machine, same data: a scikit-learn LogisticRegression trained here on 10 float features (`f0`..`f9` of
feature view `driver_features`, entity `driver_id`, feature service `driver_svc`), `--entities` drivers
materialized by the platform into Redis (DB 15), logged with the stock mlflow client to the platform
(experiment `bench/serving`, registered model `bench.scorer`: catalogue version 1 of model `scorer`).

- (a) platform: `mlplatform serve --workers 1` (API key auth; rate limiting on, the `predict` group given a
  budget above the offered load), a managed deployment of `scorer` v1 naming `driver_svc`;
  `POST /api/v1/projects/bench/models/scorer/predict` with `{"entities": {"driver_id": [...]}}`: the
  platform reads the 10 features online and predicts in its model worker.
- (b) without it: `feast serve --workers 1 --max-requests 0 --no-access-log` (same registry, same Redis)
  then `mlflow models serve --env-manager local` (one uvicorn worker, as installed) on the same model
  (downloaded from the platform): the client POSTs the entities to `/get-online-features`, builds a
  `dataframe_split` from the answer and POSTs it to `/invocations`.
- (c) `mlflow models serve` alone, the 10 feature values already in the request (`dataframe_split`).

Before measuring, the predictions of (a) by entity key, (a) with a `dataframe_split`, (b) and (c) for the
same 100 drivers must be equal (and equal the trained model's own).

Cells: 1 and 100 entities per request x 1 and 16 connections, for a, b and c, each a warm-up then a
measured window, the same 200 random request bodies for all three.

Load generator: one closed-loop client for all three (`bench/serving_client.py`), because (b) chains two
calls and wrk cannot: one asyncio process (uvloop) speaking keep-alive HTTP/1.1 over asyncio protocols
(~20 us of CPU per request; aiohttp cost ~0.5 ms, as much as a prediction) and msgspec for the JSON
(b)'s client reads and writes. One process for 16 connections as well: on a 2-core machine more client
processes only add contention with the servers, and one asyncio process keeps 16 connections busy. The
client's CPU costs all three alike and competes with the servers for the 2 cores: each cell reports the
cores it used, and (a) and (c) are also run with `wrk` (C) so a reader sees the client's effect. Ratios and
targets use the shared client; a/c is also given with wrk on both sides.

`--breakdown` adds two platform cells that split (a)'s time: its online read alone (b's first request, on
the platform's Feast-compatible endpoint) and its predict with the feature values in the body (c's request).

Also: time from `POST deployments` to `active`, and memory (RSS and USS) of the platform's processes (its
model workers are the children of `mlplatform serve`) against the `mlflow models serve` processes.

    uv run python bench/serving.py [--entities 100000] [--seconds 10] [--warmup 3] [--breakdown] [--json out.json]

Needs PostgreSQL and Redis (MLPLATFORM_TEST_POSTGRES_URL, MLPLATFORM_BENCH_SERVING_REDIS_URL; defaults:
local postgres, redis://127.0.0.1:6379/15, flushed before and after) and `wrk`. Leaves nothing behind: its
servers (and any process they started), the temporary database, the Redis DB, the work folder.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/serving.py`: the repository root

from bench import serving_report as report
from bench.features_online import (
    create_database,
    drop_database,
    feast_repo,
    feast_serve_command,
    flush_redis,
    free_port,
    materialize,
    upload,
    wait_ready,
)
from bench.serving_runs import LEFT_BEHIND, Servers, correctness, deploy, measure, memory, running_tree

REDIS_URL = os.environ.get("MLPLATFORM_BENCH_SERVING_REDIS_URL", "redis://127.0.0.1:6379/15")
PROJECT = "bench"
FEATURES = [f"f{i}" for i in range(10)]
ADMIN_KEY = "bench-admin-key-" + os.urandom(16).hex()
RATE_LIMITS = {
    "api": 100_000,
    "auth": 600,
    "online": 50_000_000,
    "predict": 50_000_000,
    "mlflow": 60_000,
    "anonymous": 300,
}
"""MLPLATFORM_RATE_LIMITS__GROUPS: the platform's groups, `predict` with a budget above what the bench offers
(its default, 60,000 a minute, is 1,000 req/s)."""


def feature_frame(count: int) -> pd.DataFrame:
    """One row per driver: 10 normal floats and an event time within the last hour."""
    rng = np.random.default_rng(7)
    now = pd.Timestamp.now(tz="UTC").floor("s")
    frame = pd.DataFrame(rng.normal(size=(count, len(FEATURES))), columns=FEATURES)
    frame.insert(0, "driver_id", np.arange(1, count + 1, dtype="int64"))
    frame.insert(1, "event_timestamp", now - pd.to_timedelta(rng.integers(0, 3600, count), unit="s"))
    return frame


def define_features(admin: httpx.Client) -> None:
    api = f"/api/v1/projects/{PROJECT}/features"
    for path, body in [
        ("entities", {"name": "driver", "join_key": "driver_id"}),
        (
            "data-sources",
            {"name": "drivers", "kind": "parquet", "path": "raw/drivers.parquet", "timestamp_field": "event_timestamp"},
        ),
        (
            "feature-views",
            {
                "name": "driver_features",
                "entities": ["driver"],
                "features": [{"name": name, "dtype": "float64"} for name in FEATURES],
                "source": "drivers",
                "ttl_seconds": 7 * 86400,
            },
        ),
        ("feature-services", {"name": "driver_svc", "features": ["driver_features"]}),
    ]:
        response = admin.post(f"{api}/{path}", json=body)
        if response.status_code != 201:
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")


def train_and_log(frame: pd.DataFrame, base_url: str, model_dir: Path) -> tuple[Any, str]:
    """Train on the frame, log with the stock mlflow client to the platform, wait for the catalogue's version 1,
    download the registered model (what `mlflow models serve` gets). The trained model and its local copy."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    X = frame[FEATURES]
    weights = np.random.default_rng(3).normal(size=len(FEATURES))
    noise = np.random.default_rng(5).normal(scale=0.5, size=len(frame))
    y = (X.to_numpy() @ weights + noise > 0).astype("int64")
    model = LogisticRegression(max_iter=1000).fit(X, y)
    os.environ["MLFLOW_TRACKING_TOKEN"] = ADMIN_KEY
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        mlflow.set_tracking_uri(f"{base_url}/mlflow")
        mlflow.set_registry_uri(f"{base_url}/mlflow")
        mlflow.set_experiment(f"{PROJECT}/serving")
        with mlflow.start_run(run_name="scorer"):
            mlflow.log_metric("accuracy", float(model.score(X, y)))
            mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(X, model.predict(X)),
                input_example=X.head(2),
                registered_model_name=f"{PROJECT}.scorer",
            )
        admin = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30)
        deadline = time.monotonic() + 60
        while admin.get(f"/api/v1/projects/{PROJECT}/models/scorer/versions/1").status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the catalogue has no version 1 of scorer 60 s after mlflow registered it")
            time.sleep(0.2)
        local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{PROJECT}.scorer/1", dst_path=str(model_dir))
    finally:
        os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
    return model, local


def request_bodies(frame: pd.DataFrame, size: int, count: int, seed: int) -> dict[str, list[str]]:
    """`count` requests of `size` random drivers, the same drivers for every system."""
    rng = random.Random(seed)
    bodies: dict[str, list[str]] = {"a": [], "b": [], "c": []}
    values = frame[FEATURES].to_numpy()
    for _ in range(count):
        ids = [rng.randint(1, len(frame)) for _ in range(size)]
        bodies["a"].append(json.dumps({"entities": {"driver_id": ids}}))
        bodies["b"].append(json.dumps({"feature_service": "driver_svc", "entities": {"driver_id": ids}}))
        split = {"columns": FEATURES, "data": [values[i - 1].tolist() for i in ids]}
        bodies["c"].append(json.dumps({"dataframe_split": split}))
    return bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=100_000, help="drivers materialized (one row each)")
    parser.add_argument("--seconds", type=int, default=10, help="measured window per cell")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up before each cell's window")
    parser.add_argument("--deploy-timeout", type=float, default=300, help="longest wait for the deployment")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also measure the platform's online read alone and its predict with the values in the body",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (apt-get install wrk)")
    console = Console(width=None if sys.stdout.isatty() else 150)
    results: dict[str, Any] = {
        "entities_materialized": args.entities,
        "seconds_per_cell": args.seconds,
        "load_average": [list(os.getloadavg())],
    }
    workdir = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    db_name, db_url = create_database("bench_serving")
    flush_redis(REDIS_URL)
    base_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MLPLATFORM_", "MLFLOW_TRACKING", "MLFLOW_REGISTRY"))
    }
    env = {
        **base_env,
        "MLPLATFORM_DATA_DIR": str(workdir / "data"),
        "MLPLATFORM_DATABASE_URL": db_url,
        "MLPLATFORM_REDIS_URL": REDIS_URL,
        "MLPLATFORM_STORAGE_URL": str(workdir / "objects"),
        "MLPLATFORM_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "MLPLATFORM_LOG_JSON": "true",
        "MLPLATFORM_RATE_LIMITS__GROUPS": json.dumps(RATE_LIMITS),
    }
    frame = feature_frame(args.entities)
    frame.to_parquet(workdir / "drivers.parquet", index=False)
    bin_dir = Path(sys.executable).parent
    cells: list[report.Cell] = []
    try:
        migrate = [sys.executable, "-m", "mlplatform.cli", "migrate"]
        subprocess.run(migrate, env=env, check=True, capture_output=True)
        port, feast_port, mlflow_port = free_port(), free_port(), free_port()
        servers = Servers(
            platform=f"http://127.0.0.1:{port}",
            feast=f"http://127.0.0.1:{feast_port}",
            mlflow=f"http://127.0.0.1:{mlflow_port}",
            key=ADMIN_KEY,
            project=PROJECT,
        )
        serve = [sys.executable, "-m", "mlplatform.cli", "serve", "--workers", "1", "--port", str(port)]
        with (
            running_tree(serve, env, workdir / "serve.log") as platform,
            running_tree([sys.executable, "-m", "mlplatform.cli", "worker"], env, workdir / "worker.log"),
        ):
            wait_ready(f"{servers.platform}/health/live", platform, log=workdir / "serve.log")
            admin = httpx.Client(
                base_url=servers.platform, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=120
            )
            admin.post("/api/v1/projects", json={"name": PROJECT}).raise_for_status()
            upload(admin, "raw/drivers.parquet", workdir / "drivers.parquet")
            define_features(admin)
            done = materialize(admin)
            results["materialization"] = {k: done[k] for k in ("rows", "seconds", "rows_per_second")}
            console.print(f"materialized {done['rows']} rows in {done['seconds']} s")
            model, model_path = train_and_log(frame, servers.platform, workdir / "model")
            console.print("trained, logged to the platform's MLflow, catalogue version 1 registered")
            deployed = deploy(admin, PROJECT, args.deploy_timeout)
            results.update(deployed)
            if deployed.get("platform_unavailable"):
                console.print(f"[yellow]platform side (a) not measured: {deployed['platform_unavailable']}[/]")
            mlflow_serve = [
                *(str(bin_dir / "mlflow"), "models", "serve", "-m", model_path),
                *("--env-manager", "local", "-h", "127.0.0.1", "-p", str(mlflow_port)),
            ]
            repo = feast_repo(workdir / "feast_repo", db_url, REDIS_URL)
            with (
                running_tree(feast_serve_command(repo, feast_port), base_env, workdir / "feast.log") as feast,
                running_tree(mlflow_serve, base_env, workdir / "mlflow.log", cleans_up=False) as mlflow_server,
            ):
                wait_ready(f"{servers.feast}/health", feast, log=workdir / "feast.log")
                wait_ready(f"{servers.mlflow}/ping", mlflow_server, log=workdir / "mlflow.log")
                with_platform = not deployed.get("platform_unavailable")
                results["correctness"] = correctness(servers, frame, FEATURES, model, with_platform)
                console.print(f"same predictions: {results['correctness']}")
                for size in (1, 100):
                    bodies = request_bodies(frame, size, 200, seed=11 + size)
                    for connections in (1, 16):
                        for cell in measure(servers, bodies, size, connections, args, workdir, with_platform):
                            cells.append(cell)
                            console.print(
                                f"{cell.system:15} {cell.client:7} entities={size:<3} c={connections:<2} "
                                f"{cell.throughput:9.1f} req/s  p50 {cell.p50_ms:8.2f} ms  p99 {cell.p99_ms:8.2f} ms"
                                f"  errors {cell.errors}"
                                + ("" if cell.client_cpu is None else f"  client {cell.client_cpu:.2f} cores")
                            )
                results["memory"] = memory(platform.pid, mlflow_server.pid)
                if with_platform:
                    deployment = f"/api/v1/projects/{PROJECT}/deployments/{deployed['deployment_id']}"
                    results["deployment_detail"] = admin.get(deployment).json()
                    results["deployment_workers"] = admin.get(f"{deployment}/workers").json()
        results["left_behind"] = LEFT_BEHIND
        results["load_average"].append(list(os.getloadavg()))
        results["cells"] = [
            {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(c).items()} for c in cells
        ]
        results["ratios"] = report.ratios(cells)
        report.print_report(console, cells, results["ratios"], results)
        if LEFT_BEHIND:
            console.print(f"[red]processes a server left behind (the bench killed them): {LEFT_BEHIND}[/]")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str))
    finally:
        drop_database(db_name)
        flush_redis(REDIS_URL)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
