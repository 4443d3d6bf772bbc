"""SQL of the features module's own tables (datasets, validation reports)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.db import utcnow
from mlplatform.kernel.errors import Invalid, NotFound
from mlplatform.kernel.pagination import check_limit, decode_cursor, encode_cursor
from mlplatform.modules.features import schemas
from mlplatform.modules.features.models import DatasetRow, ValidationReportRow

SORT = "created_desc"


def dataset_out(row: DatasetRow) -> schemas.Dataset:
    features = row.features or {}
    return schemas.Dataset(
        id=row.id,
        project=row.project,
        name=row.name,
        feature_service=row.feature_service,
        features=list(features.get("refs", [])),
        feature_views=[schemas.FeatureViewVersion(v["name"], v["version"]) for v in features.get("views", [])],
        row_count=row.row_count,
        columns=list(features.get("columns", [])),
        uri=row.uri,
        object_key=row.object_key,
        size_bytes=row.size_bytes,
        job_id=row.job_id,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def report_out(row: ValidationReportRow) -> schemas.ValidationReport:
    details = row.details or {}
    return schemas.ValidationReport(
        id=row.id,
        project=row.project,
        feature_view=row.feature_view,
        kind=row.kind,
        outcome=row.outcome,
        rows_checked=row.rows_checked,
        rows_failed=row.rows_failed,
        failures=msgspec.convert(details.get("failures", []), list[schemas.ColumnFailure]),
        profile=msgspec.convert(details["profile"], dict[str, schemas.ColumnProfile])
        if details.get("profile")
        else None,
        freshness_seconds=details.get("freshness_seconds"),
        job_id=row.job_id,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def new_report(
    *,
    project: str,
    feature_view: str,
    kind: str,
    outcome: str,
    rows_checked: int,
    rows_failed: int,
    failures: list[schemas.ColumnFailure],
    profile: dict[str, schemas.ColumnProfile] | None = None,
    freshness_seconds: float | None = None,
    job_id: uuid.UUID | None = None,
    created_by: str | None = None,
) -> ValidationReportRow:
    details: dict[str, Any] = {
        "failures": msgspec.to_builtins(failures),
        "profile": msgspec.to_builtins(profile) if profile is not None else None,
        "freshness_seconds": freshness_seconds,
    }
    return ValidationReportRow(
        id=uuid.uuid4(),
        project=project,
        feature_view=feature_view,
        kind=kind,
        outcome=outcome,
        rows_checked=rows_checked,
        rows_failed=rows_failed,
        details=details,
        job_id=job_id,
        created_by=created_by,
        created_at=utcnow(),
    )


def _after(cursor: str | None, created: Any, ident: Any) -> Any:
    if not cursor:
        return None
    created_iso, last_id = decode_cursor(cursor, sort=SORT, arity=2)
    try:
        at = datetime.fromisoformat(created_iso)
        last = uuid.UUID(last_id)
    except (TypeError, ValueError):
        raise Invalid("cursor: not a cursor issued by this API", parameter="cursor") from None
    return or_(created < at, and_(created == at, ident < last))


async def list_datasets(
    session: AsyncSession, project: str, cursor: str | None, limit: int | None
) -> schemas.DatasetPage:
    size = check_limit(limit)
    query = select(DatasetRow).where(DatasetRow.project == project)
    condition = _after(cursor, DatasetRow.created_at, DatasetRow.id)
    if condition is not None:
        query = query.where(condition)
    rows = (
        await session.scalars(query.order_by(DatasetRow.created_at.desc(), DatasetRow.id.desc()).limit(size + 1))
    ).all()
    items = [dataset_out(r) for r in rows[:size]]
    next_cursor = None
    if len(rows) > size:
        tail = rows[size - 1]
        next_cursor = encode_cursor(SORT, [tail.created_at.isoformat(), str(tail.id)])
    return schemas.DatasetPage(items=items, next_cursor=next_cursor)


async def get_dataset(session: AsyncSession, project: str, dataset_id: uuid.UUID) -> schemas.Dataset:
    row = await session.get(DatasetRow, dataset_id)
    if row is None or row.project != project:
        raise NotFound(f"dataset {dataset_id} not found")
    return dataset_out(row)


async def list_reports(
    session: AsyncSession, project: str, view: str, cursor: str | None, limit: int | None
) -> schemas.ValidationReportPage:
    size = check_limit(limit)
    query = select(ValidationReportRow).where(
        ValidationReportRow.project == project, ValidationReportRow.feature_view == view
    )
    condition = _after(cursor, ValidationReportRow.created_at, ValidationReportRow.id)
    if condition is not None:
        query = query.where(condition)
    order = (ValidationReportRow.created_at.desc(), ValidationReportRow.id.desc())
    rows = (await session.scalars(query.order_by(*order).limit(size + 1))).all()
    items = [report_out(r) for r in rows[:size]]
    next_cursor = None
    if len(rows) > size:
        tail = rows[size - 1]
        next_cursor = encode_cursor(SORT, [tail.created_at.isoformat(), str(tail.id)])
    return schemas.ValidationReportPage(items=items, next_cursor=next_cursor)


async def get_report(session: AsyncSession, project: str, view: str, report_id: uuid.UUID) -> schemas.ValidationReport:
    row = await session.get(ValidationReportRow, report_id)
    if row is None or row.project != project or row.feature_view != view:
        raise NotFound(f"validation report {report_id} not found")
    return report_out(row)
