"""The features module's public facade: what other modules (lineage, catalogue) may import.

Events arrive through the outbox as `StoredEvent`s; decode them with the classes below
(`stored.decode(TrainingDatasetCreated)`). Dataset records are plain DTOs. When another module needs the
features runtime, the function that looks it up goes here: no other module imports the runtime class.
`read_online_features` is the serving module's way to the online fast path (one pipelined Redis round trip).
`feature_view_versions` and `training_datasets` are the catalogue's skew guard's: a view's current version
fingerprint, and the fingerprints a dataset recorded when it was built (`Dataset.feature_views`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

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
from mlplatform.modules.features.services.versions import current_view_versions, datasets_by_id

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
    "feature_view_versions",
    "read_online_features",
    "training_datasets",
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


async def feature_view_versions(platform: PlatformContext, project: str) -> dict[str, str]:
    """Feature view name → the version fingerprint of its current definition (the registry is read in a worker
    thread). A 503 naming `feast` when the features module does not run in this process."""
    return await current_view_versions(platform.runtimes.get(FeaturesRuntime), project)


async def training_datasets(session: AsyncSession, project: str, ids: Sequence[str]) -> list[Dataset]:
    """The project's training dataset records among `ids` (in that order; unknown ids skipped), each with the
    version of every feature view it read when it was built (`feature_views`)."""
    return await datasets_by_id(session, project, ids)
