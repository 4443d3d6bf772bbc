"""Litestar providers of the features module's routes."""

from __future__ import annotations

from mlplatform.kernel.context import PlatformContext
from mlplatform.modules.features.runtime import FeaturesRuntime, features_runtime
from mlplatform.modules.features.services.definitions import DefinitionService


def provide_features(platform: PlatformContext) -> FeaturesRuntime:
    """Injected as `features_runtime`. Not `features`: Litestar answers 500 to a body whose invalid
    top-level field has the name of a dependency, and `features` is a field of several request bodies."""
    return features_runtime(platform)


def provide_definitions(features_runtime: FeaturesRuntime) -> DefinitionService:
    return DefinitionService(features_runtime)
