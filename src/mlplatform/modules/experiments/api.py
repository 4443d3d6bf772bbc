"""The experiments module's public facade: the only thing other modules (and the CLI) import.

- Events published through the outbox: `RunFinished`, `ModelVersionCreated` (an MLflow registry
  version; the catalogue subscriber of this module registers it in the catalogue), `RunLinked`.
- How MLflow objects map to projects: `PROJECT_TAG`, `project_of_experiment_name`,
  `project_of_model_name`.
- `upgrade_mlflow_schema(settings)`: MLflow's own migrations, for `mlplatform migrate`.
"""

from __future__ import annotations

from mlplatform.modules.experiments.authz.projects import (
    PROJECT_TAG,
    project_of_experiment_name,
    project_of_model_name,
)
from mlplatform.modules.experiments.events import ModelVersionCreated, RunFinished, RunLinked
from mlplatform.modules.experiments.migrations import upgrade_mlflow_schema

__all__ = [
    "PROJECT_TAG",
    "ModelVersionCreated",
    "RunFinished",
    "RunLinked",
    "project_of_experiment_name",
    "project_of_model_name",
    "upgrade_mlflow_schema",
]
