"""Features: a Feast-backed feature store (definitions, push with validation, materialization, online
serving on a direct Redis read path, point-in-time training sets). Its long work runs as kernel jobs."""

from __future__ import annotations

from litestar.di import Provide

from mlplatform.kernel.module import Module
from mlplatform.modules.features.connections.controllers import CONNECTION_CONTROLLERS
from mlplatform.modules.features.controllers.data import DATA_HANDLERS
from mlplatform.modules.features.controllers.definitions import DEFINITION_CONTROLLERS
from mlplatform.modules.features.controllers.dependencies import provide_features
from mlplatform.modules.features.controllers.express import express_routes
from mlplatform.modules.features.controllers.files import FILE_HANDLERS
from mlplatform.modules.features.controllers.online import ONLINE_HANDLERS
from mlplatform.modules.features.controllers.push import PUSH_HANDLERS
from mlplatform.modules.features.purge import purge_project
from mlplatform.modules.features.runtime import build_runtime, health_checks
from mlplatform.modules.features.services.jobs import register_jobs

module = Module(
    name="features",
    runtime=build_runtime,
    route_handlers=[
        *DEFINITION_CONTROLLERS,
        *ONLINE_HANDLERS,
        *PUSH_HANDLERS,
        *DATA_HANDLERS,
        *FILE_HANDLERS,
        *CONNECTION_CONTROLLERS,
    ],
    health_checks=health_checks,
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
