"""The features module's public facade: what other modules (lineage, catalogue) may import.

Events arrive through the outbox as `StoredEvent`s; decode them with the classes below
(`stored.decode(TrainingDatasetCreated)`). Dataset records are plain DTOs. When another module needs the
features runtime (the coming serving module, to read online features), the function that looks it up
goes here: no other module imports the runtime class.
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

__all__ = [
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
