"""Settings: typed, validated at start, a bad value named in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from mlplatform.settings import Environment, Settings

KEY = "HxM0Ak2bb7nY4DWyqXW5p2g0kmQ3KSmF8ui0X3Dq5x0="


def test_embedded_default_needs_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{(tmp_path / 'mlplatform.db').resolve()}"
    assert settings.resolved_storage_url == str((tmp_path / "objects").resolve())
    assert settings.redis_url is None
    assert settings.should_auto_migrate


def test_environment_variables_and_nested_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPLATFORM_DATABASE_URL", "postgresql://u:hunter2pw@db:5432/mlp")
    monkeypatch.setenv("MLPLATFORM_SERVER__PORT", "9000")
    monkeypatch.setenv("MLPLATFORM_ENV", "production")
    monkeypatch.setenv("MLPLATFORM_SERVER__PUBLIC_URL", "https://ml.example.com")
    monkeypatch.setenv("MLPLATFORM_SECRETS__KEYS", f'["{KEY}"]')
    settings = Settings()
    assert settings.database_url == "postgresql+asyncpg://u:hunter2pw@db:5432/mlp"
    assert settings.server.port == 9000
    assert settings.env is Environment.PRODUCTION
    assert not settings.should_auto_migrate
    assert "hunter2pw" not in str(settings.describe())
    assert KEY not in str(settings.describe())


def test_yaml_file_named_by_mlplatform_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "platform.yaml"
    config.write_text("redis_url: redis://cache:6379/2\nserver:\n  port: 8123\n")
    monkeypatch.setenv("MLPLATFORM_CONFIG", str(config))
    monkeypatch.setenv("MLPLATFORM_SERVER__PORT", "8124")
    settings = Settings()
    assert settings.redis_url == "redis://cache:6379/2"
    assert settings.server.port == 8124, "the environment wins over the file"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("database_url", "mysql://db/x"),
        ("redis_url", "http://cache"),
        ("storage_url", "s3://"),
        ("storage_url", "gs://bucket"),
        ("s3_endpoint_url", "minio:9000"),
        ("log_level", "LOUD"),
        ("env", "staging"),
    ],
)
def test_bad_values_are_rejected(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(**{field: value})
    assert info.value.errors()[0]["loc"][0] == field


def test_wildcard_cors_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="wildcard"):
        Settings(env="production", http={"cors_origins": ["*"]}, server={"public_url": "https://ml.example.com"})


def test_production_requires_a_tls_terminating_proxy() -> None:
    with pytest.raises(ValidationError, match="TLS-terminating proxy"):
        Settings(env="production", server={"public_url": "http://ml.example.com"})


def test_production_requires_a_secrets_key() -> None:
    with pytest.raises(ValidationError, match="MLPLATFORM_SECRETS__KEYS"):
        Settings(env="production", server={"public_url": "https://ml.example.com"})
    assert Settings(env="production", server={"public_url": "https://ml.example.com"}, secrets={"keys": [KEY]})


def test_cli_names_the_bad_setting_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlplatform.cli", "migrate"],
        env={"MLPLATFORM_SERVER__PORT": "eighty", "MLPLATFORM_DATA_DIR": str(tmp_path), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "mlplatform: invalid setting MLPLATFORM_SERVER__PORT: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]
