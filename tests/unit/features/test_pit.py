"""The point-in-time join on small frames with hand-computed answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from mlplatform.modules.features.adapters.pit import ViewJoin, latest_per_entity, point_in_time_join

T = datetime(2026, 3, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T + timedelta(hours=hours)


def view(ttl: timedelta | None = None, created: str | None = None) -> ViewJoin:
    return ViewJoin(
        join_keys=["id"],
        source_keys=["id"],
        timestamp_field="ts",
        created_timestamp_field=created,
        features=["x"],
        output_names=["x"],
        ttl=ttl,
    )


def test_latest_value_at_or_before_each_row_with_ttl_and_nulls_kept() -> None:
    rows = pd.DataFrame({"id": [1, 1, 2], "ts": [at(0), at(2), at(1)], "x": pd.Series([10, 20, 30], dtype="int64")})
    entities = pd.DataFrame(
        {"id": [1, 1, 1, 2, 3, 1], "event_timestamp": [at(1), at(2), at(6), at(0.5), at(1), at(-1)]}
    )
    out = point_in_time_join(entities, "event_timestamp", [(view(ttl=timedelta(hours=3)), rows)])
    assert out["x"].tolist() == [10, 20, pd.NA, pd.NA, pd.NA, pd.NA]
    assert str(out["x"].dtype) == "Int64"
    assert out["id"].tolist() == [1, 1, 1, 2, 3, 1]  # order and every row kept


def test_created_timestamp_breaks_ties_and_naive_times_are_utc() -> None:
    rows = pd.DataFrame(
        {
            "id": [1, 1],
            "ts": [at(0), at(0)],
            "created": [at(5), at(1)],
            "x": [1.5, 2.5],
        }
    )
    entities = pd.DataFrame({"id": [1], "event_timestamp": [at(1).replace(tzinfo=None)]})
    out = point_in_time_join(entities, "event_timestamp", [(view(created="created"), rows)])
    assert out["x"].tolist() == [1.5]


def test_mapped_join_keys_and_mixed_key_types() -> None:
    rows = pd.DataFrame({"driver": pd.Series([7], dtype="int32"), "ts": [at(0)], "x": ["a"]})
    entities = pd.DataFrame({"id": pd.Series([7, 8], dtype="int64"), "event_timestamp": [at(1), at(1)]})
    joined = ViewJoin(["id"], ["driver"], "ts", None, ["x"], ["v__x"], None)
    out = point_in_time_join(entities, "event_timestamp", [(joined, rows)])
    assert out["v__x"].iloc[0] == "a"
    assert pd.isna(out["v__x"].iloc[1])


def test_no_source_rows_gives_nulls_for_every_row() -> None:
    rows = pd.DataFrame(
        {
            "id": pd.Series([], dtype="int64"),
            "ts": pd.Series([], dtype="datetime64[ns, UTC]"),
            "x": pd.Series([], dtype="float64"),
        }
    )
    entities = pd.DataFrame({"id": [1, 2], "event_timestamp": [at(1), at(2)]})
    out = point_in_time_join(entities, "event_timestamp", [(view(), rows)])
    assert len(out) == 2
    assert out["x"].isna().all()


def test_latest_per_entity() -> None:
    rows = pd.DataFrame({"id": [1, 1, 2, 2], "ts": [at(1), at(3), at(2), at(2)], "x": [1, 3, 20, 21]})
    latest = latest_per_entity(rows, ["id"], "ts", None).sort_values("id")
    assert latest["x"].tolist() == [3, 21]  # ties: the row read last wins
