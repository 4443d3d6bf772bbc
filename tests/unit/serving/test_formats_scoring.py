"""MLflow scoring-server bodies and prediction answers: the parser reads what MLflow's own scoring server
reads (compared with `infer_and_parse_data` on the same bodies) and refuses what it should, naming the field."""

from __future__ import annotations

import json
import uuid
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pytest
from mlflow.models.signature import Schema
from mlflow.pyfunc.scoring_server import infer_and_parse_data
from mlflow.types.schema import ColSpec
from mlflow.utils.proto_json_utils import _get_jsonable_obj, dump_input_data

from mlplatform.kernel.errors import BadRequest, Invalid, PayloadTooLarge
from mlplatform.modules.serving.formats.answers import PredictResponse, joined_features, jsonable, predict_response
from mlplatform.modules.serving.formats.payload import FrameInput, TensorInput
from mlplatform.modules.serving.formats.scoring import PredictBody, as_frame, parse_scoring_request

SCHEMA = Schema([ColSpec("double", "a"), ColSpec("long", "b"), ColSpec("string", "c")])


def parse(body: Any, max_rows: int = 100) -> Any:
    return parse_scoring_request(json.dumps(body).encode(), max_rows=max_rows)


def mlflow_reads(body: dict[str, Any], schema: Schema | None = None) -> Any:
    return infer_and_parse_data({k: v for k, v in body.items() if k != "params"}, schema)


def frame_of(model_input: Any) -> pd.DataFrame:
    frame = as_frame(model_input, [spec.name for spec in SCHEMA.inputs])
    assert isinstance(frame, FrameInput)
    assert all(len(values) == frame.rows for values in frame.columns.values())
    return pd.DataFrame(frame.columns)


FRAME_BODIES = [
    {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1.5, 2, "x"], [2.5, 3, "y"], [3.5, 4, "z"]]}},
    {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1.5, 2, "x"]], "index": [7]}},
    {"dataframe_split": {"columns": ["a"], "data": [1.5, 2.5]}},
    {"dataframe_records": [{"a": 1.5, "b": 2, "c": "x"}, {"a": 2.5, "b": 3, "c": "y"}]},
    {"dataframe_records": [{"a": 1.5, "b": 2, "c": "x"}, {"c": "y", "b": 3, "a": 2.5}]},
    {"dataframe_records": [{"a": 1.5, "b": 2}, {"b": 3, "c": "y"}]},
]


@pytest.mark.parametrize("body", FRAME_BODIES)
def test_dataframe_formats_read_as_mlflow_reads_them(body: dict[str, Any]) -> None:
    request = parse(body)
    assert isinstance(request.input, FrameInput)
    assert request.entities is None
    assert request.params is None
    expected = mlflow_reads(body).reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.DataFrame(request.input.columns), expected)
    assert request.rows == len(expected)


FRAME_LIKE_TENSORS = [
    {"instances": [{"a": 1.5, "b": 2, "c": "x"}, {"a": 2.5, "b": 3, "c": "y"}]},
    {"instances": {"a": [1.5, 2.5], "b": [2, 3], "c": ["x", "y"]}},
    {"inputs": {"a": [1.5, 2.5], "b": [2, 3], "c": ["x", "y"]}},
    {"inputs": [{"a": 1.5, "b": 2, "c": "x"}, {"a": 2.5, "b": 3, "c": "y"}]},
]


@pytest.mark.parametrize("body", FRAME_LIKE_TENSORS)
def test_frame_like_tensors_become_the_columns_mlflow_makes_of_them(body: dict[str, Any]) -> None:
    request = parse(body)
    assert isinstance(request.input, TensorInput)
    read = mlflow_reads(body, SCHEMA)
    expected = pd.DataFrame(read if isinstance(read, dict) else list(read))
    pd.testing.assert_frame_equal(frame_of(request.input), expected, check_dtype=False)


def test_what_mlflow_client_sends_reads_as_mlflow_reads_it_nan_included() -> None:
    frame = pd.DataFrame({"a": [1.5, np.nan, np.inf], "b": [1, 2, 3], "c": ["x", None, "z"]})
    body = dump_input_data(frame, params={"threshold": 0.5})
    assert b"NaN" in body.encode()
    request = parse_scoring_request(body.encode(), max_rows=10)
    assert request.params == {"threshold": 0.5}
    expected = mlflow_reads(json.loads(body)).reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.DataFrame(request.input.columns), expected)


