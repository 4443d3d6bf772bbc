"""Feast's Redis layout, re-implemented for the read path (spec: `docs/specs/online_store_format.md`
in the Feast repository; FACTS.md "Redis layout").

- Key: the serialized `EntityKeyProto` (v3) followed by the Feast project name. v3 is: u32 LE number
  of join keys; per key (sorted by name) u32 type (STRING=2), u32 length, UTF-8 name; then per
  value (same order) u32 value type, u32 length, value bytes (int64 `<q`, int32 `<i`, UTF-8 string,
  raw bytes).
- Field of a feature: the first 4 bytes of little-endian murmur3_32 of `"{view}:{feature}"`.
- `_ts:{view}`: a serialized `google.protobuf.Timestamp` of the row's event time.
- Values: serialized `feast.types.Value`.

A unit test checks these functions against Feast's own (`serialize_entity_key`, `_mmh3`).
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import mmh3

BYTES = 1
STRING = 2
INT32 = 3
INT64 = 4
UNIX_TIMESTAMP = 8

_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_I32 = struct.Struct("<i")
_F64 = struct.Struct("<d")
_F32 = struct.Struct("<f")
_INT64_RANGE = (-(2**63), 2**63 - 1)
_INT32_RANGE = (-(2**31), 2**31 - 1)
_INT64_PREFIX = _U32.pack(INT64) + _U32.pack(8)


class EntityValueError(ValueError):
    """An entity value cannot be used as a key of its join key's type."""


def feature_field(view: str, feature: str) -> bytes:
    """The hash field of one feature (Feast's `_mmh3`)."""
    return _U32.pack(mmh3.hash(f"{view}:{feature}", signed=False))


def timestamp_field(view: str) -> bytes:
    return f"_ts:{view}".encode()


def key_header(join_keys: Sequence[str]) -> bytes:
    """The value-independent prefix of an entity key for these join keys (already sorted)."""
    parts = [_U32.pack(len(join_keys))]
    for key in join_keys:
        encoded = key.encode("utf-8")
        parts.append(_U32.pack(STRING) + _U32.pack(len(encoded)) + encoded)
    return b"".join(parts)


def encode_value(value_type: int, value: Any) -> bytes:
    """One entity value as `<u32 type><u32 length><bytes>`; raises `EntityValueError` on a type mismatch."""
    if value_type == INT64 and type(value) is int and _INT64_RANGE[0] <= value <= _INT64_RANGE[1]:
        return _INT64_PREFIX + _I64.pack(value)  # the usual case, on every online read
    if value_type in (INT64, UNIX_TIMESTAMP):
        number = _as_int(value, _INT64_RANGE)
        raw = _I64.pack(number)
    elif value_type == STRING:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise EntityValueError(f"expected a string, got {value!r}")
        raw = str(value).encode("utf-8")
    elif value_type == INT32:
        raw = _I32.pack(_as_int(value, _INT32_RANGE))
    elif value_type == BYTES:
        if not isinstance(value, str):
            raise EntityValueError(f"expected base64 bytes, got {value!r}")
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError:
            raise EntityValueError(f"expected base64 bytes, got {value!r}") from None
    else:
        raise EntityValueError(f"unsupported entity value type {value_type}")
    return _U32.pack(value_type) + _U32.pack(len(raw)) + raw


def _as_int(value: Any, bounds: tuple[int, int]) -> int:
    if isinstance(value, bool):
        raise EntityValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (isinstance(value, str) and value.lstrip("-").isdigit()):
        number = int(value)
    else:
        raise EntityValueError(f"expected an integer, got {value!r}")
    if not bounds[0] <= number <= bounds[1]:
        raise EntityValueError(f"integer {number} out of range")
    return number


def decode_timestamp(raw: bytes | None) -> tuple[int, int]:
    """(seconds, nanos) of a serialized protobuf Timestamp (fields 1 and 2, varints)."""
    seconds = nanos = 0
    if not raw:
        return 0, 0
    position = 0
    length = len(raw)
    while position < length:
        tag = raw[position]
        position += 1
        number, position = _varint(raw, position)
        if tag == 0x08:
            seconds = number - (1 << 64) if number >= 1 << 63 else number
        elif tag == 0x10:
            nanos = number
        else:  # unknown field: a Timestamp has only these two
            break
    return seconds, nanos


