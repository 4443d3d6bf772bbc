"""Deployments (a version in an environment with a traffic share) and their monitoring.

Traffic rule: the live deployments (pending or active) of one model in one environment hold at most
100 % of its traffic together. A new deployment asks for 100 % unless it states a share, so a second
deployment in an environment is refused (409) unless the traffic is split explicitly or the request
says `replace` (the old ones are retired in the same transaction). Every check runs under a lock on
the model row, so two concurrent deployments cannot both take the same traffic.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.db import utcnow
from mlplatform.kernel.errors import Conflict, Invalid, NotFound, PreconditionFailed
from mlplatform.kernel.events import publish
from mlplatform.kernel.pagination import Page, check_limit, pick_sort
from mlplatform.modules.catalogue import events, repositories, rules, schemas, views
from mlplatform.modules.catalogue.models import (
    CatalogueDeployment,
    CatalogueModel,
    CatalogueModelVersion,
)
from mlplatform.modules.catalogue.repositories import DeploymentFilters, DeploymentRow, flush_or_fail
from mlplatform.modules.catalogue.services.models import ModelService
from mlplatform.modules.catalogue.services.monitoring import insert_rule
from mlplatform.modules.catalogue.services.skew import SkewedView, as_records, guard

DEPLOYMENT_STATUS_FILTERS = ("pending", "active", "failed", "retired", "live")


def changed_event(
    row: CatalogueDeployment,
    model: str,
    number: int,
    change: str,
    actor: str,
    *,
    skew: tuple[str, list[SkewedView]] | None = None,
) -> events.DeploymentChanged:
    return events.DeploymentChanged(
        aggregate_id=str(row.id),
        project=row.project,
        model=model,
        version=number,
        version_id=str(row.version_id),
        environment=row.environment,
        target=row.target,
        status=row.status,
        traffic_share=row.traffic_share,
        change=change,
        by=actor,
        mode=row.mode,
        reason=row.status_reason,
        skew_override=skew[0] if skew else "",
        skewed_views=as_records(skew[1]) if skew else [],
    )


async def follow_production(
    session: AsyncSession, model: CatalogueModel, version: CatalogueModelVersion, *, actor: str
) -> int:
    """`version` enters production: the model's live managed deployments that follow the stage are to move to
    it (the serving module loads it, then swaps). Called before the replaced version is archived, so that
    those deployments are not retired with it."""
    rows = await repositories.lock_live_managed_of_model(session, model.id)
    moving = [
        row
        for row in rows
        if (row.serving or {}).get("follow_stage") and version.id not in (row.version_id, row.next_version_id)
    ]
    for row in moving:
        row.next_version_id = version.id
        row.status_reason = f"loading version {version.version} to take over"
    await flush_or_fail(session, Conflict("a deployment of this model changed at the same time; retry"))
    for row in moving:
        current = await repositories.version_by_id(session, row.version_id)
        await publish(session, changed_event(row, model.name, current.version, "swap_requested", actor))
    return len(moving)


async def retire_version_deployments(
    session: AsyncSession, model: CatalogueModel, version: CatalogueModelVersion, *, actor: str, reason: str
) -> int:
    """Retire every non-retired deployment of a version (it was archived or rejected), except managed ones
    already moving to another version (`follow_production`)."""
    rows = [
        row for row in await repositories.lock_unretired_of_version(session, version.id) if row.next_version_id is None
    ]
    now = utcnow()
    for row in rows:
        row.status, row.retired_at = "retired", now
    await flush_or_fail(session, Conflict("a deployment of this version changed at the same time; retry"))
    for row in rows:
        await publish(session, changed_event(row, model.name, version.version, "retired", actor))
    return len(rows)


class DeploymentService:
    def __init__(self, session: AsyncSession, actor: str, platform: PlatformContext | None = None) -> None:
        """`platform` reaches the feature registry for the skew guard; without it (a script, a unit-of-work
        test), deploying a version that has training datasets in lineage answers 503 (nothing to check with)."""
        self.session = session
        self.actor = actor
        self.platform = platform
        self.models = ModelService(session, actor)
        self.skew: tuple[str, list[SkewedView]] | None = None
        """After `create` overrode the skew guard: the reason and the skewed views (the controller audits them)."""

    async def _require(self, project: str, deployment_id: uuid.UUID) -> DeploymentRow:
        row = await repositories.deployment_in_project(self.session, project, deployment_id)
        if row is None:
            raise NotFound(f"deployment {deployment_id} not found in project {project!r}")
        return row

    async def create(self, project: str, data: schemas.DeploymentCreate) -> schemas.Deployment:
        model = await repositories.lock_model(self.session, project, data.model)
        if model is None:
            raise NotFound(f"model {data.model!r} not found in project {project!r}")
        version = await repositories.version_by_number(self.session, model.id, data.version, for_update=True)
        if version is None:
            raise NotFound(f"model {data.model!r} has no version {data.version}")
        if version.stage in rules.RETIRING_STAGES:
            raise Conflict(f"version {version.version} is {version.stage}: it cannot be deployed", stage=version.stage)
        _check_share(data.traffic_share)
        environment = _check_environment(data.environment)
        status, serving = _mode_fields(data)
        skewed = await guard(
            self.session,
            self.platform,
            project=project,
            model=model.name,
            version=version.version,
            override=data.skew_override,
        )
        skew = (data.skew_override, skewed) if skewed and data.skew_override else None
        if data.replace:
            await self._retire_live(model, environment)
        else:
            await self._check_room(model, environment, data.traffic_share, excluding=None)
        now = utcnow()
        row = CatalogueDeployment(
            project=project,
            model_id=model.id,
            version_id=version.id,
            environment=environment,
            target=rules.check_text(data.target, "target", rules.MAX_URI),
            status=status,
            mode=data.mode,
            serving=serving,
            status_reason="waiting for model workers" if data.mode == "managed" else "",
            traffic_share=data.traffic_share,
            created_by=self.actor,
            created_at=now,
            updated_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        await publish(self.session, changed_event(row, model.name, version.version, "created", self.actor, skew=skew))
        self.skew = skew
        for rule_data in data.rules:
            await insert_rule(self.session, row, rule_data, actor=self.actor)
        return await self.get(project, row.id)

    async def _retire_live(self, model: CatalogueModel, environment: str) -> None:
        rows = await repositories.lock_live_in_environment(self.session, model.id, environment)
        now = utcnow()
        for row, _ in rows:
            row.status, row.retired_at = "retired", now
        await flush_or_fail(self.session, Conflict("a deployment in this environment changed at the same time; retry"))
        for row, number in rows:
            await publish(self.session, changed_event(row, model.name, number, "retired", self.actor))

    async def _check_room(
        self, model: CatalogueModel, environment: str, share: int, *, excluding: uuid.UUID | None
    ) -> None:
        taken, holders = await repositories.live_share(self.session, model.id, environment, excluding=excluding)
        if taken + share > 100:
            raise Conflict(
                f"{model.name!r} already has live deployments in {environment!r} holding {taken}% of the traffic; "
                f"at most {100 - taken}% is free. Split the traffic explicitly (lower traffic_share here or on "
                "the existing deployments) or deploy with replace=true",
                environment=environment,
                traffic_taken=taken,
                traffic_free=100 - taken,
                live_deployments=[str(h) for h in holders],
            )

    async def get(self, project: str, deployment_id: uuid.UUID) -> schemas.Deployment:
        row, model_name, number, stage, alerts_open = await self._require(project, deployment_id)
        return views.deployment(
            row,
            model_name,
            number,
            stage,
            alerts_open,
            alerts=await repositories.open_alerts(self.session, row.id),
            rules=await repositories.rules_of(self.session, row.id),
        )

    async def update(
        self, project: str, deployment_id: uuid.UUID, data: schemas.DeploymentUpdate, *, if_match: str | None
    ) -> schemas.Deployment:
        current, model_name, _, _, _ = await self._require(project, deployment_id)
        # Lock order everywhere: model row, then version/deployment rows.
        model = await repositories.lock_model(self.session, project, model_name)
        if model is None:
            raise NotFound(f"deployment {deployment_id} not found in project {project!r}")
        row = await repositories.lock_deployment(self.session, current.id)
        version = await repositories.version_by_id(self.session, row.version_id)
        views.check_if_match(if_match, views.etag(row.id, row.revision), "deployment")
        if row.status == "retired":
            raise Conflict("a retired deployment cannot change; create a new deployment", deployment_status="retired")
        status = data.status or row.status
        if row.mode == "managed" and data.status is not None and data.status not in ("pending", "retired"):
            raise Conflict(
                "the platform sets a managed deployment's status; PATCH status=pending retries a failed one, "
                "status=retired undeploys",
                deployment_status=row.status,
            )
        share = row.traffic_share if data.traffic_share is None else _check_share(data.traffic_share)
        if (row.serving or {}).get("shadow") and share != 0:
            raise Invalid("traffic_share: a shadow deployment takes no share of the traffic", field="traffic_share")
        target = row.target if data.target is None else rules.check_text(data.target, "target", rules.MAX_URI)
        if (status, share, target) == (row.status, row.traffic_share, row.target):
            return await self.get(project, row.id)
        if status in rules.LIVE_DEPLOYMENT_STATUSES:
            if row.status not in rules.LIVE_DEPLOYMENT_STATUSES and version.stage in rules.RETIRING_STAGES:
                raise Conflict(f"version {version.version} is {version.stage}: it cannot be deployed again")
            await self._check_room(model, row.environment, share, excluding=row.id)
        if row.mode == "managed" and status != row.status:
            row.status_reason = "waiting for model workers" if status == "pending" else ""
        row.status, row.traffic_share, row.target = status, share, target
        if status == "retired":
            row.retired_at = utcnow()
        await flush_or_fail(
            self.session, PreconditionFailed("the deployment changed at the same time; GET it and retry")
        )
        change = "retired" if status == "retired" else "updated"
        await publish(self.session, changed_event(row, model.name, version.version, change, self.actor))
        return await self.get(project, row.id)

    async def search(
        self, project: str, filters: DeploymentFilters, *, sort: str | None, cursor: str | None, limit: int | None
    ) -> Page[schemas.Deployment]:
        size = check_limit(limit)
        order = pick_sort(repositories.DEPLOYMENT_SORTS, sort, "-created_at")
        if filters.status is not None and filters.status not in DEPLOYMENT_STATUS_FILTERS:
            raise Invalid(f"status: one of {', '.join(DEPLOYMENT_STATUS_FILTERS)}", parameter="status")
        page = await repositories.search_deployments(self.session, project, filters, order, cursor=cursor, limit=size)
        return page.map(lambda r: views.deployment(*r))


def _mode_fields(data: schemas.DeploymentCreate) -> tuple[str, dict[str, Any] | None]:
    """The initial status and stored serving options of a new deployment."""
    if data.mode == "external":
        if data.serving is not None:
            raise Invalid("serving: only a managed deployment (mode=managed) has serving options", field="serving")
        return data.status or "active", None
    if data.status == "active":
        raise Invalid(
            "status: a managed deployment starts pending; the platform makes it active once its model workers answer",
            field="status",
        )
    if data.target:
        raise Invalid("target: a managed deployment is served by the platform; leave target empty", field="target")
    options = data.serving or schemas.ServingOptions()
    if options.shadow and data.traffic_share != 0:
        raise Invalid(
            "traffic_share: a shadow deployment gets a copy of the traffic, no share of it; give 0",
            field="traffic_share",
        )
    if options.missing_features == "default" and not options.feature_defaults:
        raise Invalid(
            "serving.feature_defaults: give a value per feature when missing_features is 'default'",
            field="serving.feature_defaults",
        )
    return "pending", msgspec.to_builtins(options)


def _check_share(share: int) -> int:
    if isinstance(share, bool) or not isinstance(share, int) or not 0 <= share <= 100:
        raise Invalid("traffic_share: an integer percentage between 0 and 100", field="traffic_share")
    return share


def _check_environment(environment: str) -> str:
    if not re.match(rules.ENVIRONMENT_PATTERN, environment):
        raise Invalid("environment: 1-64 of lower-case letters, digits, '_', '-'", field="environment")
    return environment
