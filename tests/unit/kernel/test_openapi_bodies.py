"""A body the handler reads itself is documented with the media types its route names (`kernel/openapi_bodies.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar import Request, put

from mlplatform.kernel.module import Module
from mlplatform.kernel.openapi_bodies import raw_body
from mlplatform.settings import Settings

BATCH_TYPES = ("application/vnd.apache.parquet", "application/vnd.apache.arrow.stream")


@put(
    "/probe/batches",
    opt=raw_body(*BATCH_TYPES, description="A Parquet file or an Arrow IPC stream."),
    status_code=200,
    sync_to_thread=False,
)
async def put_batch(request: Request[Any, Any, Any]) -> dict[str, int]:
    return {"bytes": len(await request.body())}


def test_a_raw_body_is_documented_with_its_media_types_and_may_be_too_large(tmp_path: Path) -> None:
    from mlplatform.app import create_app

    app = create_app(
        Settings(data_dir=tmp_path, log_json=False), modules=[Module(name="probe", route_handlers=[put_batch])]
    )
    operation = app.openapi_schema.to_schema()["paths"]["/probe/batches"]["put"]
    body = operation["requestBody"]
    assert body["required"] is True
    assert body["description"] == "A Parquet file or an Arrow IPC stream."
    assert body["content"] == {
        media_type: {"schema": {"type": "string", "format": "binary", "contentMediaType": media_type}}
        for media_type in BATCH_TYPES
    }
    assert "413" in operation["responses"]


def test_a_raw_body_names_at_least_one_media_type() -> None:
    with pytest.raises(ValueError, match="media type"):
        raw_body(description="nothing")
