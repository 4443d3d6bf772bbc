"""Audit rows recorded after the response, written in batches off the request path.

A row per mutating request that did not record its own audit row in its transaction (MLflow writes,
online pushes, failed or denied mutations) used to cost a transaction of its own on the event loop:
about 1 ms, most of an MLflow `log_metric`. The writer collects them and writes whatever has gathered
every `flush_seconds` in one transaction (one multi-row INSERT), so a burst of writes costs one commit.

Durability: rows wait in memory for at most `flush_seconds` (and are flushed on shutdown and before
the audit log is read), so a hard kill can lose the audit rows of the last fraction of a second. If the
database is unreachable the rows are kept and retried, up to `max_buffered`; beyond that the oldest are
dropped and the loss is logged. Rows that must commit with a change are not written here: those are in
the change's own transaction (`audit.record_in_transaction`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import cast

import structlog
from sqlalchemy import Table, insert

from mlplatform.kernel.background import BackgroundTask
from mlplatform.kernel.db import Database, utcnow
from mlplatform.modules.gateway.audit import AuditValues
from mlplatform.modules.gateway.models import AuditEvent

log = structlog.get_logger("mlplatform.audit")

_TABLE = cast(Table, AuditEvent.__table__)
_INSERT = insert(_TABLE)
_COLUMNS = tuple(c.key for c in _TABLE.columns if not c.primary_key)


class AuditWriter:
    def __init__(
        self, database: Database, *, flush_seconds: float = 0.1, max_batch: int = 1000, max_buffered: int = 100_000
    ) -> None:
        self.database = database
        self.flush_seconds = flush_seconds
        self.max_batch = max_batch
        self.max_buffered = max_buffered
        self._rows: deque[AuditValues] = deque()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task = BackgroundTask("audit-writer", self._run)
        self.dropped = 0

    def add(self, row: AuditValues) -> None:
        """Queue a row (never blocks, never fails the request); its time is now, not when it is written."""
        if "occurred_at" not in row:  # `audit_values` sets it; a row built elsewhere may not
            row["occurred_at"] = utcnow()
        if len(self._rows) >= self.max_buffered:
            self._rows.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("audit_rows_dropped", dropped=self.dropped, buffered=len(self._rows))
        self._rows.append(row)
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._rows)

    def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        """Stop the background loop and write what is left."""
        await self._task.stop()
        await self.flush()
        if self._rows:
            log.error("audit_rows_not_recorded_at_shutdown", rows=len(self._rows))

    async def flush(self) -> None:
        """Write every queued row now (also called before the audit log is read)."""
        async with self._lock:
            while self._rows:
                batch = [self._rows.popleft() for _ in range(min(self.max_batch, len(self._rows)))]
                try:
                    # One multi-row INSERT on a plain connection, without an ORM session: this runs on the
                    # event loop that serves requests, where the session's bookkeeping showed in profiles.
                    async with self.database.engine.begin() as connection:
                        await connection.execute(_INSERT, [{name: row.get(name) for name in _COLUMNS} for row in batch])
                except Exception as exc:  # an outage or a broken row: keep them, the next flush tries again
                    self._rows.extendleft(reversed(batch))
                    log.warning("audit_flush_failed", buffered=len(self._rows), error=f"{type(exc).__name__}: {exc}")
                    return

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.flush_seconds)  # let a burst gather into one transaction
            self._wake.clear()
            await self.flush()
            if self._rows:  # the database refused them: try again after a pause
                await asyncio.sleep(min(5.0, self.flush_seconds * 10))
                self._wake.set()
