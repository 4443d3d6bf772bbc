"""The audit log: who did what, where, with which outcome.

- A successful mutation through a route that uses the request's transaction is recorded in that same
  transaction (a hook the kernel runs just before the commit), so the change and its audit row commit
  or roll back together.
- Every other mutating request (failed, denied, or one that did not use the database, such as a push
  to the online store) and every authentication failure is recorded after the response, in its own
  transaction. Recording never fails a request: a failure to write is logged.
No secret is ever recorded: credentials are named by their public id only, bodies are not stored.
"""

from __future__ import annotations

import re
from typing import Any, cast

import structlog
from litestar import Request
from sqlalchemy import String, Table
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.db import Database, utcnow
from mlplatform.kernel.request_ids import current_request_id
from mlplatform.modules.gateway.api import AUDIT_DETAILS, AUDITED_FLAG, Principal
from mlplatform.modules.gateway.models import AuditEvent

log = structlog.get_logger("mlplatform.audit")

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def action_of(scope: Any) -> str:
    handler = scope.get("route_handler")
    operation = getattr(handler, "opt", {}).get("operation_id") if handler is not None else None
    if isinstance(operation, str):
        return operation
    name = getattr(handler, "handler_name", None)
    tags = handler.resolve_tags() if handler is not None and hasattr(handler, "resolve_tags") else []
    if name:
        return f"{sorted(tags)[0]}_{name}" if tags else str(name)
    return "unrouted"


AuditValues = dict[str, Any]
"""An audit row's column values (`AuditEvent` without its id): what the batch writer takes. Building these
instead of ORM instances keeps SQLAlchemy's instrumented constructor off the request path."""

_TEXT_LIMITS = {
    column.key: column.type.length or 10_000
    for column in cast(Table, AuditEvent.__table__).columns
    if isinstance(column.type, String)
}
"""Text columns of an audit row and their lengths (`String(n)`): longer values are cut to fit."""
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""What no database text column takes: NUL (PostgreSQL) and lone surrogates (not encodable as UTF-8)."""


def storable_text(value: str, limit: int) -> str:
    """`value` as a text column takes it: NUL and lone surrogates become U+FFFD, cut to `limit` characters.

    Audit rows carry caller-chosen text (paths, MLflow experiment names): one value the database refuses
    must not fail the row, nor the batch it is written in."""
    if not (value.isascii() and "\x00" not in value):
        value = _UNSTORABLE.sub("\ufffd", value)
    return value[:limit]


def storable(row: AuditValues) -> AuditValues:
    """`row` with every text value made storable (see `storable_text`); other values are left as they are."""
    for name, limit in _TEXT_LIMITS.items():
        value = row.get(name)
        if isinstance(value, str):
            row[name] = storable_text(value, limit)
        elif value is not None:
            row[name] = storable_text(str(value), limit)
    return row


def audit_values(
    scope: Any,
    *,
    principal: Principal | None,
    outcome: str,
    status_code: int | None,
    action: str | None = None,
    detail: str | None = None,
) -> AuditValues:
    path_params = scope.get("path_params") or {}
    project = path_params.get("project")
    client = scope.get("client")
    resource = ",".join(f"{k}={v}" for k, v in path_params.items() if k != "project")
    details = scope.get(AUDIT_DETAILS)
    if isinstance(details, dict):
        action = action or details.get("action")
        project = details.get("project") or project
        resource = details.get("resource") or resource
        outcome = details.get("outcome") or outcome
        detail = detail or details.get("detail")
    return storable(
        {
            "occurred_at": utcnow(),
            "actor": principal.subject if principal else None,
            "action": action or action_of(scope),
            "method": scope.get("method", ""),
            "path": str(scope.get("path", "")),
            "project": str(project) if project is not None else None,
            "resource": str(resource) or None,
            "outcome": outcome,
            "status_code": status_code,
            "request_id": current_request_id.get(),
            "client_addr": client[0] if client else None,
            "detail": detail or None,
        }
    )


def audit_row(scope: Any, **fields: Any) -> AuditEvent:
    """The ORM row, for a session (`audit_values` takes the same arguments)."""
    return AuditEvent(**audit_values(scope, **fields))


def system_row(*, actor: str, action: str, project: str | None, resource: str, detail: str) -> AuditEvent:
    """A row for what the platform did on its own (no request: a swap of a managed deployment's version)."""
    return AuditEvent(
        **storable(
            {
                "occurred_at": utcnow(),
                "actor": actor,
                "action": action,
                "method": "",
                "path": "",
                "project": project,
                "resource": resource,
                "outcome": "success",
                "status_code": None,
                "request_id": current_request_id.get(),
                "client_addr": None,
                "detail": detail,
            }
        )
    )


async def record_in_transaction(request: Request[Any, Any, Any], session: AsyncSession) -> None:
    """Kernel before-commit hook: audit a successful mutation inside its own transaction."""
    if request.method not in MUTATING_METHODS or request.route_handler.opt.get("read_only"):
        return
    user = request.scope.get("user")
    session.add(
        audit_row(
            request.scope,
            principal=user if isinstance(user, Principal) else None,
            outcome="success",
            status_code=None,
        )
    )
    request.scope[AUDITED_FLAG] = True  # type: ignore[literal-required]


async def record_separately(database: Database, row: AuditEvent) -> None:
    try:
        async with database.transaction() as session:
            session.add(row)
    except Exception:
        log.warning("audit_not_recorded", action=row.action, outcome=row.outcome, exc_info=True)
