from __future__ import annotations

import pytest

from mlplatform.kernel.errors import Invalid
from mlplatform.kernel.pagination import check_limit, decode_cursor, encode_cursor, make_page


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


@pytest.mark.parametrize("limit", [0, -1, 501])
def test_limit_bounds(limit: int) -> None:
    with pytest.raises(Invalid, match="limit"):
        check_limit(limit)
