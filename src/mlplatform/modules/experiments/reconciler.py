"""No lost events: publish the RunFinished / ModelVersionCreated events a crash kept from the outbox.

MLflow commits before the observer writes the event (`observer.py`); a crash in between leaves an MLflow
object without its event. The reconciler closes that gap: once MLflow is loaded (right after start-up in
production, on first use in development) and then every `reconcile_interval_seconds`, it reads from
MLflow's stores the runs that ended and the model versions that were created in a window, looks up which
of them already have their event in the outbox, and publishes the missing ones.

- Window: from the stream's watermark (`experiments_reconcile_marks`) minus `reconcile_overlap_seconds`
  (late commits, clocks; never before the reconciler first ran on this database) up to now minus
  `reconcile_settle_seconds` (younger objects normally have their event on the way).
- Identity: a run's event is (run id, terminal status), as the observer publishes one per transition; a
  model version's is (registered model, version). The check and the publishing happen in one transaction
  holding the watermark row `FOR UPDATE SKIP LOCKED`, so replicas never publish the same event twice.
- The observer and the reconciler do not lock each other out: a very slow observer may still write an
  event the reconciler has just written (beyond the settle time). Subscribers are idempotent (the
  catalogue registers a version once per project, model and MLflow version), so that costs nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.background import BackgroundTask
from mlplatform.kernel.db import Database
from mlplatform.kernel.events import publish
from mlplatform.kernel.request_ids import current_actor
from mlplatform.modules.experiments import reconcile_scan, repositories
from mlplatform.modules.experiments.hosting.host import MlflowHost
from mlplatform.modules.experiments.snapshots import EventBuilder, run_finished
from mlplatform.settings import ExperimentsSettings

log = structlog.get_logger("mlplatform.experiments")

RUNS = "runs"
MODEL_VERSIONS = "model_versions"
ACTOR = "system:experiments.reconciler"


@dataclass(frozen=True)
class ReconcileResult:
    """Events published by one round, per stream; None: another replica was reconciling that stream."""

    runs: int | None
    model_versions: int | None


Step = Callable[[AsyncSession, int, int], Awaitable[int]]


class EventReconciler:
    def __init__(
        self,
        database: Database,
        mlflow: MlflowHost,
        builder: EventBuilder,
        settings: ExperimentsSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.mlflow = mlflow
        self.builder = builder
        self.settings = settings
        self.clock = clock
        self._task = BackgroundTask("mlflow-reconciler", self._run)

    def start(self) -> None:
        """Reconcile in the background once MLflow is loaded, then every interval (0: never)."""
        if self.settings.reconcile_interval_seconds > 0:
            self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        await self.mlflow.wait_loaded()
        while True:
            try:
                await self.reconcile()
            except Exception:
                log.exception("mlflow_reconcile_failed")
            await asyncio.sleep(self.settings.reconcile_interval_seconds)

    async def reconcile(self) -> ReconcileResult:
        """One round over both streams; the watermark of a stream moves only when its round commits."""
        token = current_actor.set(ACTOR)
        try:
            until_ms = int((self.clock() - self.settings.reconcile_settle_seconds) * 1000)
            runs = await self._stream(RUNS, until_ms, self._runs)
            versions = await self._stream(MODEL_VERSIONS, until_ms, self._model_versions)
        finally:
            current_actor.reset(token)
        return ReconcileResult(runs=runs, model_versions=versions)

    async def _stream(self, stream: str, until_ms: int, step: Step) -> int | None:
        async with self.database.transaction() as session:
            await repositories.ensure_mark(session, stream, until_ms)
        async with self.database.transaction() as session:
            mark = await repositories.lock_mark(session, stream)
            if mark is None:
                return None
            overlap_ms = int(self.settings.reconcile_overlap_seconds * 1000)
            since_ms = max(mark.until_ms - overlap_ms, mark.started_ms)
            published = await step(session, since_ms, until_ms) if since_ms <= until_ms else 0
            mark.until_ms = max(mark.until_ms, until_ms)
        return published

    async def _runs(self, session: AsyncSession, since_ms: int, until_ms: int) -> int:
        stores = await self.mlflow.stores()
        ended = await self.mlflow.call(reconcile_scan.ended_runs, stores, since_ms, until_ms)
        if not ended:
            return 0
        known = await repositories.published_run_statuses(session, {run.key[0] for run in ended})
        published = 0
        for run in ended:
            if run.key in known:
                continue
            await publish(session, run_finished(run.run, run.project, run.experiment_name))
            known.add(run.key)
            published += 1
            log.warning("mlflow_event_recovered", event_type="experiments.RunFinished", run_id=run.key[0])
        return published

    async def _model_versions(self, session: AsyncSession, since_ms: int, until_ms: int) -> int:
        from mlflow.exceptions import MlflowException

        stores = await self.mlflow.stores()
        created = await self.mlflow.call(reconcile_scan.created_versions, stores, since_ms, until_ms)
        if not created:
            return 0
        known = await repositories.published_model_versions(session, {version.key[0] for version in created})
        published = 0
        for version in created:
            if version.key in known:
                continue
            name, number = version.key
            try:
                event = await self.builder.model_version_created(version.project, version.facts)
            except MlflowException as exc:
                # MLflow's answer (e.g. the version was deleted meanwhile) will not change on a retry.
                log.warning("mlflow_event_not_recoverable", model=name, version=number, error=str(exc))
                continue
            await publish(session, event)
            known.add(version.key)
            published += 1
            log.warning("mlflow_event_recovered", event_type=event.event_type, model=name, version=number)
        return published
