"""Online serving (platform and Feast-compatible endpoints) and pushes."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.response.base import ASGIResponse
from litestar.types import ASGIApp
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.request_context import SAMPLED_ACCESS_LOG
from mlplatform.modules.features import schemas
from mlplatform.modules.features.runtime import FeaturesRuntime
from mlplatform.modules.features.services import push as push_service
from mlplatform.modules.features.services.serving import encoded_online_features
from mlplatform.modules.gateway.api import READ_ONLY, Principal, Role, rate_group, requires_role

BASE = "/api/v1/projects/{project:str}/features"
ONLINE_RESPONSES = {
    200: ResponseSpec(
        data_container=schemas.OnlineFeaturesResponse, description="Columnar features", generate_examples=False
    )
}


ONLINE_PATH = f"{BASE}/online"
FEAST_ONLINE_PATH = "/feast/{project:str}/get-online-features"
ONLINE_ROLE = Role.VIEWER
ONLINE_RATE_GROUP = "online"
ONLINE_OPT = {**rate_group(ONLINE_RATE_GROUP), **READ_ONLY, **SAMPLED_ACCESS_LOG}
"""Online reads are queries sent as POST (Feast's wire format): their own rate budget, no audit row (the
gateway audits mutations; a row per read would cost a database transaction per read), and a sampled
access log (a JSON line per read costs about as much as the read)."""


async def _serve(features_runtime: FeaturesRuntime, project: str, data: schemas.OnlineFeaturesRequest) -> ASGIApp:
    """The hottest path: the answer is encoded once with msgspec and handed to the server as a ready ASGI
    response (a `Response` would be converted into one per request)."""
    return ASGIResponse(
        body=await encoded_online_features(features_runtime, project, data), media_type="application/json"
    )


@post(
    ONLINE_PATH,
    guards=[requires_role(ONLINE_ROLE)],
    opt=ONLINE_OPT,
    tags=["features"],
    summary="Read online features",
    responses=ONLINE_RESPONSES,
    status_code=200,
)
async def read_online_features(
    project: str, data: schemas.OnlineFeaturesRequest, features_runtime: FeaturesRuntime
) -> ASGIApp:
    """A feature service or a list of `view:feature`, and entity keys (columnar). Statuses: PRESENT,
    NULL_VALUE, NOT_FOUND (no such entity), OUTSIDE_MAX_AGE (older than the view's TTL; value null)."""
    return await _serve(features_runtime, project, data)


@post(
    FEAST_ONLINE_PATH,
    guards=[requires_role(ONLINE_ROLE)],
    opt=ONLINE_OPT,
    tags=["features"],
    summary="Feast feature server: get-online-features",
    responses=ONLINE_RESPONSES,
    status_code=200,
)
async def feast_get_online_features(
    project: str, data: schemas.OnlineFeaturesRequest, features_runtime: FeaturesRuntime
) -> ASGIApp:
    """Same request and response as Feast's feature server, so `online_store: {type: remote, path:
    <base>/feast/<project>}` works with a platform token."""
    return await _serve(features_runtime, project, data)


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
)
async def push_batch(
    project: str,
    request: Request[Any, Any, Any],
    features_runtime: FeaturesRuntime,
    db_session: AsyncSession,
    principal: Principal,
    push_source: Annotated[str, Parameter(query="push_source")],
    to: Annotated[str, Parameter(query="to")] = "online",
) -> schemas.PushResult:
    """Body: a Parquet file (`application/vnd.apache.parquet`) or an Arrow IPC stream
    (`application/vnd.apache.arrow.stream`); same validation as JSON pushes. Sizes are checked before
    decoding: more rows or decoded bytes than the limits (`MLPLATFORM_FEATURES__PUSH_MAX_*`) is a 413."""
    from mlplatform.kernel.errors import Invalid

    if to not in {"online", "offline", "online_and_offline"}:
        raise Invalid("to: one of online, offline, online_and_offline", parameter="to")
    batch = push_service.UploadBatch(await request.body(), request.headers.get("content-type", ""))
    return await push_service.push(
        db_session, features_runtime, project, push_source=push_source, batch=batch, to=to, actor=principal.subject
    )


SERVING_HANDLERS = [read_online_features, feast_get_online_features, feast_push, push_rows, push_batch]
