"""Which projects exist, cached in process (platform admins pass role checks, but not for projects
that do not exist: those answer 404 like for everyone else).

Every project-guarded request asks, so the list must not make requests wait for the database. It is read
once for all requests (concurrent askers share the read in flight) and renewed in the background when it
is in the last quarter of its life, so under steady traffic no request waits. Before, every request that
found the list older than `REFRESH_SECONDS` started its own read: every 5 s all requests in flight queued
on the database pool at once, which alone tripled the gateway benchmark's p99.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from mlplatform.kernel.db import Database
from mlplatform.modules.gateway.repositories import ProjectRepository

log = structlog.get_logger("mlplatform.gateway")

REFRESH_SECONDS = 5.0
RENEW_AFTER_SECONDS = REFRESH_SECONDS * 0.75
"""A list this old is still used, and renewed in the background meanwhile."""


class ProjectCache:
    def __init__(self, database: Database, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.database = database
        self._clock = clock
        self._names: frozenset[str] = frozenset()
        self._names_read_at = float("-inf")
        """`clock()` when the read that produced `_names` began (a slower, older read never replaces it)."""
        self._loaded_at = float("-inf")
        """As `_names_read_at`, but reset by `invalidate`: the list is trusted until `_loaded_at + REFRESH_SECONDS`."""
        self._generation = 0
        self._reading: asyncio.Task[None] | None = None
        self._reading_since = float("-inf")

    async def exists(self, project: str) -> bool:
        """Whether `project` exists; deleted projects (tombstoned, being purged) do not. A name not known is
        looked up in a read that began after this call; a list older than `REFRESH_SECONDS` is read again (a
        project deleted through another replica stops existing here within that time, at once when its
        invalidation message arrives)."""
        now = self._clock()
        age = now - self._loaded_at
        known = project in self._names
        if known and age <= REFRESH_SECONDS:
            if age > RENEW_AFTER_SECONDS and self._reading is None:
                self._read(now, background=True)
            return True
        await self._read_since(now if not known else now - REFRESH_SECONDS)
        return project in self._names

    async def refresh(self) -> None:
        """Read the list now (or wait for a read that began after this call)."""
        await self._read_since(self._clock())

    def invalidate(self) -> None:
        self._generation += 1
        self._loaded_at = float("-inf")
        self._reading = None  # a read in flight began before the change: later callers start their own

    async def _read_since(self, since: float) -> None:
        task = self._reading
        if task is None or self._reading_since < since:
            task = self._read(self._clock())
        await asyncio.shield(task)

    def _read(self, started: float, *, background: bool = False) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._load(started, self._generation))
        self._reading, self._reading_since = task, started

        def done(finished: asyncio.Task[None]) -> None:
            if self._reading is finished:
                self._reading = None
            if finished.cancelled():
                return
            error = finished.exception()  # retrieved here, so an unawaited renewal is never reported as lost
            if background and error is not None:  # callers that awaited a read got its error themselves
                log.warning("project_list_renewal_failed", error=f"{type(error).__name__}: {error}")

        task.add_done_callback(done)
        return task

    async def _load(self, started: float, generation: int) -> None:
        async with self.database.sessionmaker() as session:
            names = await ProjectRepository(session).live_names()
        if started < self._names_read_at:
            return
        self._names, self._names_read_at = names, started
        if generation == self._generation:  # else invalidated meanwhile: what was read may be older than that
            self._loaded_at = started
