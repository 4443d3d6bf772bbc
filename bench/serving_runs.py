"""Servers, deployment, correctness check, cells and memory of `bench/serving.py`."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import psutil

from bench.features_online import run_wrk, running, warm, wrk_script
from bench.serving_client import dataframe_split
from bench.serving_report import ASYNCIO, CHAIN, MLFLOW, ONLINE_ONLY, PLATFORM, VALUES_IN_BODY, WRK, Cell

CLIENT = Path(__file__).with_name("serving_client.py")
LEFT_BEHIND: list[str] = []
"""Processes a server started and had not ended 15 s after the server itself (the bench killed them)."""


@dataclass
class Servers:
    platform: str
    feast: str
    mlflow: str
    key: str
    project: str

    @property
    def predict(self) -> str:
        return f"{self.platform}/api/v1/projects/{self.project}/models/scorer/predict"

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@contextmanager
def running_tree(
    args: list[str], env: dict[str, str], log: Path, *, cleans_up: bool = True
) -> Iterator[subprocess.Popen[bytes]]:
    """`running` (SIGTERM at the end), and then no process it started is left. `cleans_up`: the server is
    expected to end its own children (a survivor is reported in LEFT_BEHIND); else they get SIGTERM too
    (`mlflow models serve` does not pass its SIGTERM on to the uvicorn it started)."""
    descendants: list[psutil.Process] = []
    with running(args, env, log) as process:
        try:
            yield process
        finally:
            with suppress(psutil.Error):
                descendants = psutil.Process(process.pid).children(recursive=True)
    if not cleans_up:
        for child in descendants:
            with suppress(psutil.Error):
                child.terminate()
    _, alive = psutil.wait_procs(descendants, timeout=15)
    for child in alive:
        with suppress(psutil.Error):
            if cleans_up:
                LEFT_BEHIND.append(f"{child.pid} {' '.join(child.cmdline())[:120]}")
            child.kill()


def deploy(admin: httpx.Client, project: str, timeout: float = 300) -> dict[str, Any]:
    """A managed deployment of scorer v1 in prod with driver_svc; the seconds until it is active."""
    body = {
        "model": "scorer",
        "version": 1,
        "environment": "prod",
        "mode": "managed",
        "serving": {"feature_service": "driver_svc"},
    }
    started = time.perf_counter()
    response = admin.post(f"/api/v1/projects/{project}/deployments", json=body)
    if response.status_code != 201:
        return {"platform_unavailable": f"POST deployments answered {response.status_code}: {response.text[:500]}"}
    deployment = response.json()
    while deployment.get("status") not in {"active", "failed"}:
        if time.perf_counter() - started > timeout:
            return {"platform_unavailable": f"deployment not active after {timeout} s: {deployment}"}
        time.sleep(0.05)
        deployment = admin.get(f"/api/v1/projects/{project}/deployments/{deployment['id']}").json()
    seconds = time.perf_counter() - started
    if deployment["status"] != "active":
        return {"platform_unavailable": f"deployment failed: {deployment.get('status_reason')}"}
    return {"deployment_id": deployment["id"], "deploy_seconds": round(seconds, 3)}


def _predictions(response: httpx.Response, what: str) -> list[float]:
    if response.status_code != 200:
        raise RuntimeError(f"{what}: {response.status_code} {response.text[:500]}")
    return [float(v) for v in np.asarray(response.json()["predictions"]).ravel()]


def correctness(
    servers: Servers, frame: pd.DataFrame, features: list[str], model: Any, with_platform: bool
) -> dict[str, Any]:
    """The same 100 drivers through (c), (b) and (a) (by entity key and with the feature values): the same
    predictions as the trained model's, or an exception naming the side that differs."""
    ids = [int(i) for i in np.random.default_rng(99).integers(1, len(frame) + 1, 100)]
    rows = frame.iloc[[i - 1 for i in ids]][features]
    expected = [float(v) for v in model.predict(rows)]
    split = {"dataframe_split": {"columns": features, "data": rows.to_numpy().tolist()}}
    entities = {"driver_id": ids}
    # Generous timeouts: each server's first request loads what it lazily loads (Feast: its registry).
    http = httpx.Client(timeout=120)
    answers = {"c mlflow": _predictions(http.post(f"{servers.mlflow}/invocations", json=split), "mlflow")}
    online = http.post(
        f"{servers.feast}/get-online-features", json={"feature_service": "driver_svc", "entities": entities}
    )
    online.raise_for_status()
    chained = http.post(f"{servers.mlflow}/invocations", json=dataframe_split(online.json()))
    answers["b feast+mlflow"] = _predictions(chained, "feast+mlflow")
    if with_platform:
        by_key = http.post(servers.predict, json={"entities": entities}, headers=servers.bearer)
        answers["a by entity"] = _predictions(by_key, "platform predict by entity")
        with_values = http.post(servers.predict, json=split, headers=servers.bearer)
        answers["a dataframe_split"] = _predictions(with_values, "platform predict dataframe_split")
    for side, got in answers.items():
        if got != expected:
            wrong = [(ids[i], g, e) for i, (g, e) in enumerate(zip(got, expected, strict=False)) if g != e][:5]
            raise AssertionError(f"{side}: {len(got)} predictions, differing (driver, got, expected): {wrong}")
    return {"drivers": len(ids), "positive": int(sum(expected)), "equal": list(answers)}


