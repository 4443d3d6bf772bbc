"""MLflow stays off the start-up path: the platform starts without importing `mlflow`, and the first
`/mlflow` request imports it (in a worker thread, once)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.embedded

SCRIPT = """
import asyncio, json, os, sys, time
from litestar.testing import AsyncTestClient
from mlplatform.app import create_app
from mlplatform.settings import Settings

async def main():
    settings = Settings(data_dir=sys.argv[1], bootstrap_admin_key="lazy-import-admin-key-123456",
                        server={"public_url": "http://testserver.local"}, log_json=False, log_level="WARNING")
    started = time.perf_counter()
    async with AsyncTestClient(create_app(settings)) as client:
        ready = (await client.get("/health/ready")).status_code
        startup = time.perf_counter() - started
        before = sorted(m for m in sys.modules if m == "mlflow" or m.startswith("mlflow."))
        started = time.perf_counter()
        headers = {"Authorization": "Bearer lazy-import-admin-key-123456"}
        first = await client.get("/mlflow/api/2.0/mlflow/experiments/search?max_results=5", headers=headers)
        first_seconds = time.perf_counter() - started
        started = time.perf_counter()
        second = await client.get("/mlflow/api/2.0/mlflow/experiments/search?max_results=5", headers=headers)
        second_seconds = time.perf_counter() - started
    print(json.dumps({"ready": ready, "startup": startup, "before": before, "first": first.status_code,
                      "first_seconds": first_seconds, "second": second.status_code, "second_seconds": second_seconds,
                      "after": "mlflow.server" in sys.modules,
                      "exported": [k for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI") if k in os.environ]}))

asyncio.run(main())
"""


def test_mlflow_is_imported_on_first_use_not_at_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "data")], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ready"] == 200
    assert result["before"] == []
    assert (result["first"], result["second"]) == (200, 200)
    assert result["after"] is True
    # MLflow's database URI does not leak into the environment child processes inherit.
    assert result["exported"] == []
    print(
        f"start-up {result['startup']:.2f}s; first /mlflow request {result['first_seconds']:.2f}s "
        f"(imports MLflow, creates its SQLite schema); second {result['second_seconds'] * 1000:.1f} ms"
    )
