"""Deployments, their monitoring rules, metric records and alerts."""

from __future__ import annotations

import uuid

from litestar import Controller, Request, Response, delete, get, patch, post

from mlplatform.kernel.errors import Conflict
from mlplatform.kernel.page_parameters import PageCursor, PageLimit
from mlplatform.kernel.pagination import Page
from mlplatform.modules.catalogue import schemas
from mlplatform.modules.catalogue.controllers.dependencies import (
    DEPLOYMENT_DEPENDENCIES,
    ETAG_HEADER,
    PROJECT_PATH,
    TAGS,
    AlertStatus,
    DeploymentSort,
    IfMatch,
    MetricFilter,
    Since,
    aware,
    with_etag,
)
from mlplatform.modules.catalogue.repositories import DeploymentFilters
from mlplatform.modules.catalogue.services.deployments import DeploymentService
from mlplatform.modules.catalogue.services.monitoring import MonitoringService
from mlplatform.modules.catalogue.services.skew import describe
from mlplatform.modules.gateway.api import AUDIT_DETAILS, Role, requires_role


class DeploymentController(Controller):
    path = PROJECT_PATH + "/deployments"
    tags = TAGS
    dependencies = DEPLOYMENT_DEPENDENCIES

    @post(
        "/",
        guards=[requires_role(Role.CONTRIBUTOR)],
        summary="Deploy a model version to an environment",
        description=(
            "The live deployments of a model in one environment share at most 100% of its traffic: a second "
            "one is refused (409) unless `traffic_share` splits the traffic explicitly or `replace` retires "
            "the current ones. Skew guard: a version whose training datasets read feature views that changed (or "
            "were deleted) since they were built is refused (409, `skewed_views` names them) unless "
            "`skew_override` gives the reason to deploy it anyway (recorded in the audit log and the event)."
        ),
        status_code=201,
        response_headers=ETAG_HEADER,
        raises=[Conflict],
    )
    async def create_deployment(
        self, request: Request, project: str, data: schemas.DeploymentCreate, deployment_service: DeploymentService
    ) -> Response[schemas.Deployment]:
        created = await deployment_service.create(project, data)
        if deployment_service.skew is not None:
            reason, views = deployment_service.skew
            request.scope[AUDIT_DETAILS] = {  # type: ignore[literal-required]
                "resource": f"deployment={created.id}",
                "detail": f"skew override ({reason}): feature views changed since training: {describe(views)}",
            }
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
        deployment_service: DeploymentService,
        deployment_filters: DeploymentFilters,
        sort: DeploymentSort | None = None,
        cursor: PageCursor = None,
        limit: PageLimit = None,
    ) -> Page[schemas.Deployment]:
        return await deployment_service.search(project, deployment_filters, sort=sort, cursor=cursor, limit=limit)

    @get(
        "/{deployment_id:uuid}",
        guards=[requires_role(Role.VIEWER)],
        summary="A deployment with its open alerts and monitoring rules",
        response_headers=ETAG_HEADER,
    )
    async def get_deployment(
        self, project: str, deployment_id: uuid.UUID, deployment_service: DeploymentService
    ) -> Response[schemas.Deployment]:
        found = await deployment_service.get(project, deployment_id)
        return with_etag(found, found.etag)

    @patch(
        "/{deployment_id:uuid}",
        guards=[requires_role(Role.CONTRIBUTOR)],
        summary="Change a deployment's status, traffic share or target (If-Match supported)",
        raises=[Conflict],
        response_headers=ETAG_HEADER,
    )
    async def update_deployment(
        self,
        project: str,
        deployment_id: uuid.UUID,
        data: schemas.DeploymentUpdate,
        deployment_service: DeploymentService,
        if_match: IfMatch = None,
    ) -> Response[schemas.Deployment]:
        updated = await deployment_service.update(project, deployment_id, data, if_match=if_match)
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
        monitoring_service: MonitoringService,
    ) -> schemas.MonitoringResult:
        return await monitoring_service.record(project, deployment_id, data.records)

    @get("/{deployment_id:uuid}/metrics", guards=[requires_role(Role.VIEWER)], summary="Monitoring records")
    async def list_metrics(
        self,
        project: str,
        deployment_id: uuid.UUID,
        monitoring_service: MonitoringService,
        metric: MetricFilter = None,
        since: Since = None,
        cursor: PageCursor = None,
        limit: PageLimit = None,
    ) -> Page[schemas.MonitoringRecord]:
        return await monitoring_service.list_records(
            project, deployment_id, metric=metric, since=aware(since, "since"), cursor=cursor, limit=limit
        )

    @get("/{deployment_id:uuid}/alerts", guards=[requires_role(Role.VIEWER)], summary="Alerts, newest first")
    async def list_alerts(
        self,
        project: str,
        deployment_id: uuid.UUID,
        monitoring_service: MonitoringService,
        status: AlertStatus | None = None,
        cursor: PageCursor = None,
        limit: PageLimit = None,
    ) -> Page[schemas.Alert]:
        return await monitoring_service.list_alerts(project, deployment_id, status=status, cursor=cursor, limit=limit)

    @post(
        "/{deployment_id:uuid}/rules",
        guards=[requires_role(Role.CONTRIBUTOR)],
        summary="Add a monitoring threshold rule",
        raises=[Conflict],
        status_code=201,
    )
    async def add_monitoring_rule(
        self,
        project: str,
        deployment_id: uuid.UUID,
        data: schemas.MonitoringRuleCreate,
        monitoring_service: MonitoringService,
    ) -> schemas.MonitoringRule:
        return await monitoring_service.add_rule(project, deployment_id, data)

    @get("/{deployment_id:uuid}/rules", guards=[requires_role(Role.VIEWER)], summary="Monitoring rules")
    async def list_monitoring_rules(
        self, project: str, deployment_id: uuid.UUID, monitoring_service: MonitoringService
    ) -> list[schemas.MonitoringRule]:
        return await monitoring_service.list_rules(project, deployment_id)

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
        monitoring_service: MonitoringService,
    ) -> None:
        await monitoring_service.delete_rule(project, deployment_id, rule_id)
