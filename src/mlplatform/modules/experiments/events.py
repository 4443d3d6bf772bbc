"""Domain events the experiments module publishes (after MLflow reported success for the write)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import msgspec

from mlplatform.kernel.events import DomainEvent

PLATFORM_TAG_PREFIX = "mlplatform."
"""Run tags under this prefix (`mlplatform.training_dataset`, `mlplatform.feature_service`) travel with
`RunFinished`: they are how a run names the platform data it used (see docs/lineage.md)."""


class DatasetInput(msgspec.Struct, frozen=True, kw_only=True):
    """An MLflow dataset input of a run (`mlflow.log_input`), as MLflow stores it."""

    name: str
    digest: str
    source_type: str
    """MLflow's source type: `s3`, `local`, `http`, `code` ..."""
    source: str
    """MLflow's JSON of the source, e.g. `{"uri": "s3://bucket/key.parquet"}`."""
    context: str | None = None
    """The input's `mlflow.data.context` tag (`training`, `validation` ...), when set."""


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
    tags: dict[str, str] = {}
    """The run's tags under `PLATFORM_TAG_PREFIX` (not MLflow's own `mlflow.*` tags)."""
    dataset_inputs: list[DatasetInput] = []
    """The run's MLflow dataset inputs (events stored before this field existed decode with none)."""


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
