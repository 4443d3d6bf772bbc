"""The catalogue's part of a project's purge (`kernel/purge.py`): every row the project owns.

Models go with their versions, validations, transition requests, approvals and stage history; deployments with
their monitoring rules, records and alerts (foreign keys cascade; the tables that carry the project are also
cleared by name, so nothing depends on a cascade alone).
"""

from __future__ import annotations

from collections.abc import Mapping

from mlplatform.kernel.context import PlatformContext
from mlplatform.modules.catalogue import repositories


async def purge_project(platform: PlatformContext, project: str) -> Mapping[str, int]:
    async with platform.database.transaction() as session:
        return await repositories.delete_project_rows(session, project)
