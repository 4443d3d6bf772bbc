"""The `mlplatform jobs` CLI against a served platform (embedded default: jobs run inside `serve`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.support.served import serve

pytestmark = [pytest.mark.e2e, pytest.mark.embedded]
ADMIN_KEY = "e2e-jobs-cli-admin-key-0123456789abcdef"


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("MLPLATFORM_")}
    return subprocess.run(
        [sys.executable, "-m", "mlplatform.cli", "jobs", *args],
        env={**base_env, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_run_materialization_with_progress_then_list_and_show(tmp_path: Path) -> None:
    data = tmp_path / ".mlplatform" / "objects" / "projects" / "cli" / "raw"
    data.mkdir(parents=True)
    now = datetime.now(UTC).replace(microsecond=0)
    pd.DataFrame(
        {
            "driver_id": pd.Series([1, 2, 3], dtype="int64"),
            "event_timestamp": [now - timedelta(minutes=m) for m in (1, 2, 3)],
            "trips": pd.Series([5, 6, 7], dtype="int64"),
        }
    ).to_parquet(data / "drivers.parquet")
    with serve(tmp_path, {"MLPLATFORM_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY}) as served:
        base = served.base_url
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        http = httpx.Client(timeout=60, headers=admin)
        assert http.post(f"{base}/api/v1/projects", json={"name": "cli"}).status_code == 201
        api = f"{base}/api/v1/projects/cli/features"
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
                    "name": "stats",
                    "entities": ["driver"],
                    "features": [{"name": "trips", "dtype": "int64"}],
                    "source": "drivers",
                },
            ),
        ]:
            assert http.post(f"{api}/{path}", json=body).status_code == 201
        env = {"MLPLATFORM_URL": base, "MLPLATFORM_TOKEN": ADMIN_KEY}

        run = cli(
            "run", "/api/v1/projects/cli/features/materializations", "--data", '{"feature_views": ["stats"]}', env=env
        )
        assert run.returncode == 0, run.stderr
        result = json.loads(run.stdout)
        assert result["rows"] == 3
        assert "100%" in run.stderr  # the progress bar reached the end
        job_id = run.stderr.strip().splitlines()[0]

        waited = cli("wait", job_id, env=env)
        assert waited.returncode == 0, waited.stderr
        assert json.loads(waited.stdout)["rows"] == 3
        shown = json.loads(cli("show", job_id, env=env).stdout)
        assert shown["status"] == "succeeded"
        assert shown["kind"] == "features.materialize"
        listed = cli("list", "--project", "cli", env=env)
        assert listed.returncode == 0, listed.stderr
        assert "features.materialize" in listed.stdout
        assert job_id[:8] in listed.stdout

        failing = cli(
            "run", "/api/v1/projects/cli/features/materializations", "--data", '{"feature_views": ["nope"]}', env=env
        )
        assert failing.returncode == 1
        assert "422" in failing.stderr
        denied = cli("list", env={"MLPLATFORM_URL": base})
        assert denied.returncode == 1
        assert "401" in denied.stderr


def test_selftest_runs_in_process_on_the_embedded_default(tmp_path: Path) -> None:
    env = {"MLPLATFORM_DATA_DIR": str(tmp_path / "data")}
    migrate = subprocess.run(
        [sys.executable, "-m", "mlplatform.cli", "migrate"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("MLPLATFORM_")}, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr
    result = cli("selftest", "--seconds", "1", "--fail-attempts", "1", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    # The first attempt fails on purpose; the job then succeeds on a retry. (Under heavy CPU load a
    # third attempt has been seen once: tracked in the issue note.)
    assert json.loads(lines[-1])["attempt"] >= 2
