"""Open Inference Protocol v2 bodies, round-tripped through tritonclient's own request builder and response
reader (`InferenceServerClient.generate_request_body`, `InferResult.from_response_body`)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton

from mlplatform.kernel.errors import BadRequest, Invalid, PayloadTooLarge
from mlplatform.kernel.openapi_bodies import RAW_BODY
from mlplatform.modules.serving.formats.oip import (
    HEADER_LENGTH,
    InferRequest,
    OipRequest,
    RequestedOutput,
    infer_response,
    parse_infer_request,
    to_model_input,
)
from mlplatform.modules.serving.formats.oip_metadata import error_body, model_metadata, server_metadata
from mlplatform.modules.serving.formats.payload import FrameInput, TensorInput
from mlplatform.modules.serving.oip_routes import v2_model_infer, v2_version_infer

ARRAYS = {
    "FP32": np.array([[0.5, 1.5, 2.5], [3.5, 4.5, 5.5]], dtype=np.float32),
    "FP64": np.array([0.1, -2.0], dtype=np.float64),
    "FP16": np.array([1.0, 2.5], dtype=np.float16),
    "INT32": np.array([[1], [-2]], dtype=np.int32),
    "INT64": np.array([2**40, -1], dtype=np.int64),
    "UINT8": np.array([0, 255], dtype=np.uint8),
    "BOOL": np.array([True, False]),
    "BYTES": np.array([b"plain", "caf\u00e9".encode()], dtype=np.object_),
}


def client_request(binary: bool, outputs: list[Any] | None = None) -> tuple[bytes, int | None]:
    inputs = []
    for datatype, array in ARRAYS.items():
        tensor = triton.InferInput(f"in_{datatype}", list(array.shape), datatype)
        inputs.append(tensor.set_data_from_numpy(array, binary_data=binary))
    return triton.InferenceServerClient.generate_request_body(inputs, outputs=outputs, request_id="req-1")


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tritonclient_requests_parse_to_the_arrays_sent(binary: bool) -> None:
    body, header_length = client_request(binary)
    assert (header_length is not None) is binary
    request = parse_infer_request(body, header_length)
    assert request.id == "req-1"
    assert request.binary_outputs  # no outputs named: tritonclient asks for all of them binary
    assert [tensor.name for tensor in request.inputs] == [f"in_{datatype}" for datatype in ARRAYS]
    for tensor, (datatype, array) in zip(request.inputs, ARRAYS.items(), strict=True):
        assert tensor.datatype == datatype
        assert tensor.shape == list(array.shape)
        expected = array.tolist() if datatype != "BYTES" else [value.decode() for value in array]
        got = np.array(tensor.nested(), dtype=object).tolist()
        if datatype == "BYTES" and binary:
            got = [value.decode() for value in got]
        assert got == expected


def test_requested_outputs_and_their_binary_flags_are_read() -> None:
    outputs = [triton.InferRequestedOutput("a", binary_data=False), triton.InferRequestedOutput("b")]
    body, header_length = client_request(True, outputs)
    request = parse_infer_request(body, header_length)
    assert request.outputs == [RequestedOutput("a", False), RequestedOutput("b", True)]
    assert not request.binary_outputs


def test_nested_and_flat_json_data_are_the_same_tensor() -> None:
    def body(data: Any) -> bytes:
        return json.dumps({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": data}]}).encode()

    nested = parse_infer_request(body([[1, 2], [3, 4.5]]), None)
    flat = parse_infer_request(body([1, 2, 3, 4.5]), None)
    assert nested.inputs[0].data == flat.inputs[0].data == [1.0, 2.0, 3.0, 4.5]
    assert to_model_input(nested) == TensorInput([[1.0, 2.0], [3.0, 4.5]], 2)


SIGNATURE = [("age", "long"), ("name", "string"), ("score", "double")]


def oip_request(*tensors: tuple[str, str, list[int], Any]) -> OipRequest:
    inputs = [{"name": n, "datatype": d, "shape": s, "data": data} for n, d, s, data in tensors]
    return parse_infer_request(json.dumps({"inputs": inputs}).encode(), None)


def test_one_column_per_input_in_signature_order() -> None:
    request = oip_request(
        ("score", "FP64", [2], [0.5, 0.7]), ("age", "INT64", [2, 1], [[30], [40]]), ("name", "BYTES", [2], ["a", "b"])
    )
    frame = to_model_input(request, SIGNATURE)
    assert frame == FrameInput({"age": [30, 40], "name": ["a", "b"], "score": [0.5, 0.7]}, 2)
    assert list(frame.columns) == ["age", "name", "score"]


def test_a_single_matrix_is_the_signature_columns_in_order() -> None:
    request = oip_request(("input-0", "FP32", [2, 3], [[1, 2, 3], [4, 5, 6]]))
    frame = to_model_input(request, [("a", "float"), ("b", "float"), ("c", "float")])
    assert frame == FrameInput({"a": [1.0, 4.0], "b": [2.0, 5.0], "c": [3.0, 6.0]}, 2)
    assert to_model_input(oip_request(("x", "FP32", [3], [1, 2, 3])), [("a", "float")]) == FrameInput(
        {"a": [1.0, 2.0, 3.0]}, 3
    )


def test_binary_bytes_become_text_for_string_columns_and_stay_bytes_for_binary_ones() -> None:
    tensor = triton.InferInput("name", [2], "BYTES").set_data_from_numpy(ARRAYS["BYTES"])
    request = parse_infer_request(*triton.InferenceServerClient.generate_request_body([tensor]))
    assert to_model_input(request, [("name", "string")]) == FrameInput({"name": ["plain", "caf\u00e9"]}, 2)
    assert to_model_input(request, [("name", "binary")]) == FrameInput({"name": [b"plain", b"caf\xc3\xa9"]}, 2)
    text = oip_request(("name", "BYTES", [1], ["x"]))
    assert to_model_input(text, [("name", "binary")]) == FrameInput({"name": [b"x"]}, 1)


@pytest.mark.parametrize(
    ("tensors", "signature", "expected"),
    [
        ([("x", "FP32", [2, 2], [1, 2, 3, 4])], None, TensorInput([[1.0, 2.0], [3.0, 4.0]], 2)),
        ([("x", "FP32", [2, 2], [1, 2, 3, 4])], SIGNATURE, TensorInput([[1.0, 2.0], [3.0, 4.0]], 2)),
        (
            [("a", "INT64", [2], [1, 2]), ("b", "INT64", [2, 2], [1, 2, 3, 4])],
            SIGNATURE,
            TensorInput({"a": [1, 2], "b": [[1, 2], [3, 4]]}, 2),
        ),
        (
            [("age", "INT64", [2], [1, 2]), ("score", "FP64", [3], [1, 2, 3])],
            SIGNATURE,
            TensorInput({"age": [1, 2], "score": [1.0, 2.0, 3.0]}, 2),
        ),
    ],
)
def test_what_is_not_columns_stays_a_tensor(tensors: list[Any], signature: Any, expected: TensorInput) -> None:
    assert to_model_input(oip_request(*tensors), signature) == expected


def read_answer(body: bytes, headers: dict[str, str]) -> Any:
    length = headers.get(HEADER_LENGTH)
    assert headers["content-type"] == ("application/octet-stream" if length else "application/json")
    return triton.InferResult.from_response_body(body, header_length=int(length) if length else None)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("datatype", list(ARRAYS))
def test_answers_read_back_through_tritonclient(datatype: str, binary: bool) -> None:
    array = ARRAYS[datatype]
    body, headers = infer_response("m", 3, "req-1", array, [], binary_default=binary)
    result = read_answer(body, headers)
    answer = result.get_response()
    assert (answer["model_name"], answer["model_version"], answer["id"]) == ("m", "3", "req-1")
    assert result.get_output("predict")["datatype"] == datatype
    got = result.as_numpy("predict")
    if datatype == "BYTES" and not binary:
        got = np.array([value.encode() for value in got.ravel()], dtype=object).reshape(got.shape)
    np.testing.assert_array_equal(got, array)


def test_outputs_by_column_as_requested_each_binary_or_not() -> None:
    predictions = pd.DataFrame({"label": ["yes", "no"], "score": [0.9, 0.2]})
    wanted = [RequestedOutput("score", False), RequestedOutput("label", True)]
    result = read_answer(*infer_response("m", None, None, predictions, wanted))
    assert [output["name"] for output in result.get_response()["outputs"]] == ["score", "label"]
    assert "model_version" not in result.get_response()
    np.testing.assert_array_equal(result.as_numpy("score"), [0.9, 0.2])
    assert result.as_numpy("label").tolist() == [b"yes", b"no"]


def test_a_single_unnamed_output_takes_the_requested_name() -> None:
    result = read_answer(*infer_response("m", 1, None, [1, 2], [RequestedOutput("probabilities", None)]))
    assert result.as_numpy("probabilities").tolist() == [1, 2]


def test_nan_in_json_output_reads_back_as_nan() -> None:
    result = read_answer(*infer_response("m", 1, None, np.array([np.nan, 1.0]), []))
    assert np.isnan(result.as_numpy("predict")[0])


def test_an_output_the_model_lacks_is_refused_naming_what_it_has() -> None:
    with pytest.raises(Invalid, match="no output `proba`; it answers `a`, `b`"):
        infer_response("m", 1, None, {"a": [1], "b": [2]}, [RequestedOutput("proba", None)])


def test_bytes_that_are_not_text_must_be_requested_binary() -> None:
    with pytest.raises(Invalid, match="binary_data"):
        infer_response("m", 1, None, np.array([b"\xff"], dtype=object), [])
    result = read_answer(*infer_response("m", 1, None, np.array([b"\xff"], dtype=object), [], binary_default=True))
    assert result.as_numpy("predict").tolist() == [b"\xff"]


def test_metadata_bodies() -> None:
    inputs = [(name, kind) for name, kind in zip("abcdefg", ["double", "float", "long", "integer", "boolean",
                                                              "string", "datetime"], strict=True)]  # fmt: skip
    meta = msgspec.json.decode(model_metadata("churn", [1, 2], inputs=inputs))
    assert meta["name"] == "churn"
    assert meta["versions"] == ["1", "2"]
    assert meta["platform"] == "mlflow"
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]] == [
        ("a", "FP64", [-1]),
        ("b", "FP32", [-1]),
        ("c", "INT64", [-1]),
        ("d", "INT32", [-1]),
        ("e", "BOOL", [-1]),
        ("f", "BYTES", [-1]),
        ("g", "BYTES", [-1]),
    ]
    assert meta["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
    tensor = msgspec.json.decode(model_metadata("m", [], inputs=[("x", "float32", (-1, 4))], outputs=[("y", "int64")]))
    assert tensor["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    assert tensor["outputs"] == [{"name": "y", "datatype": "INT64", "shape": [-1]}]
    server = msgspec.json.decode(server_metadata(version="1.2.3"))
    assert server == {"name": "mlplatform", "version": "1.2.3", "extensions": ["binary_tensor_data"]}
    assert msgspec.json.decode(server_metadata())["version"]
    assert msgspec.json.decode(error_body("no model `x`")) == {"error": "no model `x`"}


def one_input(**fields: Any) -> bytes:
    tensor = {"name": "x", "shape": [2], "datatype": "FP32", "data": [1, 2]} | fields
    return json.dumps({"inputs": [tensor]}).encode()


def binary_body(size: int, extra: bytes = b"", **parameters: Any) -> tuple[bytes, int]:
    header = json.dumps(
        {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": size}}]}
        | parameters
    ).encode()
    return header + np.array([1, 2], dtype=np.float32).tobytes() + extra, len(header)


@pytest.mark.parametrize(
    ("body", "header_length", "field", "words"),
    [
        (b'{"inputs": []}', None, "inputs", "no inputs"),
        (b'{"id": "x"}', None, "body", "missing required field `inputs`"),
        (one_input(datatype="BF16"), None, "inputs[0].datatype", "`BF16` is not served"),
        (one_input(datatype="COMPLEX"), None, "inputs[0].datatype", "not served"),
        (one_input(shape=[3]), None, "inputs[0].data", "2 values, the shape holds 3"),
        (one_input(shape=[-1]), None, "inputs[0].shape[0]", ">= 0"),
        (one_input(data=[1, "a"]), None, "inputs[0].data", "expected `float`, got `str` for FP32 at flat index 1"),
        (one_input(datatype="INT8", data=[1, 300]), None, "inputs[0].data", "<= 127"),
        (one_input(datatype="INT64", data=[1, 2.5]), None, "inputs[0].data", "got `float`"),
        (one_input(datatype="BOOL", data=[1, 0]), None, "inputs[0].data", "expected `bool`"),
        (one_input(data=[[1], 2, [[3]]]), None, "inputs[0].data", "3 values, the shape holds 2"),
        (one_input(data={"a": 1}), None, "inputs[0].data", "expected an array"),
        (one_input(data=None), None, "inputs[0].data", "expected an array, got null"),
        (json.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}).encode(), None, "inputs[0].data",
         "missing"),
        (one_input(parameters={"binary_data_size": 8}), None, "inputs[0].parameters.binary_data_size",
         "needs the Inference-Header-Content-Length header"),
        (one_input(parameters={"shared_memory_region": "r"}), None, "inputs[0].parameters.shared_memory_region",
         "shared-memory tensors are not served"),
        (json.dumps({"inputs": json.loads(one_input())["inputs"] * 2}).encode(), None, "inputs[1].name",
         "`x` is given twice"),
        (json.dumps({"inputs": json.loads(one_input())["inputs"], "outputs": [{"name": "y", "parameters":
         {"binary_data": "yes"}}]}).encode(), None, "outputs[0].parameters.binary_data", "true or false"),
        (json.dumps({"inputs": json.loads(one_input())["inputs"], "outputs": [{"name": "y", "parameters":
         {"classification": 3}}]}).encode(), None, "outputs[0].parameters.classification", "not served"),
        (*binary_body(12), "inputs[0].parameters.binary_data_size", "run past the body's end"),
        (*binary_body(4), "inputs[0].parameters.binary_data_size", "4 bytes, the shape holds 2 FP32 values"),
        (*binary_body(8, b"\x00"), "body", "1 bytes of binary data no input claims"),
        (*binary_body(-1), "inputs[0].parameters.binary_data_size", "expected a byte count"),
        (one_input(), 999, "Inference-Header-Content-Length", "999, the body has"),
        (one_input(), 0, "Inference-Header-Content-Length", "0, the body has"),
    ],
)  # fmt: skip
def test_bad_requests_are_refused_naming_the_field(
    body: bytes, header_length: int | None, field: str, words: str
) -> None:
    with pytest.raises(Invalid) as caught:
        parse_infer_request(body, header_length)
    assert caught.value.extra["field"] == field
    assert words in str(caught.value)


def test_binary_data_beside_json_data_is_refused() -> None:
    body, length = binary_body(8)
    header = json.loads(body[:length])
    header["inputs"][0]["data"] = [1, 2]
    text = json.dumps(header).encode()
    with pytest.raises(Invalid, match="given with binary_data_size: give one of the two"):
        parse_infer_request(text + body[length:], len(text))


def bytes_body(data: bytes) -> tuple[bytes, int]:
    parameters = {"binary_data_size": len(data)}
    header = json.dumps({"inputs": [{"name": "s", "shape": [1], "datatype": "BYTES", "parameters": parameters}]})
    return header.encode() + data, len(header)


def test_cut_off_bytes_elements_are_refused() -> None:
    with pytest.raises(Invalid, match="runs past the tensor's data"):
        parse_infer_request(*bytes_body(b"\x05\x00\x00\x00ab"))
    with pytest.raises(Invalid, match="length is cut off"):
        parse_infer_request(*bytes_body(b"\x01\x00"))
    with pytest.raises(Invalid, match="2 BYTES elements, the shape holds 1"):
        parse_infer_request(*bytes_body(b"\x01\x00\x00\x00a\x00\x00\x00\x00"))


def test_more_rows_than_the_limit_is_413_and_not_json_is_400() -> None:
    with pytest.raises(PayloadTooLarge, match=r"inputs\[0\]: 2 rows, the limit is 1"):
        parse_infer_request(one_input(), None, max_rows=1)
    assert parse_infer_request(one_input(), None, max_rows=2).inputs[0].rows == 2
    with pytest.raises(BadRequest):
        parse_infer_request(b'{"inputs": [', None)


def test_the_header_length_is_taken_as_the_header_sends_it() -> None:
    body, length = binary_body(8)
    assert parse_infer_request(body, str(length)).inputs[0].values() == [1.0, 2.0]
    with pytest.raises(Invalid, match="Inference-Header-Content-Length: twelve"):
        parse_infer_request(body, "twelve")


def test_a_scalar_input_has_one_row() -> None:
    request = oip_request(("x", "INT64", [], [7]))
    assert request.inputs[0].rows == 1
    assert to_model_input(request) == TensorInput(7, 1)


def test_outputs_that_are_not_numbers_travel_as_text() -> None:
    predictions = {
        "when": np.array(["2026-01-02T03:04:05"], dtype="datetime64[ns]"),
        "detail": [{"label": "yes", "score": 0.9}],
    }
    result = read_answer(*infer_response("m", 1, None, predictions, []))
    assert result.as_numpy("when").tolist() == ["2026-01-02T03:04:05.000000000"]
    assert json.loads(result.as_numpy("detail")[0]) == {"label": "yes", "score": 0.9}


def test_the_json_request_is_documented_as_the_object_it_is() -> None:
    """The contract test sent a v2 request and Schemathesis judged it schema-violating: the JSON body was
    documented as a binary string. It is an `InferRequest` (binary data comes as `application/octet-stream`)."""
    schema = msgspec.json.schema(InferRequest)
    request = schema["$defs"]["InferRequest"]
    assert (request["required"], request["properties"]["inputs"]["minItems"]) == (["inputs"], 1)
    for handler in (v2_model_infer, v2_version_infer):
        body = handler.opt[RAW_BODY]
        assert (body.schema, body.media_types) == (InferRequest, ("application/json", "application/octet-stream"))
    with pytest.raises(Invalid, match="no inputs"):
        parse_infer_request(b'{"inputs": []}', None)
    plain = parse_infer_request(b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1.5]}]}', None)
    assert plain.inputs[0].name == "a"
