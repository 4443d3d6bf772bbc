"""A managed deployment seen from outside the predictions: its model workers in this replica, and a KServe
InferenceService manifest of it."""

from __future__ import annotations

import os
import socket
import uuid

import msgspec
from litestar import Response, get
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.errors import NotFound
from mlplatform.modules.catalogue.api import find_managed_deployment
from mlplatform.modules.experiments.api import locate_model
from mlplatform.modules.gateway.api import Role, requires_role
from mlplatform.modules.serving import schemas
from mlplatform.modules.serving.controllers import DEPENDENCIES, PROJECT_PATH, TAGS
from mlplatform.modules.serving.kserve import inference_service
from mlplatform.modules.serving.runtime import ServingRuntime


@get(
    f"{PROJECT_PATH}/deployments/{{deployment_id:uuid}}/kserve",
    guards=[requires_role(Role.MAINTAINER)],
    dependencies=DEPENDENCIES,
    tags=TAGS,
    summary="Export a managed deployment as a KServe InferenceService",
    description=(
        "The manifest serves the deployment's current version with KServe's MLflow runtime over the Open "
        "Inference Protocol v2, reading the model from the platform's object store (`storageUri`); maintainers "
        "only, since it names where the model is stored."
    ),
    media_type="application/yaml",
    responses={
        200: ResponseSpec(
            data_container=schemas.InferenceService,
            media_type="application/yaml",
            description="The InferenceService manifest (YAML)",
            generate_examples=False,
        )
    },
    status_code=200,
)
async def export_kserve(
    project: str, deployment_id: uuid.UUID, db_session: AsyncSession, serving_runtime: ServingRuntime
) -> Response[str]:
    deployment = await find_managed_deployment(db_session, project, deployment_id)
    if deployment is None:
        raise NotFound(f"deployment {deployment_id} is not a managed deployment of project {project!r}")
    location = await locate_model(serving_runtime.platform, project, deployment.model_uri)
    return Response(inference_service(deployment, location.uri), media_type="application/yaml")


@get(
    f"{PROJECT_PATH}/deployments/{{deployment_id:uuid}}/workers",
    guards=[requires_role(Role.MAINTAINER)],
    dependencies=DEPENDENCIES,
    tags=TAGS,
    summary="A managed deployment's model workers in this replica",
    description="Processes, readiness, restarts, requests in flight and memory per worker; each replica runs its "
    "own workers and answers for them.",
    status_code=200,
)
async def deployment_workers(
    project: str, deployment_id: uuid.UUID, serving_runtime: ServingRuntime
) -> schemas.DeploymentWorkers:
    served = serving_runtime.supervisor.served.get(deployment_id)
    if served is None or served.deployment.project != project:
        raise NotFound(
            f"deployment {deployment_id} has no model workers in this replica (not managed, not live or still loading)"
        )
    stats = served.pool.stats()
    return schemas.DeploymentWorkers(
        deployment_id=deployment_id,
        version=served.deployment.version,
        replica=REPLICA,
        state=stats["state"],
        broken=stats["broken"],
        processes=stats["processes"],
        alive=stats["alive"],
        ready=stats["ready"],
        restarts=stats["restarts"],
        in_flight=stats["in_flight"],
        load_seconds=served.info.load_seconds,
        workers=[msgspec.convert(worker, schemas.WorkerState) for worker in stats["workers"]],
    )


REPLICA = f"{socket.gethostname()}:{os.getpid()}"
EXPORT_HANDLERS = [export_kserve, deployment_workers]
