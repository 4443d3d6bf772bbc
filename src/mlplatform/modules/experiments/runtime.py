"""The experiments module's live objects for one app: MLflow's host, the gate in front of `/mlflow`, the
event observer and the reconciler.

Built without I/O (`build_runtime`); `start()` applies MLflow's environment and, in production, starts
loading MLflow in the background so the first `/mlflow` request does not pay the ~4 s import (development
and tests load it lazily, `hosting/host.py`). The event reconciler starts its rounds once MLflow is loaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.health import HealthCheck
from mlplatform.modules.experiments.authz.gate import MlflowGate
from mlplatform.modules.experiments.authz.production import ProductionGuard
from mlplatform.modules.experiments.authz.projects import ProjectResolver
from mlplatform.modules.experiments.hosting.config import MlflowConfig, mlflow_config
from mlplatform.modules.experiments.hosting.host import MlflowHost
from mlplatform.modules.experiments.observer import OutboxEventSink
from mlplatform.modules.experiments.reconciler import EventReconciler
from mlplatform.modules.experiments.snapshots import EventBuilder
from mlplatform.modules.gateway.api import ProjectDirectory, find_project_directory


class _NoDirectory:
    """Without the gateway there is no principal, so no request gets far enough to ask."""

    async def exists(self, project: str) -> bool:
        return False


class ExperimentsRuntime:
    component = "mlflow"

    def __init__(self, platform: PlatformContext) -> None:
        settings = platform.settings
        self.config: MlflowConfig = mlflow_config(settings)
        self.mlflow = MlflowHost(self.config, preload=settings.is_production)
        self.resolver = ProjectResolver(self.mlflow)
        builder = EventBuilder(self.mlflow, self.config.artifact_destination)
        self.events = OutboxEventSink(platform.database, self.mlflow, builder)
        self.reconciler = EventReconciler(platform.database, self.mlflow, builder, settings.experiments)

        def projects() -> ProjectDirectory:
            directory = find_project_directory(platform)
            return _NoDirectory() if directory is None else directory

        self.gate = MlflowGate(
            self.mlflow,
            self.resolver,
            self.events,
            projects,
            max_body_bytes=max(settings.http.max_body_bytes, 64 * 1024 * 1024),
            trusted_origins=tuple(settings.http.cors_origins),
            production=ProductionGuard(platform.database),
        )

    async def start(self) -> None:
        # Before anything in this process (a job in `mlplatform worker`, too) imports MLflow and its telemetry client.
        os.environ.update(self.config.telemetry_environment())
        await self.mlflow.start()
        self.reconciler.start()

    async def stop(self) -> None:
        await self.reconciler.stop()
        await self.mlflow.stop()


def build_runtime(platform: PlatformContext) -> ExperimentsRuntime:
    return ExperimentsRuntime(platform)


def health_checks(platform: PlatformContext) -> Sequence[HealthCheck]:
    async def probe() -> None:
        await platform.runtimes.get(ExperimentsRuntime).mlflow.check()

    return [HealthCheck("mlflow", probe, required=False, timeout_seconds=5.0)]
