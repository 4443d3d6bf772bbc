"""Features: a Feast-backed feature store (definitions, push with validation, materialization, online
serving on a direct Redis read path, point-in-time training sets). Its long work runs as kernel jobs."""

from __future__ import annotations

from collections.abc import Sequence

from litestar.di import Provide

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.health import HealthCheck
from mlplatform.kernel.module import Module
from mlplatform.modules.features.adapters.store import REGISTRY_STORE
from mlplatform.modules.features.connections.controllers import CONNECTION_CONTROLLERS
from mlplatform.modules.features.controllers.data import DATA_HANDLERS
from mlplatform.modules.features.controllers.definitions import DEFINITION_CONTROLLERS
from mlplatform.modules.features.controllers.files import FILE_HANDLERS
from mlplatform.modules.features.controllers.serving import SERVING_HANDLERS
from mlplatform.modules.features.purge import purge_project
from mlplatform.modules.features.runtime import RUNTIME_KEY, FeaturesRuntime, features_runtime
from mlplatform.modules.features.services.jobs import register_jobs
from mlplatform.modules.features.serving.express import express_routes


async def start_features(platform: PlatformContext) -> None:
    runtime = FeaturesRuntime.create(platform)
    platform.extras[RUNTIME_KEY] = runtime
    await runtime.start()


async def stop_features(platform: PlatformContext) -> None:
    runtime = platform.extras.pop(RUNTIME_KEY, None)
    if isinstance(runtime, FeaturesRuntime):
        await runtime.stop()


def provide_features(platform: PlatformContext) -> FeaturesRuntime:
    """Injected as `features_runtime`. Not `features`: Litestar answers 500 to a body whose invalid
    top-level field has the name of a dependency, and `features` is a field of several request bodies."""
    return features_runtime(platform)


def health_checks(platform: PlatformContext) -> Sequence[HealthCheck]:
    async def registry() -> None:
        runtime = features_runtime(platform)
        if not runtime.feast_loaded:
            raise RuntimeError("Feast is still loading (first seconds after start)")
        await runtime.gateway.run(
            lambda: runtime.gateway.store(REGISTRY_STORE).registry.list_projects(allow_cache=False)
        )

    async def registry_port() -> None:
        features_runtime(platform).registry_endpoint.check()

    return [
        HealthCheck("feature_registry", registry, required=False, timeout_seconds=10.0),
        HealthCheck("feast_registry_endpoint", registry_port, required=False),
    ]


module = Module(
    name="features",
    route_handlers=[
        *DEFINITION_CONTROLLERS,
        *SERVING_HANDLERS,
        *DATA_HANDLERS,
        *FILE_HANDLERS,
        *CONNECTION_CONTROLLERS,
    ],
    health_checks=health_checks,
    on_startup=[start_features],
    on_shutdown=[stop_features],
    jobs=[register_jobs],
    express_routes=express_routes,
    purge_project=purge_project,
    dependencies={"features_runtime": Provide(provide_features, sync_to_thread=False)},
    openapi_tags=[
        ("features", "Feature store: definitions, online serving, pushes, materialization, training sets."),
        ("files", "The project's folder of the object store: parquet data for sources and training sets."),
        ("connections", "External data connections (PostgreSQL, S3) granted to projects for their data sources."),
    ],
)
