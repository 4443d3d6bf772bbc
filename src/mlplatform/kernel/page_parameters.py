"""The query parameters of every paginated list (`limit`, `cursor`), declared once with the rules the
server enforces, so each list documents them alike and Litestar refuses what they forbid (422)."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from mlplatform.kernel.constraints import whole
from mlplatform.kernel.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

PageLimit = Annotated[
    int | None,
    Parameter(ge=1, le=MAX_PAGE_SIZE, required=False, description=f"Items per page (default {DEFAULT_PAGE_SIZE})."),
]
PageCursor = Annotated[
    str | None,
    Parameter(
        pattern=whole(r"[A-Za-z0-9_\-]+"),
        required=False,
        description="`next_cursor` of the previous page (opaque; a cursor this API did not issue is refused).",
    ),
]

__all__ = ["PageCursor", "PageLimit"]
