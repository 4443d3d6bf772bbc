"""Documents the request bodies a handler reads itself, which Litestar cannot see.

A handler that reads `request.stream()` or `request.body()` (a file upload, a Parquet or Arrow batch)
has no `data` parameter, so Litestar documents no request body. Such a route says what it reads in its
`opt`:

    @put(FILE, ..., opt=raw_body("application/octet-stream", description="The file's bytes."))

and `document_raw_bodies` (run by `create_app` before the problems are documented, so such a route
also gets its 413) writes the body into the operation: each media type with a binary string schema
(`format: binary` as well as 3.1's `contentMediaType`: generators such as openapi-python-client know only
the former, and without it type the body as text).
A JSON body the handler parses itself (to read what Litestar's decoder refuses, such as the `NaN` that
MLflow's client sends for a missing value) is documented with the schema of the msgspec struct it matches:

    @post(PREDICT, ..., opt=json_body(PredictBody, description="..."))

A response in another media type needs nothing from here: Litestar's `media_type=` on the route decorator
documents it (`application/yaml`, `application/octet-stream`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, RequestBody, Schema

from mlplatform.kernel.openapi_structs import to_schema
from mlplatform.kernel.openapi_walk import handler_operations

RAW_BODY = "openapi_raw_body"
JSON = "application/json"
"""Route `opt` key holding a `RawBody`."""


@dataclass(frozen=True, slots=True)
class RawBody:
    media_types: tuple[str, ...]
    description: str
    required: bool = True
    schema: type | None = None
    """A msgspec struct the `application/json` body matches; None: a binary string (as every other media type)."""


def raw_body(*media_types: str, description: str, required: bool = True) -> dict[str, Any]:
    """Route `opt` documenting a body the handler reads as bytes, in any of `media_types`."""
    if not media_types:
        raise ValueError("raw_body needs at least one media type")
    return {RAW_BODY: RawBody(media_types, description, required)}


def json_body(schema: type, *, description: str, also: tuple[str, ...] = ()) -> dict[str, Any]:
    """Route `opt` documenting a JSON body the handler reads itself, as the msgspec struct `schema`; `also`:
    media types it reads as bytes besides (documented as binary strings)."""
    return {RAW_BODY: RawBody((JSON, *also), description, True, schema)}


def document_raw_bodies(app: Litestar) -> None:
    for handler, _, operation in handler_operations(app):
        body = (handler.opt or {}).get(RAW_BODY)
        if isinstance(body, RawBody) and operation.request_body is None:
            if body.schema is None:
                content = _binary(body.media_types)
            else:
                content = {**_json(body.schema), **_binary(tuple(t for t in body.media_types if t != JSON))}
            operation.request_body = RequestBody(content=content, description=body.description, required=body.required)


def _json(struct: type) -> dict[str, OpenAPIMediaType]:
    """The struct's JSON Schema (msgspec's, the one its decoder applies), with its definitions inlined."""
    document = msgspec.json.schema(struct)
    definitions = document.pop("$defs", {})
    return {JSON: OpenAPIMediaType(schema=to_schema(_inline(document, definitions)))}


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/$defs/"):
            return _inline(definitions[reference.removeprefix("#/$defs/")], definitions)
        return {key: _inline(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    return node


def _binary(media_types: tuple[str, ...]) -> dict[str, OpenAPIMediaType]:
    return {
        media_type: OpenAPIMediaType(
            schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY, content_media_type=media_type)
        )
        for media_type in media_types
    }


__all__ = ["RAW_BODY", "RawBody", "document_raw_bodies", "json_body", "raw_body"]
