"""Missing-feature policies and request-time values of the feature join (`assembly.py`)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from mlplatform.kernel.errors import Invalid
from mlplatform.modules.catalogue.api import ServingOptions
from mlplatform.modules.serving.assembly import _column_names, _feature_values, _given_columns
from mlplatform.modules.serving.formats.payload import FrameInput
from mlplatform.modules.serving.served import Served
from mlplatform.modules.serving.workers.pool import ColumnSpec

ENTITIES: dict[str, list[Any]] = {"card_id": [1, 2, 3]}
VECTOR = {"values": [0.5, None, 7.0], "statuses": ["PRESENT", "NOT_FOUND", "OUTSIDE_MAX_AGE"]}


def served(inputs: list[ColumnSpec] | None = None, **options: Any) -> Served:
    deployment = SimpleNamespace(serving=ServingOptions(**options))
    return cast(Served, SimpleNamespace(deployment=deployment, info=SimpleNamespace(inputs=inputs)))


def test_reject_names_the_entity_the_feature_and_its_status() -> None:
    with pytest.raises(Invalid) as refused:
        _feature_values(served(), "amount", VECTOR, ENTITIES)
    assert "amount" in refused.value.detail
    assert "card_id=2" in refused.value.detail
    assert (refused.value.extra["feature"], refused.value.extra["feature_status"]) == ("amount", "NOT_FOUND")


def test_null_and_default_fill_what_is_missing() -> None:
    assert _feature_values(served(missing_features="null"), "amount", VECTOR, ENTITIES) == [0.5, None, None]
    filled = served(missing_features="default", feature_defaults={"amount": 1.5})
    assert _feature_values(filled, "amount", VECTOR, ENTITIES) == [0.5, 1.5, 1.5]
    with pytest.raises(Invalid, match="no default for it"):
        _feature_values(served(missing_features="default", feature_defaults={"x": 0}), "amount", VECTOR, ENTITIES)


def test_one_row_of_request_values_is_shared_by_every_entity_row() -> None:
    assert _given_columns(FrameInput({"hour": [13]}, 1), 3) == {"hour": [13, 13, 13]}
    assert _given_columns(FrameInput({"hour": [1, 2, 3]}, 3), 3) == {"hour": [1, 2, 3]}
    with pytest.raises(Invalid, match="2 rows of request values for 3 entity rows"):
        _given_columns(FrameInput({"hour": [1, 2]}, 2), 3)


def test_the_signature_orders_the_columns_and_skips_absent_optional_ones() -> None:
    signature = [
        ColumnSpec(name="hour", type="long"),
        ColumnSpec(name="amount", type="double"),
        ColumnSpec(name="note", type="string", required=False),
    ]
    assert _column_names(served(signature), {"hour": [1]}, {"amount": {}}) == ["hour", "amount"]
    assert _column_names(served(None), {"hour": [1]}, {"amount": {}, "hour": {}}) == ["hour", "amount"]
