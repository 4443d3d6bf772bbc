"""Building RunFinished / ModelVersionCreated from what MLflow's stores hold.

Shared by the observer (right after MLflow answered a write) and the reconciler (later, for writes
whose event a crash lost), so both publish the same event for the same MLflow object. The builders
call MLflow's stores on the MLflow host's own limiter; they never publish.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlplatform.modules.experiments.authz.projects import MODEL_SEPARATOR
from mlplatform.modules.experiments.events import (
    PLATFORM_TAG_PREFIX,
    DatasetInput,
    ModelVersionCreated,
    RunFinished,
)
from mlplatform.modules.experiments.hosting.config import ARTIFACT_ROOT
from mlplatform.modules.experiments.hosting.host import MlflowHost


def from_millis(value: Any) -> datetime | None:
    if value in (None, "", 0):
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


@dataclass(frozen=True)
class VersionFacts:
    """The fields of an MLflow model version the event needs, whichever way it was read."""

    name: str
    version: int
    source: str = ""
    run_id: str | None = None
    model_id: str | None = None
    description: str | None = None
    creation_timestamp: int | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, model_version: dict[str, Any]) -> VersionFacts:
        """From the `model_version` object of MLflow's REST answer."""
        return cls(
            name=str(model_version["name"]),
            version=int(model_version["version"]),
            source=str(model_version.get("source") or ""),
            run_id=model_version.get("run_id") or None,
            model_id=model_version.get("model_id") or None,
            description=model_version.get("description") or None,
            creation_timestamp=model_version.get("creation_timestamp"),
            tags={t["key"]: t["value"] for t in model_version.get("tags") or [] if "key" in t and "value" in t},
        )

    @classmethod
    def from_entity(cls, model_version: Any) -> VersionFacts:
        """From MLflow's `ModelVersion` entity (a registry store's search result)."""
        return cls(
            name=str(model_version.name),
            version=int(model_version.version),
            source=str(model_version.source or ""),
            run_id=model_version.run_id or None,
            model_id=getattr(model_version, "model_id", None) or None,
            description=model_version.description or None,
            creation_timestamp=model_version.creation_timestamp,
            tags=dict(model_version.tags or {}),
        )


def run_finished(run: Any, project: str, experiment_name: str) -> RunFinished:
    """The event for an MLflow `Run` entity in a terminal status (no store call)."""
    info = run.info
    return RunFinished(
        aggregate_id=str(info.run_id),
        project=project,
        run_id=str(info.run_id),
        experiment_id=str(info.experiment_id),
        experiment_name=experiment_name,
        run_name=info.run_name,
        status=str(info.status),
        start_time=from_millis(info.start_time),
        end_time=from_millis(info.end_time),
        user_id=info.user_id or None,
        artifact_uri=info.artifact_uri,
        metrics={k: float(v) for k, v in run.data.metrics.items()},
        params=dict(run.data.params),
        tags={k: v for k, v in run.data.tags.items() if k.startswith(PLATFORM_TAG_PREFIX)},
        dataset_inputs=dataset_inputs(run),
    )


MAX_DATASET_INPUTS = 100
DATASET_CONTEXT_TAG = "mlflow.data.context"


def dataset_inputs(run: Any) -> list[DatasetInput]:
    """The run's MLflow dataset inputs (`mlflow.log_input`; at most `MAX_DATASET_INPUTS`), for lineage."""
    inputs = run.inputs.dataset_inputs if getattr(run, "inputs", None) is not None else []
    found: list[DatasetInput] = []
    for item in inputs[:MAX_DATASET_INPUTS]:
        context = next((tag.value for tag in item.tags or [] if tag.key == DATASET_CONTEXT_TAG), None)
        found.append(
            DatasetInput(
                name=item.dataset.name,
                digest=item.dataset.digest,
                source_type=item.dataset.source_type,
                source=item.dataset.source,
                context=context or None,
            )
        )
    return found


class EventBuilder:
    def __init__(self, mlflow: MlflowHost, artifact_destination: str) -> None:
        self.mlflow = mlflow
        self.artifact_destination = artifact_destination.rstrip("/")

    async def model_version_created(self, project: str, facts: VersionFacts) -> ModelVersionCreated:
        stores = await self.mlflow.stores()
        metrics: dict[str, float] = {}
        params: dict[str, str] = {}
        experiment_id: str | None = None
        if facts.run_id:
            run = await self.mlflow.call(stores.tracking.get_run, facts.run_id)
            metrics = {k: float(v) for k, v in run.data.metrics.items()}
            params = dict(run.data.params)
            experiment_id = str(run.info.experiment_id)
        artifact_uri = await self.mlflow.call(
            stores.registry.get_model_version_download_uri, facts.name, str(facts.version)
        )
        if artifact_uri.startswith("runs:/"):
            # `runs:/<run id>/<path>`: the files are under that run's artifact root.
            source_run, _, path = artifact_uri[len("runs:/") :].partition("/")
            owner = await self.mlflow.call(stores.tracking.get_run, source_run)
            artifact_uri = f"{owner.info.artifact_uri.rstrip('/')}/{path}".rstrip("/")
        name = facts.name
        return ModelVersionCreated(
            aggregate_id=name,
            project=project,
            registered_model=name,
            model=name.split(MODEL_SEPARATOR, 1)[1] if MODEL_SEPARATOR in name else name,
            version=facts.version,
            model_uri=f"models:/{name}/{facts.version}",
            source=facts.source,
            artifact_uri=artifact_uri,
            storage_uri=self.storage_uri(artifact_uri),
            run_id=facts.run_id,
            experiment_id=experiment_id,
            logged_model_id=facts.model_id,
            description=facts.description,
            created_at=from_millis(facts.creation_timestamp),
            metrics=metrics,
            params=params,
            tags=facts.tags,
        )

    def storage_uri(self, artifact_uri: str | None) -> str | None:
        """`mlflow-artifacts:/1/models/m-1/artifacts` → `<artifact destination>/1/models/m-1/artifacts`."""
        if not artifact_uri or not artifact_uri.startswith(ARTIFACT_ROOT.rstrip("/")):
            return None
        path = artifact_uri[len("mlflow-artifacts:") :]
        if path.startswith("//"):
            path = path[2:].split("/", 1)[1] if "/" in path[2:] else ""
        return f"{self.artifact_destination}/{path.lstrip('/')}"
