"""Turning successful MLflow writes into domain events in the outbox.

MLflow commits its own transaction before it answers; the event is then written to the platform's
outbox in a transaction of its own, before the response goes back to the client. MLflow and the
platform do not share a transaction, so a crash in between would lose that one event: the reconciler
(`reconciler.py`) compares MLflow's stores with the outbox at start-up and periodically and publishes
what is missing. Subscribers are idempotent, so an event published twice is harmless.
"""

from __future__ import annotations

from typing import Any

import structlog

from mlplatform.kernel.db import Database
from mlplatform.kernel.events import publish
from mlplatform.modules.experiments.events import ModelVersionCreated, RunFinished
from mlplatform.modules.experiments.hosting.host import MlflowHost
from mlplatform.modules.experiments.snapshots import EventBuilder, VersionFacts, run_finished

log = structlog.get_logger("mlplatform.experiments")


class OutboxEventSink:
    def __init__(self, database: Database, mlflow: MlflowHost, builder: EventBuilder) -> None:
        self.database = database
        self.mlflow = mlflow
        self.builder = builder

    async def run_terminated(self, run_id: str, project: str, previous_status: str | None) -> None:
        stores = await self.mlflow.stores()
        run = await self.mlflow.call(stores.tracking.get_run, run_id)
        if run.info.status == previous_status:
            return  # a repeated update (client retry): the transition was already reported
        experiment = await self.mlflow.call(stores.tracking.get_experiment, run.info.experiment_id)
        await self._publish(run_finished(run, project, experiment.name))

    async def model_version_created(self, project: str, model_version: dict[str, Any]) -> None:
        event = await self.builder.model_version_created(project, VersionFacts.from_json(model_version))
        await self._publish(event)

    async def _publish(self, event: RunFinished | ModelVersionCreated) -> None:
        try:
            async with self.database.transaction() as session:
                await publish(session, event)
        except Exception:
            # The MLflow write succeeded and is visible; failing the response would make the client retry
            # a non-idempotent call (a second model version). The reconciler publishes it later.
            log.exception("mlflow_event_not_published", event_type=event.event_type, aggregate_id=event.aggregate_id)
            return
        log.info("mlflow_event_published", event_type=event.event_type, aggregate_id=event.aggregate_id)
