"""Prediction routes: a model (traffic shares across its deployments in an environment) or one deployment.

Bodies are MLflow scoring-server bodies (`dataframe_split`, `dataframe_records`, `instances`, `inputs`, with
`params`), so a client of `mlflow models serve` switches by changing the URL, plus `entities` (join keys,
columnar) whose online features the platform joins in.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Request, post
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.response.base import ASGIResponse

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.openapi_bodies import json_body
from mlplatform.kernel.request_context import SAMPLED_ACCESS_LOG
from mlplatform.modules.catalogue.api import MAX_SERVING_ROWS
from mlplatform.modules.gateway.api import READ_ONLY, Role, rate_group, requires_role
from mlplatform.modules.serving import predict
from mlplatform.modules.serving.formats.answers import PredictResponse, joined_features, predict_response
from mlplatform.modules.serving.formats.payload import PredictRequest
from mlplatform.modules.serving.formats.scoring import PredictBody, parse_scoring_request
from mlplatform.modules.serving.runtime import ServingRuntime
from mlplatform.modules.serving.served import Served

PROJECT_PATH = "/api/v1/projects/{project:str}"
PREDICT_ROLE = Role.VIEWER
PREDICT_RATE_GROUP = "predict"
PREDICT_OPT = {
    **rate_group(PREDICT_RATE_GROUP),
    **READ_ONLY,
    **SAMPLED_ACCESS_LOG,
    **json_body(PredictBody, description="MLflow scoring-server input and/or entity keys."),
}
"""Predictions are queries: their own rate budget, no audit row each, a sampled access log. The handler parses
the body itself: MLflow's client sends `NaN` for a missing value, which strict JSON decoding refuses."""
RESPONSES = {200: ResponseSpec(data_container=PredictResponse, description="Predictions", generate_examples=False)}
TAGS = ["serving"]

Environment = Annotated[
    str,
    Parameter(
        description="The environment whose live managed deployments answer (by their traffic shares).",
        pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$",
    ),
]


def provide_serving(platform: PlatformContext) -> ServingRuntime:
    return platform.runtimes.get(ServingRuntime)


DEPENDENCIES = {"serving_runtime": Provide(provide_serving, sync_to_thread=False)}


def _answer(outcome: predict.Outcome) -> ASGIResponse:
    deployment = outcome.served.deployment
    features = None
    if outcome.joined is not None:
        features = joined_features(outcome.joined.names, outcome.joined.column_statuses)
    body = predict_response(
        outcome.predictions, version=deployment.version, deployment_id=deployment.id, features=features
    )
    return ASGIResponse(body=body, media_type="application/json")


async def _predict(runtime: ServingRuntime, served: Served, parsed: PredictRequest, request_id: str) -> predict.Outcome:
    return await predict.predict_settled(
        runtime.platform, runtime.supervisor, served, parsed, runtime.prediction_log, request_id
    )


@post(
    f"{PROJECT_PATH}/models/{{model:str}}/predict",
    guards=[requires_role(PREDICT_ROLE)],
    opt=PREDICT_OPT,
    dependencies=DEPENDENCIES,
    tags=TAGS,
    summary="Predict with a model's live managed deployments",
    description=(
        "The live managed deployments of the model in `environment` answer by their traffic shares; a request "
        "with entity keys always reaches the same deployment while the shares are unchanged (its first entity row "
        "decides). With `entities`, the deployment's feature service is read online and joined in, in the "
        "model signature's column order; `features` then reports each row's feature statuses."
    ),
    responses=RESPONSES,
    status_code=200,
)
async def predict_model(
    project: str,
    model: str,
    request: Request,
    serving_runtime: ServingRuntime,
    environment: Environment = "prod",
) -> ASGIResponse:
    parsed = parse_scoring_request(await request.body(), max_rows=MAX_SERVING_ROWS)
    request_id = request.scope["state"]["request_id"]
    supervisor = serving_runtime.supervisor
    served = predict.choose(supervisor, project, model, environment, parsed, request_id)
    predict.mirror(serving_runtime.platform, supervisor, served, parsed, serving_runtime.prediction_log, request_id)
    return _answer(await _predict(serving_runtime, served, parsed, request_id))


@post(
    f"{PROJECT_PATH}/deployments/{{deployment_id:uuid}}/predict",
    guards=[requires_role(PREDICT_ROLE)],
    opt=PREDICT_OPT,
    dependencies=DEPENDENCIES,
    tags=TAGS,
    summary="Predict with one managed deployment",
    description="Calls this deployment whatever its traffic share (0 % included: try a version before it takes "
    "traffic).",
    responses=RESPONSES,
    status_code=200,
)
async def predict_deployment(
    project: str, deployment_id: uuid.UUID, request: Request, serving_runtime: ServingRuntime
) -> ASGIResponse:
    parsed = parse_scoring_request(await request.body(), max_rows=MAX_SERVING_ROWS)
    served = predict.by_id(serving_runtime.supervisor, project, deployment_id)
    return _answer(await _predict(serving_runtime, served, parsed, request.scope["state"]["request_id"]))


PREDICT_HANDLERS = [predict_model, predict_deployment]
