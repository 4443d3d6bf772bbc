from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mlplatform.kernel.errors import Invalid
from mlplatform.kernel.pagination import (
    Page,
    SortOrder,
    check_limit,
    decode_cursor,
    encode_cursor,
    make_page,
    page_of,
    pick_sort,
)


class _Base(DeclarativeBase):
    """A metadata of its own, so this table never reaches the platform's schema."""


class Item(_Base):
    __tablename__ = "pagination_test_items"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str]
    updated_at: Mapped[datetime]


BY_NAME = SortOrder("name", (Item.name,), (str,), descending=False)
NEWEST = SortOrder("-updated_at", (Item.updated_at, Item.id), (datetime, uuid.UUID), descending=True)
ORDERS = {order.name: order for order in (BY_NAME, NEWEST)}


def _item(name: str, minute: int) -> Item:
    return Item(id=uuid.UUID(int=minute), name=name, updated_at=datetime(2026, 11, 27, 10, minute, tzinfo=UTC))


def test_cursor_round_trip() -> None:
    cursor = encode_cursor("name", ["churn-model", 42])
    assert decode_cursor(cursor, sort="name", arity=2) == ["churn-model", 42]


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90IG1zZ3BhY2s", "AAAA", "x" * 500])
def test_malformed_cursor_is_invalid(cursor: str) -> None:
    with pytest.raises(Invalid, match="cursor"):
        decode_cursor(cursor, sort="name", arity=2)


def test_cursor_from_another_ordering_is_invalid() -> None:
    with pytest.raises(Invalid, match="different"):
        decode_cursor(encode_cursor("created", ["x"]), sort="name", arity=1)


def test_make_page_sets_next_cursor_only_when_more_rows_exist() -> None:
    page = make_page([1, 2, 3], limit=2, sort="n", key=lambda v: [v])
    assert page.items == [1, 2]
    assert page.next_cursor is not None
    assert decode_cursor(page.next_cursor, sort="n", arity=1) == [2]
    assert make_page([1, 2], limit=2, sort="n", key=lambda v: [v]).next_cursor is None
    assert make_page([], limit=2, sort="n", key=lambda v: [v]) == Page(items=[], next_cursor=None)


@pytest.mark.parametrize("limit", [0, -1, 501])
def test_limit_bounds(limit: int) -> None:
    with pytest.raises(Invalid, match="limit"):
        check_limit(limit)


def test_limit_defaults_and_passes_through() -> None:
    assert check_limit(None) == 50
    assert check_limit(500) == 500


def test_sort_order_cursor_round_trip_and_tampering() -> None:
    when, ident = datetime(2026, 11, 27, 10, 0, tzinfo=UTC), uuid.uuid4()
    assert NEWEST.decode(NEWEST.next_cursor([when, ident])) == [when, ident]
    for bad in (
        "%%%",
        encode_cursor("-updated_at", ["2026-11-27T10:00:00", str(ident)]),  # naive datetime
        encode_cursor("-updated_at", [1, 2]),
        encode_cursor("-updated_at", ["2026-11-27T10:00:00+00:00", "not-a-uuid"]),
        encode_cursor("-updated_at", [True, str(ident)]),
        encode_cursor("name", ["x"]),
    ):
        with pytest.raises(Invalid, match="cursor"):
            NEWEST.decode(bad)


def test_sort_order_rejects_values_of_the_wrong_kind() -> None:
    with pytest.raises(Invalid, match="cursor"):
        BY_NAME.decode(encode_cursor("name", [3]))
    counted = SortOrder("version", (Item.name,), (int,), descending=False)
    assert counted.decode(encode_cursor("version", [3])) == [3]
    with pytest.raises(Invalid, match="cursor"):
        counted.decode(encode_cursor("version", [True]))


def test_pick_sort() -> None:
    assert pick_sort(ORDERS, None, "name") is BY_NAME
    assert pick_sort(ORDERS, "-updated_at", "name") is NEWEST
    with pytest.raises(Invalid, match="sort: one of name, -updated_at"):
        pick_sort(ORDERS, "size", "name")


def test_apply_orders_limits_and_continues_after_the_cursor() -> None:
    first = NEWEST.apply(select(Item), None, 10)
    sql = str(first.compile(dialect=postgresql.dialect()))
    assert "ORDER BY pagination_test_items.updated_at DESC, pagination_test_items.id DESC" in sql
    assert "WHERE" not in sql
    assert first.compile().params == {"param_1": 11}

    cursor = NEWEST.next_cursor([datetime(2026, 11, 27, 10, 0, tzinfo=UTC), uuid.UUID(int=1)])
    sql = str(NEWEST.apply(select(Item), cursor, 10).compile(dialect=postgresql.dialect()))
    assert "WHERE (pagination_test_items.updated_at, pagination_test_items.id) < " in sql

    sql = str(BY_NAME.apply(select(Item), BY_NAME.next_cursor(["m"]), 10).compile(dialect=postgresql.dialect()))
    assert "WHERE pagination_test_items.name > " in sql
    assert "ORDER BY pagination_test_items.name ASC" in sql


def test_page_of_reads_the_sort_columns_and_issues_cursors_the_order_accepts() -> None:
    rows = [_item("a", 3), _item("b", 2), _item("c", 1)]
    page = page_of(rows, 2, NEWEST)
    assert page.items == rows[:2]
    assert page.next_cursor is not None
    assert NEWEST.decode(page.next_cursor) == [rows[1].updated_at, rows[1].id]
    # Same cursor as the lower layer builds from the order's cursor values.
    assert (
        page.next_cursor
        == make_page(
            rows, limit=2, sort="-updated_at", key=lambda r: NEWEST.cursor_values([r.updated_at, r.id])
        ).next_cursor
    )
    assert page_of(rows, 3, NEWEST).next_cursor is None


def test_page_of_with_a_key_for_rows_that_are_not_orm_objects() -> None:
    rows = [(_item("a", 1), 10), (_item("b", 2), 20)]
    page = page_of(rows, 1, BY_NAME, lambda r: [r[0].name])
    assert page.next_cursor is not None
    assert BY_NAME.decode(page.next_cursor) == ["a"]


def test_page_map_keeps_the_cursor() -> None:
    page = Page(items=[1, 2], next_cursor="c").map(str)
    assert page == Page(items=["1", "2"], next_cursor="c")
