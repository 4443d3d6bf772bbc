"""Domain events of the features module (the lineage module turns them into graph edges)."""

from __future__ import annotations

from typing import ClassVar

from mlplatform.kernel.events import DomainEvent


class EntityApplied(DomainEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "EntityApplied"
    aggregate_type: ClassVar[str] = "feature_entity"
    name: str
    join_key: str


class DataSourceApplied(DomainEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "DataSourceApplied"
    aggregate_type: ClassVar[str] = "feature_data_source"
    name: str
    kind: str
    uri: str | None = None
    table: str | None = None
    batch_source: str | None = None
    connection: str | None = None


class FeatureViewApplied(DomainEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "FeatureViewApplied"
    aggregate_type: ClassVar[str] = "feature_view"
    name: str
    version: str
    entities: list[str]
    source: str
    features: list[str]


class FeatureServiceApplied(DomainEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "FeatureServiceApplied"
    aggregate_type: ClassVar[str] = "feature_service"
    name: str
    features: list[str]
    feature_views: list[str]


class FeatureDefinitionDeleted(DomainEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "FeatureDefinitionDeleted"
    aggregate_type: ClassVar[str] = "feature_definition"
    kind: str
    """entity, data_source, feature_view or feature_service."""
    name: str


class FeaturesPushed(DomainEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "FeaturesPushed"
    aggregate_type: ClassVar[str] = "feature_data_source"
    push_source: str
    rows: int
    to: str
    feature_views: list[str]


class FeaturesMaterialized(DomainEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "FeaturesMaterialized"
    aggregate_type: ClassVar[str] = "feature_view"
    feature_views: list[str]
    start: str | None
    end: str
    rows: int
    job_id: str


class TrainingDatasetCreated(DomainEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "TrainingDatasetCreated"
    aggregate_type: ClassVar[str] = "training_dataset"
    dataset_id: str
    name: str | None
    feature_service: str | None
    feature_views: list[dict[str, str]]
    """[{"name": ..., "version": ...}]"""
    row_count: int
    uri: str
    job_id: str | None


class ValidationReportCreated(DomainEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "ValidationReportCreated"
    aggregate_type: ClassVar[str] = "feature_view"
    report_id: str
    feature_view: str
    kind: str
    outcome: str
    rows_checked: int
    rows_failed: int


class ConnectionChanged(DomainEvent, frozen=True, kw_only=True):
    """A platform admin registered, replaced or deleted an external data connection (never its credentials)."""

    event_type: ClassVar[str] = "ConnectionChanged"
    aggregate_type: ClassVar[str] = "data_connection"
    name: str
    kind: str
    change: str
    """created, replaced or deleted."""


class ConnectionGrantChanged(DomainEvent, frozen=True, kw_only=True):
    """A connection was granted to or revoked from a project (`project`)."""

    event_type: ClassVar[str] = "ConnectionGrantChanged"
    aggregate_type: ClassVar[str] = "data_connection"
    name: str
    change: str
    """granted or revoked."""
