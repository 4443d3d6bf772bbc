"""Contract: the direct Redis read path answers exactly like `FeatureStore.get_online_features` on the same
data (every value type, a two-key entity, several views, missing entities), except where Feast's Redis
store is wrong: it says PRESENT (value null) for an entity that does not exist; we say NOT_FOUND.

Also checks the key/field layout functions against Feast's own implementations.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from mlplatform.modules.features.adapters.feast_config import FeastSettings
from tests.integration.features.stack import Stack

NOW = datetime.now(UTC).replace(microsecond=0)


def all_types_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "driver_id": pd.Series([1, 2, 3], dtype="int64"),
            "event_timestamp": [NOW - timedelta(hours=1), NOW - timedelta(minutes=5), NOW - timedelta(days=2)],
            "i32": pd.Series([1, -2, 2**31 - 1], dtype="int32"),
            "i64": pd.Series([2**40, -(2**62), 0], dtype="int64"),
            "f32": pd.Series([0.5, -1.25, 3.0e10], dtype="float32"),
            "f64": [0.1, -2.5e-300, 1e308],
            "s": ["plain", "ünïcødé ✓", ""],
            "b": [b"\x00\x01", b"bytes", b""],
            "flag": [True, False, True],
            "when": [NOW - timedelta(days=1), NOW - timedelta(hours=3), NOW - timedelta(days=400)],
            "ints": [[1, 2, 3], [], [-(2**50)]],
            "floats": [[1.5, -0.25], [2.0], []],
            "strings": [["a", "b"], ["ç"], []],
            "bools": [[True, False], [], [False]],
        }
    )


def pair_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "driver_id": pd.Series([1, 1, 2], dtype="int64"),
            "customer_id": ["c-7", "c-8", "c-7"],
            "event_timestamp": [NOW - timedelta(minutes=30), NOW - timedelta(minutes=20), NOW - timedelta(minutes=10)],
            "rides": pd.Series([3, 4, 5], dtype="int64"),
            "score": [0.25, None, 0.75],
        }
    )


def customer_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["c-7", "c-9"],
            "event_timestamp": [NOW - timedelta(minutes=1), NOW - timedelta(minutes=2)],
            "tier": ["gold", "silver"],
        }
    )


TYPES = {
    "i32": "int32",
    "i64": "int64",
    "f32": "float32",
    "f64": "float64",
    "s": "string",
    "b": "bytes",
    "flag": "bool",
    "when": "unix_timestamp",
    "ints": "array<int64>",
    "floats": "array<float64>",
    "strings": "array<string>",
    "bools": "array<bool>",
}


async def setup_project(stack: Stack) -> tuple[str, dict[str, str]]:
    project, headers = await stack.project()
    stack.write_project_parquet(project, "raw/all_types.parquet", all_types_rows())
    stack.write_project_parquet(project, "raw/pairs.parquet", pair_rows())
    stack.write_project_parquet(project, "raw/customers.parquet", customer_rows())
    base = f"/api/v1/projects/{project}/features"
    bodies: list[tuple[str, dict[str, Any]]] = [
        ("entities", {"name": "driver", "join_key": "driver_id"}),
        ("entities", {"name": "customer", "join_key": "customer_id", "value_type": "string"}),
    ]
    for name in ("all_types", "pairs", "customers"):
        bodies.append(
            (
                "data-sources",
                {
                    "name": name,
                    "kind": "parquet",
                    "path": f"raw/{name}.parquet",
                    "timestamp_field": "event_timestamp",
                },
            )
        )
    bodies += [
        (
            "feature-views",
            {
                "name": "typed",
                "entities": ["driver"],
                "features": [{"name": n, "dtype": t} for n, t in TYPES.items()],
                "source": "all_types",
            },
        ),
        (
            "feature-views",
            {
                "name": "pair",
                "entities": ["driver", "customer"],
                "features": [{"name": "rides", "dtype": "int64"}, {"name": "score", "dtype": "float64"}],
                "source": "pairs",
            },
        ),
        (
            "feature-views",
            {
                "name": "customer",
                "entities": ["customer"],
                "features": [{"name": "tier", "dtype": "string"}],
                "source": "customers",
            },
        ),
        ("feature-services", {"name": "everything", "features": ["pair", "typed", "customer:tier"]}),
    ]
    for path, body in bodies:
        response = await stack.client.post(f"{base}/{path}", json=body, headers=headers)
        assert response.status_code == 201, response.text
    job = await stack.client.post(
        f"{base}/materializations", json={"start": (NOW - timedelta(days=10)).isoformat()}, headers=headers
    )
    done = await stack.wait_job(headers, job.json())
    assert done["status"] == "succeeded", done
    return project, headers


def feast_answer(stack: Stack, project: str, request: dict[str, Any]) -> dict[str, Any]:
    from feast import FeatureStore, RepoConfig
    from feast.feature_server_utils import convert_response_to_dict

    settings = FeastSettings.from_settings(stack.settings, stack.location.root_uri)
    store = FeatureStore(config=RepoConfig(**settings.repo_config(project)))
    features: Any = (
        store.get_feature_service(request["feature_service"]) if "feature_service" in request else request["features"]
    )
    response = store.get_online_features(
        features=features, entity_rows=request["entities"], full_feature_names=request.get("full_feature_names", False)
    )
    answer = convert_response_to_dict(response.proto)
    answer.pop("status", None)
    return answer


REQUESTS = [
    {
        "feature_service": "everything",
        "entities": {"driver_id": [1, 2, 3, 4, 1], "customer_id": ["c-7", "c-7", "c-9", "c-7", "c-8"]},
    },
    {"features": [f"typed:{n}" for n in TYPES], "entities": {"driver_id": [3, 2, 1, 99]}},
    {
        "features": ["customer:tier", "pair:score", "typed:s"],
        "entities": {"customer_id": ["c-9", "c-0"], "driver_id": [2, 1]},
        "full_feature_names": True,
    },
]


@pytest.fixture(scope="module")
async def contract_project(full_stack: Stack) -> tuple[str, dict[str, str]]:
    return await setup_project(full_stack)


@pytest.mark.parametrize("request_body", REQUESTS, ids=["service", "all-types", "full-names"])
async def test_fast_path_matches_feast_sdk(
    full_stack: Stack, contract_project: tuple[str, dict[str, str]], request_body: dict[str, Any]
) -> None:
    stack = full_stack
    project, headers = contract_project
    ours = await stack.client.post(f"/feast/{project}/get-online-features", json=request_body, headers=headers)
    assert ours.status_code == 200, ours.text
    mine = ours.json()
    theirs = feast_answer(stack, project, request_body)
    # Feast groups a view's features in a set: its column order varies between processes. Ours follows the
    # request; compare column by column, by name.
    names = mine["metadata"]["feature_names"]
    entity_columns = len(request_body["entities"])
    assert names[:entity_columns] == theirs["metadata"]["feature_names"][:entity_columns]
    assert sorted(names) == sorted(theirs["metadata"]["feature_names"])
    by_name = dict(zip(theirs["metadata"]["feature_names"], theirs["results"], strict=True))
    corrected = 0
    for name, a in zip(names, mine["results"], strict=True):
        b = by_name[name]
        assert a["event_timestamps"] == b["event_timestamps"], name
        for row, (status_a, status_b) in enumerate(zip(a["statuses"], b["statuses"], strict=True)):
            if status_a == "NOT_FOUND" and status_b == "PRESENT":
                # Feast's Redis store: a missing entity looks PRESENT with a null value.
                assert a["values"][row] is None
                assert b["values"][row] is None
                assert a["event_timestamps"][row] == "1970-01-01T00:00:00Z"
                corrected += 1
                continue
            if status_a == "NULL_VALUE":
                assert status_b == "PRESENT"
                assert b["values"][row] is None
                continue
            assert status_a == status_b, (name, row)
            assert a["values"][row] == b["values"][row], (name, row)
    assert corrected > 0  # every request includes a missing entity


async def test_values_decode_to_what_was_written(
    full_stack: Stack, contract_project: tuple[str, dict[str, str]]
) -> None:
    stack = full_stack
    project, headers = contract_project
    body = {"features": [f"typed:{n}" for n in TYPES], "entities": {"driver_id": [1, 2]}}
    answer = (await stack.client.post(f"/api/v1/projects/{project}/features/online", json=body, headers=headers)).json()
    values = {
        name: result["values"]
        for name, result in zip(answer["metadata"]["feature_names"], answer["results"], strict=True)
    }
    assert values["i32"] == [1, -2]
    assert values["i64"] == [2**40, -(2**62)]
    assert values["f32"] == [0.5, -1.25]
    assert values["f64"] == [0.1, -2.5e-300]
    assert values["s"] == ["plain", "ünïcødé ✓"]
    assert values["b"] == [base64.b64encode(b"\x00\x01").decode(), base64.b64encode(b"bytes").decode()]
    assert values["flag"] == [True, False]
    assert values["ints"] == [[1, 2, 3], []]
    assert values["strings"] == [["a", "b"], ["ç"]]
    assert values["bools"] == [[True, False], []]


def test_layout_matches_feast() -> None:
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.infra.online_stores.helpers import _mmh3
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    from mlplatform.modules.features.adapters.online_store.layout import (
        INT32,
        INT64,
        STRING,
        encode_value,
        feature_field,
        key_header,
    )

    assert feature_field("driver_stats", "trips") == _mmh3("driver_stats:trips")
    key = EntityKey(
        join_keys=["driver_id", "customer_id"], entity_values=[Value(int64_val=-5), Value(string_val="c-ü")]
    )
    ours = key_header(("customer_id", "driver_id")) + encode_value(STRING, "c-ü") + encode_value(INT64, -5)
    assert ours == serialize_entity_key(key, entity_key_serialization_version=3)
    small = EntityKey(join_keys=["k"], entity_values=[Value(int32_val=7)])
    assert key_header(("k",)) + encode_value(INT32, 7) == serialize_entity_key(
        small, entity_key_serialization_version=3
    )
