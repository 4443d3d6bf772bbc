"""What a connection may be, checked before any network use (pure parts of `connections/checks.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from mlplatform.kernel.errors import Invalid
from mlplatform.modules.features.connections import checks
from mlplatform.modules.features.connections.s3_location import relative_path
from mlplatform.modules.features.connections.schemas import (
    ConnectionCreate,
    PostgresConnectionCreate,
    S3ConnectionCreate,
)
from mlplatform.settings import Settings


def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url="postgresql+asyncpg://app:pw@127.0.0.1:5432/platform",
        storage_url="s3://store/platform",
        s3_endpoint_url="http://minio:9000",
    )


def postgres(**fields: Any) -> PostgresConnectionCreate:
    base: dict[str, Any] = {"host": "db.example", "database": "dw", "user": "reader", "password": "secret"}
    return PostgresConnectionCreate(name="c", **{**base, **fields})


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"password": None}, "password"),
        ({"password": "  "}, "password"),
        ({"user": None}, "user"),
        ({"database": None}, "database"),
        ({"host": "/var/run/postgresql"}, "host"),
        ({"host": "a,b"}, "host"),
        ({"host": None, "database": None, "user": None, "password": None, "dsn": "mysql://u:p@h/d"}, "dsn"),
        (
            {"host": None, "database": None, "user": None, "password": None, "dsn": "postgresql://u:p@h/d?host=/tmp"},
            "dsn",
        ),
        ({"host": None, "database": None, "user": None, "password": None, "dsn": "postgresql://u@h/d"}, "password"),
    ],
)
def test_postgres_connections_need_every_parameter_and_nothing_else(
    tmp_path: Path, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(Invalid) as caught:
        checks.parse_postgres(postgres(**fields), settings(tmp_path))
    assert caught.value.extra["field"] == field


def test_a_dsn_is_split_into_parts(tmp_path: Path) -> None:
    data = PostgresConnectionCreate(name="c", dsn="postgresql://r%40x:p%2Fw@db:6543/dw?sslmode=require")
    parsed = checks.parse_postgres(data, settings(tmp_path))
    assert (parsed.host, parsed.port, parsed.database, parsed.user, parsed.password, parsed.sslmode) == (
        "db",
        6543,
        "dw",
        "r@x",
        "p/w",
        "require",
    )
    assert "p/w" not in repr(parsed)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_platform_database_is_refused_by_address(tmp_path: Path, host: str) -> None:
    parsed = checks.parse_postgres(postgres(host=host, database="platform"), settings(tmp_path))
    with pytest.raises(Invalid) as caught:
        checks.refuse_platform_address(parsed, settings(tmp_path))
    assert caught.value.extra["field"] == "database"
    other = checks.parse_postgres(postgres(host=host, database="warehouse"), settings(tmp_path))
    checks.refuse_platform_address(other, settings(tmp_path))


def s3(**fields: Any) -> S3ConnectionCreate:
    base: dict[str, Any] = {
        "bucket": "lake",
        "endpoint_url": "http://minio:9000",
        "access_key_id": "k",
        "secret_access_key": "s",
    }
    return S3ConnectionCreate(name="c", **{**base, **fields})


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"bucket": "store", "prefix": ""}, "prefix"),
        ({"bucket": "store", "prefix": "platform"}, "prefix"),
        ({"bucket": "store", "prefix": "platform/projects/p"}, "prefix"),
        ({"prefix": "a/../b"}, "prefix"),
        ({"bucket": "Not_A_Bucket"}, "bucket"),
        ({"endpoint_url": "ftp://x"}, "endpoint_url"),
    ],
)
def test_s3_connections_stay_out_of_the_platform_store(tmp_path: Path, fields: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as caught:
        checks.parse_s3(s3(**fields), settings(tmp_path))
    assert caught.value.extra["field"] == field


def test_other_prefixes_and_endpoints_of_the_store_bucket_are_fine(tmp_path: Path) -> None:
    assert checks.parse_s3(s3(bucket="store", prefix="lake"), settings(tmp_path)).root_uri == "s3://store/lake"
    assert checks.parse_s3(s3(bucket="store", endpoint_url="https://s3.amazonaws.com"), settings(tmp_path))


@pytest.mark.parametrize(
    "path", ["../x", "/abs", "a/../../b", "s3://other/x", "file:///etc/passwd", "a\\..\\b", "a\x00b", ""]
)
def test_paths_under_a_connection_cannot_leave_its_prefix(path: str) -> None:
    with pytest.raises(Invalid):
        relative_path(path)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "c", "kind": "postgres", "host": "db", "bucket": "lake"},
        {"name": "c", "kind": "postgres", "host": "db", "prefix": "x"},
        {"name": "c", "kind": "s3", "bucket": "lake", "access_key_id": "k", "secret_access_key": "s", "host": "db"},
        {"name": "c", "kind": "s3", "bucket": "lake"},
        {"name": "c", "kind": "mysql"},
    ],
)
def test_each_kind_takes_its_own_fields_only(body: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(body, ConnectionCreate)


def test_the_kind_is_the_wire_field_it_was() -> None:
    data = msgspec.convert({"name": "c", "kind": "postgres", "dsn": "postgresql://u:p@h/d"}, ConnectionCreate)
    assert isinstance(data, PostgresConnectionCreate)
    assert data.kind == "postgres"
    assert msgspec.to_builtins(data)["kind"] == "postgres"
