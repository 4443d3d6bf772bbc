"""Open Inference Protocol v2 (KServe v2, Triton's HTTP/REST JSON) inference requests and responses.

The binary tensor data extension is served both ways, for every datatype but BF16: tritonclient's
`InferInput.set_data_from_numpy` sends binary data by default, and a request naming no outputs asks for all
of them binary (`parameters.binary_data_output`), so an unmodified client needs it. The request's JSON is
then the first `Inference-Header-Content-Length` bytes of the body, each binary input's data follows in
input order (`parameters.binary_data_size` bytes each); a response with binary outputs is built the same
way and carries that header. Not served (refused by name): shared-memory tensors and the classification
extension. Other request parameters (sequence, priority, custom ones) are passed through.

Errors are `Invalid` (422) naming the field (`inputs[1].data: 3 values, the shape holds 4`); on /v2 paths
the routes answer them as `error_body` (v2's `{"error": "..."}`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

from mlplatform.kernel.errors import BadRequest, Invalid, PayloadTooLarge
from mlplatform.modules.serving.formats import oip_tensors as tensors
from mlplatform.modules.serving.formats.payload import FrameInput, ModelInput, TensorInput, invalid, validation_field

HEADER_LENGTH = "Inference-Header-Content-Length"


class OipTensor(msgspec.Struct, frozen=True):
    """A named input tensor. `data` is flat, row-major: a list (JSON data; BYTES as str) or a 1-D numpy
    array (binary data; BYTES as a list of bytes)."""

    name: str
    datatype: str
    shape: list[int]
    data: Any
    parameters: dict[str, Any]

    @property
    def rows(self) -> int:
        return self.shape[0] if self.shape else 1

    def values(self) -> list[Any]:
        return self.data if isinstance(self.data, list) else self.data.tolist()

    def nested(self) -> Any:
        """The data as nested lists of the tensor's shape (a scalar for shape [])."""
        if len(self.shape) == 1:
            return self.values()
        import numpy as np

        array = np.asarray(self.data, dtype=object if isinstance(self.data, list) else None)
        return array.reshape(self.shape).tolist()


class RequestedOutput(msgspec.Struct, frozen=True):
    name: str
    binary: bool | None
    """`parameters.binary_data`; None when not given (the request's `binary_data_output` decides)."""


class OipRequest(msgspec.Struct, frozen=True):
    id: str | None
    inputs: list[OipTensor]
    outputs: list[RequestedOutput]
    parameters: dict[str, Any]

    @property
    def binary_outputs(self) -> bool:
        """Whether outputs not said otherwise are answered as binary data (`binary_data_output`)."""
        return self.parameters.get("binary_data_output") is True


class InferInput(msgspec.Struct):
    """One input tensor (its `data` is JSON, or in the binary part with `parameters.binary_data_size`)."""

    name: str
    shape: list[Annotated[int, Meta(ge=0)]]
    datatype: str
    parameters: dict[str, Any] = {}
    data: msgspec.Raw | UnsetType = UNSET
    """JSON data (flat or nested, in row-major order); absent with binary data."""


class InferOutput(msgspec.Struct):
    """An output asked for (by name), with how to answer it (`binary_data`)."""

    name: str
    parameters: dict[str, Any] = {}


class InferRequest(msgspec.Struct):
    """A v2 inference request (the JSON body, or the JSON header of a binary one)."""

    inputs: Annotated[list[InferInput], Meta(extra_json_schema={"minItems": 1})]
    """At least one (the parser refuses none with its own message: `inputs: no inputs`)."""
    id: str | None = None
    parameters: dict[str, Any] = {}
    outputs: list[InferOutput] = []


_decoder = msgspec.json.Decoder(InferRequest)


