"""Catalogue: models, versions, lifecycle with approvals, deployments, monitoring and search."""

from __future__ import annotations

from mlplatform.kernel.module import Module
from mlplatform.modules.catalogue.controllers.deployments import DeploymentController
from mlplatform.modules.catalogue.controllers.lifecycle import VersionLifecycleController
from mlplatform.modules.catalogue.controllers.models import ModelController, search_model_versions
from mlplatform.modules.catalogue.purge import purge_project

module = Module(
    name="catalogue",
    route_handlers=[ModelController, VersionLifecycleController, search_model_versions, DeploymentController],
    purge_project=purge_project,
    openapi_tags=[
        (
            "catalogue",
            "Model catalogue: models, versions, validations, stage transitions with approvals, "
            "deployments and monitoring.",
        )
    ],
)
