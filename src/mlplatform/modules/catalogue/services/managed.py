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
SwapOutcome = Literal["swapped", "already", "failed", "stale"]


class NextVersion(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    version_id: uuid.UUID
    model_uri: str
    feature_service: str | None


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
    next: NextVersion | None = None
    """The version the deployment moves to (it follows the production stage), until the swap."""

    @property
    def wanted(self) -> NextVersion:
        """The version this deployment's workers should run: the one it moves to, else its own."""
        if self.next is not None:
            return self.next
        return NextVersion(
            version=self.version,
            version_id=self.version_id,
            model_uri=self.model_uri,
            feature_service=self.feature_service,
        )


def _managed(
    row: CatalogueDeployment,
    model: CatalogueModel,
    version: CatalogueModelVersion,
    following: CatalogueModelVersion | None,
) -> ManagedDeployment:
    options = msgspec.convert(row.serving or {}, ServingOptions)
    next_version = None
    if following is not None:
        next_version = NextVersion(
            version=following.version,
            version_id=following.id,
            model_uri=following.model_uri,
            feature_service=options.feature_service or following.feature_service,
        )
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
        next=next_version,
    )


async def live_managed_deployments(session: AsyncSession) -> list[ManagedDeployment]:
    """Every pending or active managed deployment of every project."""
    return [_managed(d, m, v, n) for d, m, v, n in await repositories.live_managed(session)]


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


async def report_managed_swap(
    session: AsyncSession,
    deployment_id: uuid.UUID,
    *,
    to_version_id: uuid.UUID,
    failure: str | None,
    actor: str,
) -> SwapOutcome:
    """The workers of the version a following deployment moves to are warm (`failure` None): the deployment
    now runs it (`swapped`). Or they could not load: the deployment stays on its version, `status_reason`
    says why (`failed`). `already`: an earlier report (another replica's) swapped it; `stale`: the deployment
    no longer moves to that version (retired, moved elsewhere)."""
    row = await repositories.find_deployment(session, deployment_id)
    if row is None or row.mode != "managed" or row.status not in LIVE_DEPLOYMENT_STATUSES:
        return "stale"
    if row.version_id == to_version_id:
        return "already"
    if row.next_version_id != to_version_id:
        return "stale"
    model = await session.get(CatalogueModel, row.model_id)
    assert model is not None
    if failure is not None:
        target = await repositories.version_by_id(session, to_version_id)
        row.next_version_id = None
        row.status_reason = f"version {target.version} could not take over: {failure}"[:MAX_REASON]
        change = "swap_failed"
    else:
        row.version_id, row.next_version_id, row.status_reason = to_version_id, None, ""
        change = "swapped"
    row.updated_at = utcnow()
    await session.flush()
    version = await repositories.version_by_id(session, row.version_id)
    await publish(session, changed_event(row, model.name, version.version, change, actor))
    return "failed" if failure is not None else "swapped"


async def find_managed_deployment(
    session: AsyncSession, project: str, deployment_id: uuid.UUID
) -> ManagedDeployment | None:
    """A managed deployment of `project` (live or not), as `live_managed_deployments` describes them."""
    found = await repositories.managed_in_project(session, project, deployment_id)
    return _managed(*found) if found is not None else None
