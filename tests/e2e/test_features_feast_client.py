"""The Feast SDK itself against a served platform (PostgreSQL + Redis + S3, a real worker process):

- with the `feature_store.yaml` the platform hands out (registry `remote` at the platform's gRPC registry
  port, online store `remote` at `<base>/feast/<project>`, a static platform token from `MLPLATFORM_TOKEN`):
  no database credentials anywhere, the caller sees only their project, writes are refused, and
- with OIDC client credentials: Feast discovers the platform's token endpoint and exchanges a service
  account's API key for an access token (for the registry and the online store alike).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.support.served import E2E_ADMIN_KEY, serve, start_worker, stop_worker
from tests.support.wait import wait_until

pytestmark = [pytest.mark.e2e]


@pytest.fixture(autouse=True)
def _feast_leaves_no_environment() -> Iterator[None]:
    from mlplatform.modules.features.adapters.store import restore_environment

    yield
    restore_environment()


@pytest.fixture
def worker(stack_env: dict[str, str], tmp_path: Path) -> Iterator[None]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPLATFORM_")} | stack_env
    process = start_worker(env, tmp_path / "worker.log")
    yield
    stop_worker(process, timeout=20)


def wait(base: str, headers: dict[str, str], job: dict[str, object]) -> dict[str, object]:
    def finished() -> dict[str, object] | None:
        current = httpx.get(f"{base}/api/v1/jobs/{job['id']}", headers=headers, timeout=60).json()
        return dict(current) if current["status"] in {"succeeded", "failed", "cancelled"} else None

    return wait_until(finished, timeout=120, interval=0.3, message=f"job {job['id']} finishing")


def test_feast_sdk_reads_online_features_through_the_platform(
    stack_env: dict[str, str], worker: None, s3_endpoint: str, tmp_path: Path
) -> None:
    from feast import Entity, FeatureStore, RepoConfig
    from feast.errors import FeastError, FeastPermissionError, ProjectNotFoundException

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
        admin = {"Authorization": f"Bearer {E2E_ADMIN_KEY}"}
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

        # Another project, with a view of its own, that the scorer is not a member of.
        assert http.post(f"{base}/api/v1/projects", json={"name": "fraud"}, headers=admin).status_code == 201
        other = f"{base}/api/v1/projects/fraud/features"
        for path, body in [
            ("entities", {"name": "card", "join_key": "card_id"}),
            (
                "data-sources",
                {"name": "cards", "kind": "parquet", "path": "raw/cards.parquet", "timestamp_field": "ts"},
            ),
            (
                "feature-views",
                {
                    "name": "card_stats",
                    "entities": ["card"],
                    "features": [{"name": "n", "dtype": "int64"}],
                    "source": "cards",
                },
            ),
        ]:
            response = http.post(f"{other}/{path}", json=body, headers=admin)
            assert response.status_code == 201, response.text

        # 1. The handed-out feature_store.yaml, fetched by the scorer (a viewer) with a forged Host header.
        scorer = {"Authorization": f"Bearer {key}"}
        served_yaml = http.get(f"{api}/feature_store.yaml", headers={**scorer, "Host": "attacker.example.net"})
        assert served_yaml.status_code == 200, served_yaml.text
        yaml_text = served_yaml.text
        database = httpx.URL(stack_env["MLPLATFORM_DATABASE_URL"].replace("postgresql+asyncpg", "postgresql"))
        for leak in ("attacker", "postgres", "5432", str(database.path).strip("/"), "password"):
            assert leak not in yaml_text, leak
        repo = tmp_path / "repo"
        repo.mkdir()
        (repo / "feature_store.yaml").write_text(yaml_text)
        expected = {"driver_id": [1, 2], "trips": [12, 34], "rating": [4.5, 3.5]}
        os.environ["MLPLATFORM_TOKEN"] = key
        try:
            store = FeatureStore(repo_path=str(repo))
            assert store.config.registry.registry_type == "remote"
            assert [v.name for v in store.list_feature_views()] == ["driver_stats"]
            assert [p.name for p in store.list_projects()] == ["ride_share"]
            with pytest.raises(FeastError):
                store.registry.list_feature_views(project="fraud")
            with pytest.raises(FeastPermissionError, match="read-only"):
                store.apply([Entity(name="intruder", join_keys=["intruder_id"])])
            # Definitions reach the serving process's metadata cache through Redis pub/sub: allow it a moment.
            rows: dict[str, Any] = {}

            def served_expected_rows() -> bool:
                nonlocal rows
                rows = store.get_online_features(
                    features=["driver_stats:trips", "driver_stats:rating"],
                    entity_rows=[{"driver_id": 1}, {"driver_id": 2}],
                ).to_dict()
                return rows == expected

            wait_until(
                served_expected_rows, timeout=15, interval=0.5, message=lambda: f"online rows {rows} == {expected}"
            )
            # Someone else's credential on the same configuration: the project is not there for them.
            outsider = http.post(f"{base}/api/v1/service-accounts", json={"name": "stranger"}, headers=admin)
            assert outsider.status_code == 201
            os.environ["MLPLATFORM_TOKEN"] = http.post(
                f"{base}/api/v1/api-keys", json={"name": "x", "owner": "service_account:stranger"}, headers=admin
            ).json()["key"]
            with pytest.raises(ProjectNotFoundException):
                FeatureStore(repo_path=str(repo)).list_feature_views()
        finally:
            del os.environ["MLPLATFORM_TOKEN"]
        names = [v["name"] for v in http.get(f"{api}/feature-views", headers=admin).json()["items"]]
        assert names == ["driver_stats"]
        assert http.get(f"{api}/entities/intruder", headers=admin).status_code == 404

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
    worker_log = (tmp_path / "worker.log").read_text(errors="replace")
    assert "feast_loaded" in worker_log  # the worker loaded Feast (it ran the materialization) ...
    assert "feast_registry_started" not in worker_log  # ... but only `serve` opens the registry port
