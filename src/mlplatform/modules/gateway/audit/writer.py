"""Audit rows recorded after the response, written in batches off the request path.

A row per mutating request that did not record its own audit row in its transaction (MLflow writes,
online pushes, failed or denied mutations) used to cost a transaction of its own on the event loop:
about 1 ms, most of an MLflow `log_metric`. The writer collects them and writes whatever has gathered
every `flush_seconds` in one transaction (one multi-row INSERT), so a burst of writes costs one commit.

Durability: rows wait in memory for at most `flush_seconds` (and are flushed before the audit log is read),
so a hard kill can lose the audit rows of the last fraction of a second. Shutdown drains the queue: it keeps
writing for up to `drain_seconds` (a database that is briefly away), and only then logs what it could not
write. If the database is unreachable the rows are kept and retried, up to `max_buffered`; beyond that the
oldest are dropped and the loss is logged. Rows that must commit with a change are not written here: those
are in the change's own transaction (`audit.record_in_transaction`).

One row can not block the others: text is made storable when a row is queued (`audit.storable`), and a
batch the database refuses for its data (not for an outage) is written again row by row, so only a row the
database still refuses is left out, after a last try with every text value escaped to ASCII.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, cast

import structlog
from sqlalchemy import Table, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from mlplatform.kernel.background import BackgroundTask
from mlplatform.kernel.db import Database, utcnow
from mlplatform.modules.gateway.audit.recording import AuditValues, storable
from mlplatform.modules.gateway.models import AuditEvent

log = structlog.get_logger("mlplatform.audit")

_TABLE = cast(Table, AuditEvent.__table__)
_INSERT = insert(_TABLE)
_COLUMNS = tuple(c.key for c in _TABLE.columns if not c.primary_key)


class AuditWriter:
    def __init__(
        self,
        database: Database,
        *,
        flush_seconds: float = 0.1,
        max_batch: int = 1000,
        max_buffered: int = 100_000,
        drain_seconds: float = 5.0,
    ) -> None:
        self.database = database
        self.flush_seconds = flush_seconds
        self.max_batch = max_batch
        self.max_buffered = max_buffered
        self.drain_seconds = drain_seconds
        self._rows: deque[AuditValues] = deque()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task = BackgroundTask("audit-writer", self._run)
        self.dropped = 0
        """Rows left out because the queue was full (database away for long)."""
        self.rejected = 0
        """Rows the database refused even with their text escaped (logged one by one)."""

    def add(self, row: AuditValues) -> None:
        """Queue a row (never blocks, never fails the request); its time is now, not when it is written."""
        if "occurred_at" not in row:  # `audit_values` sets it; a row built elsewhere may not
            row["occurred_at"] = utcnow()
        storable(row)  # `audit_values` already did; a row built elsewhere may not have
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
        """Stop the background loop and drain the queue: keep writing for up to `drain_seconds`."""
        await self._task.stop()
        deadline = time.monotonic() + self.drain_seconds
        await self.flush()
        while self._rows and time.monotonic() < deadline:
            await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
            await self.flush()
        if self._rows:
            log.error("audit_rows_not_recorded_at_shutdown", rows=len(self._rows))

    async def flush(self) -> None:
        """Write every queued row now (also called before the audit log is read)."""
        async with self._lock:
            while self._rows:
                batch = [self._rows.popleft() for _ in range(min(self.max_batch, len(self._rows)))]
                try:
                    # On a plain connection, without an ORM session: this runs on the event loop that serves
                    # requests, where the session's bookkeeping showed in profiles.
                    async with self.database.engine.connect() as connection:
                        await self._write(connection, batch)
                except Exception as exc:  # an outage: keep what is left, the next flush tries again
                    self._rows.extendleft(reversed(batch))
                    log.warning("audit_flush_failed", buffered=len(self._rows), error=_first_line(exc))
                    return
                except BaseException:  # cancelled mid-write (shutdown): what is left is drained by `stop`
                    self._rows.extendleft(reversed(batch))
                    raise

    async def _write(self, connection: AsyncConnection, batch: list[AuditValues]) -> None:
        """Write `batch` (one multi-row INSERT), emptying it; rows still in it when this raises are unwritten."""
        try:
            await _insert(connection, batch)
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise
            log.warning("audit_batch_refused", rows=len(batch), error=_first_line(exc))
        else:
            batch.clear()
            return
        while batch:  # the database refused the batch for its data: find the row, keep the others
            row = batch[0]
            try:
                await _insert(connection, [row])
            except DBAPIError as exc:
                if exc.connection_invalidated:
                    raise
                await self._last_try(connection, row, exc)
            batch.pop(0)

    async def _last_try(self, connection: AsyncConnection, row: AuditValues, refused: DBAPIError) -> None:
        escaped = storable(
            {k: v.encode("ascii", "backslashreplace").decode() if isinstance(v, str) else v for k, v in row.items()}
        )
        try:
            await _insert(connection, [escaped])
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise
            self.rejected += 1
            log.error(
                "audit_row_refused",
                action=escaped.get("action"),
                actor=escaped.get("actor"),
                path=escaped.get("path"),
                error=_first_line(refused),
            )

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.flush_seconds)  # let a burst gather into one transaction
            self._wake.clear()
            await self.flush()
            if self._rows:  # the database refused them: try again after a pause
                await asyncio.sleep(min(5.0, self.flush_seconds * 10))
                self._wake.set()


async def _insert(connection: AsyncConnection, rows: list[AuditValues]) -> None:
    async with connection.begin():
        await connection.execute(_INSERT, [_params(row) for row in rows])


def _params(row: AuditValues) -> dict[str, Any]:
    return {name: row.get(name) for name in _COLUMNS}


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
