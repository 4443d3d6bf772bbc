"""Managed deployments as the serving module sees them: which to run, and reports of how their loading went.

The catalogue owns the deployment record (version, environment, traffic share, status); the serving module
runs the model workers of the `managed` ones and reports back `active` (its workers answer) or `failed`
(with the reason), through `api.py`.
"""

from __future__ import annotations

import uuid
from typing import Literal

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.db import utcnow
from mlplatform.kernel.events import publish
from mlplatform.modules.catalogue import repositories
from mlplatform.modules.catalogue.models import CatalogueDeployment, CatalogueModel, CatalogueModelVersion
from mlplatform.modules.catalogue.rules import LIVE_DEPLOYMENT_STATUSES
from mlplatform.modules.catalogue.schemas import ServingOptions
from mlplatform.modules.catalogue.services.deployments import changed_event

MAX_REASON = 1000


class ManagedDeployment(msgspec.Struct, frozen=True, kw_only=True):
    """A live managed deployment: what the serving module loads and routes to."""

    id: uuid.UUID
    project: str
    model: str
    version: int
    version_id: uuid.UUID
    environment: str
    status: str
    traffic_share: int
    model_uri: str
    mlflow_version: str | None
    signature: dict[str, object] | None
    serving: ServingOptions
    feature_service: str | None
    """The feature service to join: the deployment's option, else the version's own."""
    revision: int


def _managed(row: CatalogueDeployment, model: CatalogueModel, version: CatalogueModelVersion) -> ManagedDeployment:
    options = msgspec.convert(row.serving or {}, ServingOptions)
    return ManagedDeployment(
        id=row.id,
        project=row.project,
        model=model.name,
        version=version.version,
        version_id=version.id,
        environment=row.environment,
        status=row.status,
        traffic_share=row.traffic_share,
        model_uri=version.model_uri,
        mlflow_version=version.mlflow_version,
        signature=version.signature,
        serving=options,
        feature_service=options.feature_service or version.feature_service,
        revision=row.revision,
    )


async def live_managed_deployments(session: AsyncSession) -> list[ManagedDeployment]:
    """Every pending or active managed deployment of every project."""
    return [_managed(*found) for found in await repositories.live_managed(session)]


async def report_managed_status(
    session: AsyncSession,
    deployment_id: uuid.UUID,
    *,
    version_id: uuid.UUID,
    status: Literal["active", "failed"],
    reason: str,
    actor: str,
) -> bool:
    """Record how loading went; False (nothing changed) when the deployment is no longer live, no longer runs
    `version_id` or already has this status and reason (another replica reported first)."""
    row = await repositories.find_deployment(session, deployment_id)
    if row is None or row.mode != "managed" or row.status not in LIVE_DEPLOYMENT_STATUSES:
        return False
    if row.version_id != version_id:
        return False
    reason = reason[:MAX_REASON]
    if (row.status, row.status_reason) == (status, reason):
        return False
    row.status, row.status_reason, row.updated_at = status, reason, utcnow()
    await session.flush()
    version = await repositories.version_by_id(session, row.version_id)
    model = await session.get(CatalogueModel, row.model_id)
    assert model is not None
    change = "activated" if status == "active" else "failed"
    await publish(session, changed_event(row, model.name, version.version, change, actor))
    return True
