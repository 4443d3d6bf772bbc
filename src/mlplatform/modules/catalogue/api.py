"""The catalogue's public facade: the only thing other modules import from the catalogue.

The experiments module registers MLflow model versions with `register_external_version` (inside
its own transaction, e.g. an outbox subscriber reacting to MLflow's "model version created"); the
lineage module decodes the catalogue's events with the classes re-exported here.

    ref = await register_external_version(
        session, project="fraud", model_name="scorer", source_run_id=run_id,
        model_uri=f"models:/scorer/{mlflow_version}", mlflow_version=mlflow_version,
        metrics={"auc": 0.91}, params={"depth": "6"}, framework="sklearn", actor="service_account:mlflow",
    )

The serving module runs the `managed` deployments: `live_managed_deployments(session)` lists them and
`report_managed_status(...)` records that their model workers answer (`active`) or could not load (`failed`).

`register_external_version` is idempotent on (project, model, MLflow version), or (project, model, run
id) when no registry version is given: delivering the same MLflow event twice returns the same catalogue
version (`ref.created` is False the second time). The model is created if missing. Invalid input
(a model name outside [A-Za-z0-9_.-], oversize tags ...) raises `mlplatform.kernel.errors.Invalid`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.modules.catalogue import repositories
from mlplatform.modules.catalogue.events import (
    ApprovalRecorded,
    DeploymentChanged,
    ModelCreated,
    ModelUpdated,
    ModelVersionCreated,
    ModelVersionUpdated,
    MonitoringAlert,
    MonitoringRecorded,
    MonitoringRuleChanged,
    StageChanged,
    StageChangeRequested,
    ValidationRecorded,
)
from mlplatform.modules.catalogue.models import CatalogueModel, CatalogueModelVersion
from mlplatform.modules.catalogue.rules import MAX_SERVING_ROWS, STAGES
from mlplatform.modules.catalogue.schemas import MonitoringRecordCreate, ServingOptions
from mlplatform.modules.catalogue.services.managed import (
    ManagedDeployment,
    NextVersion,
    SwapOutcome,
    find_managed_deployment,
    live_managed_deployments,
    report_managed_status,
    report_managed_swap,
)
from mlplatform.modules.catalogue.services.models import ModelService, NewVersion
from mlplatform.modules.catalogue.services.monitoring import MonitoringService

__all__ = [
    "MAX_SERVING_ROWS",
    "STAGES",
    "ApprovalRecorded",
    "DeploymentChanged",
    "ManagedDeployment",
    "ModelCreated",
    "ModelUpdated",
    "ModelVersionCreated",
    "ModelVersionRef",
    "ModelVersionUpdated",
    "MonitoringAlert",
    "MonitoringRecorded",
    "MonitoringRuleChanged",
    "NextVersion",
    "ProductionPolicy",
    "ServingOptions",
    "StageChangeRequested",
    "StageChanged",
    "SwapOutcome",
    "ValidationRecorded",
    "find_managed_deployment",
    "find_model_version",
    "live_managed_deployments",
    "production_policy",
    "record_monitoring",
    "register_external_version",
    "report_managed_status",
    "report_managed_swap",
]


class ModelVersionRef(msgspec.Struct, frozen=True, kw_only=True):
    """A catalogue model version, as other modules see it."""

    project: str
    model: str
    model_id: uuid.UUID
    version: int
    version_id: uuid.UUID
    stage: str
    model_uri: str
    source_run_id: str | None
    mlflow_version: str | None
    created: bool = False
    """True when this call created the version (False: it existed already)."""


class ProductionPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """What the catalogue requires of a model's production versions, and where an MLflow version stands."""

    model: str
    required_approvals: int
    """Approvals the model's policy asks for to enter production (0: none)."""
    required_validations: tuple[str, ...]
    """Checks that must have passed to enter production."""
    version: int | None
    """The catalogue version registered from the MLflow version asked about (None: not registered)."""
    stage: str | None
    """That version's stage."""

    @property
    def gated(self) -> bool:
        """Production needs approvals or passed validations: it has to go through the catalogue."""
        return self.required_approvals > 0 or bool(self.required_validations)


def _ref(model: CatalogueModel, row: CatalogueModelVersion, *, created: bool) -> ModelVersionRef:
    return ModelVersionRef(
        project=model.project,
        model=model.name,
        model_id=model.id,
        version=row.version,
        version_id=row.id,
        stage=row.stage,
        model_uri=row.model_uri,
        source_run_id=row.source_run_id,
        mlflow_version=row.mlflow_version,
        created=created,
    )


async def register_external_version(
    session: AsyncSession,
    *,
    project: str,
    model_name: str,
    source_run_id: str,
    model_uri: str,
    mlflow_version: str | None,
    metrics: Mapping[str, float],
    params: Mapping[str, Any],
    actor: str,
    framework: str | None = None,
    tags: Mapping[str, str] | None = None,
    feature_service: str | None = None,
    feast_project: str | None = None,
    description: str = "",
) -> ModelVersionRef:
    """Register (once) a model version produced by an MLflow run; see the module docstring."""
    service = ModelService(session, actor)
    model, row, created = await service.register_external(
        project,
        model_name,
        NewVersion(
            model_uri=model_uri,
            source_run_id=source_run_id,
            mlflow_version=mlflow_version,
            framework=framework,
            description=description,
            metrics=metrics,
            params=params,
            tags=tags,
            feature_service=feature_service,
            feast_project=feast_project,
        ),
    )
    return _ref(model, row, created=created)


async def find_model_version(
    session: AsyncSession, *, project: str, model_name: str, version: int
) -> ModelVersionRef | None:
    found = await repositories.model_by_name(session, project, model_name)
    if found is None:
        return None
    row = await repositories.version_by_number(session, found[0].id, version)
    return _ref(found[0], row, created=False) if row is not None else None


async def production_policy(
    session: AsyncSession, *, project: str, model_name: str, mlflow_version: str
) -> ProductionPolicy | None:
    """The catalogue's production rules for `model_name` and the stage of the version registered from MLflow
    version `mlflow_version`; None when the catalogue has no such model (then it imposes nothing)."""
    found = await repositories.model_by_name(session, project, model_name)
    if found is None:
        return None
    model = found[0]
    row = await repositories.version_by_mlflow(session, model.id, mlflow_version=mlflow_version, run_id="")
    return ProductionPolicy(
        model=model.name,
        required_approvals=int(model.approval_policy.get("production", 0)),
        required_validations=tuple(model.required_validations or ()),
        version=row.version if row is not None else None,
        stage=row.stage if row is not None else None,
    )


async def record_monitoring(
    session: AsyncSession,
    *,
    project: str,
    deployment_id: uuid.UUID,
    values: Mapping[str, float],
    window_seconds: int,
    actor: str,
) -> int:
    """Monitoring records of a deployment (metric -> value over the window that ends now), evaluated against
    its rules as records posted over HTTP are; returns how many alerts opened or resolved."""
    batch = [MonitoringRecordCreate(metric=m, value=v, window_seconds=window_seconds) for m, v in values.items()]
    result = await MonitoringService(session, actor).record(project, deployment_id, batch)
    return len(result.alerts)
