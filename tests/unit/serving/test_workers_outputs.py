"""Model outputs become the plain data MLflow's scoring server would have sent as JSON."""

from __future__ import annotations

import datetime
import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow.pyfunc.scoring_server import predictions_to_json

from mlplatform.modules.serving.workers.outputs import jsonable, row_count, split_rows

OUTPUTS = [
    np.array([0, 1, 1]),
    np.array([[0.25, 0.75], [0.5, 0.5]]),
    np.array(["a", "b"]),
    np.array([1.5, np.float32(2.5)], dtype=object),
    pd.DataFrame({"label": [1, 0], "score": [0.9, 0.2], "name": ["x", "y"]}),
    pd.Series([0.1, 0.2], name="score"),
    pd.Series([3, 4]),
    [np.int64(1), np.float64(0.5), "s", None],
    {"scores": np.array([1.0, 2.0]), 3: np.bool_(True)},
    {"when": pd.Timestamp("2026-12-07T10:00:00"), "day": datetime.date(2026, 12, 7), "raw": b"\x00\x01"},
    np.int64(7),
    "text",
]


@pytest.mark.parametrize("raw", OUTPUTS, ids=lambda raw: type(raw).__name__)
def test_outputs_match_the_scoring_server(raw: Any) -> None:
    buffer = io.StringIO()
    predictions_to_json(raw, buffer)
    assert jsonable(raw) == json.loads(buffer.getvalue())["predictions"]


def test_row_aligned_outputs_split_back_per_request() -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    assert row_count(frame) == 3
    assert [jsonable(part) for part in split_rows(frame, [2, 1])] == [
        [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}],
        [{"a": 3, "b": "z"}],
    ]
    array = np.array([[1, 2], [3, 4], [5, 6]])
    assert [jsonable(part) for part in split_rows(array, [1, 2])] == [[[1, 2]], [[3, 4], [5, 6]]]
    assert [jsonable(part) for part in split_rows(pd.Series([1, 2]), [1, 1])] == [[{"0": 1}], [{"0": 2}]]
    assert row_count({"a": [1, 2]}) is None
    assert row_count(np.int64(3)) is None
