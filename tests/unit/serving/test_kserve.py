"""The KServe export: the manifest is the `InferenceService` the OpenAPI document describes (the contract test
found it documented as a bare string, which its YAML mapping is not)."""

from __future__ import annotations

import uuid

import msgspec
import yaml

from mlplatform.modules.catalogue.api import ManagedDeployment, ServingOptions
from mlplatform.modules.serving import schemas
from mlplatform.modules.serving.export_routes import export_kserve
from mlplatform.modules.serving.kserve import inference_service


def deployment() -> ManagedDeployment:
    return ManagedDeployment(
        id=uuid.uuid4(),
        project="Fraud_Team",
        model="scorer",
        version=3,
        version_id=uuid.uuid4(),
        environment="prod",
        status="active",
        traffic_share=100,
        model_uri="models:/Fraud_Team.scorer/3",
        mlflow_version="3",
        signature=None,
        serving=ServingOptions(processes=2, memory_limit_mb=1024),
        feature_service=None,
        revision=1,
    )


def test_the_manifest_is_the_documented_inference_service() -> None:
    text = inference_service(deployment(), "s3://artifacts/1/models/m-1/artifacts")
    manifest = msgspec.convert(yaml.safe_load(text), schemas.InferenceService, strict=True)
    assert (manifest.kind, manifest.metadata.name, manifest.metadata.namespace) == (
        "InferenceService",
        "scorer-prod",
        "fraud-team",
    )
    model = manifest.spec.predictor.model
    assert (model.model_format.name, model.protocol_version, model.storage_uri) == (
        "mlflow",
        "v2",
        "s3://artifacts/1/models/m-1/artifacts",
    )
    assert manifest.spec.predictor.min_replicas == 2
    assert model.resources.limits == {"memory": "1024Mi"}
    assert list(yaml.safe_load(text)) == ["apiVersion", "kind", "metadata", "spec"]


def test_the_route_documents_the_manifest_as_yaml() -> None:
    documented = (export_kserve.responses or {})[200]
    assert (documented.data_container, documented.media_type) == (schemas.InferenceService, "application/yaml")
