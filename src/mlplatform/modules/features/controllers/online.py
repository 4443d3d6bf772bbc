"""Online reads: the platform's endpoint and the Feast feature server's, both answered by `services/online.py`
(their common case is answered before Litestar's router by `controllers/express.py`)."""

from __future__ import annotations

from litestar import post
from litestar.openapi.datastructures import ResponseSpec
from litestar.response.base import ASGIResponse
from litestar.types import ASGIApp

from mlplatform.kernel.request_context import SAMPLED_ACCESS_LOG
from mlplatform.modules.features import schemas
from mlplatform.modules.features.runtime import FeaturesRuntime
from mlplatform.modules.features.services.online import encoded_online_features
from mlplatform.modules.gateway.api import READ_ONLY, Role, rate_group, requires_role

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


ONLINE_HANDLERS = [read_online_features, feast_get_online_features]
