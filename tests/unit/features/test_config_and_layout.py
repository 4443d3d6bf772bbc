"""Feast configuration built from settings, and the pieces of Feast's Redis layout we re-implement."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlplatform.modules.features.adapters.feast_config import (
    FeastSettings,
    feast_project,
    feature_store_yaml,
    public_base_url,
    redis_connection_string,
)
from mlplatform.modules.features.adapters.online_store.layout import (
    INT64,
    STRING,
    EntityValueError,
    decode_timestamp,
    encode_value,
    format_timestamp,
)
from mlplatform.settings import Settings


def test_project_names_map_injectively_to_feast_names() -> None:
    assert feast_project("ride-share-2") == "ride_share_2"


def test_redis_connection_strings() -> None:
    assert redis_connection_string("redis://127.0.0.1:6380/3") == "127.0.0.1:6380,db=3"
    assert redis_connection_string("rediss://:s3cret@cache:6379") == "cache:6379,db=0,password=s3cret,ssl=true"


def test_postgres_settings_use_psycopg_and_the_feast_schema(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url="postgresql+asyncpg://app:pw@db:5432/platform",
        redis_url="redis://cache:6379/1",
    )
    feast = FeastSettings.from_settings(settings, "s3://bucket/root")
    config = feast.repo_config("churn-model")
    assert config["project"] == "churn_model"
    assert config["registry"]["path"] == "postgresql+psycopg://app:pw@db:5432/platform?options=-csearch_path%3Dfeast"
    assert config["online_store"] == {"type": "redis", "connection_string": "cache:6379,db=1"}
    # Data sources never reach the platform's database: the offline store is not given its address.
    assert "postgres_url" not in config["offline_store"]
    assert "db:5432" not in str(config["offline_store"])


def test_feature_store_yaml_names_the_registry_port_and_no_database() -> None:
    text = feature_store_yaml(
        "churn-model", base_url="https://ml.example.com/", registry_address="feast.example.com:443", registry_tls=True
    )
    loaded = yaml.safe_load(text)
    assert loaded["project"] == "churn_model"
    assert loaded["registry"] == {"registry_type": "remote", "path": "feast.example.com:443", "is_tls": True}
    assert loaded["online_store"] == {"type": "remote", "path": "https://ml.example.com/feast/churn-model"}
    assert loaded["auth"] == {"type": "oidc", "token_env_var": "MLPLATFORM_TOKEN"}
    assert "offline_store" not in loaded  # Feast's local default: no platform database credentials
    assert "https://ml.example.com/api/v1/projects/churn-model/features/historical" in text
    plain = yaml.safe_load(
        feature_store_yaml("p", base_url="http://h:1", registry_address="127.0.0.1:6570", registry_tls=False)
    )
    assert plain["registry"] == {"registry_type": "remote", "path": "127.0.0.1:6570"}


def test_public_base_url_comes_from_settings_only(tmp_path: Path) -> None:
    assert public_base_url(Settings(data_dir=tmp_path)) == "http://127.0.0.1:8000"
    wildcard = Settings(data_dir=tmp_path, server={"host": "0.0.0.0", "port": 9000})
    assert public_base_url(wildcard) == "http://127.0.0.1:9000"
    proxied = Settings(data_dir=tmp_path, server={"public_url": "https://ml.example.com/"})
    assert public_base_url(proxied) == "https://ml.example.com"


def test_embedded_settings_use_sqlite_files(tmp_path: Path) -> None:
    feast = FeastSettings.from_settings(Settings(data_dir=tmp_path), f"file://{tmp_path}/objects")
    config = feast.repo_config("p")
    assert config["registry"]["path"] == f"sqlite:///{tmp_path.resolve()}/feast_registry.db"
    assert config["online_store"]["type"] == "sqlite"
    assert not feast.online_is_redis


def test_entity_values_are_checked() -> None:
    assert encode_value(INT64, "12") == encode_value(INT64, 12)
    for bad in (True, "x", 1.5, 2**64):
        with pytest.raises(EntityValueError):
            encode_value(INT64, bad)
    with pytest.raises(EntityValueError):
        encode_value(STRING, None)


def test_timestamps_round_trip_like_feast() -> None:
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp(seconds=1_767_225_600, nanos=123_000_000)
    assert decode_timestamp(stamp.SerializeToString()) == (1_767_225_600, 123_000_000)
    assert format_timestamp(1_767_225_600, 123_000_000) == "2026-01-01T00:00:00.123Z"
    assert format_timestamp(1_767_225_600, 0) == "2026-01-01T00:00:00Z"
    assert format_timestamp(0, 0) == "1970-01-01T00:00:00Z"
    assert decode_timestamp(Timestamp(seconds=-5).SerializeToString()) == (-5, 0)
    assert format_timestamp(-5, 0) == "1969-12-31T23:59:55Z"
    assert format_timestamp(1_767_225_599, 1_500) == "2025-12-31T23:59:59.000001500Z"


def test_values_decode_as_feast_does_with_or_without_protobuf() -> None:
    """Scalars in their usual encoding are decoded without protobuf; everything else goes through it.
    Both must give what Feast's feature server answers (`_value_to_native`)."""
    from feast.feature_server_utils import _value_to_native
    from feast.protos.feast.types.Value_pb2 import Int64List, Value

    from mlplatform.modules.features.adapters.online_store.layout import ValueDecoder

    decoder = ValueDecoder()
    values = [
        Value(int64_val=0),
        Value(int64_val=127),
        Value(int64_val=128),
        Value(int64_val=-1),
        Value(int64_val=2**63 - 1),
        Value(int64_val=-(2**63)),
        Value(int32_val=-5),
        Value(int32_val=2**31 - 1),
        Value(int32_val=-(2**31)),
        Value(unix_timestamp_val=1_767_225_600),
        Value(double_val=4.5),
        Value(double_val=-0.0),
        Value(double_val=float("nan")),
        Value(double_val=float("inf")),
        Value(float_val=0.1),
        Value(float_val=float("-inf")),
        Value(bool_val=True),
        Value(bool_val=False),
        Value(string_val=""),
        Value(string_val="paris"),
        Value(string_val="ünïcødé ✓" * 40),  # a length of more than one varint byte
        Value(bytes_val=b"\x00\x01"),
        Value(int64_list_val=Int64List(val=[1, 2])),
        Value(),
    ]
    for value in values:
        raw = value.SerializeToString()
        expected = _value_to_native(value)
        present, got = decoder.decode(raw)
        assert present == (expected is not None), value
        assert got == expected or (got != got and expected != expected), (value, got, expected)
        assert type(got) is type(expected), (value, got, expected)
    assert decoder.decode(b"") == (False, None)
