"""Answers whose media type is not JSON, documented as what they are (request bodies a handler reads
itself: `kernel.openapi_bodies.raw_body`).

Each function here is a route's `operation_class`: `binary_download(...)` for a route answering a `Stream`
of bytes (Litestar documents it as an untyped value), `also_as_text()` for a text format (YAML) that may
also be asked for as `text/plain`.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Schema,
)

OCTET_STREAM = "application/octet-stream"
YAML = "application/yaml"
TEXT = "text/plain"
BINARY = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
"""Raw bytes (what openapi-python-client turns into a `File`)."""


def also_as_text(media_type: str = TEXT) -> type[Operation]:
    """An `Operation` class whose 200 answer may also be asked for as `text/plain` (the same text): for a
    route answering a text format, such as YAML, whose parsed value its 200 documents."""

    @dataclass
    class AlsoTextOperation(Operation):
        def __post_init__(self) -> None:
            answer = (self.responses or {})["200"]
            assert isinstance(answer, OpenAPIResponse)
            assert answer.content is not None
            answer.content[media_type] = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))

    return AlsoTextOperation


def binary_download(media_type: str, *, description: str) -> type[Operation]:
    """An `Operation` class whose 200 answer is raw bytes of `media_type`."""
    answer = OpenAPIResponse(content={media_type: OpenAPIMediaType(schema=BINARY)}, description=description)

    @dataclass
    class DownloadOperation(Operation):
        def __post_init__(self) -> None:
            self.responses = {**(self.responses or {}), "200": answer}

    return DownloadOperation
