"""The features module's public facade: what other modules (lineage, catalogue) may import.

Events arrive through the outbox as `StoredEvent`s; decode them with the classes below
(`stored.decode(TrainingDatasetCreated)`). Dataset records are plain DTOs. When another module needs the
features runtime, the function that looks it up goes here: no other module imports the runtime class.
`read_online_features` is the serving module's way to the online fast path (one pipelined Redis round trip).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlplatform.kernel.context import PlatformContext
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
from mlplatform.modules.features.runtime import FeaturesRuntime
from mlplatform.modules.features.schemas import Dataset, FeatureViewVersion, ValidationReport
from mlplatform.modules.features.services.online import online_features

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
    "read_online_features",
]


async def read_online_features(
    platform: PlatformContext, project: str, *, entities: Mapping[str, Sequence[Any]], feature_service: str
) -> dict[str, Any]:
    """The feature service's online features of the entity rows, as the online endpoint answers them (columnar:
    `metadata.feature_names`, then `results`, one vector per name, entity columns first, with `statuses`)."""
    return await online_features(
        platform.runtimes.get(FeaturesRuntime),
        project,
        entities=entities,
        feature_service=feature_service,
        features=(),
        full_feature_names=False,
    )
