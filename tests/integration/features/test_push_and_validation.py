"""Pushes (JSON and Parquet/Arrow uploads, online and offline) with expectations, profiling runs,
materialization (full and incremental)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tests.integration.features.data import T0, define
from tests.integration.features.stack import Stack

NOW = datetime.now(UTC).replace(microsecond=0)


def base(project: str) -> str:
    return f"/api/v1/projects/{project}/features"


async def live_view(stack: Stack, project: str, headers: dict[str, str], expectations: dict[str, Any] | None) -> None:
    await define(stack, project, headers)
    source = {"name": "driver_push", "kind": "push", "batch_source": "drivers"}
    assert (await stack.client.post(f"{base(project)}/data-sources", json=source, headers=headers)).status_code == 201
    view: dict[str, Any] = {
        "name": "driver_live",
        "entities": ["driver"],
        "features": [{"name": "trips", "dtype": "int64"}, {"name": "rating", "dtype": "float64"}],
        "source": "driver_push",
        "ttl_seconds": 86400,
    }
    if expectations is not None:
        view["expectations"] = expectations
    response = await stack.client.post(f"{base(project)}/feature-views", json=view, headers=headers)
    assert response.status_code == 201, response.text


def rows(*items: tuple[int, int | None, float | None, datetime]) -> list[dict[str, Any]]:
    return [{"driver_id": d, "trips": t, "rating": r, "event_timestamp": at.isoformat()} for d, t, r, at in items]


EXPECT = {
    "columns": {"trips": {"not_null": True, "min": 0, "max": 100}, "rating": {"min": 1, "max": 5}},
    "max_staleness_seconds": 3600,
    "policy": "reject",
}


async def online(stack: Stack, project: str, headers: dict[str, str], drivers: list[int]) -> dict[str, Any]:
    body = {"features": ["driver_live:trips"], "entities": {"driver_id": drivers}}
    response = await stack.client.post(f"{base(project)}/online", json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()["results"][1]
    return answer


async def test_batch_breaking_expectations_is_rejected_with_a_report(stack: Stack) -> None:
    project, headers = await stack.project()
    await live_view(stack, project, headers, EXPECT)
    now = datetime.now(UTC)
    bad = rows(
        (1, 5, 4.0, now),
        (2, None, 4.0, now),  # not_null
        (3, 500, 4.0, now),  # max
        (4, 5, 9.5, now),  # rating max
        (5, 5, 3.0, now - timedelta(hours=3)),  # stale
    )
    response = await stack.client.post(
        f"{base(project)}/push", json={"push_source": "driver_push", "rows": bad}, headers=headers
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    [report] = problem["reports"]
    assert report["outcome"] == "rejected"
    assert report["rows_checked"] == 5
    assert report["rows_failed"] == 4
    failures = {(f["column"], f["check"]): f["rows"] for f in report["failures"]}
    assert failures == {
        ("trips", "not_null"): [1],
        ("trips", "max"): [2],
        ("rating", "max"): [3],
        ("event_timestamp", "max_staleness"): [4],
    }
    # Nothing was written, and the report was stored anyway.
    assert (await online(stack, project, headers, [1]))["statuses"] == ["NOT_FOUND"]
    reports = (await stack.client.get(f"{base(project)}/feature-views/driver_live/validations", headers=headers)).json()
    assert [r["outcome"] for r in reports["items"]] == ["rejected"]
    assert reports["items"][0]["id"] == report["id"]

    good = rows((1, 5, 4.0, now), (2, 0, 1.0, now - timedelta(minutes=55)))
    accepted = await stack.client.post(
        f"{base(project)}/push", json={"push_source": "driver_push", "rows": good}, headers=headers
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["reports"][0]["outcome"] == "passed"
    assert (await online(stack, project, headers, [1, 2]))["values"] == [5, 0]


async def test_flag_policy_accepts_and_records(stack: Stack) -> None:
    project, headers = await stack.project()
    await live_view(stack, project, headers, {**EXPECT, "policy": "flag"})
    batch = rows((1, 500, 4.0, datetime.now(UTC)), (2, 7, None, datetime.now(UTC)))
    response = await stack.client.post(
        f"{base(project)}/push", json={"push_source": "driver_push", "rows": batch}, headers=headers
    )
    assert response.status_code == 200, response.text
    [report] = response.json()["reports"]
    assert report["outcome"] == "flagged"
    assert report["rows_failed"] == 1
    assert (await online(stack, project, headers, [1, 2]))["values"] == [500, 7]


async def test_columnar_parquet_and_arrow_pushes(stack: Stack) -> None:
    project, headers = await stack.project()
    await live_view(stack, project, headers, None)
    columns = {"driver_id": [1], "trips": [11], "rating": [4.1], "event_timestamp": [NOW.isoformat()]}
    response = await stack.client.post(
        f"{base(project)}/push", json={"push_source": "driver_push", "columns": columns}, headers=headers
    )
    assert response.status_code == 200, response.text
    table = pa.table(
        {
            "driver_id": pa.array([2, 3], pa.int64()),
            "trips": pa.array([21, 31], pa.int64()),
            "rating": pa.array([2.0, 3.0]),
            "event_timestamp": pa.array([NOW, NOW], pa.timestamp("us", tz="UTC")),
        }
    )
    parquet = io.BytesIO()
    pq.write_table(table.slice(0, 1), parquet)
    uploaded = await stack.client.post(
        f"{base(project)}/push/batches",
        params={"push_source": "driver_push", "to": "online"},
        content=parquet.getvalue(),
        headers={**headers, "content-type": "application/vnd.apache.parquet"},
    )
    assert uploaded.status_code == 200, uploaded.text
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table.slice(1, 1))
    streamed = await stack.client.post(
        f"{base(project)}/push/batches",
        params={"push_source": "driver_push"},
        content=sink.getvalue().to_pybytes(),
        headers={**headers, "content-type": "application/vnd.apache.arrow.stream"},
    )
    assert streamed.status_code == 200, streamed.text
    assert (await online(stack, project, headers, [1, 2, 3]))["values"] == [11, 21, 31]
    wrong = await stack.client.post(
        f"{base(project)}/push/batches",
        params={"push_source": "driver_push"},
        content=b"not parquet",
        headers={**headers, "content-type": "application/vnd.apache.parquet"},
    )
    assert wrong.status_code == 422
    missing = await stack.client.post(
        f"{base(project)}/push", json={"push_source": "driver_push", "rows": [{"driver_id": 1}]}, headers=headers
    )
    assert missing.status_code == 422
    assert "missing column" in missing.json()["detail"]


async def test_offline_push_then_materialize_incrementally(stack: Stack) -> None:
    project, headers = await stack.project()
    await live_view(stack, project, headers, None)
    first = await stack.client.post(
        f"{base(project)}/materializations",
        json={"feature_views": ["driver_live"], "start": (T0 - timedelta(days=1)).isoformat()},
        headers=headers,
    )
    done = await stack.wait_job(headers, first.json())
    assert done["status"] == "succeeded", done
    assert done["result"]["rows"] == 2  # drivers 1 and 2 from the batch source
    assert done["progress"] == 1.0
    pushed = await stack.client.post(
        f"{base(project)}/push",
        json={"push_source": "driver_push", "rows": rows((9, 42, 4.2, datetime.now(UTC))), "to": "offline"},
        headers=headers,
    )
    assert pushed.status_code == 200, pushed.text
    assert (await online(stack, project, headers, [9]))["statuses"] == ["NOT_FOUND"]  # offline only
    second = await stack.client.post(
        f"{base(project)}/materializations",
        json={"feature_views": ["driver_live"], "incremental": True},
        headers=headers,
    )
    again = await stack.wait_job(headers, second.json())
    assert again["status"] == "succeeded", again
    assert again["result"]["rows"] == 1  # only what arrived since the last run
    assert (await online(stack, project, headers, [9]))["values"] == [42]
    refused = await stack.client.post(
        f"{base(project)}/materializations", json={"feature_views": ["ghost"]}, headers=headers
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "feature_views[0]"


async def test_profile_run_stores_a_report(stack: Stack) -> None:
    project, headers = await stack.project()
    await define(stack, project, headers)
    response = await stack.client.post(
        f"{base(project)}/feature-views/driver_stats/validations", json={}, headers=headers
    )
    assert response.status_code == 202, response.text
    job = await stack.wait_job(headers, response.json())
    assert job["status"] == "succeeded", job
    report = (
        await stack.client.get(
            f"{base(project)}/feature-views/driver_stats/validations/{job['result']['report_id']}", headers=headers
        )
    ).json()
    assert report["kind"] == "profile"
    assert report["rows_checked"] == 4
    trips, rating = report["profile"]["trips"], report["profile"]["rating"]
    assert trips == {
        "count": 4,
        "nulls": 0,
        "null_fraction": 0.0,
        "min": 1.0,
        "max": 10.0,
        "mean": 4.0,
        "std": trips["std"],
    }
    assert abs(trips["std"] - pd.Series([1, 2, 3, 10]).std(ddof=0)) < 1e-9
    assert rating["nulls"] == 1
    assert rating["null_fraction"] == 0.25
    assert report["freshness_seconds"] > 0
    assert report["job_id"] == job["id"]
