"""Keyset (cursor) pagination over a named sort order.

A sort is a tuple of columns read in one direction, ending in a unique column, so
`(a, b, id) > (:a, :b, :id)` continues exactly after the last row of the previous page and the
database walks an index instead of counting an OFFSET. Cursors come from `kernel.pagination`
(they name the sort, so a cursor of one order cannot be replayed on another); a cursor whose
values do not have the types of the sort's columns is a 422 like any malformed cursor.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import tuple_
from sqlalchemy.orm import InstrumentedAttribute

from mlplatform.kernel.errors import Invalid
from mlplatform.kernel.pagination import decode_cursor, encode_cursor

T = TypeVar("T")
Kind = type[str] | type[int] | type[datetime] | type[uuid.UUID]


@dataclass(frozen=True)
class SortOrder:
    """`name` is what clients pass (`-updated_at`); `columns` end with a unique column."""

    name: str
    columns: tuple[InstrumentedAttribute[Any], ...]
    kinds: tuple[Kind, ...]
    descending: bool

    @property
    def keys(self) -> list[str]:
        """Attribute names of the sort columns (to read a row's cursor values)."""
        return [column.key for column in self.columns]

    def apply(self, statement: Any, cursor: str | None, limit: int) -> Any:
        """`statement` (a Select of any shape) continued after `cursor`, ordered, `limit + 1` rows."""
        if cursor is not None:
            values = self.decode(cursor)
            left = tuple_(*self.columns) if len(self.columns) > 1 else self.columns[0]
            right = tuple_(*values) if len(values) > 1 else values[0]
            statement = statement.where(left < right if self.descending else left > right)
        ordering = [c.desc() if self.descending else c.asc() for c in self.columns]
        return statement.order_by(*ordering).limit(limit + 1)

    def decode(self, cursor: str) -> list[Any]:
        raw = decode_cursor(cursor, sort=self.name, arity=len(self.kinds))
        try:
            return [_decode_value(kind, value) for kind, value in zip(self.kinds, raw, strict=True)]
        except (TypeError, ValueError) as exc:
            raise Invalid("cursor: not a cursor issued by this API", parameter="cursor") from exc

    def next_cursor(self, values: Sequence[Any]) -> str:
        return encode_cursor(self.name, [_encode_value(v) for v in values])


def _decode_value(kind: Kind, value: Any) -> Any:
    if kind is datetime:
        if not isinstance(value, str):
            raise TypeError("datetime expected")
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive datetime in cursor")
        return parsed
    if kind is uuid.UUID:
        if not isinstance(value, str):
            raise TypeError("uuid expected")
        return uuid.UUID(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("int expected")
        return value
    if not isinstance(value, str):
        raise TypeError("str expected")
    return value


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def pick_sort(orders: dict[str, SortOrder], requested: str | None, default: str) -> SortOrder:
    name = requested or default
    order = orders.get(name)
    if order is None:
        raise Invalid(f"sort: one of {', '.join(orders)}", parameter="sort")
    return order


def page_of(
    rows: Sequence[T], limit: int, order: SortOrder, key: Callable[[T], Sequence[Any]]
) -> tuple[list[T], str | None]:
    """The first `limit` of `limit + 1` fetched rows and the cursor of the next page (None at the end)."""
    items = list(rows[:limit])
    cursor = order.next_cursor(key(items[-1])) if len(rows) > limit and items else None
    return items, cursor
