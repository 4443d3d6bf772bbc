"""Turning rows into the wire structs of `schemas.py`, and ETags.

An ETag covers the fields of its own resource (what PATCH changes, plus a version's stage and a
deployment's status): `"<id prefix>.<revision>"`, where `revision` is bumped on every such change.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from mlplatform.kernel.errors import PreconditionFailed
from mlplatform.modules.catalogue import schemas
from mlplatform.modules.catalogue.models import (
    CatalogueApproval,
    CatalogueDeployment,
    CatalogueModel,
    CatalogueModelVersion,
    CatalogueMonitoringAlert,
    CatalogueMonitoringRecord,
    CatalogueMonitoringRule,
    CatalogueStageTransition,
    CatalogueTransitionRequest,
    CatalogueValidation,
)


def etag(resource_id: uuid.UUID, revision: int) -> str:
    return f'"{resource_id.hex[:16]}.{revision}"'


def check_if_match(if_match: str | None, current: str, what: str) -> None:
    """Raise 412 when an If-Match header is given and names none of the current representation."""
    if if_match is None:
        return
    candidates = [tag.strip() for tag in if_match.split(",") if tag.strip()]
    if "*" in candidates:
        return
    if current not in {tag.removeprefix("W/") for tag in candidates}:
        raise PreconditionFailed(
            f"the {what} changed since you read it (If-Match {if_match[:100]} is stale); "
            "GET it again and retry with the new ETag",
            current_etag=current,
        )


def model(row: CatalogueModel, production_version: int | None) -> schemas.Model:
    return schemas.Model(
        id=row.id,
        project=row.project,
        name=row.name,
        description=row.description,
        owner=row.owner,
        task_type=row.task_type,
        tags=row.tags,
        required_validations=list(row.required_validations),
        approval_policy={str(k): int(v) for k, v in row.approval_policy.items()},
        latest_version=row.latest_version,
        production_version=production_version,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        etag=etag(row.id, row.revision),
    )


def version(
    row: CatalogueModelVersion,
    model_name: str,
    *,
    validations: dict[str, str] | None = None,
    missing: list[str] | None = None,
    pending: schemas.TransitionRequest | None = None,
) -> schemas.ModelVersion:
    feature_service = (
        schemas.FeatureServiceRef(name=row.feature_service, feast_project=row.feast_project or "")
        if row.feature_service
        else None
    )
    return schemas.ModelVersion(
        id=row.id,
        project=row.project,
        model=model_name,
        version=row.version,
        stage=row.stage,  # type: ignore[arg-type]  # the column only ever holds a Stage
        description=row.description,
        source_type=row.source_type,  # type: ignore[arg-type]
        source_run_id=row.source_run_id,
        mlflow_version=row.mlflow_version,
        model_uri=row.model_uri,
        framework=row.framework,
        signature=row.signature,
        metrics=row.metrics,
        params=row.params,
        tags=row.tags,
        feature_service=feature_service,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        stage_changed_at=row.stage_changed_at,
        etag=etag(row.id, row.revision),
        validations=validations,
        missing_validations=missing,
        pending_request=pending,
    )


def validation(row: CatalogueValidation, model_name: str, number: int) -> schemas.Validation:
    return schemas.Validation(
        id=row.id,
        model=model_name,
        version=number,
        name=row.name,
        status=row.status,
        metrics=row.metrics,
        report_uri=row.report_uri,
        details=row.details,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def transition(row: CatalogueStageTransition, model_name: str, number: int) -> schemas.StageTransition:
    return schemas.StageTransition(
        id=row.id,
        model=model_name,
        version=number,
        from_stage=row.from_stage,
        to_stage=row.to_stage,
        reason=row.reason,
        actor=row.actor,
        automatic=row.automatic,
        request_id=row.request_id,
        created_at=row.created_at,
    )


def approval(row: CatalogueApproval) -> schemas.Approval:
    return schemas.Approval(
        id=row.id,
        request_id=row.request_id,
        decision=row.decision,  # type: ignore[arg-type]
        actor=row.actor,
        comment=row.comment,
        created_at=row.created_at,
    )


def request(
    row: CatalogueTransitionRequest, model_name: str, number: int, decisions: Sequence[CatalogueApproval]
) -> schemas.TransitionRequest:
    return schemas.TransitionRequest(
        id=row.id,
        model=model_name,
        version=number,
        from_stage=row.from_stage,
        to_stage=row.to_stage,
        reason=row.reason,
        requested_by=row.requested_by,
        required_approvals=row.required_approvals,
        approvals=sum(1 for d in decisions if d.decision == "approve"),
        status=row.status,  # type: ignore[arg-type]
        decisions=[approval(d) for d in decisions],
        created_at=row.created_at,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
    )


def rule(row: CatalogueMonitoringRule) -> schemas.MonitoringRule:
    return schemas.MonitoringRule(
        id=row.id,
        deployment_id=row.deployment_id,
        name=row.name,
        metric=row.metric,
        operator=row.operator,
        threshold=row.threshold,
        severity=row.severity,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def alert(row: CatalogueMonitoringAlert) -> schemas.Alert:
    return schemas.Alert(
        id=row.id,
        deployment_id=row.deployment_id,
        rule_id=row.rule_id,
        rule=row.rule_name,
        metric=row.metric,
        operator=row.operator,
        threshold=row.threshold,
        severity=row.severity,
        value=row.value,
        breaches=row.breaches,
        status=row.status,  # type: ignore[arg-type]
        opened_at=row.opened_at,
        last_breach_at=row.last_breach_at,
        resolved_at=row.resolved_at,
    )


def record(row: CatalogueMonitoringRecord) -> schemas.MonitoringRecord:
    return schemas.MonitoringRecord(
        id=row.id,
        deployment_id=row.deployment_id,
        metric=row.metric,
        value=row.value,
        window_seconds=row.window_seconds,
        observed_at=row.observed_at,
        created_by=row.created_by,
    )


def deployment(
    row: CatalogueDeployment,
    model_name: str,
    number: int,
    stage: str,
    open_alerts: int,
    *,
    alerts: Sequence[CatalogueMonitoringAlert] | None = None,
    rules: Sequence[CatalogueMonitoringRule] | None = None,
) -> schemas.Deployment:
    return schemas.Deployment(
        id=row.id,
        project=row.project,
        model=model_name,
        version=number,
        version_stage=stage,
        environment=row.environment,
        target=row.target,
        status=row.status,  # type: ignore[arg-type]
        traffic_share=row.traffic_share,
        health="alerting" if open_alerts else "ok",
        open_alerts=open_alerts,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        retired_at=row.retired_at,
        etag=etag(row.id, row.revision),
        alerts=[alert(a) for a in alerts] if alerts is not None else None,
        rules=[rule(r) for r in rules] if rules is not None else None,
    )