def test_nan_does_not_excuse_a_bad_body() -> None:
    with pytest.raises(Invalid, match="unknown field `x`"):
        parse_scoring_request(b'{"inputs": [NaN], "x": 1}', max_rows=10)
    with pytest.raises(Invalid, match=r"entities.d\[0\]: expected `int \| str`, got `float`"):
        parse_scoring_request(b'{"entities": {"d": [NaN]}}', max_rows=10)
    with pytest.raises(BadRequest):
        parse_scoring_request(b'{"inputs": [NaN}', max_rows=10)


def test_a_dataframe_split_with_the_signature_types_matches_mlflow_cast() -> None:
    body = FRAME_BODIES[0]
    cast = mlflow_reads(body, SCHEMA)
    ours = pd.DataFrame(parse(body).input.columns).astype({"a": "float64", "b": "int64", "c": "object"})
    pd.testing.assert_frame_equal(ours, cast)


@pytest.mark.parametrize(
    "body",
    [
        {"instances": [[1.0, 2.0], [3.0, 4.0]]},
        {"inputs": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]},
        {"dataframe_split": {"data": [[1.0, 2.0], [3.0, 4.0]]}},
        {"dataframe_split": {"columns": [0, 1], "data": [[1.0, 2.0], [3.0, 4.0]]}},
    ],
)
def test_unnamed_data_stays_a_tensor(body: dict[str, Any]) -> None:
    request = parse(body)
    assert isinstance(request.input, TensorInput)
    read = mlflow_reads(body)
    np.testing.assert_array_equal(np.asarray(request.input.data), np.asarray(read))
    assert request.input.rows == len(read)
    assert as_frame(request.input, ["a", "b"]) is None


def test_as_frame_follows_mlflow_for_scalars_and_one_column_signatures() -> None:
    assert as_frame(TensorInput({"a": 1, "b": "x"}, 1)) == FrameInput({"a": [1], "b": ["x"]}, 1)
    assert as_frame(TensorInput([1, 2, 3], 3), ["a"]) == FrameInput({"a": [1, 2, 3]}, 3)
    assert as_frame(TensorInput([1, 2, 3], 3)) is None
    assert as_frame(TensorInput({"a": [1, 2], "b": 3}, 2)) is None
    assert as_frame(TensorInput({"a": [1, 2], "b": [3]}, 2)) is None
    assert as_frame(TensorInput(5, 1)) is None


def test_params_and_entities_come_beside_the_input() -> None:
    request = parse({"inputs": {"a": [1, 2]}, "params": {"top_k": 3}, "entities": {"driver": [7, "x"]}})
    assert request.params == {"top_k": 3}
    assert request.entities == {"driver": [7, "x"]}
    assert request.rows == 2


def test_entities_alone_are_a_request() -> None:
    request = parse({"entities": {"driver_id": [1, 2, 3], "city": ["a", "b", "c"]}})
    assert request.input is None
    assert request.rows == 3


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"dataframe_split": {"columns": ["hour"], "data": [[9]]}, "entities": {"d": [1, 2, 3]}},
            FrameInput({"hour": [9, 9, 9]}, 3),
        ),
        ({"dataframe_records": [{"hour": 9}], "entities": {"d": [1, 2]}}, FrameInput({"hour": [9, 9]}, 2)),
        ({"inputs": {"hour": [9]}, "entities": {"d": [1, 2]}}, TensorInput({"hour": [9, 9]}, 2)),
        ({"inputs": {"hour": 9}, "entities": {"d": [1, 2]}}, TensorInput({"hour": [9, 9]}, 2)),
        ({"instances": [[9, 10]], "entities": {"d": [1, 2]}}, TensorInput([[9, 10], [9, 10]], 2)),
    ],
)
def test_a_one_row_input_is_repeated_for_every_entity_row(body: dict[str, Any], expected: Any) -> None:
    assert parse(body).input == expected


