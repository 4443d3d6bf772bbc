"""Shared bits of the catalogue's routes: path prefix, If-Match header, ETag responses."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeVar

from litestar import Response
from litestar.datastructures import ResponseHeader
from litestar.params import Parameter

from mlplatform.kernel.errors import Invalid

T = TypeVar("T")

PROJECT_PATH = "/api/v1/projects/{project:str}"
TAGS = ["catalogue"]

IfMatch = Annotated[
    str | None,
    Parameter(
        header="If-Match",
        required=False,
        description="ETag from a previous read; the change is refused with 412 if the resource changed since.",
    ),
]
ETAG_HEADER = [
    ResponseHeader(name="ETag", description="Version of this representation, for If-Match.", documentation_only=True)
]


def with_etag(content: T, etag: str, *, status_code: int = 200, location: str | None = None) -> Response[T]:
    headers = {"ETag": etag}
    if location is not None:
        headers["Location"] = location
    return Response(content, status_code=status_code, headers=headers)


def aware(value: datetime | None, parameter: str) -> datetime | None:
    """Query datetimes must say their timezone (`2026-11-27T10:00:00Z`)."""
    if value is not None and value.tzinfo is None:
        raise Invalid(f"{parameter}: give a timezone, e.g. 2026-11-27T10:00:00Z", parameter=parameter)
    return value
