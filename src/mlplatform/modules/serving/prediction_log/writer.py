"""The prediction log's buffer and the loop that writes it as Parquet files into the object store.

A prediction calls `record` once it has its answer (or its error): a float compare when the deployment logs
nothing; otherwise a draw fixed by its request id, and an append to an in-memory buffer. Nothing on the
request path waits for the log or can fail because of it. The loop (`flush`, every
`serving.log_flush_seconds`, sooner once `serving.log_flush_rows` are waiting) encodes the buffer in a worker
thread, one file per deployment and day, and writes the files. A file that cannot be written (the object
store is down) is kept and tried again at the next flushes (at most once per flush interval),
`serving.log_write_attempts` times in all, then dropped: with the defaults, an object store down for about
25 s costs nothing but memory.

Memory is bounded: the rows held (buffered, being encoded, waiting for a retry) never exceed
`serving.log_max_buffered_rows`; a sampled prediction arriving when they would is dropped, counted in
`mlplatform_serving_log_dropped_total{reason="buffer_full"}` and reported in the log once per flush. Stopping
the runtime writes what is held (one attempt). A SIGKILL loses what is held: at most one flush interval of
sampled rows, never more than `serving.log_max_buffered_rows`.
"""

from __future__ import annotations

import asyncio
import random
import time
import zlib
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from prometheus_client import Counter

from mlplatform.kernel.background import PollingLoop
from mlplatform.kernel.storage import ObjectStore
from mlplatform.modules.gateway.api import ProjectDirectory
from mlplatform.modules.serving.prediction_log.records import (
    Batch,
    Pending,
    Trace,
    encode_batch,
    error_text,
    part_key,
)
from mlplatform.settings import ServingSettings

log = structlog.get_logger("mlplatform.serving")

PARQUET = "application/vnd.apache.parquet"
DROPPED = Counter(
    "mlplatform_serving_log_dropped_total",
    "Rows of sampled predictions the prediction log dropped: buffer_full (the bounded buffer was full), "
    "write_failed (the object store refused the file serving.log_write_attempts times), project_deleted, "
    "encode_failed",
    ["project", "deployment", "reason"],
)
WRITTEN = Counter(
    "mlplatform_serving_log_rows_total",
    "Rows the prediction log wrote to the object store",
    ["project", "deployment"],
)


