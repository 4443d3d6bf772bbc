"""Expectation checks and profiles on small frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from mlplatform.modules.features.schemas import ColumnExpectation, Expectations
from mlplatform.modules.features.services.validation import check_batch, profile

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def test_each_failing_check_names_column_check_and_rows() -> None:
    frame = pd.DataFrame(
        {
            "a": [1, None, 5, 2],
            "b": ["x", "y", "z", "x"],
            "ts": [NOW, NOW, NOW - timedelta(hours=2), NOW],
        }
    )
    expectations = Expectations(
        columns={
            "a": ColumnExpectation(not_null=True, min=0, max=4),
            "b": ColumnExpectation(allowed_values=["x", "y"]),
            "missing": ColumnExpectation(not_null=True),
        },
        max_staleness_seconds=3600,
    )
    failed, failures = check_batch(frame, expectations, timestamp_field="ts", now=NOW)
    found = {(f.column, f.check): (f.failed_rows, f.rows) for f in failures}
    assert found == {
        ("a", "not_null"): (1, [1]),
        ("a", "max"): (1, [2]),
        ("b", "allowed_values"): (1, [2]),
        ("missing", "not_null"): (4, [0, 1, 2, 3]),
        ("ts", "max_staleness"): (1, [2]),
    }
    assert failed == 4


def test_passing_batch_has_no_failures() -> None:
    frame = pd.DataFrame({"a": [1, 2], "ts": [NOW, NOW]})
    failed, failures = check_batch(
        frame, Expectations(columns={"a": ColumnExpectation(min=1, max=2)}), timestamp_field="ts", now=NOW
    )
    assert (failed, failures) == (0, [])


def test_profile_numbers_strings_and_freshness() -> None:
    frame = pd.DataFrame({"n": [1.0, 3.0, None], "s": ["a", "a", "b"], "ts": [NOW - timedelta(minutes=5)] * 3})
    columns, freshness = profile(frame, ["n", "s", "absent"], timestamp_field="ts", now=NOW)
    assert columns["n"].count == 3
    assert columns["n"].nulls == 1
    assert columns["n"].min == 1.0
    assert columns["n"].max == 3.0
    assert columns["n"].mean == 2.0
    assert columns["n"].std == 1.0
    assert columns["s"].distinct == 2
    assert "absent" not in columns
    assert freshness == 300.0