def _varint(raw: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = raw[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


EPOCH = "1970-01-01T00:00:00Z"


def read_timestamp(raw: bytes) -> tuple[float, str]:
    """A `_ts:<view>` value as (epoch seconds, RFC 3339 text)."""
    seconds, nanos = decode_timestamp(raw)
    return seconds + nanos / 1e9, format_timestamp(seconds, nanos)


@lru_cache(maxsize=4096)
def _day(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y-%m-%d")


def format_timestamp(seconds: int, nanos: int) -> str:
    """RFC 3339 in UTC with Feast's adaptive precision (what its feature server returns)."""
    if seconds == 0 and nanos == 0:
        return EPOCH
    day, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    base = f"{_day(day)}T{hours:02d}:{minutes:02d}:{secs:02d}"
    if nanos == 0:
        return base + "Z"
    if nanos % 1_000_000 == 0:
        return f"{base}.{nanos // 1_000_000:03d}Z"
    if nanos % 1_000 == 0:
        return f"{base}.{nanos // 1_000:06d}Z"
    return f"{base}.{nanos:09d}Z"


_SCALARS = frozenset({"int64_val", "int32_val", "string_val", "bool_val", "unix_timestamp_val"})
_FLOATS = frozenset({"double_val", "float_val"})

_NOT_SCALAR = object()
_VARINT_FIELDS = {0x18: "int32", 0x20: "int64", 0x38: "bool", 0x40: "int64"}
"""Tag byte -> kind of `int32_val` (3), `int64_val` (4), `bool_val` (7), `unix_timestamp_val` (8), all varints."""


def _scalar(raw: bytes) -> Any:
    """The value of a serialized `Value` holding one scalar in its canonical encoding (what Feast writes),
    else `_NOT_SCALAR`: everything else — lists, bytes, NaN/infinity, anything unusual — is left to protobuf.

    A third of the online read's time went into building a protobuf message per value."""
    tag = raw[0]
    size = len(raw)
    if tag == 0x29:  # double_val, fixed64
        if size == 9:
            number = _F64.unpack_from(raw, 1)[0]
            if math.isfinite(number):
                return number
        return _NOT_SCALAR
    kind = "string" if tag == 0x12 else _VARINT_FIELDS.get(tag)
    if kind is not None:
        if size > 1 and raw[1] < 0x80:  # a one-byte varint: small numbers, short strings
            number, end = raw[1], 2
        else:
            try:
                number, end = _varint(raw, 1)
            except IndexError:  # truncated
                return _NOT_SCALAR
        if kind == "string":  # string_val: length, then UTF-8
            if end + number != size:
                return _NOT_SCALAR
            try:
                return raw[end:].decode("utf-8")
            except UnicodeDecodeError:
                return _NOT_SCALAR
        if end != size or number >= 1 << 64:
            return _NOT_SCALAR
        if kind == "bool":
            return number != 0
        if kind == "int32":  # the low 32 bits, as protobuf reads them (negatives are sign-extended to 64)
            number &= 0xFFFFFFFF
            return number - (1 << 32) if number >= 1 << 31 else number
        return number - (1 << 64) if number >= 1 << 63 else number
    if tag == 0x35 and size == 5:  # float_val, fixed32
        number = _F32.unpack_from(raw, 1)[0]
        return number if math.isfinite(number) else _NOT_SCALAR
    return _NOT_SCALAR


class ValueDecoder:
    """Serialized `feast.types.Value` -> JSON-ready Python value (Feast's feature-server encoding).

    Needs Feast's generated protobuf classes, so it is built after Feast was imported (in a thread).
    """

    def __init__(self) -> None:
        from feast.feature_server_utils import _value_to_native
        from feast.protos.feast.types.Value_pb2 import Value

        self._value_class = Value
        self._to_native = _value_to_native

    def decode(self, raw: bytes) -> tuple[bool, Any]:
        """(has a value, value). An empty or null Value is (False, None)."""
        if not raw:
            return False, None
        value = _scalar(raw)
        if value is not _NOT_SCALAR:
            return True, value
        message = self._value_class()
        message.ParseFromString(raw)
        which = message.WhichOneof("val")
        if which is None or which == "null_val":
            return False, None
        if which in _SCALARS:
            return True, getattr(message, which)
        if which in _FLOATS:
            number = getattr(message, which)
            if math.isfinite(number):
                return True, number
        return True, self._to_native(message)
