"""The Feast SDK itself against a served platform (PostgreSQL + Redis + S3, a real worker process):

- with the `feature_store.yaml` the platform hands out (online store `remote` at `<base>/feast/<project>`,
  a static platform token from `MLPLATFORM_TOKEN`), and
- with OIDC client credentials: Feast discovers the platform's token endpoint and exchanges a service
  account's API key for an access token.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.support.served import serve

pytestmark = [pytest.mark.e2e]
ADMIN_KEY = "e2e-features-admin-key-0123456789abcdef"


@pytest.fixture
def stack_env(
    clean_postgres: str, clean_redis: str, s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> dict[str, str]:
    return {
        "MLPLATFORM_DATA_DIR": str(tmp_path / "data"),
        "MLPLATFORM_DATABASE_URL": clean_postgres,
        "MLPLATFORM_REDIS_URL": clean_redis,
        "MLPLATFORM_STORAGE_URL": f"s3://{s3_bucket}/platform",
        "MLPLATFORM_S3_ENDPOINT_URL": s3_endpoint,
        "MLPLATFORM_S3_REGION": "us-east-1",
        "MLPLATFORM_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "MLPLATFORM_LOG_JSON": "false",
    }


@pytest.fixture(autouse=True)
def _feast_leaves_no_environment() -> Iterator[None]:
    from mlplatform.modules.features.adapters.store import restore_environment

    yield
    restore_environment()


@pytest.fixture
def worker(stack_env: dict[str, str], tmp_path: Path) -> Iterator[None]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPLATFORM_")} | stack_env
    process = subprocess.Popen(
        [sys.executable, "-m", "mlplatform.cli", "worker", "--shutdown-grace", "1"],
        env=env,
        stdout=(tmp_path / "worker.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    yield
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def wait(base: str, headers: dict[str, str], job: dict[str, object]) -> dict[str, object]:
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        current = httpx.get(f"{base}/api/v1/jobs/{job['id']}", headers=headers, timeout=60).json()
        if current["status"] in {"succeeded", "failed", "cancelled"}:
            return dict(current)
        time.sleep(0.3)
    raise AssertionError(f"job {job['id']} did not finish")


def test_feast_sdk_reads_online_features_through_the_platform(
    stack_env: dict[str, str], worker: None, s3_endpoint: str, tmp_path: Path
) -> None:
    from feast import FeatureStore, RepoConfig

    now = datetime.now(UTC).replace(microsecond=0)
    frame = pd.DataFrame(
        {
            "driver_id": pd.Series([1, 2], dtype="int64"),
            "event_timestamp": [now - timedelta(minutes=10), now - timedelta(minutes=5)],
            "trips": pd.Series([12, 34], dtype="int64"),
            "rating": [4.5, 3.5],
        }
    )
    with serve(tmp_path, stack_env, timeout=120) as served:
        base = served.base_url
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        http = httpx.Client(timeout=60)
        assert http.post(f"{base}/api/v1/projects", json={"name": "ride-share"}, headers=admin).status_code == 201
        upload = http.put(
            f"{base}/api/v1/projects/ride-share/files/raw/drivers.parquet",
            content=frame.to_parquet(index=False),
            headers=admin,
        )
        assert upload.status_code == 201, upload.text
        assert http.post(f"{base}/api/v1/service-accounts", json={"name": "scorer"}, headers=admin).status_code == 201
        key = http.post(
            f"{base}/api/v1/api-keys", json={"name": "feast", "owner": "service_account:scorer"}, headers=admin
        ).json()["key"]
        member = http.put(
            f"{base}/api/v1/projects/ride-share/members/service_account:scorer", json={"role": "viewer"}, headers=admin
        )
        assert member.status_code == 200
        api = f"{base}/api/v1/projects/ride-share/features"
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
                    "features": [{"name": "trips", "dtype": "int64"}, {"name": "rating", "dtype": "float64"}],
                    "source": "drivers",
                    "ttl_seconds": 86400,
                },
            ),
            ("feature-services", {"name": "scoring", "features": ["driver_stats"]}),
        ]:
            response = http.post(f"{api}/{path}", json=body, headers=admin)
            assert response.status_code == 201, response.text
        job = http.post(f"{api}/materializations", json={}, headers=admin).json()
        assert wait(base, admin, job)["status"] == "succeeded"

        # 1. The handed-out feature_store.yaml, with the service account's API key as a static token.
        yaml_text = http.get(f"{api}/feature_store.yaml", headers=admin).text
        repo = tmp_path / "repo"
        repo.mkdir()
        (repo / "feature_store.yaml").write_text(yaml_text)
        expected = {"driver_id": [1, 2], "trips": [12, 34], "rating": [4.5, 3.5]}
        os.environ["MLPLATFORM_TOKEN"] = key
        try:
            store = FeatureStore(repo_path=str(repo))
            # Definitions reach the serving process's metadata cache through Redis pub/sub: allow it a moment.
            deadline = time.monotonic() + 15
            while True:
                rows = store.get_online_features(
                    features=["driver_stats:trips", "driver_stats:rating"],
                    entity_rows=[{"driver_id": 1}, {"driver_id": 2}],
                ).to_dict()
                if rows == expected or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        finally:
            del os.environ["MLPLATFORM_TOKEN"]
        assert rows == expected

        # 2. OIDC client credentials against the platform's own token endpoint.
        config = RepoConfig(
            project="ride_share",
            provider="local",
            registry=store.config.registry,
            online_store={"type": "remote", "path": f"{base}/feast/ride-share"},
            auth={
                "type": "oidc",
                "client_id": "scorer",
                "client_secret": key,
                "auth_discovery_url": f"{base}/.well-known/openid-configuration",
            },
            entity_key_serialization_version=3,
        )
        oidc_store = FeatureStore(config=config)
        service = oidc_store.get_feature_service("scoring")
        answer = oidc_store.get_online_features(
            features=service, entity_rows=[{"driver_id": 2}, {"driver_id": 3}]
        ).to_dict()
        assert answer["trips"] == [34, None]
        assert answer["rating"] == [3.5, None]
