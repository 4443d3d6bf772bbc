"""The types the features API declares say exactly what the code behind them accepts.

`PATH_PATTERN` (what the document shows for project paths) against `project_key` (what every reader and
writer of a user path calls), the declared feature types against `parse_dtype`, and the declared name
patterns against the newline Python's `$` lets through.
"""

from __future__ import annotations

import re
from typing import get_args

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlplatform.kernel.storage.project_paths import MAX_PATH_BYTES, PATH_PATTERN, InvalidPath, project_key
from mlplatform.modules.features import schemas
from mlplatform.modules.features.adapters.registry import SCALAR_TYPES, parse_dtype

SAMPLES = [
    "a",
    "raw/drivers.parquet",
    "raw/",
    "a/.hidden",
    "a/...",
    "x=1/y@2,z+3",
    "projectsx/a",
    "",
    "/a",
    "./a",
    "a/./b",
    "a//b",
    "a/..",
    "..",
    "projects/x",
    "mlflow",
    "features/",
    "a b",
    "a\\b",
    "s3://bucket/key",
    "a%2e",
    "a\n",
    "a\x00",
    "é",
    "a" * MAX_PATH_BYTES,
    "a" * 255,
    "a" * 256,
    "b/" + "a" * 256 + "/c",
]


def _accepted(path: str) -> bool:
    try:
        project_key("p", path)
    except InvalidPath:
        return False
    return True


def _declared(path: str) -> bool:
    return re.search(PATH_PATTERN, path) is not None and len(path) <= MAX_PATH_BYTES


@pytest.mark.parametrize("path", SAMPLES)
def test_the_path_pattern_is_the_path_rule(path: str) -> None:
    assert _declared(path) == _accepted(path)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab./=_-\n %", max_size=12))
def test_the_path_pattern_is_the_path_rule_on_any_text(path: str) -> None:
    assert _declared(path) == _accepted(path)


def test_the_declared_feature_types_are_the_parsed_ones() -> None:
    declared = set(get_args(schemas.FeatureType))
    parsed = set(SCALAR_TYPES) | {f"array<{name}>" for name in SCALAR_TYPES}
    assert declared == parsed
    for name in declared:
        parse_dtype(name)


@pytest.mark.parametrize(("value", "ok"), [("driver", True), ("driver\n", False), ("_x1", True), ("1x", False)])
def test_a_name_is_the_whole_text(value: str, ok: bool) -> None:
    decoded = msgspec.json.encode({"name": value})
    if ok:
        assert msgspec.json.decode(decoded, type=schemas.EntityCreate).name == value
    else:
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(decoded, type=schemas.EntityCreate)
