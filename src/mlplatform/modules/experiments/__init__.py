"""Experiments: MLflow's tracking server and model registry inside the platform, behind the gateway.

- `/mlflow/...`: MLflow's own REST API, ajax API, GraphQL, UI and proxied artifacts (`mount.py`),
  authorized per endpoint and project (`authz/`);
- `/api/v1/projects/{project}/experiments|runs/...`: the typed platform API (`controllers.py`);
- successful run completions and model-version creations become domain events (`observer.py`; events a
  crash lost are published later by `reconciler.py`), which the catalogue subscriber turns into catalogue
  model versions (`subscribers.py`).
MLflow is configured from the platform settings at start-up and imported on first use (`runtime.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.events import Subscriber
from mlplatform.kernel.health import HealthCheck
from mlplatform.kernel.module import Module
from mlplatform.modules.experiments.controllers import ExperimentsController, RunsController
from mlplatform.modules.experiments.mount import mlflow_server
from mlplatform.modules.experiments.purge import purge_project
from mlplatform.modules.experiments.startup import start_experiments, stop_experiments
from mlplatform.modules.experiments.state import experiments_state
from mlplatform.modules.experiments.subscribers import catalogue_sync_subscriber


def _health_checks(platform: PlatformContext) -> Sequence[HealthCheck]:
    async def probe() -> None:
        await experiments_state(platform).runtime.check()

    return [HealthCheck("mlflow", probe, required=False, timeout_seconds=5.0)]


def _subscribers(platform: PlatformContext) -> Sequence[Subscriber]:
    return [catalogue_sync_subscriber()]


module = Module(
    name="experiments",
    route_handlers=[mlflow_server, ExperimentsController, RunsController],
    subscribers=_subscribers,
    health_checks=_health_checks,
    on_startup=[start_experiments],
    on_shutdown=[stop_experiments],
    purge_project=purge_project,
    openapi_tags=[("experiments", "Experiment tracking (MLflow): experiments, runs, metrics, links to the catalogue.")],
)
