"""Deployments, their monitoring rules, metric records and alerts."""

from __future__ import annotations

import uuid
from datetime import datetime

from litestar import Controller, Response, delete, get, patch, post
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.pagination import Page
from mlplatform.modules.catalogue import schemas
from mlplatform.modules.catalogue.controllers._http import ETAG_HEADER, PROJECT_PATH, TAGS, IfMatch, aware, with_etag
from mlplatform.modules.catalogue.repositories import DeploymentFilters
from mlplatform.modules.catalogue.services.deployments import DeploymentService
from mlplatform.modules.catalogue.services.monitoring import MonitoringService
from mlplatform.modules.gateway.api import Principal, Role, requires_role


class DeploymentController(Controller):
    path = PROJECT_PATH + "/deployments"
    tags = TAGS

    @post(
        "/",
        guards=[requires_role(Role.CONTRIBUTOR)],
        summary="Deploy a model version to an environment",
        description=(
            "The live deployments of a model in one environment share at most 100% of its traffic: a second "
            "one is refused (409) unless `traffic_share` splits the traffic explicitly or `replace` retires "
            "the current ones."
        ),
        status_code=201,
        response_headers=ETAG_HEADER,
    )
    async def create_deployment(
        self, project: str, data: schemas.DeploymentCreate, db_session: AsyncSession, principal: Principal
    ) -> Response[schemas.Deployment]:
        created = await DeploymentService(db_session, principal.subject).create(project, data)
        location = f"/api/v1/projects/{project}/deployments/{created.id}"
        return with_etag(created, created.etag, status_code=201, location=location)

    @get(
        "/",
        guards=[requires_role(Role.VIEWER)],
        summary="List deployments",
        description="`status=live` lists pending and active ones. Sorts: -created_at (default), created_at, "
        "updated_at, -updated_at.",
    )
    async def list_deployments(
        self,
        project: str,
        db_session: AsyncSession,
        principal: Principal,
        model: str | None = None,
        version: int | None = None,
        environment: str | None = None,
        status: str | None = None,
        sort: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[schemas.Deployment]:
        filters = DeploymentFilters(model=model, version=version, environment=environment, status=status)
        return await DeploymentService(db_session, principal.subject).search(
            project, filters, sort=sort, cursor=cursor, limit=limit
        )

    @get(
        "/{deployment_id:uuid}",
        guards=[requires_role(Role.VIEWER)],
        summary="A deployment with its open alerts and monitoring rules",
        response_headers=ETAG_HEADER,
    )
    async def get_deployment(
        self, project: str, deployment_id: uuid.UUID, db_session: AsyncSession, principal: Principal
    ) -> Response[schemas.Deployment]:
        found = await DeploymentService(db_session, principal.subject).get(project, deployment_id)
        return with_etag(found, found.etag)

    @patch(
        "/{deployment_id:uuid}",
        guards=[requires_role(Role.CONTRIBUTOR)],
        summary="Change a deployment's status, traffic share or target (If-Match supported)",
        response_headers=ETAG_HEADER,
    )
    async def update_deployment(
        self,
        project: str,
        deployment_id: uuid.UUID,
        data: schemas.DeploymentUpdate,
        db_session: AsyncSession,
        principal: Principal,
        if_match: IfMatch = None,
    ) -> Response[schemas.Deployment]:
        updated = await DeploymentService(db_session, principal.subject).update(
            project, deployment_id, data, if_match=if_match
        )
        return with_etag(updated, updated.etag)

    @post(
        "/{deployment_id:uuid}/metrics",
        guards=[requires_role(Role.CONTRIBUTOR)],
        summary="Record monitoring values (evaluated against the deployment's rules)",
        status_code=201,
    )
    async def record_metrics(
        self,
        project: str,
        deployment_id: uuid.UUID,
        data: schemas.MonitoringRecordBatch,
        db_session: AsyncSession,
        principal: Principal,
    ) -> schemas.MonitoringResult:
        return await MonitoringService(db_session, principal.subject).record(project, deployment_id, data.records)

    @get("/{deployment_id:uuid}/metrics", guards=[requires_role(Role.VIEWER)], summary="Monitoring records")
    async def list_metrics(
        self,
        project: str,
        deployment_id: uuid.UUID,
        db_session: AsyncSession,
        principal: Principal,
        metric: str | None = None,
        since: datetime | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[schemas.MonitoringRecord]:
        return await MonitoringService(db_session, principal.subject).list_records(
            project, deployment_id, metric=metric, since=aware(since, "since"), cursor=cursor, limit=limit
        )

    @get("/{deployment_id:uuid}/alerts", guards=[requires_role(Role.VIEWER)], summary="Alerts, newest first")
    async def list_alerts(
        self,
        project: str,
        deployment_id: uuid.UUID,
        db_session: AsyncSession,
        principal: Principal,
        status: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[schemas.Alert]:
        return await MonitoringService(db_session, principal.subject).list_alerts(
            project, deployment_id, status=status, cursor=cursor, limit=limit
        )

    @post(
        "/{deployment_id:uuid}/rules",
        guards=[requires_role(Role.CONTRIBUTOR)],
        summary="Add a monitoring threshold rule",
        status_code=201,
    )
    async def add_monitoring_rule(
        self,
        project: str,
        deployment_id: uuid.UUID,
        data: schemas.MonitoringRuleCreate,
        db_session: AsyncSession,
        principal: Principal,
    ) -> schemas.MonitoringRule:
        return await MonitoringService(db_session, principal.subject).add_rule(project, deployment_id, data)

    @get("/{deployment_id:uuid}/rules", guards=[requires_role(Role.VIEWER)], summary="Monitoring rules")
    async def list_monitoring_rules(
        self, project: str, deployment_id: uuid.UUID, db_session: AsyncSession, principal: Principal
    ) -> list[schemas.MonitoringRule]:
        return await MonitoringService(db_session, principal.subject).list_rules(project, deployment_id)

    @delete(
        "/{deployment_id:uuid}/rules/{rule_id:uuid}",
        guards=[requires_role(Role.CONTRIBUTOR)],
        summary="Delete a monitoring rule (its alerts stay as history)",
    )
    async def delete_monitoring_rule(
        self,
        project: str,
        deployment_id: uuid.UUID,
        rule_id: uuid.UUID,
        db_session: AsyncSession,
        principal: Principal,
    ) -> None:
        await MonitoringService(db_session, principal.subject).delete_rule(project, deployment_id, rule_id)
