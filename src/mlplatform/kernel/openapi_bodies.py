"""Documents the request bodies a handler reads itself, which Litestar cannot see.

A handler that reads `request.stream()` or `request.body()` (a file upload, a Parquet or Arrow batch)
has no `data` parameter, so Litestar documents no request body. Such a route says what it reads in its
`opt`:

    @put(FILE, ..., opt=raw_body("application/octet-stream", description="The file's bytes."))

and `document_raw_bodies` (run by `create_app` before the problems are documented, so such a route
also gets its 413) writes the body into the operation: each media type with a binary string schema
(`format: binary` as well as 3.1's `contentMediaType`: generators such as openapi-python-client know only
the former, and without it type the body as text).
A response in another media type needs nothing from here: Litestar's `media_type=` on the route decorator
documents it (`application/yaml`, `application/octet-stream`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, RequestBody, Schema

from mlplatform.kernel.openapi_walk import handler_operations

RAW_BODY = "openapi_raw_body"
"""Route `opt` key holding a `RawBody`."""


@dataclass(frozen=True, slots=True)
class RawBody:
    media_types: tuple[str, ...]
    description: str
    required: bool = True


def raw_body(*media_types: str, description: str, required: bool = True) -> dict[str, Any]:
    """Route `opt` documenting a body the handler reads as bytes, in any of `media_types`."""
    if not media_types:
        raise ValueError("raw_body needs at least one media type")
    return {RAW_BODY: RawBody(media_types, description, required)}


def document_raw_bodies(app: Litestar) -> None:
    for handler, _, operation in handler_operations(app):
        body = (handler.opt or {}).get(RAW_BODY)
        if isinstance(body, RawBody) and operation.request_body is None:
            operation.request_body = RequestBody(
                content=_binary(body.media_types), description=body.description, required=body.required
            )


def _binary(media_types: tuple[str, ...]) -> dict[str, OpenAPIMediaType]:
    return {
        media_type: OpenAPIMediaType(
            schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY, content_media_type=media_type)
        )
        for media_type in media_types
    }


__all__ = ["RAW_BODY", "RawBody", "document_raw_bodies", "raw_body"]
