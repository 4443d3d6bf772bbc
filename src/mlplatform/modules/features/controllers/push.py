"""Pushes: rows or columns (JSON, Feast's feature-server push) and Parquet/Arrow batches into a push source."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.errors import PayloadTooLarge
from mlplatform.kernel.openapi_bodies import raw_body
from mlplatform.modules.features import schemas
from mlplatform.modules.features.constraints import NAME_PATTERN
from mlplatform.modules.features.controllers.media_types import OCTET_STREAM
from mlplatform.modules.features.runtime import FeaturesRuntime
from mlplatform.modules.features.services import push as push_service
from mlplatform.modules.features.services.push_upload import ARROW_FILE, ARROW_STREAM, PARQUET_TYPES
from mlplatform.modules.gateway.api import Principal, Role, requires_role

BASE = "/api/v1/projects/{project:str}/features"
# application/octet-stream last: a generated client that cannot let its caller pick among several binary media
# types (openapi-python-client labels the upload with the last one listed) then sends one read as Parquet.
BATCH_BODY = raw_body(
    *sorted(PARQUET_TYPES - {OCTET_STREAM}),
    ARROW_STREAM,
    ARROW_FILE,
    OCTET_STREAM,
    description="A Parquet file (`application/vnd.apache.parquet`; `application/x-parquet` and "
    "`application/octet-stream` are read as Parquet too) or Arrow IPC data (stream or file format).",
)


@post(
    "/feast/{project:str}/push",
    guards=[requires_role(Role.CONTRIBUTOR)],
    tags=["features"],
    summary="Feast feature server: push",
    status_code=200,
)
async def feast_push(
    project: str,
    data: schemas.FeastPushRequest,
    features_runtime: FeaturesRuntime,
    db_session: AsyncSession,
    principal: Principal,
) -> schemas.PushResult:
    return await push_service.push(
        db_session,
        features_runtime,
        project,
        push_source=data.push_source_name,
        batch=push_service.JsonBatch(columns=data.df),
        to=data.to,
        actor=principal.subject,
    )


@post(f"{BASE}/push", guards=[requires_role(Role.CONTRIBUTOR)], tags=["features"], summary="Push rows", status_code=200)
async def push_rows(
    project: str,
    data: schemas.PushRequest,
    features_runtime: FeaturesRuntime,
    db_session: AsyncSession,
    principal: Principal,
) -> schemas.PushResult:
    """Rows (or columns) into a push source, to the online store, the offline store or both. Views with
    expectations validate the batch: `reject` views refuse it (422 with `reports`), `flag` views accept it
    with a flagged report."""
    return await push_service.push(
        db_session,
        features_runtime,
        project,
        push_source=data.push_source,
        batch=push_service.JsonBatch(rows=data.rows, columns=data.columns),
        to=data.to,
        actor=principal.subject,
    )


@post(
    f"{BASE}/push/batches",
    guards=[requires_role(Role.CONTRIBUTOR)],
    tags=["features"],
    summary="Push a Parquet or Arrow batch",
    status_code=200,
    request_max_body_size=512 * 1024 * 1024,
    opt=BATCH_BODY,
    raises=[PayloadTooLarge],
)
async def push_batch(
    project: str,
    request: Request[Any, Any, Any],
    features_runtime: FeaturesRuntime,
    db_session: AsyncSession,
    principal: Principal,
    push_source: Annotated[str, Parameter(query="push_source", pattern=NAME_PATTERN, description="The push source.")],
    to: Annotated[schemas.PushTarget, Parameter(query="to", description="Where the rows go.")] = "online",
) -> schemas.PushResult:
    """Body: a Parquet file (`application/vnd.apache.parquet`) or an Arrow IPC stream
    (`application/vnd.apache.arrow.stream`); same validation as JSON pushes. Sizes are checked before
    decoding: more rows or decoded bytes than the limits (`MLPLATFORM_FEATURES__PUSH_MAX_*`) is a 413."""
    batch = push_service.UploadBatch(await request.body(), request.headers.get("content-type", ""))
    return await push_service.push(
        db_session, features_runtime, project, push_source=push_source, batch=batch, to=to, actor=principal.subject
    )


PUSH_HANDLERS = [feast_push, push_rows, push_batch]
