"""Sending stored RunEvents to the OpenLineage endpoint, off the request path, with retries.

The lineage subscriber only *stores* events (inside the outbox delivery's transaction); this loop sends
them, so a slow or broken Marquez never delays a request, a commit or another subscriber. It claims
due `pending` rows oldest first with a short lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
replicas share the work), posts each through openlineage-python's `HttpTransport` in a worker thread
of its own, and records the outcome. A failure backs off exponentially and holds back the later rows
of the batch (runs keep START before COMPLETE); after `max_attempts` the row is marked `failed`, kept
and listed, and `mlplatform lineage replay` can send it again. Timeouts, retries, back-off, batch size
and lease come from the `lineage` settings group (`MLPLATFORM_LINEAGE__*`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import anyio
import structlog
from anyio import CapacityLimiter

from mlplatform.kernel.background import PollingLoop
from mlplatform.kernel.db import Database, utcnow
from mlplatform.modules.lineage.repositories import events
from mlplatform.settings import LineageSettings

log = structlog.get_logger("mlplatform.lineage")


def build_transport(url: str, settings: LineageSettings) -> Any:
    """openlineage-python's HTTP transport, with few immediate retries (the emitter does the backing off)."""
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    retry = {
        "total": settings.http_retries,
        "read": settings.http_retries,
        "connect": settings.http_retries,
        "backoff_factor": 0.2,
        "status_forcelist": [429, 500, 502, 503, 504],
        "allowed_methods": ["POST"],
    }
    return HttpTransport(HttpConfig(url=url, endpoint=settings.endpoint, timeout=settings.timeout_seconds, retry=retry))


def send(transport: Any, body: dict[str, Any]) -> None:
    """POST one event (blocking). The transport serialises dicts exactly like its own event classes."""
    transport.emit(cast(Any, body))


def rejected(exc: Exception) -> bool:
    """The endpoint refused the event itself (a 4xx other than timeout/rate limit): retrying cannot help."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return isinstance(status, int) and 400 <= status < 500 and status not in (408, 429)


@dataclass
class OpenLineageEmitter:
    database: Database
    url: str
    settings: LineageSettings = field(default_factory=LineageSettings)

    def __post_init__(self) -> None:
        self._transport = build_transport(self.url, self.settings)
        self._limiter = CapacityLimiter(1)
        self._loop = PollingLoop(
            "openlineage-emitter",
            self.run_until_idle,
            interval=self.settings.poll_interval_seconds,
            failure_event="openlineage_round_failed",
        )

    def wake(self) -> None:
        self._loop.wake()

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        self._transport.close()

    async def run_until_idle(self, max_rounds: int = 1000) -> int:
        """Send due events until none is due or a send fails. Returns how many were emitted."""
        emitted = 0
        for _ in range(max_rounds):
            sent, claimed, failed = await self.send_due()
            emitted += sent
            if claimed == 0 or failed:
                break
        return emitted

    async def _claim(self) -> list[tuple[int, dict[str, Any], int]]:
        """Due rows, oldest first (`repositories.events.claim_due`): events go out in the order they were built."""
        now = utcnow()
        async with self.database.transaction() as session:
            rows = await events.claim_due(
                session,
                now=now,
                batch_size=self.settings.batch_size,
                lease_until=now + timedelta(seconds=self.settings.lease_seconds),
            )
        return [(row.id, row.body, row.attempts) for row in rows]

    async def send_due(self) -> tuple[int, int, bool]:
        """One batch. Returns (emitted, claimed, whether a send failed)."""
        claimed = await self._claim()
        sent = 0
        for index, (row_id, body, attempts) in enumerate(claimed):
            try:
                await anyio.to_thread.run_sync(send, self._transport, body, limiter=self._limiter)
            except Exception as exc:
                await self._failed(row_id, attempts + 1, exc, held=[r[0] for r in claimed[index + 1 :]])
                return sent, len(claimed), True
            await self._emitted(row_id, attempts + 1)
            sent += 1
        return sent, len(claimed), False

    async def _emitted(self, row_id: int, attempts: int) -> None:
        async with self.database.transaction() as session:
            await events.mark_emitted(session, row_id, attempts=attempts, at=utcnow())

    async def _failed(self, row_id: int, attempts: int, exc: Exception, *, held: list[int]) -> None:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        give_up = attempts >= self.settings.max_attempts or rejected(exc)
        delay = min(self.settings.backoff_base_seconds * 2 ** (attempts - 1), self.settings.backoff_max_seconds)
        retry_at = utcnow() + timedelta(seconds=delay)
        log.warning("openlineage_emit_failed", event_row=row_id, attempts=attempts, error=error[:300], gave_up=give_up)
        async with self.database.transaction() as session:
            await events.mark_failed(
                session, row_id, gave_up=give_up, attempts=attempts, error=error, retry_at=retry_at
            )
            if held:
                # Later events wait for the failed one (or, once it is given up, go right after it).
                await events.hold(session, held, until=utcnow() if give_up else retry_at)
