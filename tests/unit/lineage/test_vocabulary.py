"""Node references, directions, depth bounds and OpenLineage naming."""

from __future__ import annotations

import pytest

from mlplatform.kernel.errors import Invalid
from mlplatform.modules.lineage.openlineage import naming
from mlplatform.modules.lineage.vocabulary import (
    DEFAULT_DEPTH,
    MAX_DEPTH,
    Direction,
    NodeType,
    check_depth,
    parse_direction,
    parse_node_ref,
)


def test_node_refs_split_on_the_first_colon() -> None:
    assert parse_node_ref("feature_view:fraud/card_stats") == (NodeType.FEATURE_VIEW, "fraud/card_stats")
    assert parse_node_ref("training_dataset:s3://lake/ds.parquet") == (
        NodeType.TRAINING_DATASET,
        "s3://lake/ds.parquet",
    )


@pytest.mark.parametrize(
    "value", ["", "feature_view", "feature_view:", ":x", "view:x", "x" * 10 + ":y", "job:" + "k" * 501]
)
def test_bad_node_refs_are_invalid(value: str) -> None:
    with pytest.raises(Invalid) as raised:
        parse_node_ref(value)
    assert raised.value.extra == {"parameter": "node"}


def test_direction_and_depth() -> None:
    assert parse_direction(None) is Direction.BOTH
    assert parse_direction("upstream") is Direction.UPSTREAM
    with pytest.raises(Invalid):
        parse_direction("up")
    assert check_depth(None) == DEFAULT_DEPTH
    assert check_depth(MAX_DEPTH) == MAX_DEPTH
    for bad in (0, -1, MAX_DEPTH + 1):
        with pytest.raises(Invalid):
            check_depth(bad)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://lake/raw/tx.parquet", ("s3://lake", "raw/tx.parquet")),
        ("s3a://lake/raw/", ("s3://lake", "raw/")),
        ("gcs://bucket/a", ("gs://bucket", "a")),
        ("/data/tx.parquet", ("file", "/data/tx.parquet")),
        ("file:///data/my%20tx.parquet", ("file", "/data/my tx.parquet")),
        ("postgresql://db.internal/warehouse", ("postgres://db.internal:5432", "warehouse")),
        ("https://reports.example/r/1.html", ("https://reports.example", "/r/1.html")),
        ("models:/fraud.scorer/1", None),
        ("s3://", None),
        ("", None),
    ],
)
def test_datasets_are_named_by_where_they_live(uri: str, expected: tuple[str, str] | None) -> None:
    assert naming.dataset_from_uri(uri) == expected


def test_platform_objects_live_in_the_project_namespace() -> None:
    prefix = naming.NAMESPACE_PREFIX
    assert naming.feature_view("fraud", "card_stats", prefix=prefix) == ("mlplatform/fraud", "feature_views/card_stats")
    assert naming.model_version("fraud", "scorer", 3, prefix=prefix) == ("mlplatform/fraud", "models/scorer/versions/3")
    assert naming.model_version("fraud", "scorer", 3, prefix="staging") == ("staging/fraud", "models/scorer/versions/3")
    assert naming.training_job("fraud/baseline", "1") == "train.fraud/baseline"
    assert naming.training_job(None, "7") == "train.experiment-7"
    assert naming.materialization_job(["b", "a"]) == "materialize.a+b"
