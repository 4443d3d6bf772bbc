"""A managed deployment as a KServe `InferenceService`, for a team that outgrows the platform's workers.

KServe serves MLflow models with its MLServer runtime (`modelFormat: mlflow`) over the same Open Inference
Protocol v2 the platform answers under `/v2`, reading the model folder from object storage: the manifest
points `storageUri` at the version's stored model. The features join stays the platform's: a KServe
deployment gets the model's input as the platform would build it (a transformer can call the platform's
online endpoint first).
"""

from __future__ import annotations

import re

import msgspec
import yaml

from mlplatform.modules.catalogue.api import ManagedDeployment
from mlplatform.modules.serving import schemas

_UNSAFE = re.compile(r"[^a-z0-9-]+")


def dns_label(*parts: str) -> str:
    """A DNS-1035 label (what Kubernetes names must be): lower case, digits and `-`, starting with a letter."""
    text = _UNSAFE.sub("-", "-".join(parts).lower()).strip("-")
    if not text or not text[0].isalpha():
        text = f"m-{text}"
    return text[:63].rstrip("-")


def inference_service(deployment: ManagedDeployment, storage_uri: str) -> str:
    """The `InferenceService` manifest (YAML) of the deployment's current version: a `schemas.InferenceService`,
    which is how the OpenAPI document describes it."""
    memory = f"{deployment.serving.memory_limit_mb}Mi"
    manifest = schemas.InferenceService(
        api_version="serving.kserve.io/v1beta1",
        kind="InferenceService",
        metadata=schemas.KServeMetadata(
            name=dns_label(deployment.model, deployment.environment),
            namespace=dns_label(deployment.project),
            labels={"app.kubernetes.io/managed-by": "mlplatform"},
            annotations={
                "mlplatform.dev/project": deployment.project,
                "mlplatform.dev/model": deployment.model,
                "mlplatform.dev/version": str(deployment.version),
                "mlplatform.dev/deployment-id": str(deployment.id),
                "mlplatform.dev/model-uri": deployment.model_uri,
            },
        ),
        spec=schemas.KServeSpec(
            predictor=schemas.KServePredictor(
                min_replicas=deployment.serving.processes,
                model=schemas.KServeModel(
                    model_format=schemas.KServeModelFormat(name="mlflow"),
                    protocol_version="v2",
                    storage_uri=storage_uri,
                    resources=schemas.KServeResources(requests={"memory": memory}, limits={"memory": memory}),
                ),
            )
        ),
    )
    return yaml.safe_dump(msgspec.to_builtins(manifest), sort_keys=False)
