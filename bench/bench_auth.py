"""A viewer API key in a fresh project, written straight to the database (benchmarks and e2e tests)."""

from __future__ import annotations

import uuid

from mlplatform.kernel.db import Database
from mlplatform.modules.gateway.api import Role
from mlplatform.modules.gateway.credentials.api_keys import generate_api_key
from mlplatform.modules.gateway.models import ApiKeyRow, Membership, PrincipalRow, Project


async def viewer_key(database_url: str, *, project: str, role: Role = Role.VIEWER) -> str:
    database = Database(database_url)
    generated = generate_api_key()
    try:
        async with database.transaction() as session:
            principal = PrincipalRow(kind="user", name=f"bench-{uuid.uuid4().hex[:8]}")
            row = Project(name=project, created_by="bench")
            session.add_all([principal, row])
            await session.flush()
            session.add(Membership(project_id=row.id, principal_id=principal.id, role=role))
            session.add(
                ApiKeyRow(
                    key_id=generated.key_id, secret_hash=generated.secret_hash, principal_id=principal.id, name="b"
                )
            )
    finally:
        await database.dispose()
    return generated.plaintext
