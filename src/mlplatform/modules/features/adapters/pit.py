"""Point-in-time joins in pandas: the correctness core of training sets (no Feast import).

For every entity row the value of each feature is the one with the latest event timestamp at or
before the row's timestamp and, when the view has a TTL, not older than `timestamp - ttl`. Every
entity row comes back, in the input order, with nulls where no value qualified (Feast's `file`
offline store drops such rows). Ties on the event timestamp are broken by the created timestamp,
then by the order rows were read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

ROW_ID = "__mlplatform_row"


@dataclass(frozen=True)
class ViewJoin:
    """One feature view's part of a point-in-time join."""

    join_keys: Sequence[str]
    """Join key columns, named as in the entity frame."""
    source_keys: Sequence[str]
    """The same keys as named in `rows` (differ when a view maps an entity's join key)."""
    timestamp_field: str
    created_timestamp_field: str | None
    features: Sequence[str]
    """Feature columns to take from `rows`."""
    output_names: Sequence[str]
    """Names of the result columns (`feature` or `view__feature`)."""
    ttl: timedelta | None


def to_utc(series: pd.Series) -> pd.Series:
    """Timestamps as tz-aware UTC nanoseconds (naive values are taken as UTC)."""
    values = pd.to_datetime(series, utc=True)
    return values.astype("datetime64[ns, UTC]")


def nullable(series: pd.Series) -> pd.Series:
    """Keep integers and booleans integral when nulls appear (pandas would turn them into floats)."""
    if pd.api.types.is_integer_dtype(series.dtype) and not isinstance(series.dtype, pd.api.extensions.ExtensionDtype):
        return series.astype(f"Int{series.dtype.itemsize * 8}")
    if pd.api.types.is_bool_dtype(series.dtype) and not isinstance(series.dtype, pd.api.extensions.ExtensionDtype):
        return series.astype("boolean")
    return series


def latest_per_entity(
    rows: pd.DataFrame, keys: Sequence[str], timestamp_field: str, created_timestamp_field: str | None
) -> pd.DataFrame:
    """The newest row per entity (ties broken by the created timestamp, then read order)."""
    if rows.empty:
        return rows
    order = [timestamp_field] + ([created_timestamp_field] if created_timestamp_field else [])
    ranked = rows.assign(**{ROW_ID: np.arange(len(rows))}).sort_values([*order, ROW_ID], kind="stable")
    ranked = ranked.drop_duplicates(list(keys), keep="last") if keys else ranked.tail(1)
    return ranked.drop(columns=[ROW_ID]).reset_index(drop=True)


def point_in_time_join(
    entities: pd.DataFrame, timestamp_column: str, views: Sequence[tuple[ViewJoin, pd.DataFrame]]
) -> pd.DataFrame:
    """Join each view's `rows` onto `entities` as of each entity row's timestamp.

    Returns `entities` (same rows, same order, same columns) plus one column per requested feature.
    """
    result = entities.reset_index(drop=True).copy()
    result[ROW_ID] = np.arange(len(result))
    entity_ts = to_utc(result[timestamp_column])
    for view, rows in views:
        joined = _join_one(result[[ROW_ID, *view.join_keys]].assign(__ts=entity_ts), view, rows)
        for feature, output in zip(view.features, view.output_names, strict=True):
            result[output] = joined[feature].reset_index(drop=True)
    return result.drop(columns=[ROW_ID])


def _join_one(left: pd.DataFrame, view: ViewJoin, rows: pd.DataFrame) -> pd.DataFrame:
    """`left` (row id, join keys, __ts) as of its timestamps against `rows`; one output row per left row."""
    right = rows.rename(columns=dict(zip(view.source_keys, view.join_keys, strict=True)))
    right = right[[*view.join_keys, view.timestamp_field, *_created(view), *view.features]].copy()
    for feature in view.features:
        right[feature] = nullable(right[feature])
    right["__ts"] = to_utc(right[view.timestamp_field])
    if view.created_timestamp_field:
        right["__created"] = to_utc(right[view.created_timestamp_field])
    # Keep one row per (keys, timestamp): the latest created, else the last read.
    right[ROW_ID + "_r"] = np.arange(len(right))
    order = ["__ts", *(["__created"] if view.created_timestamp_field else []), ROW_ID + "_r"]
    right = right.sort_values(order, kind="stable").drop_duplicates([*view.join_keys, "__ts"], keep="last")
    keys = list(view.join_keys)
    for key in keys:  # merge_asof needs identical key dtypes on both sides
        left[key], right[key] = _common_key_type(left[key], right[key])
    left_valid = left.dropna(subset=["__ts", *keys])
    right = right.dropna(subset=["__ts", *keys])
    features = list(view.features)
    if left_valid.empty or right.empty:
        out = left[[ROW_ID]].copy()
        for feature in features:
            out[feature] = pd.Series([None] * len(out), dtype=_empty_dtype(rows, feature))
        return out.sort_values(ROW_ID).reset_index(drop=True)
    merged = pd.merge_asof(
        left_valid.sort_values("__ts", kind="stable"),
        right[[*keys, "__ts", *features]].sort_values("__ts", kind="stable"),
        on="__ts",
        by=keys or None,
        direction="backward",
        allow_exact_matches=True,
        tolerance=pd.Timedelta(view.ttl) if view.ttl and view.ttl > timedelta(0) else None,
    )
    out = left[[ROW_ID]].merge(merged[[ROW_ID, *features]], on=ROW_ID, how="left", validate="one_to_one")
    return out.sort_values(ROW_ID).reset_index(drop=True)


def _created(view: ViewJoin) -> list[str]:
    return [view.created_timestamp_field] if view.created_timestamp_field else []


def _empty_dtype(rows: pd.DataFrame, feature: str) -> object:
    if feature in rows.columns:
        return nullable(rows[feature].iloc[:0]).dtype
    return object


def _common_key_type(left: pd.Series, right: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_integer_dtype(left.dtype) and pd.api.types.is_integer_dtype(right.dtype):
        return left.astype("int64"), right.astype("int64")
    if left.dtype == right.dtype:
        return left, right
    if pd.api.types.is_numeric_dtype(left.dtype) and pd.api.types.is_numeric_dtype(right.dtype):
        return left.astype("float64"), right.astype("float64")
    return left.astype(str), right.astype(str)
