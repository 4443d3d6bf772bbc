"""Domain events the experiments module publishes (after MLflow reported success for the write)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from mlplatform.kernel.events import DomainEvent


class RunFinished(DomainEvent, frozen=True, kw_only=True):
    """An MLflow run reached a terminal status (FINISHED, FAILED or KILLED). One per transition."""

    event_type: ClassVar[str] = "experiments.RunFinished"
    aggregate_type: ClassVar[str] = "mlflow_run"

    run_id: str
    experiment_id: str
    experiment_name: str
    run_name: str | None = None
    status: str
    start_time: datetime | None = None
    end_time: datetime | None = None
    user_id: str | None = None
    artifact_uri: str | None = None
    metrics: dict[str, float] = {}
    params: dict[str, str] = {}


class ModelVersionCreated(DomainEvent, frozen=True, kw_only=True):
    """A version of an MLflow registered model was created. `aggregate_id` is the registered model name,
    so versions of one model are delivered in order."""

    event_type: ClassVar[str] = "experiments.ModelVersionCreated"
    aggregate_type: ClassVar[str] = "mlflow_registered_model"

    registered_model: str
    """MLflow's name, `<project>.<model>`."""
    model: str
    """The name without the project prefix (the catalogue's model name)."""
    version: int
    model_uri: str
    """`models:/<registered model>/<version>`: what `mlflow.pyfunc.load_model` takes."""
    source: str
    artifact_uri: str | None = None
    """Where the version's files are, as MLflow resolves it (`mlflow-artifacts:/...`)."""
    storage_uri: str | None = None
    """The same location in the platform object store (`s3://bucket/prefix/mlflow/...` or a folder)."""
    run_id: str | None = None
    experiment_id: str | None = None
    logged_model_id: str | None = None
    description: str | None = None
    created_at: datetime | None = None
    metrics: dict[str, float] = {}
    """The source run's latest metrics when the version was created."""
    params: dict[str, str] = {}
    tags: dict[str, str] = {}


class RunLinked(DomainEvent, frozen=True, kw_only=True):
    """A user linked an MLflow run to a catalogue model version (lineage: run → model version)."""

    event_type: ClassVar[str] = "experiments.RunLinked"
    aggregate_type: ClassVar[str] = "mlflow_run"

    run_id: str
    experiment_id: str
    model: str
    version: int
    catalogue_version_id: str
