"""The lineage module's part of a project's purge (`kernel/purge.py`).

Removed: the project's nodes (with every edge touching them), the edges its events recorded, nodes of no
project (external datasets) that only those edges connected, and its OpenLineage events. Events already sent
to an OpenLineage endpoint (Marquez) stay there: the platform cannot take them back.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlplatform.kernel.context import PlatformContext
from mlplatform.modules.lineage.repositories.purge import delete_project_lineage


async def purge_project(platform: PlatformContext, project: str) -> Mapping[str, int]:
    async with platform.database.transaction() as session:
        return await delete_project_lineage(session, project)
