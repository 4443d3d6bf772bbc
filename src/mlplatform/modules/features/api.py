"""The features module's public facade: what other modules (lineage, catalogue) may import.

Events arrive through the outbox as `StoredEvent`s; decode them with the classes below
(`stored.decode(TrainingDatasetCreated)`). Dataset records are plain DTOs.
"""

from __future__ import annotations

from mlplatform.modules.features.events import (
    ConnectionChanged,
    ConnectionGrantChanged,
    DataSourceApplied,
    EntityApplied,
    FeatureDefinitionDeleted,
    FeatureServiceApplied,
    FeaturesMaterialized,
    FeaturesPushed,
    FeatureViewApplied,
    TrainingDatasetCreated,
    ValidationReportCreated,
)
from mlplatform.modules.features.schemas import Dataset, FeatureViewVersion, ValidationReport

EVENT_TYPES = frozenset(
    cls.event_type
    for cls in (
        EntityApplied,
        DataSourceApplied,
        FeatureViewApplied,
        FeatureServiceApplied,
        FeatureDefinitionDeleted,
        FeaturesPushed,
        FeaturesMaterialized,
        TrainingDatasetCreated,
        ValidationReportCreated,
        ConnectionChanged,
        ConnectionGrantChanged,
    )
)
"""Every event type this module publishes."""

__all__ = [
    "EVENT_TYPES",
    "ConnectionChanged",
    "ConnectionGrantChanged",
    "DataSourceApplied",
    "Dataset",
    "EntityApplied",
    "FeatureDefinitionDeleted",
    "FeatureServiceApplied",
    "FeatureViewApplied",
    "FeatureViewVersion",
    "FeaturesMaterialized",
    "FeaturesPushed",
    "TrainingDatasetCreated",
    "ValidationReport",
    "ValidationReportCreated",
]
