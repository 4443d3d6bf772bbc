"""What one replica serves: a managed deployment with its warm model worker pool."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import msgspec

from mlplatform.modules.catalogue.api import ManagedDeployment
from mlplatform.modules.serving.workers.pool import ModelInfo, ModelWorkerPool


def load_key(deployment: ManagedDeployment) -> tuple[uuid.UUID, bytes]:
    """Two deployment states with the same key run the same workers: same version, same serving options.
    Anything else (the version a following deployment moves to, more processes ...) needs a new pool, warmed
    before it takes over."""
    return deployment.wanted.version_id, msgspec.json.encode(deployment.serving)


@dataclass
class Served:
    """A deployment this replica answers for (its pool is warm)."""

    deployment: ManagedDeployment
    pool: ModelWorkerPool
    info: ModelInfo
    feature_service: str | None
    """The feature service joined for entity keys: the deployment's option, the version's own, else the one
    lineage says its training data came from."""

    @property
    def key(self) -> tuple[uuid.UUID, bytes]:
        return load_key(self.deployment)
