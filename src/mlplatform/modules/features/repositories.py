"""All SQL of the features module's own tables: training dataset records, validation reports, connections and
their grants. (Feast's registry and online store are Feast's: `adapters/`.)"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.conversion import to_schema
from mlplatform.kernel.db import utcnow
from mlplatform.kernel.errors import NotFound
from mlplatform.kernel.pagination import Page, SortOrder, check_limit, page_of
from mlplatform.modules.features import schemas
from mlplatform.modules.features.models import ConnectionGrantRow, ConnectionRow, DatasetRow, ValidationReportRow

NEWEST_DATASETS = SortOrder("created_desc", (DatasetRow.created_at, DatasetRow.id), (datetime, uuid.UUID), True)
NEWEST_REPORTS = SortOrder(
    "created_desc", (ValidationReportRow.created_at, ValidationReportRow.id), (datetime, uuid.UUID), True
)
BY_NAME = SortOrder("name", (ConnectionRow.name,), (str,), False)


def dataset_out(row: DatasetRow) -> schemas.Dataset:
    stored = row.features or {}
    return to_schema(
        row,
        schemas.Dataset,
        features=stored.get("refs", []),
        feature_views=stored.get("views", []),
        columns=stored.get("columns", []),
    )


def report_out(row: ValidationReportRow) -> schemas.ValidationReport:
    details = row.details or {}
    return to_schema(
        row,
        schemas.ValidationReport,
        failures=details.get("failures", []),
        profile=details.get("profile") or None,
        freshness_seconds=details.get("freshness_seconds"),
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


async def list_datasets(
    session: AsyncSession, project: str, cursor: str | None, limit: int | None
) -> schemas.DatasetPage:
    size = check_limit(limit)
    query = NEWEST_DATASETS.apply(select(DatasetRow).where(DatasetRow.project == project), cursor, size)
    page = page_of((await session.scalars(query)).all(), size, NEWEST_DATASETS)
    return schemas.DatasetPage(items=[dataset_out(r) for r in page.items], next_cursor=page.next_cursor)


async def get_dataset(session: AsyncSession, project: str, dataset_id: uuid.UUID) -> schemas.Dataset:
    row = await session.get(DatasetRow, dataset_id)
    if row is None or row.project != project:
        raise NotFound(f"dataset {dataset_id} not found")
    return dataset_out(row)


async def datasets_by_ids(session: AsyncSession, project: str, ids: Sequence[uuid.UUID]) -> list[schemas.Dataset]:
    """The project's datasets among `ids`, in the order given (ids of other projects or of none skipped)."""
    rows = await session.scalars(select(DatasetRow).where(DatasetRow.project == project, DatasetRow.id.in_(ids)))
    by_id = {row.id: row for row in rows.all()}
    return [dataset_out(by_id[key]) for key in dict.fromkeys(ids) if key in by_id]


async def list_reports(
    session: AsyncSession, project: str, view: str, cursor: str | None, limit: int | None
) -> schemas.ValidationReportPage:
    size = check_limit(limit)
    query = select(ValidationReportRow).where(
        ValidationReportRow.project == project, ValidationReportRow.feature_view == view
    )
    page = page_of((await session.scalars(NEWEST_REPORTS.apply(query, cursor, size))).all(), size, NEWEST_REPORTS)
    return schemas.ValidationReportPage(items=[report_out(r) for r in page.items], next_cursor=page.next_cursor)


async def get_report(session: AsyncSession, project: str, view: str, report_id: uuid.UUID) -> schemas.ValidationReport:
    row = await session.get(ValidationReportRow, report_id)
    if row is None or row.project != project or row.feature_view != view:
        raise NotFound(f"validation report {report_id} not found")
    return report_out(row)


# -- connections ---------------------------------------------------------------------------------------


async def connection_named(session: AsyncSession, name: str, *, lock: bool = False) -> ConnectionRow:
    """The connection `name` (`lock`: FOR UPDATE, for a change); a 404 when there is none."""
    query = select(ConnectionRow).where(ConnectionRow.name == name)
    row = await session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound(f"connection {name!r} not found")
    return row


async def connection_exists(session: AsyncSession, name: str) -> bool:
    return await session.scalar(select(ConnectionRow.id).where(ConnectionRow.name == name)) is not None


async def list_connections(
    session: AsyncSession, cursor: str | None, limit: int | None
) -> tuple[Page[ConnectionRow], dict[uuid.UUID, list[str]]]:
    """A page of connections by name, and the projects each is granted to."""
    size = check_limit(limit)
    page = page_of(list(await session.scalars(BY_NAME.apply(select(ConnectionRow), cursor, size))), size, BY_NAME)
    grants: dict[uuid.UUID, list[str]] = {}
    if page.items:
        found = await session.execute(
            select(ConnectionGrantRow.connection_id, ConnectionGrantRow.project).where(
                ConnectionGrantRow.connection_id.in_([row.id for row in page.items])
            )
        )
        for connection_id, project in found.all():
            grants.setdefault(connection_id, []).append(project)
    return page, grants


async def delete_connection(session: AsyncSession, row: ConnectionRow) -> None:
    await session.execute(delete(ConnectionGrantRow).where(ConnectionGrantRow.connection_id == row.id))
    await session.delete(row)


async def granted_projects(session: AsyncSession, row: ConnectionRow) -> list[str]:
    rows = await session.scalars(select(ConnectionGrantRow.project).where(ConnectionGrantRow.connection_id == row.id))
    return list(rows)


async def grants_of(session: AsyncSession, row: ConnectionRow) -> Sequence[ConnectionGrantRow]:
    found = await session.scalars(
        select(ConnectionGrantRow)
        .where(ConnectionGrantRow.connection_id == row.id)
        .order_by(ConnectionGrantRow.project)
    )
    return found.all()


async def grant_of(session: AsyncSession, row: ConnectionRow, project: str) -> ConnectionGrantRow | None:
    return await session.get(ConnectionGrantRow, (row.id, project))


async def connections_granted_to(session: AsyncSession, project: str) -> list[tuple[ConnectionRow, datetime]]:
    """The connections granted to `project` by name, with when each was granted."""
    rows = await session.execute(
        select(ConnectionRow, ConnectionGrantRow.granted_at)
        .join(ConnectionGrantRow, ConnectionGrantRow.connection_id == ConnectionRow.id)
        .where(ConnectionGrantRow.project == project)
        .order_by(ConnectionRow.name)
    )
    return [(row, granted_at) for row, granted_at in rows.all()]


# -- purge ---------------------------------------------------------------------------------------------


async def delete_project_rows(session: AsyncSession, project: str) -> dict[str, int]:
    """The project's training dataset records, validation reports and connection grants (`purge.py`)."""
    removed: dict[str, int] = {}
    for name, table in (
        ("datasets", DatasetRow),
        ("validation_reports", ValidationReportRow),
        ("connection_grants", ConnectionGrantRow),
    ):
        result = await session.execute(delete(table).where(table.project == project))
        removed[name] = int(getattr(result, "rowcount", 0) or 0)
    return removed