def _client(spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    path = workdir / "client-spec.json"
    path.write_text(json.dumps(spec))
    out = subprocess.run([sys.executable, str(CLIENT), str(path)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"load client failed: {out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def measure(
    servers: Servers,
    bodies: dict[str, list[str]],
    entities: int,
    connections: int,
    args: argparse.Namespace,
    workdir: Path,
    with_platform: bool,
) -> Iterator[Cell]:
    """One cell: a, b, c with the shared client (with `args.breakdown`, also the platform's online read alone
    and its predict with the feature values in the body, c's request), then a and c with wrk."""
    timing = {"concurrency": connections, "warmup": args.warmup, "seconds": args.seconds}
    runs: list[tuple[str, dict[str, Any]]] = []
    if with_platform:
        runs.append(
            (PLATFORM, {"mode": "direct", "url": servers.predict, "bodies": bodies["a"], "headers": servers.bearer})
        )
    runs.append(
        (
            CHAIN,
            {
                "mode": "chain",
                "url": f"{servers.feast}/get-online-features",
                "then_url": f"{servers.mlflow}/invocations",
                "bodies": bodies["b"],
                "headers": {},
            },
        )
    )
    runs.append(
        (MLFLOW, {"mode": "direct", "url": f"{servers.mlflow}/invocations", "bodies": bodies["c"], "headers": {}})
    )
    if with_platform and args.breakdown:
        online = f"{servers.platform}/feast/{servers.project}/get-online-features"
        for system, url, texts in ((ONLINE_ONLY, online, bodies["b"]), (VALUES_IN_BODY, servers.predict, bodies["c"])):
            runs.append((system, {"mode": "direct", "url": url, "bodies": texts, "headers": servers.bearer}))
    for system, spec in runs:
        got = _client({**spec, **timing}, workdir)
        yield Cell(system=system, client=ASYNCIO, entities=entities, connections=connections, **got)
    wrk_runs: list[tuple[str, str, dict[str, str], list[str]]] = [
        (MLFLOW, f"{servers.mlflow}/invocations", {}, bodies["c"])
    ]
    if with_platform:
        wrk_runs.insert(0, (PLATFORM, servers.predict, servers.bearer, bodies["a"]))
    for system, url, headers, texts in wrk_runs:
        script = wrk_script(workdir, f"{system.split()[0]}-{entities}", headers, texts)
        warm(url, script, connections, args.warmup)
        requests, errors, throughput, p50, p99 = run_wrk(url, script, connections, args.seconds)
        yield Cell(system, WRK, entities, connections, requests, errors, throughput, p50, p99, None)


def _process(process: psutil.Process) -> dict[str, Any]:
    with process.oneshot():
        info: dict[str, Any] = {
            "pid": process.pid,
            "rss_mb": round(process.memory_info().rss / 2**20, 1),
            "command": " ".join(process.cmdline()),
        }
        with suppress(psutil.Error):
            info["uss_mb"] = round(process.memory_full_info().uss / 2**20, 1)
    return info


def _role(command: str) -> str:
    if "experiments.hosting" in command:
        return "platform: MLflow host"
    if "serving" in command:
        return "platform: model worker"
    return "platform: other child"


def memory(platform_pid: int, mlflow_pid: int) -> dict[str, list[dict[str, Any]]]:
    """The platform's serving process and its children (its model workers, its MLflow host), and the processes
    of `mlflow models serve` (the idle CLI that started uvicorn, and uvicorn, which holds the model)."""
    roles: dict[str, list[dict[str, Any]]] = {"platform: serve": [_process(psutil.Process(platform_pid))]}
    for child in psutil.Process(platform_pid).children(recursive=True):
        with suppress(psutil.Error):
            info = _process(child)
            roles.setdefault(_role(info["command"]), []).append(info)
    mlflow = psutil.Process(mlflow_pid)
    roles["mlflow: CLI (idle parent)"] = [_process(mlflow)]
    roles["mlflow: uvicorn (model)"] = [_process(p) for p in mlflow.children(recursive=True)]
    return roles
