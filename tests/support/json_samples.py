"""Sample JSON documents for a route's body type, and the places ("leaves") in them a test can spoil.

`sample(type)` builds a document the type accepts (every field, optional ones too, so that a spoiled
value can reach as far into the route as possible); `leaves(document)` lists the paths of its values;
`replaced(document, path, value)` is a copy with one of them swapped. Built on `msgspec.inspect`, so it
follows the routes' own schemas (constraints, literals, nested structs) as they change.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import msgspec.inspect as mi

Path = tuple[str | int, ...]

_STRING_CANDIDATES = (
    "x",
    "x1",
    "xy",
    "abc",
    "s3://bucket/x",
    "runs:/0123456789abcdef/model",
    "staging",
    "a.b",
    "x:y",
    "1",
)


def sample(annotation: Any) -> Any:
    return _sample(mi.type_info(annotation), depth=0)


def _sample(info: mi.Type, depth: int) -> Any:
    if depth > 6:
        return None
    if isinstance(info, mi.StructType):
        return {field.encode_name: _sample(field.type, depth + 1) for field in info.fields}
    if isinstance(info, mi.StrType):
        return _string(info)
    if isinstance(info, mi.BoolType):
        return True
    if isinstance(info, mi.IntType):
        low = info.ge if info.ge is not None else (info.gt + 1 if info.gt is not None else 1)
        return max(low, 1) if info.le is None or info.le >= 1 else low
    if isinstance(info, mi.FloatType):
        return 1.0
    if isinstance(info, mi.LiteralType):
        return info.values[0]
    if isinstance(info, mi.EnumType):
        return next(iter(info.cls)).value
    if isinstance(info, mi.UnionType):
        kinds = [t for t in info.types if not isinstance(t, mi.NoneType)]
        return _sample(kinds[0], depth) if kinds else None
    if isinstance(info, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
        return [_sample(info.item_type, depth + 1)]
    if isinstance(info, mi.TupleType):
        return [_sample(t, depth + 1) for t in info.item_types]
    if isinstance(info, mi.DictType):
        key = _sample(info.key_type, depth + 1)
        return {str(key): _sample(info.value_type, depth + 1)}
    if isinstance(info, (mi.TypedDictType, mi.DataclassType)):
        return {field.encode_name: _sample(field.type, depth + 1) for field in info.fields}
    if isinstance(info, mi.DateTimeType):
        return "2024-01-01T00:00:00Z"
    if isinstance(info, mi.DateType):
        return "2024-01-01"
    if isinstance(info, mi.UUIDType):
        return str(uuid.uuid4())
    if isinstance(info, mi.NoneType):
        return None
    return "x"


def _string(info: mi.StrType) -> str:
    low = info.min_length or 0
    high = info.max_length if info.max_length is not None else 1 << 30
    pattern = re.compile(info.pattern) if info.pattern else None
    for candidate in _STRING_CANDIDATES:
        padded = candidate + "x" * max(0, low - len(candidate))
        if len(padded) <= high and (pattern is None or pattern.search(padded)):
            return padded
    return "x" * max(low, 1)


def leaves(document: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every value in `document` (containers too), with its path."""
    if path:
        yield path, document
    if isinstance(document, dict):
        for key, value in document.items():
            yield from leaves(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from leaves(value, (*path, index))


def replaced(document: Any, path: Path, value: Any) -> Any:
    copied = copy.deepcopy(document)
    target = copied
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copied


def with_key(document: Any, path: Path, key: str) -> Any:
    """A copy where the object at `path` gains `key` (with the value of its first entry, or "x")."""
    copied = copy.deepcopy(document)
    target = copied
    for step in path:
        target = target[step]
    target[key] = next(iter(target.values()), "x")
    return copied


def encode(document: Any) -> bytes:
    return msgspec.json.encode(document)
