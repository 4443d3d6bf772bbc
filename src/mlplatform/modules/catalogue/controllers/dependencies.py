"""Shared HTTP bits of the catalogue's routes (path prefix, If-Match header, ETag responses) and their
Litestar providers: the services, and the search filters whose query parameters are declared once here.

Dependency names end in `_service` / `_filters` on purpose: Litestar answers 500 to a body whose invalid
top-level field has the name of a dependency, and `model`, `rules` ... are fields of request bodies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, TypeVar

from litestar import Response
from litestar.datastructures import ResponseHeader
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.constraints import parameter_of, whole
from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import Invalid
from mlplatform.modules.catalogue import rules
from mlplatform.modules.catalogue.repositories import DeploymentFilters, ModelFilters, VersionFilters
from mlplatform.modules.catalogue.rules import Stage, parse_tag_filters
from mlplatform.modules.catalogue.schemas import Environment, MetricName, ModelName, VersionNumber
from mlplatform.modules.catalogue.services.approvals import ApprovalService
from mlplatform.modules.catalogue.services.deployments import DeploymentService
from mlplatform.modules.catalogue.services.lifecycle import LifecycleService
from mlplatform.modules.catalogue.services.models import ModelService
from mlplatform.modules.catalogue.services.monitoring import MonitoringService
from mlplatform.modules.gateway.api import Principal

T = TypeVar("T")

PROJECT_PATH = "/api/v1/projects/{project:str}"
TAGS = ["catalogue"]

ModelPath = Annotated[str, parameter_of(ModelName)]
VersionPath = Annotated[int, parameter_of(VersionNumber, description="Version number, from 1.")]
IfMatch = Annotated[  # a header is text or absent: documented as a string, not string-or-null
    str | None,
    Parameter(
        header="If-Match",
        required=False,
        description="ETag from a previous read (or `*`); the change is refused with 412 if the resource changed since.",
        schema_extra={"type": "string", "one_of": None},
    ),
]
ETAG_HEADER = [
    ResponseHeader(
        name="ETag",
        value='"0123456789abcdef.1"',
        description="Version of this representation, for If-Match.",
        documentation_only=True,
    )
]
TagFilter = Annotated[
    list[Annotated[str, Parameter(pattern=rules.TAG_FILTER_PATTERN)]] | None,
    Parameter(
        query="tag",
        required=False,
        max_items=rules.MAX_TAGS,
        description="`key:value`; repeat for several (all must match).",
    ),
]
ModelSort = Literal["name", "-name", "updated_at", "-updated_at", "created_at", "-created_at"]
"""The names of `repositories.MODEL_SORTS`."""
VersionSort = Literal["created_at", "-created_at", "updated_at", "-updated_at"]
"""The names of `repositories.VERSION_SORTS` (versions across models)."""
ModelVersionSort = Literal["version", "-version", "created_at", "-created_at", "updated_at", "-updated_at"]
"""The names of `repositories.MODEL_VERSION_SORTS` (one model's versions)."""
DeploymentSort = Literal["-created_at", "created_at", "-updated_at", "updated_at"]
"""The names of `repositories.DEPLOYMENT_SORTS`."""
DeploymentStatusFilter = Literal["pending", "active", "failed", "retired", "live"]
"""`services.deployments.DEPLOYMENT_STATUS_FILTERS`: a deployment status, or `live` (pending or active)."""
AlertStatus = Literal["open", "resolved"]
RequestStatus = Literal["pending", "applied", "rejected", "cancelled", "superseded"]
TextQuery = Annotated[str | None, Parameter(max_length=200, required=False)]
Owner = Annotated[str | None, Parameter(max_length=200, required=False)]
ShortFilter = Annotated[str | None, Parameter(max_length=64, required=False)]
"""`task_type`, `framework` and `run_id` filters: no stored value is longer."""
EnvironmentFilter = Annotated[str | None, parameter_of(Environment, required=False)]
ModelFilter = Annotated[str | None, parameter_of(ModelName, required=False)]
VersionFilter = Annotated[int | None, parameter_of(VersionNumber, required=False)]
MetricFilter = Annotated[str | None, parameter_of(MetricName, required=False)]
RFC3339 = whole(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
"""An RFC 3339 date-time with its offset (what `format: date-time` means)."""
Since = Annotated[
    str | None,
    Parameter(
        required=False,
        pattern=RFC3339,
        description="RFC 3339 date-time with its offset, e.g. `2026-11-27T10:00:00Z`.",
        schema_extra={"format": "date-time"},
    ),
]
"""Taken as text and read by `aware`: Litestar would also read a bare number as a Unix time."""


def with_etag(content: T, etag: str, *, status_code: int = 200, location: str | None = None) -> Response[T]:
    headers = {"ETag": etag}
    if location is not None:
        headers["Location"] = location
    return Response(content, status_code=status_code, headers=headers)


def aware(value: str | None, parameter: str) -> datetime | None:
    """A `Since` query value (already matched against `RFC3339`) as a timezone-aware datetime."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.upper())
    except ValueError:
        raise Invalid(f"{parameter}: not a date-time, e.g. 2026-11-27T10:00:00Z", parameter=parameter) from None
    if parsed.tzinfo is None:
        raise Invalid(f"{parameter}: give a timezone, e.g. 2026-11-27T10:00:00Z", parameter=parameter)
    return parsed


# Services: one per request, acting as the caller.


def provide_model_service(db_session: AsyncSession, principal: Principal) -> ModelService:
    return ModelService(db_session, principal.subject)


def provide_lifecycle_service(db_session: AsyncSession, principal: Principal) -> LifecycleService:
    return LifecycleService(db_session, principal.subject)


def provide_approval_service(db_session: AsyncSession, principal: Principal) -> ApprovalService:
    return ApprovalService(db_session, principal.subject)


def provide_deployment_service(
    db_session: AsyncSession, principal: Principal, platform: PlatformContext
) -> DeploymentService:
    return DeploymentService(db_session, principal.subject, platform)


def provide_monitoring_service(db_session: AsyncSession, principal: Principal) -> MonitoringService:
    return MonitoringService(db_session, principal.subject)


# Filters: the parameters of these functions are the routes' query parameters.


def provide_model_filters(
    tag: TagFilter = None,
    q: TextQuery = None,
    owner: Owner = None,
    task_type: ShortFilter = None,
    stage: Stage | None = None,
    framework: ShortFilter = None,
    updated_since: Since = None,
) -> ModelFilters:
    return ModelFilters(
        q=q,
        tags=parse_tag_filters(tag or []),
        owner=owner,
        task_type=task_type,
        stage=stage,
        framework=framework,
        updated_since=aware(updated_since, "updated_since"),
    )


def provide_version_filters(
    tag: TagFilter = None,
    q: TextQuery = None,
    stage: Stage | None = None,
    framework: ShortFilter = None,
    run_id: ShortFilter = None,
    updated_since: Since = None,
) -> VersionFilters:
    return VersionFilters(
        q=q,
        tags=parse_tag_filters(tag or []),
        stage=stage,
        framework=framework,
        source_run_id=run_id,
        updated_since=aware(updated_since, "updated_since"),
    )


def provide_deployment_filters(
    model: ModelFilter = None,
    version: VersionFilter = None,
    environment: EnvironmentFilter = None,
    status: DeploymentStatusFilter | None = None,
) -> DeploymentFilters:
    return DeploymentFilters(model=model, version=version, environment=environment, status=status)


MODEL_DEPENDENCIES = {
    "model_service": Provide(provide_model_service, sync_to_thread=False),
    "model_filters": Provide(provide_model_filters, sync_to_thread=False),
    "version_filters": Provide(provide_version_filters, sync_to_thread=False),
}
LIFECYCLE_DEPENDENCIES = {
    "lifecycle_service": Provide(provide_lifecycle_service, sync_to_thread=False),
    "approval_service": Provide(provide_approval_service, sync_to_thread=False),
}
DEPLOYMENT_DEPENDENCIES = {
    "deployment_service": Provide(provide_deployment_service, sync_to_thread=False),
    "monitoring_service": Provide(provide_monitoring_service, sync_to_thread=False),
    "deployment_filters": Provide(provide_deployment_filters, sync_to_thread=False),
}
