"""MLflow's environment computed from platform settings (no MLflow import)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlplatform.modules.experiments.hosting import config
from mlplatform.settings import Settings


def test_embedded_default_uses_sqlite_and_a_local_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    cfg = config.mlflow_config(settings)
    assert cfg.backend_store_uri == f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}"
    assert cfg.artifact_destination == str((tmp_path / "objects" / "mlflow").resolve())
    env = cfg.environment()
    assert env[config.SERVE_ARTIFACTS_ENV] == "true"
    assert env[config.ARTIFACT_ROOT_ENV] == "mlflow-artifacts:/"
    assert env[config.BACKEND_STORE_URI_ENV] == env[config.REGISTRY_STORE_URI_ENV] == cfg.backend_store_uri
    assert config.S3_ENDPOINT_ENV not in env


def test_postgres_shares_the_database_in_its_own_schema_through_psycopg(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql://mlp:s3cret@db:5432/platform?ssl=require")
    uri = config.backend_store_uri(settings)
    assert uri.startswith("postgresql+psycopg://mlp:s3cret@db:5432/platform?")
    assert "options=-csearch_path%3Dmlflow" in uri
    assert "sslmode=require" in uri
    assert "ssl=require" not in uri.replace("sslmode=require", "")


def test_s3_storage_puts_artifacts_under_the_store_root(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        storage_url="s3://bucket/platform/",
        s3_endpoint_url="http://minio:9000",
        s3_region="eu-west-1",
    )
    cfg = config.mlflow_config(settings)
    assert cfg.artifact_destination == "s3://bucket/platform/mlflow"
    env = cfg.environment()
    assert env[config.S3_ENDPOINT_ENV] == "http://minio:9000"
    assert env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert config.artifact_destination(Settings(data_dir=tmp_path, storage_url="s3://bare")) == "s3://bare/mlflow"


def test_file_url_storage(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, storage_url=f"file://{tmp_path}/store")
    assert config.artifact_destination(settings) == str((tmp_path / "store" / "mlflow").resolve())


def test_allowed_hosts_follow_the_public_url_and_keep_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.ALLOWED_HOSTS_ENV, raising=False)
    settings = Settings(data_dir=tmp_path, server={"public_url": "https://ml.example.com:8443", "host": "10.0.0.5"})
    hosts = config.allowed_hosts(settings)
    assert "ml.example.com" in hosts
    assert "ml.example.com:8443" in hosts
    assert {"10.0.0.5", "10.0.0.5:*", "localhost", "localhost:*", "127.0.0.1:*"} <= set(hosts)
    monkeypatch.setenv(config.ALLOWED_HOSTS_ENV, "extra.example.org, *.corp.example")
    assert {"extra.example.org", "*.corp.example"} <= set(config.allowed_hosts(settings))
    assert config.mlflow_config(settings).environment()[config.ALLOWED_HOSTS_ENV].startswith("ml.example.com,")


def test_the_platforms_own_origin_and_cors_origins_may_write(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, http={"cors_origins": ["https://app.example.com"]})
    assert config.mlflow_config(settings).environment()[config.CORS_ORIGINS_ENV] == "https://app.example.com"
    public = Settings(
        data_dir=tmp_path,
        server={"public_url": "https://ml.example.com/"},
        http={"cors_origins": ["https://app.example.com"]},
    )
    assert config.allowed_origins(public) == ("https://ml.example.com", "https://app.example.com")
    assert config.MlflowConfig("sqlite://", "/tmp", ()).environment().get(config.CORS_ORIGINS_ENV) is None


def test_mlflow_telemetry_is_off_unless_turned_on(tmp_path: Path) -> None:
    env = config.mlflow_config(Settings(data_dir=tmp_path)).environment()
    assert env[config.TELEMETRY_OFF_ENV] == "true"
    assert env[config.DO_NOT_TRACK_ENV] == "true"

    on = config.mlflow_config(Settings(data_dir=tmp_path, experiments={"telemetry": True})).environment()
    assert on[config.TELEMETRY_OFF_ENV] == "false"
    assert config.DO_NOT_TRACK_ENV not in on
