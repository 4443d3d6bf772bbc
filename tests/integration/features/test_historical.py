"""Training datasets: point-in-time correct, every entity row kept, on PostgreSQL tables, parquet on S3 and
the embedded default — against a hand-made fixture with a known answer."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.integration.features.data import ENTITY_ROWS, define, entity_rows
from tests.integration.features.stack import Stack
from tests.support.factories import own_database


def base(project: str) -> str:
    return f"/api/v1/projects/{project}/features"


def same(a: Any, b: Any) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)) or a is pd.NA:
        return b is None
    return bool(a == b)


async def build(
    stack: Stack, project: str, headers: dict[str, str], body: dict[str, Any]
) -> tuple[dict[str, Any], pd.DataFrame]:
    response = await stack.client.post(f"{base(project)}/historical", json=body, headers=headers)
    assert response.status_code == 202, response.text
    job = await stack.wait_job(headers, response.json())
    assert job["status"] == "succeeded", job
    dataset = await stack.client.get(f"{base(project)}/datasets/{job['result']['dataset_id']}", headers=headers)
    assert dataset.status_code == 200, dataset.text
    fs, path = stack.location.filesystem(dataset.json()["uri"])
    frame = pq.read_table(path, filesystem=fs).to_pandas()
    return dataset.json(), frame


@pytest.mark.parametrize("source", ["parquet", "postgres"])
async def test_known_answer_every_row_point_in_time(stack: Stack, source: str) -> None:
    project, headers = await stack.project()
    await define(stack, project, headers, postgres=source == "postgres")
    dataset, frame = await build(
        stack, project, headers, {"feature_service": "training", "entity_rows": entity_rows(), "name": "known"}
    )
    assert len(frame) == len(ENTITY_ROWS)
    assert dataset["row_count"] == len(ENTITY_ROWS)
    assert list(frame.columns) == ["driver_id", "customer_id", "event_timestamp", "trips", "rating", "spend", "segment"]
    for position, (driver, customer, at, expected) in enumerate(ENTITY_ROWS):
        row = frame.iloc[position]
        assert (row["driver_id"], row["customer_id"]) == (driver, customer)
        assert row["event_timestamp"] == pd.Timestamp(at)
        got = (row["trips"], row["rating"], row["spend"], row["segment"])
        assert all(same(g, e) for g, e in zip(got, expected, strict=True)), (position, got, expected)
    assert str(frame["trips"].dtype) == "Int64"  # integers stay integers with nulls
    assert dataset["name"] == "known"
    assert dataset["feature_service"] == "training"
    assert [v["name"] for v in dataset["feature_views"]] == ["driver_stats", "customer_stats"]
    assert all(len(v["version"]) == 16 for v in dataset["feature_views"])
    assert dataset["features"] == [
        "driver_stats:trips",
        "driver_stats:rating",
        "customer_stats:spend",
        "customer_stats:segment",
    ]


async def test_entity_rows_from_a_parquet_object_and_full_names(stack: Stack) -> None:
    project, headers = await stack.project()
    await define(stack, project, headers)
    frame = pd.DataFrame(entity_rows())
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    stack.write_project_parquet(project, "inputs/entities.parquet", frame)
    _, result = await build(
        stack,
        project,
        headers,
        {
            "features": ["driver_stats:trips", "customer_stats:segment"],
            "entity_path": "inputs/entities.parquet",
            "full_feature_names": True,
        },
    )
    assert list(result.columns)[-2:] == ["driver_stats__trips", "customer_stats__segment"]
    assert len(result) == len(ENTITY_ROWS)
    assert [None if pd.isna(v) else int(v) for v in result["driver_stats__trips"]] == [
        None if e[0] is None else e[0] for *_, e in ENTITY_ROWS
    ]


async def test_bad_training_requests_are_422(stack: Stack) -> None:
    project, headers = await stack.project()
    await define(stack, project, headers)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"feature_service": "training"}, "entity_rows"),
        ({"feature_service": "ghost", "entity_rows": entity_rows()}, "feature_service"),
        ({"features": ["driver_stats:nope"], "entity_rows": entity_rows()}, "features[0]"),
        (
            {
                "feature_service": "training",
                "entity_rows": [{"driver_id": 1, "event_timestamp": "2026-01-01T00:00:00Z"}],
            },
            "entity_rows",
        ),
        ({"feature_service": "training", "entity_rows": [{"driver_id": 1, "customer_id": 7}]}, "entity_rows"),
        ({"feature_service": "training", "entity_path": "inputs/none.parquet"}, "entity_path"),
        ({"feature_service": "training", "features": ["driver_stats:trips"], "entity_rows": entity_rows()}, "features"),
    ]
    for body, field in cases:
        response = await stack.client.post(f"{base(project)}/historical", json=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field, (body, response.text)


async def test_datasets_are_listed_and_announced(stack: Stack) -> None:
    from sqlalchemy import select

    from mlplatform.kernel.events.model import OutboxEvent

    project, headers = await stack.project()
    await define(stack, project, headers)
    first, _ = await build(stack, project, headers, {"feature_service": "training", "entity_rows": entity_rows()[:2]})
    second, _ = await build(stack, project, headers, {"feature_service": "training", "entity_rows": entity_rows()[:3]})
    page = (await stack.client.get(f"{base(project)}/datasets", params={"limit": 1}, headers=headers)).json()
    assert [d["id"] for d in page["items"]] == [second["id"]]
    rest = (
        await stack.client.get(f"{base(project)}/datasets", params={"cursor": page["next_cursor"]}, headers=headers)
    ).json()
    assert [d["id"] for d in rest["items"]] == [first["id"]]
    async with own_database(stack.settings.resolved_database_url) as database, database.transaction() as session:
        rows = (
            await session.scalars(
                select(OutboxEvent).where(
                    OutboxEvent.project == project, OutboxEvent.event_type == "TrainingDatasetCreated"
                )
            )
        ).all()
    assert sorted(r.payload["dataset_id"] for r in rows) == sorted([first["id"], second["id"]])
    assert {r.payload["row_count"] for r in rows} == {2, 3}
