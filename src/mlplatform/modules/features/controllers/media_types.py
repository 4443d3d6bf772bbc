"""Bodies and answers whose media type is not JSON, documented as what they are.

Litestar documents a request body from a handler's `data` parameter; the handlers that stream an upload
or take a Parquet/Arrow batch read `request` instead, so without this the document would say they take
no body at all. `raw_body(...)` is the `operation_class` of such a route: its operation carries a
binary body of the given media types. `binary_download(...)` does the same for a route answering a
`Stream` of bytes (documented by Litestar as an untyped JSON value).
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)

ARROW_STREAM = "application/vnd.apache.arrow.stream"
OCTET_STREAM = "application/octet-stream"
YAML = "application/yaml"
TEXT = "text/plain"
BINARY = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
"""Raw bytes (what openapi-python-client turns into a `File`)."""


def raw_body(*media_types: str, description: str, required: bool = True) -> type[Operation]:
    """An `Operation` class whose request body is raw bytes of one of `media_types` (`required=False`: no
    body is zero bytes, and accepted as such)."""
    body = RequestBody(
        content={media_type: OpenAPIMediaType(schema=BINARY) for media_type in media_types},
        description=description,
        required=required,
    )

    @dataclass
    class RawBodyOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = body

    return RawBodyOperation


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
