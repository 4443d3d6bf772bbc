"""Cursor pagination: opaque, tamper-evident-enough cursors over a stable sort key.

A cursor encodes the sort values of the last item of a page (plus the sort name, so a cursor from
one ordering cannot be replayed on another). A malformed cursor is a 422, never a 500.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import msgspec

from mlplatform.kernel.errors import Invalid

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class Page(msgspec.Struct, Generic[T], kw_only=True):
    """One page of a list. `next_cursor` is null on the last page."""

    items: list[T]
    next_cursor: str | None = None


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


def make_page(rows: Sequence[T], *, limit: int, sort: str, key: Any) -> Page[T]:
    """Build a page from `limit + 1` fetched rows; `key(row)` gives the row's sort values."""
    items = list(rows[:limit])
    next_cursor = encode_cursor(sort, key(items[-1])) if len(rows) > limit and items else None
    return Page(items=items, next_cursor=next_cursor)
