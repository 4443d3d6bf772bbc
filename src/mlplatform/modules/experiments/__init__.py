"""Experiments: MLflow's tracking server and model registry inside the platform, behind the gateway.

- `/mlflow/...`: MLflow's own REST API, ajax API, GraphQL, UI and proxied artifacts (`hosting/mount.py`),
  authorized per endpoint and project (`authz/`);
- `/api/v1/projects/{project}/experiments|runs/...`: the typed platform API (`controllers.py`);
- successful run completions and model-version creations become domain events (`observer.py`; events a
  crash lost are published later by `reconciler.py`), which the catalogue subscriber turns into catalogue
  model versions (`subscriber.py`).
MLflow is configured from the platform settings at start-up and imported on first use (`runtime.py`;
how MLflow is hosted: `hosting/`).
"""

from __future__ import annotations

from mlplatform.kernel.module import Module
from mlplatform.modules.experiments.controllers import ExperimentsController, RunsController
from mlplatform.modules.experiments.hosting.mount import mlflow_server
from mlplatform.modules.experiments.purge import purge_project
from mlplatform.modules.experiments.runtime import build_runtime, health_checks
from mlplatform.modules.experiments.subscriber import catalogue_sync_subscriber

module = Module(
    name="experiments",
    runtime=build_runtime,
    route_handlers=[mlflow_server, ExperimentsController, RunsController],
    subscribers=lambda platform: [catalogue_sync_subscriber()],
    health_checks=health_checks,
    purge_project=purge_project,
    openapi_tags=[("experiments", "Experiment tracking (MLflow): experiments, runs, metrics, links to the catalogue.")],
)