class PredictionLog:
    def __init__(
        self,
        store: ObjectStore,
        settings: ServingSettings,
        projects: Callable[[], ProjectDirectory | None] = lambda: None,
    ) -> None:
        self.store = store
        self.projects = projects
        """The gateway's project directory (when it runs): rows of a project deleted meanwhile are not written
        after its purge emptied the project's folder."""
        self.flush_rows = settings.log_flush_rows
        self.max_rows = settings.log_max_buffered_rows
        self.attempts = settings.log_write_attempts
        self.retry_seconds = settings.log_flush_seconds
        self.held = 0
        """Rows accepted and not yet written or dropped: what the memory bound counts."""
        self._buffer: deque[Pending] = deque()
        self._buffered = 0
        self._waiting: list[Batch] = []
        self._dropped_since: dict[tuple[str, str], int] = defaultdict(int)
        self._lock = asyncio.Lock()
        self._stopping = False
        self.loop = PollingLoop(
            "serving-prediction-log",
            self._round,
            interval=settings.log_flush_seconds,
            failure_event="serving_log_flush_failed",
        )

    def record(self, trace: Trace, error: BaseException | None) -> bool:
        """Keep `trace` if it is sampled (every failure is, while the deployment logs at all); never raises,
        never waits. True when it was kept."""
        try:
            return self._record(trace, error)
        except Exception:  # a bug here must cost the log a row, never the caller its prediction
            log.exception("serving_log_record_failed")
            return False

    def _record(self, trace: Trace, error: BaseException | None) -> bool:
        served = trace.served
        if served is None:
            return False
        options = served.deployment.serving
        rate = options.log_sample_rate
        if rate <= 0.0 or (error is None and rate < 1.0 and _draw(trace.request_id) >= rate):
            return False
        rows = 1 if trace.request.rows > options.max_rows else max(1, trace.request.rows)
        deployment = served.deployment
        if self.held + rows > self.max_rows:
            DROPPED.labels(deployment.project, str(deployment.id), "buffer_full").inc(rows)
            self._dropped_since[(deployment.project, str(deployment.id))] += rows
            return False
        if error is None:
            outcome, text = "ok", None
        else:
            outcome, text = (trace.outcome if trace.outcome != "ok" else "error"), error_text(error)
        self._buffer.append(
            Pending(trace=trace, served=served, time=datetime.now(UTC), outcome=outcome, error=text, rows=rows)
        )
        self._buffered += rows
        self.held += rows
        if self._buffered >= self.flush_rows:
            self.loop.wake()
        return True

    async def flush(self, *, final: bool = False) -> None:
        """Encode what is buffered and write the files waiting (the loop's round; `final` on stop: every file
        is tried once more, whenever it last failed)."""
        async with self._lock:
            self._report_drops()
            await self._encode()
            await self._write(final)

    async def _round(self) -> None:
        if self._stopping:
            # Ends the loop even when Python 3.11's wait_for swallowed stop()'s cancellation (a wake-up and the
            # cancellation arriving together), which left stop() waiting forever.
            raise asyncio.CancelledError
        await self.flush()

    async def stop(self) -> None:
        """Stop the loop and write what is held, once; what still fails to write is lost (and said so)."""
        self._stopping = True
        self.loop.wake()
        await self.loop.stop()
        await self.flush(final=True)
        if self.held:
            log.error("serving_log_lost_at_shutdown", rows=self.held, files=len(self._waiting))

    async def _encode(self) -> None:
        if not self._buffer:
            return
        pendings = list(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        groups: dict[tuple[str, str, str], list[Pending]] = defaultdict(list)
        for pending in pendings:
            deployment = pending.served.deployment
            groups[(deployment.project, str(deployment.id), pending.date)].append(pending)
        try:
            encoded = await asyncio.to_thread(_encode_groups, groups)
        except asyncio.CancelledError:  # stopping: the final flush encodes them again, in order
            self._buffer.extendleft(reversed(pendings))
            self._buffered += sum(p.rows for p in pendings)
            raise
        except Exception:
            log.exception("serving_log_encode_failed", rows=sum(p.rows for p in pendings))
            for (project, deployment_id, _), members in groups.items():
                self._drop(project, deployment_id, sum(p.rows for p in members), "encode_failed")
            return
        self._waiting.extend(encoded)

    async def _write(self, final: bool) -> None:
        """Write the waiting files, oldest first. A failure ends the round (the store is likely down: a later
        flush tries again, not before one flush interval); the final flush tries every file once."""
        deleted = await self._deleted_projects()
        for batch in list(self._waiting):
            if batch.project in deleted:
                self._waiting.remove(batch)
                self._drop(batch.project, batch.deployment_id, batch.rows, "project_deleted")
                continue
            if batch.retry_at > time.monotonic() and not final:
                return
            try:
                await self.store.put(batch.key, batch.data, PARQUET)
            except Exception as exc:
                batch.attempts += 1
                batch.retry_at = time.monotonic() + self.retry_seconds
                if batch.attempts >= self.attempts:
                    self._waiting.remove(batch)
                    self._drop(batch.project, batch.deployment_id, batch.rows, "write_failed")
                    log.error("serving_log_write_dropped", key=batch.key, rows=batch.rows, error=str(exc))
                    continue
                log.warning(
                    "serving_log_write_failed", key=batch.key, rows=batch.rows, attempt=batch.attempts, error=str(exc)
                )
                if final:
                    continue
                return
            self._waiting.remove(batch)
            self.held -= batch.rows
            WRITTEN.labels(batch.project, batch.deployment_id).inc(batch.rows)

    async def _deleted_projects(self) -> set[str]:
        directory = self.projects()
        deleted: set[str] = set()
        if directory is None:
            return deleted
        for project in {batch.project for batch in self._waiting}:
            try:
                if not await directory.exists(project):
                    deleted.add(project)
            except Exception:  # the database is down: write (the purge, if any, runs again later)
                log.warning("serving_log_project_check_failed", project=project, exc_info=True)
        return deleted

    def _drop(self, project: str, deployment_id: str, rows: int, reason: str) -> None:
        self.held -= rows
        DROPPED.labels(project, deployment_id, reason).inc(rows)

    def _report_drops(self) -> None:
        """One log line per deployment and flush for the rows dropped because the buffer was full (a line per
        dropped prediction would flood the log exactly when the platform is busiest)."""
        dropped, self._dropped_since = self._dropped_since, defaultdict(int)
        for (project, deployment_id), rows in dropped.items():
            log.warning(
                "serving_log_dropped",
                project=project,
                deployment=deployment_id,
                rows=rows,
                reason="buffer_full",
                hint="raise serving.log_max_buffered_rows, lower the deployment's log_sample_rate, or check the "
                "object store",
            )


def _draw(request_id: str) -> float:
    """A request's place in [0, 1): fixed by its request id, so a deployment and its shadows log the same
    requests (a champion/challenger comparison joins them by request id), and a retried request with the same
    `X-Request-ID` is sampled alike."""
    if not request_id:
        return random.random()
    return zlib.crc32(request_id.encode()) / 4294967296.0


def _encode_groups(groups: dict[tuple[str, str, str], list[Pending]]) -> list[Batch]:
    """Blocking (worker thread): one Parquet file per deployment and day."""
    now = datetime.now(UTC)
    return [
        Batch(
            project=project,
            deployment_id=deployment_id,
            key=part_key(project, deployment_id, "predictions", date, now),
            data=encode_batch(members),
            rows=sum(p.rows for p in members),
        )
        for (project, deployment_id, date), members in groups.items()
    ]
