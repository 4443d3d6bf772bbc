"""The Open Inference Protocol v2 (KServe v2, Triton's HTTP/REST) over the managed deployments.

A model is named `<project>.<model>`, as the project's MLflow registered models are; `versions/{version}` is
the catalogue version, and without it the model's live deployments answer by their traffic shares. The
environment is `prod` unless the `environment` query parameter says otherwise. Callers authenticate as
everywhere (a bearer token or an API key: tritonclient passes `headers=`) and need the viewer role in the
project. Errors are problem documents that also carry v2's `error` member, so a v2 client reads its message.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import Parameter
from litestar.response.base import ASGIResponse

from mlplatform.kernel.errors import BadRequest, NotFound, PayloadTooLarge, PlatformError
from mlplatform.kernel.openapi_bodies import json_body
from mlplatform.kernel.system import PUBLIC
from mlplatform.modules.catalogue.api import MAX_SERVING_ROWS
from mlplatform.modules.gateway.api import (
    READ_ONLY,
    Role,
    current_principal,
    ensure_role,
    project_directory,
    rate_group,
    requires_authenticated,
)
from mlplatform.modules.serving import predict
from mlplatform.modules.serving.controllers import DEPENDENCIES, PREDICT_RATE_GROUP, Environment
from mlplatform.modules.serving.formats.oip import (
    HEADER_LENGTH,
    InferRequest,
    infer_response,
    parse_infer_request,
    to_model_input,
)
from mlplatform.modules.serving.formats.oip_metadata import model_metadata, server_metadata
from mlplatform.modules.serving.formats.payload import PredictRequest
from mlplatform.modules.serving.runtime import ServingRuntime
from mlplatform.modules.serving.served import Served

TAGS = ["serving"]
MODEL = "/v2/models/{name:str}"
VERSION = MODEL + "/versions/{version:int}"
INFER_OPT = {
    **rate_group(PREDICT_RATE_GROUP),
    **READ_ONLY,
    **json_body(
        InferRequest,
        also=("application/octet-stream",),
        description="A v2 inference request: JSON, or (`application/octet-stream`) with the binary tensor data "
        f"extension the JSON header (`{HEADER_LENGTH}` bytes) followed by the tensors' bytes.",
    ),
}
ModelName = Annotated[str, Parameter(description="`<project>.<model>`.", pattern=r"^[a-z0-9][a-z0-9_\-]*\..+$")]


async def _as_v2(answer: Callable[[], Awaitable[ASGIResponse]]) -> ASGIResponse:
    try:
        return await answer()
    except PlatformError as exc:
        exc.extra.setdefault("error", str(exc.detail))
        raise


def _split_name(name: str) -> tuple[str, str]:
    project, found, model = name.partition(".")
    if not found or not project or not model:
        raise NotFound(f"model {name!r}: v2 model names are <project>.<model>")
    return project, model


async def _served(
    request: Request, runtime: ServingRuntime, name: str, version: int | None, environment: str
) -> list[Served]:
    project, model = _split_name(name)
    await ensure_role(current_principal(request), project, Role.VIEWER, projects=project_directory(runtime.platform))
    candidates = [
        served
        for served in runtime.supervisor.candidates(project, model, environment)
        if version is None or served.deployment.version == version
    ]
    if not candidates:
        which = f"version {version} of " if version is not None else ""
        raise NotFound(f"{which}model {name!r} has no active managed deployment in environment {environment!r}")
    return candidates


def _json(body: bytes) -> ASGIResponse:
    return ASGIResponse(body=body, media_type="application/json")


@get("/v2", opt=PUBLIC, tags=TAGS, summary="v2 server metadata", status_code=200)
async def v2_server_metadata() -> ASGIResponse:
    return _json(server_metadata())


@get("/v2/health/live", opt=PUBLIC, tags=TAGS, summary="v2 server liveness", status_code=200)
async def v2_live() -> ASGIResponse:
    return _json(b'{"live":true}')


@get(
    "/v2/health/ready",
    opt=PUBLIC,
    dependencies=DEPENDENCIES,
    tags=TAGS,
    summary="v2 server readiness",
    status_code=200,
)
async def v2_ready(serving_runtime: ServingRuntime) -> ASGIResponse:
    return _json(b'{"ready":%s}' % (b"true" if serving_runtime.enabled else b"false"))


async def _metadata(
    request: Request, runtime: ServingRuntime, name: str, version: int | None, environment: str
) -> ASGIResponse:
    candidates = await _served(request, runtime, name, version, environment)
    info = candidates[0].info
    inputs = [(column.name, column.type) for column in info.inputs or ()]
    outputs = [(column.name, column.type) for column in info.outputs or ()] or [("predict", "double")]
    versions = sorted({served.deployment.version for served in candidates})
    return _json(model_metadata(name, versions, inputs=inputs, outputs=outputs))


async def _ready(
    request: Request, runtime: ServingRuntime, name: str, version: int | None, environment: str
) -> ASGIResponse:
    await _served(request, runtime, name, version, environment)
    return _json(b'{"name":"%s","ready":true}' % name.encode())


def _body(raw: bytes, encoding: str | None, limit: int) -> bytes:
    """tritonclient compresses request bodies when asked (`request_compression_algorithm`)."""
    if not encoding or encoding == "identity":
        return raw
    if encoding not in ("gzip", "deflate"):
        raise BadRequest(f"Content-Encoding {encoding!r}: gzip, deflate or identity", field="Content-Encoding")
    decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS)
    try:
        body = decompressor.decompress(raw, limit + 1)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise BadRequest(f"the body is not valid {encoding} data: {exc}", field="body") from None
    if len(body) > limit:
        raise PayloadTooLarge(f"the body decompresses to more than {limit} bytes", field="body")
    return body


async def _infer(
    request: Request, runtime: ServingRuntime, name: str, version: int | None, environment: str
) -> ASGIResponse:
    candidates = await _served(request, runtime, name, version, environment)
    raw = _body(
        await request.body(), request.headers.get("content-encoding"), runtime.platform.settings.http.max_body_bytes
    )
    parsed = parse_infer_request(raw, request.headers.get(HEADER_LENGTH), max_rows=MAX_SERVING_ROWS)
    request_id = request.scope["state"]["request_id"]
    served = predict.pick_among(candidates, None, request_id)
    signature = None
    if served.info.inputs is not None and not served.info.tensor_inputs:
        signature = [(column.name, column.type) for column in served.info.inputs]
    model_request = PredictRequest(to_model_input(parsed, signature), None, parsed.parameters or None)
    if version is None:
        predict.mirror(runtime.platform, runtime.supervisor, served, model_request, runtime.prediction_log, request_id)
    outcome = await predict.predict_settled(
        runtime.platform, runtime.supervisor, served, model_request, runtime.prediction_log, request_id
    )
    body, headers = infer_response(
        name,
        served.deployment.version,
        parsed.id,
        outcome.predictions,
        parsed.outputs,
        binary_default=parsed.binary_outputs,
    )
    media_type = "application/octet-stream" if HEADER_LENGTH in headers else "application/json"
    return ASGIResponse(body=body, media_type=media_type, headers=headers)


GATED: dict[str, Any] = {"dependencies": DEPENDENCIES, "tags": TAGS, "guards": [requires_authenticated]}


@get(MODEL, **GATED, opt=READ_ONLY, summary="v2 model metadata", status_code=200)
async def v2_model_metadata(
    name: ModelName, request: Request, serving_runtime: ServingRuntime, environment: Environment = "prod"
) -> ASGIResponse:
    return await _as_v2(lambda: _metadata(request, serving_runtime, name, None, environment))


@get(VERSION, **GATED, opt=READ_ONLY, summary="v2 model metadata (one version)", status_code=200)
async def v2_version_metadata(
    name: ModelName, version: int, request: Request, serving_runtime: ServingRuntime, environment: Environment = "prod"
) -> ASGIResponse:
    return await _as_v2(lambda: _metadata(request, serving_runtime, name, version, environment))


@get(MODEL + "/ready", **GATED, opt=READ_ONLY, summary="v2 model readiness", status_code=200)
async def v2_model_ready(
    name: ModelName, request: Request, serving_runtime: ServingRuntime, environment: Environment = "prod"
) -> ASGIResponse:
    return await _as_v2(lambda: _ready(request, serving_runtime, name, None, environment))


@get(VERSION + "/ready", **GATED, opt=READ_ONLY, summary="v2 model readiness (one version)", status_code=200)
async def v2_version_ready(
    name: ModelName, version: int, request: Request, serving_runtime: ServingRuntime, environment: Environment = "prod"
) -> ASGIResponse:
    return await _as_v2(lambda: _ready(request, serving_runtime, name, version, environment))


@post(MODEL + "/infer", **GATED, opt=INFER_OPT, summary="v2 inference", status_code=200)
async def v2_model_infer(
    name: ModelName, request: Request, serving_runtime: ServingRuntime, environment: Environment = "prod"
) -> ASGIResponse:
    return await _as_v2(lambda: _infer(request, serving_runtime, name, None, environment))


@post(VERSION + "/infer", **GATED, opt=INFER_OPT, summary="v2 inference (one version)", status_code=200)
async def v2_version_infer(
    name: ModelName, version: int, request: Request, serving_runtime: ServingRuntime, environment: Environment = "prod"
) -> ASGIResponse:
    return await _as_v2(lambda: _infer(request, serving_runtime, name, version, environment))


OIP_HANDLERS = [
    v2_server_metadata,
    v2_live,
    v2_ready,
    v2_model_metadata,
    v2_version_metadata,
    v2_model_ready,
    v2_version_ready,
    v2_model_infer,
    v2_version_infer,
]
