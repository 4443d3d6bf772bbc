"""Tensor data of the Open Inference Protocol v2: its datatypes, JSON data (flat or nested, row-major) and
the binary tensor data extension (little-endian, row-major; BOOL one byte; BYTES each element a 4-byte
little-endian length then its bytes), in both directions.

A tensor's data is held flat, row-major: a list for JSON data (values as JSON has them: BYTES as str), a
one-dimensional numpy array for binary data (BYTES: a list of bytes). numpy is imported by the functions
that need it, so that importing the formats costs nothing.
"""

from __future__ import annotations

import math
import struct
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from mlplatform.modules.serving.formats.payload import invalid


def _ints(bits: int, signed: bool) -> type:
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    return list[Annotated[int, Meta(ge=low, le=high)]]


JSON_TYPES: dict[str, Any] = {
    "BOOL": list[bool],
    **{f"INT{bits}": _ints(bits, True) for bits in (8, 16, 32, 64)},
    **{f"UINT{bits}": _ints(bits, False) for bits in (8, 16, 32, 64)},
    "FP16": list[float],
    "FP32": list[float],
    "FP64": list[float],
    "BYTES": list[str],
}
"""The Python type a JSON tensor's flat data converts to, per datatype (BF16 is not served)."""

NUMPY_TYPES = {
    "BOOL": "|b1",
    **{f"INT{bits}": f"<i{bits // 8}" for bits in (8, 16, 32, 64)},
    **{f"UINT{bits}": f"<u{bits // 8}" for bits in (8, 16, 32, 64)},
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
"""Little-endian numpy dtypes of the fixed-size datatypes (binary data)."""

MLFLOW_TYPES = {
    "double": "FP64",
    "float": "FP32",
    "long": "INT64",
    "integer": "INT32",
    "boolean": "BOOL",
    "string": "BYTES",
    "binary": "BYTES",
    "datetime": "BYTES",
    "bool": "BOOL",
    "float16": "FP16",
    "float32": "FP32",
    **{f"int{bits}": f"INT{bits}" for bits in (8, 16, 32, 64)},
    **{f"uint{bits}": f"UINT{bits}" for bits in (8, 16, 32, 64)},
    "float64": "FP64",
    "object": "BYTES",
    "str": "BYTES",
    "bytes": "BYTES",
}
"""v2 datatype of an MLflow signature type: a column's DataType name or a tensor's numpy dtype name."""

_LENGTH = struct.Struct("<I")


def element_count(shape: list[int]) -> int:
    return math.prod(shape)


def json_data(field: str, datatype: str, raw: msgspec.Raw, count: int) -> list[Any]:
    """The flat values of a tensor's JSON `data` (flat or nested as its shape), checked against `datatype`."""
    target = JSON_TYPES[datatype]
    try:
        values = msgspec.json.decode(raw, type=target)
    except msgspec.ValidationError:
        nested = msgspec.json.decode(raw)
        if not isinstance(nested, list):
            got = "null" if nested is None else "an object" if isinstance(nested, dict) else "a value"
            raise invalid(f"{field}.data", f"expected an array, got {got}") from None
        values = _flatten(nested)
        try:
            values = msgspec.convert(values, target, strict=True)
        except msgspec.ValidationError as exc:
            text, _, where = str(exc).partition(" - at `$")
            message = f"{text[:1].lower()}{text[1:]} for {datatype} at flat index {where[1:-2]}"
            raise invalid(f"{field}.data", message) from None
    if len(values) != count:
        raise invalid(f"{field}.data", f"{len(values)} values, the shape holds {count}")
    return values


def _flatten(nested: list[Any]) -> list[Any]:
    flat: list[Any] = []
    stack = [iter(nested)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def binary_data(field: str, datatype: str, chunk: bytes, count: int) -> Any:
    """The flat values of a tensor's binary data: a numpy array, or a list of bytes for BYTES."""
    if datatype == "BYTES":
        return _byte_elements(field, chunk, count)
    import numpy as np

    dtype = np.dtype(NUMPY_TYPES[datatype])
    if len(chunk) != count * dtype.itemsize:
        raise invalid(
            f"{field}.parameters.binary_data_size",
            f"{len(chunk)} bytes, the shape holds {count} {datatype} values of {dtype.itemsize} bytes",
        )
    return np.frombuffer(chunk, dtype=dtype)


def _byte_elements(field: str, chunk: bytes, count: int) -> list[bytes]:
    elements: list[bytes] = []
    offset, end = 0, len(chunk)
    while offset < end:
        if offset + 4 > end:
            raise invalid(f"{field}.data", f"a BYTES element's length is cut off at byte {offset}")
        (length,) = _LENGTH.unpack_from(chunk, offset)
        offset += 4
        if offset + length > end:
            raise invalid(f"{field}.data", f"a BYTES element of {length} bytes runs past the tensor's data")
        elements.append(chunk[offset : offset + length])
        offset += length
    if len(elements) != count:
        raise invalid(f"{field}.data", f"{len(elements)} BYTES elements, the shape holds {count}")
    return elements


def as_output(values: Any) -> tuple[str, Any]:
    """A model output as (v2 datatype, numpy array)."""
    import numpy as np

    array = np.asarray(values)
    if array.dtype.kind == "O":
        retyped = np.asarray(array.tolist())  # an object column of numbers (pandas) is a number tensor
        array = retyped if retyped.dtype.kind != "O" else array
    kind = array.dtype.kind
    if kind in "biuf":
        name = "bool" if kind == "b" else array.dtype.name
        return MLFLOW_TYPES[name], array
    if kind in "Mm":  # datetimes and durations as ISO text (their tolist() is an int at ns precision)
        return "BYTES", array.astype(str)
    return "BYTES", array


def output_json(name: str, datatype: str, array: Any) -> list[Any]:
    values = array.ravel().tolist()
    if datatype != "BYTES":
        return values
    try:
        return [value.decode() if isinstance(value, bytes) else _text(value) for value in values]
    except UnicodeDecodeError:
        raise invalid(f"outputs.{name}", "not UTF-8 text: request it with binary_data") from None


def output_binary(datatype: str, array: Any) -> bytes:
    if datatype != "BYTES":
        return array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
    parts = []
    for value in array.ravel().tolist():
        data = value if isinstance(value, bytes) else _text(value).encode()
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def _text(value: Any) -> str:
    """A BYTES element: text as is, anything else (a dict a model answers per row ...) as JSON."""
    return value if isinstance(value, str) else msgspec.json.encode(value, enc_hook=str).decode()
