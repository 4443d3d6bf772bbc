"""Rows to the wire structs of `schemas.py`, and ETags.

Every response struct is built by the kernel's `to_schema` (`kernel/conversion.py`), which checks the
types as it goes (a version's `stage` column must hold a `Stage`); what the row does not carry (names
of related rows, the ETag, detail-view extras) comes as keyword arguments. The functions below only
say which extras a struct needs.

An ETag covers the fields of its own resource (what PATCH changes, plus a version's stage and a
deployment's status): `"<id prefix>.<revision>"`, where `revision` is bumped on every such change.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from mlplatform.kernel.conversion import to_schema
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
    return to_schema(row, schemas.Model, production_version=production_version, etag=etag(row.id, row.revision))


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
    return to_schema(
        row,
        schemas.ModelVersion,
        model=model_name,
        feature_service=feature_service,
        etag=etag(row.id, row.revision),
        validations=validations,
        missing_validations=missing,
        pending_request=pending,
    )


def validation(row: CatalogueValidation, model_name: str, number: int) -> schemas.Validation:
    return to_schema(row, schemas.Validation, model=model_name, version=number)


def transition(row: CatalogueStageTransition, model_name: str, number: int) -> schemas.StageTransition:
    return to_schema(row, schemas.StageTransition, model=model_name, version=number)


def approval(row: CatalogueApproval) -> schemas.Approval:
    return to_schema(row, schemas.Approval)


def request(
    row: CatalogueTransitionRequest, model_name: str, number: int, decisions: Sequence[CatalogueApproval]
) -> schemas.TransitionRequest:
    return to_schema(
        row,
        schemas.TransitionRequest,
        model=model_name,
        version=number,
        approvals=sum(1 for d in decisions if d.decision == "approve"),
        decisions=[approval(d) for d in decisions],
    )


def rule(row: CatalogueMonitoringRule) -> schemas.MonitoringRule:
    return to_schema(row, schemas.MonitoringRule)


def alert(row: CatalogueMonitoringAlert) -> schemas.Alert:
    return to_schema(row, schemas.Alert, rule=row.rule_name)


def record(row: CatalogueMonitoringRecord) -> schemas.MonitoringRecord:
    return to_schema(row, schemas.MonitoringRecord)


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
    return to_schema(
        row,
        schemas.Deployment,
        model=model_name,
        version=number,
        version_stage=stage,
        health="alerting" if open_alerts else "ok",
        open_alerts=open_alerts,
        etag=etag(row.id, row.revision),
        alerts=[alert(a) for a in alerts] if alerts is not None else None,
        rules=[rule(r) for r in rules] if rules is not None else None,
    )
