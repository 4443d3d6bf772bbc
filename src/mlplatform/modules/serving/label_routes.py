"""`POST .../deployments/{id}/labels`: ground truth for a managed deployment's logged predictions."""

from __future__ import annotations

import uuid

from litestar import Request, post
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.errors import NotFound
from mlplatform.modules.catalogue.api import find_managed_deployment
from mlplatform.modules.gateway.api import Role, current_principal, requires_role
from mlplatform.modules.serving.controllers import DEPENDENCIES, PROJECT_PATH, TAGS
from mlplatform.modules.serving.prediction_log.labels import MAX_LABELS, LabelsAccepted, LabelsBody, write_labels
from mlplatform.modules.serving.runtime import ServingRuntime

LABEL_ROLE = Role.CONTRIBUTOR


@post(
    f"{PROJECT_PATH}/deployments/{{deployment_id:uuid}}/labels",
    guards=[requires_role(LABEL_ROLE)],
    dependencies=DEPENDENCIES,
    tags=TAGS,
    summary="Attach ground truth to a managed deployment's predictions",
    description=(
        f"Up to {MAX_LABELS:,} labels, each naming the prediction by its request id (the `X-Request-ID` of the "
        "prediction's response, or the one the client sent with it) and optionally its row. They are written as "
        "one Parquet file under the deployment's `labels/date=YYYY-MM-DD/` folder before the call is answered, "
        "beside the prediction log, for drift and accuracy jobs to join by request id. Any managed deployment of "
        "the project takes labels, retired ones included (outcomes often arrive later)."
    ),
    status_code=202,
)
async def post_labels(
    project: str,
    deployment_id: uuid.UUID,
    data: LabelsBody,
    request: Request,
    db_session: AsyncSession,
    serving_runtime: ServingRuntime,
) -> LabelsAccepted:
    deployment = await find_managed_deployment(db_session, project, deployment_id)
    if deployment is None:
        raise NotFound(f"deployment {deployment_id} is not a managed deployment of project {project!r}")
    actor = current_principal(request).subject
    return await write_labels(serving_runtime.platform.object_store, project, str(deployment_id), data, actor)


LABEL_HANDLERS = [post_labels]
