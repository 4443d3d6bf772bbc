"""Expectations on the way in, and profiles of a view's data (pure pandas, no Feast).

A batch breaks an expectation when a column has nulls (`not_null`), values outside `[min, max]`,
values outside `allowed_values`, or rows whose event time is older than `max_staleness_seconds`.
Reports name each failing column and check with the positions of the first failing rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from mlplatform.modules.features.adapters.pit import to_utc
from mlplatform.modules.features.schemas import ColumnExpectation, ColumnFailure, ColumnProfile, Expectations

MAX_ROWS_LISTED = 100


def _positions(mask: pd.Series) -> tuple[int, list[int]]:
    hits = np.flatnonzero(mask.to_numpy(dtype=bool, na_value=False))
    return int(hits.size), [int(i) for i in hits[:MAX_ROWS_LISTED]]


def check_batch(
    frame: pd.DataFrame, expectations: Expectations, *, timestamp_field: str | None, now: datetime
) -> tuple[int, list[ColumnFailure]]:
    """(number of failing rows, failures) of `frame` against `expectations`."""
    failing = pd.Series(False, index=frame.index)
    failures: list[ColumnFailure] = []

    def record(column: str, check: str, mask: pd.Series, message: str) -> None:
        nonlocal failing
        count, rows = _positions(mask)
        if count:
            failing = failing | mask.fillna(False).astype(bool)
            failures.append(ColumnFailure(column=column, check=check, failed_rows=count, rows=rows, message=message))

    for column, rule in expectations.columns.items():
        if column not in frame.columns:
            if rule.not_null:
                record(column, "not_null", pd.Series(True, index=frame.index), f"column {column!r} is missing")
            continue
        _check_column(frame[column], column, rule, record)
    if expectations.max_staleness_seconds is not None and timestamp_field and timestamp_field in frame.columns:
        stamps = to_utc(frame[timestamp_field])
        limit = pd.Timestamp(now) - pd.Timedelta(seconds=expectations.max_staleness_seconds)
        record(
            timestamp_field,
            "max_staleness",
            stamps < limit,
            f"event time older than {expectations.max_staleness_seconds} s",
        )
    return int(failing.sum()), failures


def _check_column(values: pd.Series, column: str, rule: ColumnExpectation, record: Any) -> None:
    nulls = values.isna()
    if rule.not_null:
        record(column, "not_null", nulls, "null value")
    present = values[~nulls]
    if rule.min is not None or rule.max is not None:
        numbers = pd.to_numeric(present, errors="coerce")
        not_numeric = numbers.isna()
        record(column, "type", not_numeric.reindex(values.index, fill_value=False), "not a number")
        if rule.min is not None:
            record(column, "min", (numbers < rule.min).reindex(values.index, fill_value=False), f"below {rule.min}")
        if rule.max is not None:
            record(column, "max", (numbers > rule.max).reindex(values.index, fill_value=False), f"above {rule.max}")
    if rule.allowed_values is not None:
        allowed = set(rule.allowed_values)
        outside = ~present.map(lambda v: _plain(v) in allowed)
        record(column, "allowed_values", outside.reindex(values.index, fill_value=False), "value not allowed")


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def profile(
    frame: pd.DataFrame, columns: Sequence[str], *, timestamp_field: str | None, now: datetime
) -> tuple[dict[str, ColumnProfile], float | None]:
    """Per column: count, nulls, null fraction, min/max/mean/std (numbers), distinct (others); and the
    age in seconds of the newest row."""
    result: dict[str, ColumnProfile] = {}
    for column in columns:
        if column not in frame.columns:
            continue
        values = frame[column]
        count = len(values)
        nulls = int(values.isna().sum())
        entry = ColumnProfile(count=count, nulls=nulls, null_fraction=(nulls / count) if count else 0.0)
        present = values.dropna()
        if pd.api.types.is_bool_dtype(values.dtype):
            entry.distinct = int(present.nunique())
        elif pd.api.types.is_numeric_dtype(values.dtype) and len(present):
            numbers = present.astype("float64")
            entry.min = _finite(numbers.min())
            entry.max = _finite(numbers.max())
            entry.mean = _finite(numbers.mean())
            entry.std = _finite(numbers.std(ddof=0))
        elif len(present):
            try:
                entry.distinct = int(present.nunique())
            except TypeError:  # unhashable (lists)
                entry.distinct = None
        result[column] = entry
    freshness = None
    if timestamp_field and timestamp_field in frame.columns and len(frame):
        newest = to_utc(frame[timestamp_field]).max()
        if not pd.isna(newest):
            freshness = max(0.0, (pd.Timestamp(now) - newest).total_seconds())
    return result, freshness


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None
