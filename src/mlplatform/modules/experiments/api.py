"""The experiments module's public facade: the only thing other modules (and the CLI) import.

- Events published through the outbox (decode with `stored.decode(...)`): `RunFinished` (with its
  `DatasetInput`s), `ModelVersionCreated` (an MLflow registry version; the catalogue subscriber of this
  module registers it in the catalogue), `RunLinked`.
- How MLflow objects map to projects: `PROJECT_TAG`, `project_of_experiment_name`,
  `project_of_model_name`.
- `upgrade_mlflow_schema(settings)`: MLflow's own migrations, for `mlplatform migrate`.
- `locate_model(platform, project, model_uri)`: where a project's MLflow model is stored (an `s3://` URI or a
  folder) and the variables a process needs to read it, for the serving module's model workers.
- `check_model_source(platform, project, run_id=..., model_uri=...)`: for the catalogue, whether a
  version's source run and URI are the project's own (422 `Invalid` if not).
"""

from __future__ import annotations

from mlplatform.kernel.context import PlatformContext
from mlplatform.modules.experiments.authz.projects import (
    PROJECT_TAG,
    project_of_experiment_name,
    project_of_model_name,
)
from mlplatform.modules.experiments.events import DatasetInput, ModelVersionCreated, RunFinished, RunLinked
from mlplatform.modules.experiments.hosting.migrations import upgrade_mlflow_schema
from mlplatform.modules.experiments.model_location import ModelLocation, ModelLocator
from mlplatform.modules.experiments.sources import ModelSources

__all__ = [
    "PROJECT_TAG",
    "DatasetInput",
    "ModelLocation",
    "ModelVersionCreated",
    "RunFinished",
    "RunLinked",
    "check_model_source",
    "locate_model",
    "project_of_experiment_name",
    "project_of_model_name",
    "upgrade_mlflow_schema",
]


async def check_model_source(platform: PlatformContext, project: str, *, run_id: str | None, model_uri: str) -> None:
    """Raise `Invalid` (422) unless `run_id` (when given) is a run of `project` and `model_uri`, when it names
    a platform location (`runs:/`, `models:/`, `mlflow-artifacts:/`, the object store, the data folder), is
    one of `project`'s MLflow objects. Other and missing objects are refused alike ("not found in project")."""
    await _sources(platform).check(project, run_id=run_id, model_uri=model_uri)


async def locate_model(platform: PlatformContext, project: str, model_uri: str) -> ModelLocation:
    """Where `project`'s model `model_uri` is stored; `Invalid` (422) when it is not the project's or not in the
    platform's MLflow."""
    from mlplatform.modules.experiments.runtime import ExperimentsRuntime

    runtime = platform.runtimes.get(ExperimentsRuntime)
    return await ModelLocator(runtime.mlflow, runtime.config, _sources(platform)).locate(project, model_uri)


def _sources(platform: PlatformContext) -> ModelSources:
    # Imported here: the runtime reaches the catalogue's api (production policy), whose package imports this
    # facade (its controllers check model sources), so a module-level import would close that cycle.
    from mlplatform.modules.experiments.runtime import ExperimentsRuntime

    runtime = platform.runtimes.get(ExperimentsRuntime)
    return ModelSources(
        runtime.resolver,
        artifact_destination=runtime.config.artifact_destination,
        store_root=platform.settings.resolved_storage_url,
        data_dir=platform.settings.data_dir,
    )
