"""Credentials for tests: a fresh user with a role in a project (or a platform admin), as headers."""

from __future__ import annotations

import uuid

from litestar import Litestar
from sqlalchemy import select

from mlplatform.kernel.db import Database
from mlplatform.modules.gateway.api import Role
from mlplatform.modules.gateway.credentials.api_keys import generate_api_key
from mlplatform.modules.gateway.models import ApiKeyRow, Membership, PrincipalRow, Project


async def grant(
    app: Litestar,
    *,
    project: str | None = None,
    role: str | None = None,
    platform_admin: bool = False,
    name: str | None = None,
    kind: str = "user",
    key_project: str | None = None,
    key_role: str | None = None,
) -> dict[str, str]:
    """Create a principal (and the project, if missing), give it `role` there, return Bearer headers.

    `key_project` scopes the returned API key to one project; `key_role` caps the role it acts with."""
    # Its own engine: the test client runs the app on another event loop, whose pooled connections
    # must not be touched from the test's loop.
    database = Database(app.state.platform.database.url, pool_size=1)
    name = name or f"{kind.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
    generated = generate_api_key()
    async with database.transaction() as session:
        principal = await session.scalar(
            select(PrincipalRow).where(PrincipalRow.kind == kind, PrincipalRow.name == name)
        )
        if principal is None:
            principal = PrincipalRow(kind=kind, name=name, platform_admin=platform_admin)
            session.add(principal)
            await session.flush()
        if project is not None:
            row = await session.scalar(select(Project).where(Project.name == project))
            if row is None:
                row = Project(name=project, created_by="tests")
                session.add(row)
                await session.flush()
            if role is not None:
                session.add(Membership(project_id=row.id, principal_id=principal.id, role=Role.parse(role)))
        session.add(
            ApiKeyRow(
                key_id=generated.key_id,
                secret_hash=generated.secret_hash,
                principal_id=principal.id,
                name="test",
                project=key_project,
                role_ceiling=Role.parse(key_role) if key_role else None,
            )
        )
    await database.dispose()
    return {"Authorization": f"Bearer {generated.plaintext}"}
