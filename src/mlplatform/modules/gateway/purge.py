"""The gateway's part of a project's purge (`kernel/purge.py`), run last: removing the tombstone frees the name.

The deletion itself already removed the memberships and revoked the API keys scoped to the project. The
audit rows of the project are kept (the audit trail outlives what it describes); the project's audit view
only shows rows recorded since the current project of that name was created (`controllers/audit.py`).
"""

from __future__ import annotations

from collections.abc import Mapping

from mlplatform.kernel.context import PlatformContext
from mlplatform.modules.gateway.runtime import GatewayRuntime
from mlplatform.modules.gateway.services import GatewayService


async def purge_project(platform: PlatformContext, project: str) -> Mapping[str, int]:
    async with platform.database.transaction() as session:
        removed = await GatewayService(session).forget_deleted_project(project)
    runtime = platform.runtimes.find(GatewayRuntime)
    if runtime is not None:
        runtime.projects.invalidate()
    return {"projects": removed}
