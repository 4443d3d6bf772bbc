"""Turning successful MLflow writes into domain events in the outbox.

MLflow commits its own transaction before it answers; the event is then written to the platform's
outbox in a transaction of its own, before the response goes back to the client. A crash in between
loses that one event (MLflow and the platform do not share a transaction); subscribers are idempotent,
so anything that replays an event (a retried client call, a re-publish) is harmless.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.events import publish
from mlplatform.modules.experiments.authz.projects import MODEL_SEPARATOR
from mlplatform.modules.experiments.config import ARTIFACT_ROOT
from mlplatform.modules.experiments.events import ModelVersionCreated, RunFinished
from mlplatform.modules.experiments.runtime import MlflowRuntime

log = structlog.get_logger("mlplatform.experiments")


def from_millis(value: Any) -> datetime | None:
    if value in (None, "", 0):
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


class OutboxEventSink:
    def __init__(self, platform: PlatformContext, runtime: MlflowRuntime, artifact_destination: str) -> None:
        self.platform = platform
        self.runtime = runtime
        self.artifact_destination = artifact_destination.rstrip("/")

    async def run_terminated(self, run_id: str, project: str, previous_status: str | None) -> None:
        stores = await self.runtime.stores()
        run = await self.runtime.call(stores.tracking.get_run, run_id)
        if run.info.status == previous_status:
            return  # a repeated update (client retry): the transition was already reported
        experiment = await self.runtime.call(stores.tracking.get_experiment, run.info.experiment_id)
        event = RunFinished(
            aggregate_id=run_id,
            project=project,
            run_id=run_id,
            experiment_id=str(run.info.experiment_id),
            experiment_name=experiment.name,
            run_name=run.info.run_name,
            status=str(run.info.status),
            start_time=from_millis(run.info.start_time),
            end_time=from_millis(run.info.end_time),
            user_id=run.info.user_id or None,
            artifact_uri=run.info.artifact_uri,
            metrics={k: float(v) for k, v in run.data.metrics.items()},
            params=dict(run.data.params),
        )
        await self._publish(event)

    async def model_version_created(self, project: str, model_version: dict[str, Any]) -> None:
        name = str(model_version["name"])
        version = int(model_version["version"])
        stores = await self.runtime.stores()
        run_id = model_version.get("run_id") or None
        metrics: dict[str, float] = {}
        params: dict[str, str] = {}
        experiment_id: str | None = None
        if run_id:
            run = await self.runtime.call(stores.tracking.get_run, run_id)
            metrics = {k: float(v) for k, v in run.data.metrics.items()}
            params = dict(run.data.params)
            experiment_id = str(run.info.experiment_id)
        artifact_uri = await self.runtime.call(stores.registry.get_model_version_download_uri, name, str(version))
        if artifact_uri.startswith("runs:/"):
            # `runs:/<run id>/<path>`: the files are under that run's artifact root.
            source_run, _, path = artifact_uri[len("runs:/") :].partition("/")
            owner = await self.runtime.call(stores.tracking.get_run, source_run)
            artifact_uri = f"{owner.info.artifact_uri.rstrip('/')}/{path}".rstrip("/")
        event = ModelVersionCreated(
            aggregate_id=name,
            project=project,
            registered_model=name,
            model=name.split(MODEL_SEPARATOR, 1)[1] if MODEL_SEPARATOR in name else name,
            version=version,
            model_uri=f"models:/{name}/{version}",
            source=str(model_version.get("source") or ""),
            artifact_uri=artifact_uri,
            storage_uri=self.storage_uri(artifact_uri),
            run_id=run_id,
            experiment_id=experiment_id,
            logged_model_id=model_version.get("model_id") or None,
            description=model_version.get("description") or None,
            created_at=from_millis(model_version.get("creation_timestamp")),
            metrics=metrics,
            params=params,
            tags={t["key"]: t["value"] for t in model_version.get("tags") or [] if "key" in t and "value" in t},
        )
        await self._publish(event)

    def storage_uri(self, artifact_uri: str | None) -> str | None:
        """`mlflow-artifacts:/1/models/m-1/artifacts` → `<artifact destination>/1/models/m-1/artifacts`."""
        if not artifact_uri or not artifact_uri.startswith(ARTIFACT_ROOT.rstrip("/")):
            return None
        path = artifact_uri[len("mlflow-artifacts:") :]
        if path.startswith("//"):
            path = path[2:].split("/", 1)[1] if "/" in path[2:] else ""
        return f"{self.artifact_destination}/{path.lstrip('/')}"

    async def _publish(self, event: RunFinished | ModelVersionCreated) -> None:
        try:
            async with self.platform.database.transaction() as session:
                await publish(session, event)
        except Exception:
            # The MLflow write succeeded and is visible; failing the response would make the client retry
            # a non-idempotent call (a second model version). Log loudly instead.
            log.exception("mlflow_event_not_published", event_type=event.event_type, aggregate_id=event.aggregate_id)
            return
        log.info("mlflow_event_published", event_type=event.event_type, aggregate_id=event.aggregate_id)
