"""Cursor pagination: opaque, tamper-evident-enough cursors over a stable sort key.

Two layers of one helper:

- the cursor layer (`encode_cursor`, `decode_cursor`, `make_page`): a cursor encodes the sort values
  of the last item of a page plus the sort name, so a cursor from one ordering cannot be replayed on
  another. A malformed cursor is a 422, never a 500.
- the keyset layer (`SortOrder`, `pick_sort`, `page_of`): a sort is a tuple of columns read in one
  direction, ending in a unique column, so `(a, b, id) > (:a, :b, :id)` continues exactly after the
  last row of the previous page and the database walks an index instead of counting an OFFSET. A
  cursor whose values do not have the types of the sort's columns is a 422 like any malformed cursor.
  `page_of` builds its page with `make_page`, so both layers issue the same cursors.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from mlplatform.kernel.errors import Invalid

T = TypeVar("T")
U = TypeVar("U")
S = TypeVar("S", bound=Select[*tuple[Any, ...]])

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500

Kind = type[str] | type[int] | type[datetime] | type[uuid.UUID]


class Page(msgspec.Struct, Generic[T], kw_only=True):
    """One page of a list. `next_cursor` is null on the last page."""

    items: list[T]
    next_cursor: str | None = None

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        """The same page with every item converted (rows → response schemas)."""
        return Page(items=[convert(item) for item in self.items], next_cursor=self.next_cursor)


class _Cursor(msgspec.Struct, array_like=True):
    sort: str
    values: list[Any]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Cursor)


def encode_cursor(sort: str, values: Sequence[Any]) -> str:
    raw = _encoder.encode(_Cursor(sort=sort, values=[_plain(v) for v in values]))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, *, sort: str, arity: int) -> list[Any]:
    """The sort values stored in `cursor`; raises `Invalid` naming the parameter if it is not ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = _decoder.decode(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Invalid("cursor: not a cursor issued by this API", parameter="cursor") from exc
    if decoded.sort != sort or len(decoded.values) != arity:
        raise Invalid("cursor: issued for a different listing or ordering", parameter="cursor")
    return decoded.values


def check_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_PAGE_SIZE
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise Invalid(f"limit: must be between 1 and {MAX_PAGE_SIZE}", parameter="limit")
    return limit


def _plain(value: Any) -> Any:
    return msgspec.to_builtins(value)


def make_page(rows: Sequence[T], *, limit: int, sort: str, key: Callable[[T], Sequence[Any]]) -> Page[T]:
    """Build a page from `limit + 1` fetched rows; `key(row)` gives the row's sort values."""
    items = list(rows[:limit])
    next_cursor = encode_cursor(sort, key(items[-1])) if len(rows) > limit and items else None
    return Page(items=items, next_cursor=next_cursor)


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

    def apply(self, statement: S, cursor: str | None, limit: int) -> S:
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
        return encode_cursor(self.name, self.cursor_values(values))

    def cursor_values(self, values: Sequence[Any]) -> list[Any]:
        """A row's sort values as stored in a cursor (datetimes and UUIDs as ISO / hex strings)."""
        return [_encode_value(v) for v in values]


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
    """The order named `requested` (or `default`); an unknown name is a 422 listing the known ones."""
    name = requested or default
    order = orders.get(name)
    if order is None:
        raise Invalid(f"sort: one of {', '.join(orders)}", parameter="sort")
    return order


def page_of(
    rows: Sequence[T], limit: int, order: SortOrder, key: Callable[[T], Sequence[Any]] | None = None
) -> Page[T]:
    """The first `limit` of `limit + 1` rows fetched by `order.apply`, and the next page's cursor.

    `key(row)` gives the row's sort values; by default they are read from the row by the names of
    the order's columns (rows that are ORM objects).
    """
    read = key if key is not None else (lambda row: [getattr(row, name) for name in order.keys])
    return make_page(rows, limit=limit, sort=order.name, key=lambda row: order.cursor_values(read(row)))
