"""Builders of test data shared by the test suites: one per thing built, grouped by module."""

from __future__ import annotations

from typing import Any

from mlplatform.kernel.db import Database
from mlplatform.modules.catalogue import schemas
from mlplatform.modules.catalogue.rules import Stage
from mlplatform.modules.catalogue.services.lifecycle import LifecycleService
from mlplatform.modules.catalogue.services.models import NewVersion

# catalogue

CATALOGUE_STAGE_PATH: tuple[Stage, ...] = ("validated", "staging", "production")
"""The stages a version walks through, in order, to reach the one a test asks for."""


async def catalogue_model(
    database: Database,
    project: str,
    name: str,
    *,
    versions: int = 0,
    stage: Stage | None = None,
    actor: str = "user:alice",
    **fields: Any,
) -> schemas.Model:
    """A catalogue model (`fields` are `ModelCreate` fields) with `versions` versions numbered from 1, whose
    model URIs are `s3://b/<name>/<number>`; with `stage`, each version is moved along registered →
    validated → staging → production until it reaches `stage` (so at most the last one ends in production).
    Committed in one transaction, as `actor`."""
    stages = CATALOGUE_STAGE_PATH[: CATALOGUE_STAGE_PATH.index(stage) + 1] if stage is not None else ()
    async with database.transaction() as session:
        lifecycle = LifecycleService(session, actor)
        # Built without msgspec's validation: the service's own checks of the fields are what a test sees.
        model = await lifecycle.models.create_model(project, schemas.ModelCreate(name=name, **fields))
        for number in range(1, versions + 1):
            await lifecycle.models.create_version(project, name, NewVersion(model_uri=f"s3://b/{name}/{number}"))
            for target in stages:
                await lifecycle.request_transition(
                    project, name, number, schemas.TransitionCreate(to_stage=target), if_match=None
                )
    return model