def parse_infer_request(body: bytes, header_length: int | str | None, *, max_rows: int | None = None) -> OipRequest:
    """The request in `body`; `header_length` is the `Inference-Header-Content-Length` header as sent (binary
    data follows the JSON), None without it. `PayloadTooLarge` when an input's first dimension passes
    `max_rows`."""
    tail = b""
    if header_length is not None:
        length = int(header_length) if isinstance(header_length, int) or header_length.isdigit() else -1
        if not 0 < length <= len(body):
            raise Invalid(f"{HEADER_LENGTH}: {header_length}, the body has {len(body)} bytes", field=HEADER_LENGTH)
        body, tail = body[:length], body[length:]
    try:
        wire = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise invalid(*validation_field(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"the body is not JSON: {exc}", field="body") from None
    if not wire.inputs:
        raise invalid("inputs", "no inputs")
    inputs: list[OipTensor] = []
    offset = 0
    for i, given in enumerate(wire.inputs):
        field = f"inputs[{i}]"
        if any(given.name == seen.name for seen in inputs):
            raise invalid(f"{field}.name", f"`{given.name}` is given twice")
        if given.datatype not in tensors.JSON_TYPES:
            served = ", ".join(tensors.JSON_TYPES)
            raise invalid(f"{field}.datatype", f"`{given.datatype}` is not served (one of {served})")
        _refuse_unserved(field, given.parameters)
        if max_rows is not None and given.shape and given.shape[0] > max_rows:
            raise PayloadTooLarge(f"{field}: {given.shape[0]} rows, the limit is {max_rows} per request", field=field)
        count = tensors.element_count(given.shape)
        size = given.parameters.get("binary_data_size")
        if size is None:
            if not given.data:
                raise invalid(f"{field}.data", "missing: give data, or binary data with binary_data_size")
            data = tensors.json_data(field, given.datatype, given.data, count)
        else:
            if header_length is None:
                raise invalid(f"{field}.parameters.binary_data_size", f"binary data needs the {HEADER_LENGTH} header")
            if type(size) is not int or size < 0:
                raise invalid(f"{field}.parameters.binary_data_size", "expected a byte count")
            if given.data:
                raise invalid(f"{field}.data", "given with binary_data_size: give one of the two")
            if offset + size > len(tail):
                raise invalid(f"{field}.parameters.binary_data_size", f"{size} bytes run past the body's end")
            data = tensors.binary_data(field, given.datatype, tail[offset : offset + size], count)
            offset += size
        inputs.append(OipTensor(given.name, given.datatype, given.shape, data, given.parameters))
    if offset != len(tail):
        raise Invalid(f"body: {len(tail) - offset} bytes of binary data no input claims", field="body")
    outputs = []
    for i, output in enumerate(wire.outputs):
        _refuse_unserved(f"outputs[{i}]", output.parameters)
        binary = output.parameters.get("binary_data")
        if binary is not None and type(binary) is not bool:
            raise invalid(f"outputs[{i}].parameters.binary_data", "expected true or false")
        outputs.append(RequestedOutput(output.name, binary))
    return OipRequest(wire.id, inputs, outputs, wire.parameters)


def _refuse_unserved(field: str, parameters: dict[str, Any]) -> None:
    for name, what in (("shared_memory_region", "shared-memory tensors"), ("classification", "classification")):
        if name in parameters:
            raise invalid(f"{field}.parameters.{name}", f"{what} are not served")


def to_model_input(request: OipRequest, signature_columns: Sequence[tuple[str, str]] | None = None) -> ModelInput:
    """The model input of `request`. With a column signature (`(name, MLflow type)` in signature order):
    inputs of shape [N] or [N, 1] are one column each, named after the input; a single 2-D input [N, C] not
    named after a column is C columns in signature order (as is a single 1-D input for a one-column
    signature). Otherwise a tensor: one input's nested data, or input name -> nested data."""
    if signature_columns:
        frame = _as_columns(request.inputs, list(signature_columns))
        if frame is not None:
            return frame
    inputs = request.inputs
    if len(inputs) == 1:
        return TensorInput(inputs[0].nested(), inputs[0].rows)
    return TensorInput({tensor.name: tensor.nested() for tensor in inputs}, inputs[0].rows)


def _as_columns(inputs: list[OipTensor], signature: list[tuple[str, str]]) -> FrameInput | None:
    types = dict(signature)
    if len(inputs) == 1 and inputs[0].name not in types:
        tensor, width = inputs[0], len(signature)
        shape = tensor.shape
        if len(shape) == 2 and shape[1] == width:
            values = tensor.values()
            if shape[0] == 1:
                columns = {name: [value] for (name, _), value in zip(signature, values, strict=True)}
            else:
                columns = {name: values[j::width] for j, (name, _) in enumerate(signature)}
            if tensor.datatype == "BYTES":
                columns = {name: _column(column, types[name]) for name, column in columns.items()}
            return FrameInput(columns, shape[0])
        if width == 1 and (len(shape) == 1 or shape[1:] == [1]):
            name, kind = signature[0]
            return FrameInput({name: _column(tensor.values(), kind)}, tensor.rows)
        return None
    if not all(len(t.shape) == 1 or (len(t.shape) == 2 and t.shape[1] == 1) for t in inputs):
        return None
    if len({t.shape[0] for t in inputs}) != 1:
        return None
    position = {name: i for i, (name, _) in enumerate(signature)}
    ordered = sorted(inputs, key=lambda t: position.get(t.name, len(position)))
    columns = {t.name: _column(t.values(), types.get(t.name)) if t.datatype == "BYTES" else t.values() for t in ordered}
    return FrameInput(columns, inputs[0].shape[0])


def _column(values: list[Any], kind: str | None) -> list[Any]:
    """BYTES values as the column's type wants them: str for `string`, bytes for `binary`."""
    if kind == "string" and values and isinstance(values[0], bytes):
        try:
            return [value.decode() for value in values]
        except UnicodeDecodeError:
            raise Invalid("inputs: a BYTES value of a string column is not UTF-8 text", field="inputs") from None
    if kind == "binary" and values and isinstance(values[0], str):
        return [value.encode() for value in values]
    return values


class OutputTensor(msgspec.Struct, omit_defaults=True):
    name: str
    datatype: str
    shape: list[int]
    parameters: dict[str, Any] | UnsetType = UNSET
    data: list[Any] | UnsetType = UNSET


class InferResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    model_name: str
    model_version: str | UnsetType = UNSET
    id: str | UnsetType = UNSET
    outputs: list[OutputTensor]


def infer_response(
    model_name: str,
    model_version: str | int | None,
    request_id: str | None,
    predictions: Any,
    requested_outputs: Sequence[RequestedOutput],
    *,
    binary_default: bool = False,
) -> tuple[bytes, dict[str, str]]:
    """The response body and its headers. The model's output is one tensor named `predict`, or one per
    column (DataFrame) or key (dict); with outputs requested, those, in their order (a single unnamed output
    takes the one requested name). `binary_default` is the request's `binary_outputs`."""
    produced = _produced(predictions)
    named = not (len(produced) == 1 and produced[0][0] is None)
    selected: list[tuple[str, Any, bool]] = []
    if not requested_outputs:
        selected = [(name or "predict", values, binary_default) for name, values in produced]
    elif not named and len(requested_outputs) == 1:
        wanted = requested_outputs[0]
        selected = [(wanted.name, produced[0][1], binary_default if wanted.binary is None else wanted.binary)]
    else:
        by_name = {name or "predict": values for name, values in produced}
        for wanted in requested_outputs:
            if wanted.name not in by_name:
                answers = ", ".join(f"`{name}`" for name in by_name)
                raise invalid("outputs", f"the model has no output `{wanted.name}`; it answers {answers}")
            binary = binary_default if wanted.binary is None else wanted.binary
            selected.append((wanted.name, by_name[wanted.name], binary))
    outputs, chunks = [], []
    for name, values, binary in selected:
        datatype, array = tensors.as_output(values)
        shape = list(array.shape)
        if binary:
            chunk = tensors.output_binary(datatype, array)
            chunks.append(chunk)
            outputs.append(OutputTensor(name, datatype, shape, parameters={"binary_data_size": len(chunk)}))
        else:
            outputs.append(OutputTensor(name, datatype, shape, data=tensors.output_json(name, datatype, array)))
    answer = InferResponse(
        model_name=model_name,
        model_version=UNSET if model_version is None else str(model_version),
        id=UNSET if request_id is None else request_id,
        outputs=outputs,
    )
    header = _encoder.encode(answer)
    if not chunks:
        return header, {"content-type": "application/json"}
    return header + b"".join(chunks), {"content-type": "application/octet-stream", HEADER_LENGTH: str(len(header))}


def _produced(predictions: Any) -> list[tuple[str | None, Any]]:
    """The model's output tensors: (name or None for the unnamed one, values)."""
    if type(predictions).__module__.startswith("pandas"):
        if hasattr(predictions, "columns"):
            return [(str(column), predictions[column].to_numpy()) for column in predictions.columns]
        return [(None, predictions.to_numpy())]
    if isinstance(predictions, dict):
        return [(str(name), values) for name, values in predictions.items()]
    return [(None, predictions)]


_encoder = msgspec.json.Encoder()
