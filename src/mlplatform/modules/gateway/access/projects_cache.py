"""Which projects exist, cached in process (platform admins pass role checks, but not for projects
that do not exist: those answer 404 like for everyone else)."""

from __future__ import annotations

import time

from sqlalchemy import select

from mlplatform.kernel.db import Database
from mlplatform.modules.gateway.models import Project

REFRESH_SECONDS = 5.0


class ProjectCache:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._names: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")
        self._generation = 0

    async def exists(self, project: str) -> bool:
        """Whether `project` exists; deleted projects (tombstoned, being purged) do not. A name not known, or a
        list older than `REFRESH_SECONDS`, is looked up again (a project deleted through another replica stops
        existing here within that time, at once when its invalidation message arrives)."""
        if project not in self._names or time.monotonic() - self._loaded_at > REFRESH_SECONDS:
            await self.refresh()
        return project in self._names

    async def refresh(self) -> None:
        started, generation = time.monotonic(), self._generation
        async with self.database.sessionmaker() as session:
            self._names = frozenset(
                (await session.scalars(select(Project.name).where(Project.deleted_at.is_(None)))).all()
            )
        if generation == self._generation:  # else invalidated meanwhile: what was read may be older than that
            self._loaded_at = started

    def invalidate(self) -> None:
        self._generation += 1
        self._loaded_at = float("-inf")
