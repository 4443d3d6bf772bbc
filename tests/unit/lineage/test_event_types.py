"""The lineage module subscribes by event type string: check the strings against the publishers.

The other modules' event classes are imported here (tests may; the lineage module itself may not), so
a renamed event type or a removed field the mapping relies on fails this test, not production.
"""

from __future__ import annotations

import msgspec

from mlplatform.kernel.events import DomainEvent
from mlplatform.kernel.jobs import events as jobs
from mlplatform.modules.catalogue import events as catalogue
from mlplatform.modules.experiments import events as experiments
from mlplatform.modules.features import events as features
from mlplatform.modules.lineage.mapping import GRAPH_HANDLERS
from mlplatform.modules.lineage.openlineage.event_types import OPENLINEAGE_EVENT_TYPES
from mlplatform.modules.lineage.openlineage.registry import ALL_BUILDERS
from mlplatform.modules.lineage.subscriber import subscribed_event_types

RELIED_ON: dict[type[DomainEvent], set[str]] = {
    catalogue.ModelCreated: {"model", "owner", "task_type", "tags"},
    catalogue.ModelUpdated: {"model"},
    catalogue.ModelVersionCreated: {
        "model",
        "version",
        "version_id",
        "model_uri",
        "source_run_id",
        "mlflow_version",
        "framework",
        "feature_service",
        "feast_project",
    },
    catalogue.ModelVersionUpdated: {"model", "version", "version_id"},
    catalogue.StageChanged: {"model", "version", "version_id", "to_stage"},
    catalogue.ValidationRecorded: {"model", "version", "version_id", "validation_id", "name", "status", "report_uri"},
    catalogue.DeploymentChanged: {
        "model",
        "version",
        "version_id",
        "environment",
        "target",
        "status",
        "traffic_share",
        "change",
        "skew_override",
        "skewed_views",
    },
    experiments.RunFinished: {
        "run_id",
        "experiment_id",
        "experiment_name",
        "run_name",
        "status",
        "start_time",
        "end_time",
        "user_id",
        "artifact_uri",
        "metrics",
        "params",
        "tags",
        "dataset_inputs",
    },
    experiments.ModelVersionCreated: {"run_id", "model", "params"},
    experiments.RunLinked: {"run_id", "model", "version", "catalogue_version_id"},
    features.DataSourceApplied: {"name", "kind", "uri", "table", "batch_source"},
    features.FeatureViewApplied: {"name", "version", "entities", "source", "features"},
    features.FeatureServiceApplied: {"name", "features", "feature_views"},
    features.FeatureDefinitionDeleted: {"kind", "name"},
    features.FeaturesMaterialized: {"feature_views", "start", "end", "rows", "job_id"},
    features.TrainingDatasetCreated: {
        "dataset_id",
        "name",
        "feature_service",
        "feature_views",
        "row_count",
        "uri",
        "job_id",
    },
    features.ValidationReportCreated: {"report_id", "feature_view", "kind", "outcome", "rows_checked", "rows_failed"},
    jobs.JobFailed: {"job_id", "kind", "params", "error", "attempts", "started_at"},
}


def test_dataset_inputs_carry_what_the_mapping_reads() -> None:
    declared = {field.name for field in msgspec.structs.fields(experiments.DatasetInput)}
    assert {"name", "digest", "source", "context"} <= declared


def test_the_failed_job_kinds_are_the_features_modules() -> None:
    from mlplatform.modules.features.services.jobs import HISTORICAL, MATERIALIZE, VALIDATE
    from mlplatform.modules.lineage.mapping.jobs import FAILED_JOB_KINDS

    assert {MATERIALIZE, HISTORICAL, VALIDATE} == FAILED_JOB_KINDS


def test_every_relied_on_event_is_subscribed_with_its_fields() -> None:
    subscribed = subscribed_event_types()
    for event_class, fields in RELIED_ON.items():
        assert event_class.event_type in subscribed, event_class.event_type
        assert event_class.event_type in GRAPH_HANDLERS, event_class.event_type
        declared = {field.name for field in msgspec.structs.fields(event_class)}
        assert fields <= declared, (event_class.event_type, fields - declared)


def test_the_static_list_matches_the_builders() -> None:
    assert set(ALL_BUILDERS) == OPENLINEAGE_EVENT_TYPES
    assert subscribed_event_types() >= OPENLINEAGE_EVENT_TYPES
