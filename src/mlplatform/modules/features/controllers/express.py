"""Online reads as express routes (`kernel/express.py`): the two online endpoints' common case answered
before Litestar's router, with the same checks and the same answer as their Litestar handlers
(`controllers/online.py`), which answer everything declined here.

Declined (the full stack answers): a body that is not a valid request (its 4xx comes from Litestar's
validation), a request that is not plain `application/json`, one with an `Origin` header (browsers: CORS
is the full stack's), and whatever the gateway's express gate declines (no bearer credential, an invalid
one, a caller without the role in the project). Admitted requests are rate-limited in the `online`
group once; errors after that (unknown feature service, Redis down) are answered here, as problem+json
with the gateway's headers.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from litestar.types import Scope

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import PlatformError
from mlplatform.kernel.express import ExpressAnswer, ExpressRoute, PathParams, problem_answer
from mlplatform.modules.features.controllers.online import (
    FEAST_ONLINE_PATH,
    ONLINE_PATH,
    ONLINE_RATE_GROUP,
    ONLINE_ROLE,
)
from mlplatform.modules.features.runtime import features_runtime
from mlplatform.modules.features.schemas import OnlineFeaturesRequest
from mlplatform.modules.features.services.online import encoded_online_features
from mlplatform.modules.gateway.api import express_gate

_decoder = msgspec.json.Decoder(OnlineFeaturesRequest)


def express_routes(platform: PlatformContext) -> Sequence[ExpressRoute]:
    async def online(scope: Scope, body: bytes, params: PathParams) -> ExpressAnswer | None:
        return await _answer(platform, scope, body, params["project"])

    return [
        ExpressRoute("POST", ONLINE_PATH, online, sampled_access_log=True),
        ExpressRoute("POST", FEAST_ONLINE_PATH, online, sampled_access_log=True),
    ]


def _plain_json(scope: Scope) -> bool:
    content_type = b""
    for name, value in scope["headers"]:
        if name == b"origin":
            return False
        if name == b"content-type":
            content_type = value
    return content_type.startswith(b"application/json")


async def _answer(platform: PlatformContext, scope: Scope, body: bytes, project: str) -> ExpressAnswer | None:
    if not _plain_json(scope):
        return None
    try:
        request = _decoder.decode(body)
    except msgspec.DecodeError:  # also covers ValidationError
        return None
    admission = await express_gate(platform).admit(
        scope, project=project, role=ONLINE_ROLE, rate_group=ONLINE_RATE_GROUP
    )
    if admission is None:
        return None
    try:
        body = await encoded_online_features(features_runtime(platform), project, request)
    except PlatformError as exc:
        return problem_answer(scope, exc, admission.headers)
    return ExpressAnswer(body=body, headers=admission.headers)