def invalid(body: Any, max_rows: int = 100) -> Invalid:
    with pytest.raises(Invalid) as caught:
        parse(body, max_rows)
    return caught.value


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"inputs": [1], "frobnicate": 1, "colour": 2}, "frobnicate", "unknown fields `frobnicate`, `colour`"),
        ({"inputs": [1], "instances": [1]}, "inputs", "give one input format, not two (instances is given too)"),
        ({"dataframe_split": {"columns": ["a"], "data": [[1]]}, "inputs": [1]}, "inputs", "dataframe_split is given"),
        ({}, "body", "no input"),
        ({"params": {"x": 1}}, "body", "no input"),
        ({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [1, 2, 3]]}}, "dataframe_split.data", "row 1"),
        ({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], 5]}}, "dataframe_split.data[1]", "a row"),
        ({"dataframe_split": {"columns": ["a", "b"], "data": [1, 2]}}, "dataframe_split.data[0]", "a row"),
        ({"dataframe_split": {"data": [[1, 2], [1]]}}, "dataframe_split.data", "row 1 has 1 values, row 0 has 2"),
        # An object is no row of a frame (the contract test's 500: it was read as `dataframe_records`).
        ({"dataframe_split": {"data": [{"a": 1}, True, {}]}}, "dataframe_split.data[0]", "got object"),
        ({"dataframe_split": {"data": [1, {"a": 1}]}}, "dataframe_split.data[1]", "got object"),
        (
            {"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}},
            "dataframe_split.columns",
            "`a` appears twice",
        ),
        ({"dataframe_split": {"columns": ["a"], "data": [[1]], "index": [0, 1]}}, "dataframe_split.index", "2 labels"),
        ({"dataframe_split": {"columns": ["a"]}}, "dataframe_split", "missing required field `data`"),
        ({"dataframe_split": {"columns": ["a"], "data": [[1]], "x": 1}}, "dataframe_split", "unknown field `x`"),
        ({"dataframe_split": [[1]]}, "dataframe_split", "expected `object`, got `array`"),
        ({"dataframe_split": {"columns": ["a"], "data": []}}, "dataframe_split.data", "no rows"),
        ({"dataframe_records": [{"a": 1}, [2]]}, "dataframe_records[1]", "expected `object`"),
        ({"dataframe_records": {"a": [1]}}, "dataframe_records", "expected `array`, got `object`"),
        ({"dataframe_records": [{}, {}]}, "dataframe_records", "no columns"),
        ({"instances": [{"a": 1}, 2]}, "instances[1]", "an object like instances[0]"),
        ({"instances": {"a": [1, 2], "b": [1]}}, "instances.b", "1 values, instances.a has 2"),
        ({"inputs": None}, "inputs", "null"),
        ({"inputs": []}, "inputs", "no rows"),
        ({"inputs": {}}, "inputs", "empty object"),
        ({"params": [1], "inputs": [1]}, "params", "expected `object | null`"),
        ({"entities": {}}, "entities", "no join keys"),
        ({"entities": {"d": []}}, "entities", "no rows"),
        ({"entities": {"d": [1, 2], "e": [1]}}, "entities.e", "1 values, entities.d has 2"),
        ({"entities": {"d": [1, None]}}, "entities.d[1]", "got `null`"),
        ({"entities": {"d": [1, 2.5]}}, "entities.d[1]", "got `float`"),
        ({"entities": {"d": 1}}, "entities.d", "expected `array`"),
        ({"inputs": [1, 2], "entities": {"d": [1, 2, 3]}}, "inputs", "2 rows, entities has 3"),
        ({"inputs": 5, "entities": {"d": [1, 2, 3]}}, "inputs", "1 rows, entities has 3"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(body: Any, field: str, words: str) -> None:
    error = invalid(body)
    assert error.status_code == 422
    assert error.extra["field"] == field
    assert field in str(error)
    assert words in str(error)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"dataframe_split": {"columns": ["a"], "data": [[1], [2], [3]]}}, "dataframe_split.data"),
        ({"dataframe_records": [{"a": 1}] * 3}, "dataframe_records"),
        ({"instances": [1, 2, 3]}, "instances"),
        ({"inputs": {"a": [1, 2, 3]}}, "inputs"),
        ({"entities": {"d": [1, 2, 3]}}, "entities"),
    ],
)
def test_more_rows_than_the_limit_is_413_naming_it(body: Any, field: str) -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        parse(body, max_rows=2)
    assert caught.value.status_code == 413
    assert str(caught.value) == f"{field}: 3 rows, the limit is 2 per request"


