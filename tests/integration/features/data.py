"""Hand-made feature data with known answers, and a helper that defines a small project over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from tests.integration.features.stack import Stack

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def driver_rows() -> pd.DataFrame:
    """driver_stats: driver 1 at t0, t0+2h, t0+5h (rating null); driver 2 at t0+1h; driver 3 has no rows."""
    return pd.DataFrame(
        {
            "driver_id": pd.Series([1, 1, 1, 2], dtype="int64"),
            "event_timestamp": [hours(0), hours(2), hours(5), hours(1)],
            "trips": pd.Series([1, 2, 3, 10], dtype="int64"),
            "rating": [4.0, 4.5, None, 3.0],
        }
    )


def customer_rows() -> pd.DataFrame:
    """customer_stats (no TTL): customer 7 at t0-10h and t0+3h; customer 8 at t0+6h."""
    return pd.DataFrame(
        {
            "customer_id": pd.Series([7, 7, 8], dtype="int64"),
            "event_timestamp": [hours(-10), hours(3), hours(6)],
            "spend": [1.5, 2.5, 9.0],
            "segment": ["a", "b", "c"],
        }
    )


ENTITY_ROWS = [
    # (driver_id, customer_id, at) -> expected (trips, rating, spend, segment)
    (1, 7, hours(1), (1, 4.0, 1.5, "a")),  # latest driver row t0; customer row from t0-10h (no TTL)
    (1, 7, hours(2), (2, 4.5, 1.5, "a")),  # exact timestamp match counts
    (1, 8, hours(4), (2, 4.5, None, None)),  # driver row 2h old (TTL 3h); customer 8 not yet
    (1, 7, hours(9), (None, None, 2.5, "b")),  # newest driver row is 4h old > TTL 3h
    (2, 8, hours(0), (None, None, None, None)),  # before any row of either
    (2, 8, hours(1), (10, 3.0, None, None)),
    (3, 8, hours(7), (None, None, 9.0, "c")),  # driver 3 has no rows at all
    (1, 7, hours(5), (3, None, 2.5, "b")),  # the row exists, its rating is null
    (1, 7, hours(1), (1, 4.0, 1.5, "a")),  # duplicate entity row: kept
]


def entity_rows() -> list[dict[str, Any]]:
    return [{"driver_id": d, "customer_id": c, "event_timestamp": at.isoformat()} for d, c, at, _ in ENTITY_ROWS]


async def define(
    stack: Stack,
    project: str,
    headers: dict[str, str],
    *,
    postgres: bool = False,
    driver_ttl_hours: float = 3,
) -> None:
    """Entities driver + customer, sources (parquet, or PostgreSQL tables), views driver_stats (TTL) and
    customer_stats (no TTL), service `training` with both."""
    sources: list[dict[str, Any]]
    if postgres:
        connection = await stack.postgres_connection(project)
        drivers = stack.create_table(
            driver_rows(),
            {"driver_id": "bigint", "event_timestamp": "timestamptz", "trips": "bigint", "rating": "double precision"},
        )
        customers = stack.create_table(
            customer_rows(),
            {"customer_id": "bigint", "event_timestamp": "timestamptz", "spend": "double precision", "segment": "text"},
        )
        sources = [
            {
                "name": "drivers",
                "kind": "postgres",
                "connection": connection,
                "table": drivers,
                "timestamp_field": "event_timestamp",
            },
            {
                "name": "customers",
                "kind": "postgres",
                "connection": connection,
                "table": customers,
                "timestamp_field": "event_timestamp",
            },
        ]
    else:
        stack.write_project_parquet(project, "raw/drivers/part-0.parquet", driver_rows())
        stack.write_project_parquet(project, "raw/customers.parquet", customer_rows())
        sources = [
            {
                "name": "drivers",
                "kind": "parquet",
                "path": "raw/drivers",
                "timestamp_field": "event_timestamp",
            },
            {
                "name": "customers",
                "kind": "parquet",
                "path": "raw/customers.parquet",
                "timestamp_field": "event_timestamp",
            },
        ]
    bodies: list[tuple[str, dict[str, Any]]] = [
        ("entities", {"name": "driver", "join_key": "driver_id"}),
        ("entities", {"name": "customer", "join_key": "customer_id"}),
        *(("data-sources", s) for s in sources),
        (
            "feature-views",
            {
                "name": "driver_stats",
                "entities": ["driver"],
                "features": [{"name": "trips", "dtype": "int64"}, {"name": "rating", "dtype": "float64"}],
                "source": "drivers",
                "ttl_seconds": int(driver_ttl_hours * 3600),
            },
        ),
        (
            "feature-views",
            {
                "name": "customer_stats",
                "entities": ["customer"],
                "features": [{"name": "spend", "dtype": "float64"}, {"name": "segment", "dtype": "string"}],
                "source": "customers",
            },
        ),
        ("feature-services", {"name": "training", "features": ["driver_stats", "customer_stats"]}),
    ]
    await post_definitions(stack, project, headers, bodies)


async def post_definitions(
    stack: Stack, project: str, headers: dict[str, str], bodies: list[tuple[str, dict[str, Any]]]
) -> None:
    """POST each `(collection, body)` (`entities`, `data-sources`, ...) of the project's features, in order;
    each must be created."""
    for path, body in bodies:
        response = await stack.client.post(f"/api/v1/projects/{project}/features/{path}", json=body, headers=headers)
        assert response.status_code == 201, response.text
