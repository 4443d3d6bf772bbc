"""Module start-up: configure MLflow from the settings (no import yet) and build the module's objects."""

from __future__ import annotations

import os

from mlplatform.kernel.context import PlatformContext
from mlplatform.modules.experiments.authz.gate import MlflowGate
from mlplatform.modules.experiments.authz.production import ProductionGuard
from mlplatform.modules.experiments.authz.projects import ProjectResolver
from mlplatform.modules.experiments.config import mlflow_config
from mlplatform.modules.experiments.observer import OutboxEventSink
from mlplatform.modules.experiments.reconciler import EventReconciler
from mlplatform.modules.experiments.runtime import MlflowRuntime
from mlplatform.modules.experiments.snapshots import EventBuilder
from mlplatform.modules.experiments.state import STATE_KEY, ExperimentsState
from mlplatform.modules.gateway.api import ProjectDirectory, find_project_directory


class _NoDirectory:
    """Without the gateway there is no principal, so no request gets far enough to ask."""

    async def exists(self, project: str) -> bool:
        return False


async def start_experiments(platform: PlatformContext) -> None:
    """Apply MLflow's environment; in production also import MLflow right away, in the background,
    so the first `/mlflow` request does not pay the ~4 s import (development and tests import lazily).
    The event reconciler starts its rounds once MLflow is loaded."""
    config = mlflow_config(platform.settings)
    # Before anything in this process (a job in `mlplatform worker`, too) imports MLflow and its telemetry client.
    os.environ.update(config.telemetry_environment())
    runtime = MlflowRuntime(config, preload=platform.settings.is_production)
    await runtime.start()
    resolver = ProjectResolver(runtime)
    builder = EventBuilder(runtime, config.artifact_destination)
    events = OutboxEventSink(platform.database, runtime, builder)
    reconciler = EventReconciler(platform.database, runtime, builder, platform.settings.experiments)

    def projects() -> ProjectDirectory:
        directory = find_project_directory(platform)
        return _NoDirectory() if directory is None else directory

    gate = MlflowGate(
        runtime,
        resolver,
        events,
        projects,
        max_body_bytes=max(platform.settings.http.max_body_bytes, 64 * 1024 * 1024),
        trusted_origins=tuple(platform.settings.http.cors_origins),
        production=ProductionGuard(platform.database),
    )
    platform.extras[STATE_KEY] = ExperimentsState(config, runtime, resolver, events, gate, reconciler)
    reconciler.start()


async def stop_experiments(platform: PlatformContext) -> None:
    state = platform.extras.pop(STATE_KEY, None)
    if isinstance(state, ExperimentsState):
        await state.reconciler.stop()
        await state.runtime.stop()