@pytest.mark.parametrize("body", [b"{", b"\xff", b"", b'{"inputs": [1,]}'])
def test_a_body_that_is_not_json_is_400(body: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_scoring_request(body, max_rows=10)
    assert caught.value.status_code == 400


def test_a_body_that_is_not_an_object_is_422() -> None:
    assert "expected `object`, got `array`" in str(invalid([1, 2]))


# ---------------------------------------------------------------- answers


@pytest.mark.parametrize(
    "predictions",
    [
        np.array([0.5, 1.5]),
        np.array([[1, 2], [3, 4]]),
        pd.DataFrame({"label": ["a", "b"], "score": [0.1, 0.9]}),
        pd.Series([1, 2], name="p"),
        [1, 2, 3],
        np.array(["yes", "no"]),
    ],
)
def test_predictions_are_encoded_as_mlflow_encodes_them(predictions: Any) -> None:
    body = msgspec.json.decode(predict_response(predictions))
    assert body == {"predictions": _get_jsonable_obj(predictions, pandas_orient="records")}
    assert jsonable(predictions) == body["predictions"]


def test_nan_numpy_scalars_and_timestamps_encode_as_json() -> None:
    predictions = [np.float32(1.5), np.int64(3), float("nan"), pd.Timestamp("2026-01-02"), np.datetime64("2026-01-02")]
    body = msgspec.json.decode(predict_response(predictions))
    assert body["predictions"] == [1.5, 3, None, "2026-01-02T00:00:00", "2026-01-02"]


def test_joined_features_add_what_answered_and_the_row_statuses() -> None:
    deployment = uuid.uuid4()
    features = joined_features(
        ["stats:trips", "stats:rating"], [["PRESENT", "NOT_FOUND"], ["NULL_VALUE", "OUTSIDE_MAX_AGE"]]
    )
    body = msgspec.json.decode(
        predict_response(np.array([1, 0]), version=4, deployment_id=deployment, features=features)
    )
    assert body == {
        "predictions": [1, 0],
        "version": 4,
        "deployment_id": str(deployment),
        "features": {
            "names": ["stats:trips", "stats:rating"],
            "statuses": [["PRESENT", "NULL_VALUE"], ["NOT_FOUND", "OUTSIDE_MAX_AGE"]],
        },
    }
    assert msgspec.json.decode(predict_response([1]), type=PredictResponse).features is msgspec.UNSET


def test_the_answer_has_a_json_schema_for_openapi() -> None:
    _, components = msgspec.json.schema_components([PredictResponse])
    statuses = components["JoinedFeatures"]["properties"]["statuses"]
    assert statuses["items"]["items"]["enum"] == ["NOT_FOUND", "NULL_VALUE", "OUTSIDE_MAX_AGE", "PRESENT"]
    assert components["PredictResponse"]["required"] == ["predictions"]


def test_an_unencodable_prediction_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="object"):
        predict_response([object()])


def test_the_documented_body_refuses_what_the_parser_refuses_for_any_model() -> None:
    """Empty inputs and null tensors are refused whatever the model: the body's JSON schema says so (the
    contract test generates bodies from it), while the decoder leaves them to the parser's own messages."""
    schema = msgspec.json.schema(PredictBody)["$defs"]
    body, split = schema["PredictBody"]["properties"], schema["DataframeSplit"]["properties"]
    assert split["data"]["minItems"] == 1
    assert body["dataframe_records"]["minItems"] == 1
    entities = body["entities"]["anyOf"][0]
    assert (entities["minProperties"], entities["additionalProperties"]["minItems"]) == (1, 1)
    for tensor in ("instances", "inputs"):
        arms = body[tensor]["anyOf"]
        assert {"type": "null"} not in arms
        assert {"type": "array", "minItems": 1} in arms
        assert {"type": "object", "minProperties": 1} in arms
    for empty in (
        {"dataframe_split": {"data": []}},
        {"dataframe_records": []},
        {"entities": {}},
        {"entities": {"d": []}},
        {"instances": None},
        {"inputs": []},
        {"inputs": {}},
    ):
        assert invalid(empty).status_code == 422
