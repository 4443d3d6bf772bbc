"""Rows to response structs: one conversion path for every module.

msgspec reads a struct's fields from the row's attributes (`from_attributes=True`), checking their types
as it goes; what the row does not carry as attributes of the same name (names of related rows, an ETag,
values kept inside a JSON column) comes from keyword arguments, which take precedence.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

S = TypeVar("S", bound=msgspec.Struct)


class _Attributes:
    """`row`'s attributes, with `extra` taking precedence: what msgspec reads a struct's fields from."""

    __slots__ = ("_extra", "_row")

    def __init__(self, row: object, extra: dict[str, Any]) -> None:
        self._row = row
        self._extra = extra

    def __getattr__(self, name: str) -> Any:
        if name in self._extra:
            return self._extra[name]
        return getattr(self._row, name)


def to_schema(row: object, schema: type[S], **extra: Any) -> S:
    """`schema` filled from `row`'s attributes, `extra` adding or overriding fields."""
    if not extra:
        return msgspec.convert(row, schema, from_attributes=True)
    return msgspec.convert(_Attributes(row, extra), schema, from_attributes=True)
