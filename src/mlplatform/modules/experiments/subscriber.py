"""Catalogue sync: every MLflow model version created becomes a catalogue model version.

The handler runs in the outbox delivery's transaction, and the catalogue's registration is
idempotent on (project, model, MLflow version), so a delivery retried after a crash, or an event
published twice, still yields exactly one catalogue version.
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.errors import Invalid
from mlplatform.kernel.events import StoredEvent, Subscriber
from mlplatform.modules.catalogue.api import ModelVersionRef, register_external_version
from mlplatform.modules.experiments.events import ModelVersionCreated

log = structlog.get_logger("mlplatform.experiments")

SYSTEM_ACTOR = "system:experiments"


async def sync_model_version(session: AsyncSession, stored: StoredEvent) -> None:
    event = stored.decode(ModelVersionCreated)
    if event.project is None:
        return
    if not event.run_id:
        # The catalogue tracks versions produced by runs; a version registered from a bare artifact URI
        # has no run to point at.
        log.info("catalogue_sync_skipped_no_run", model=event.registered_model, version=event.version)
        return
    try:
        async with session.begin_nested():  # a refusal leaves nothing half-written behind
            ref = await _register(session, stored.actor or SYSTEM_ACTOR, event.project, event.run_id, event)
    except Invalid as exc:
        # Permanent: the catalogue will refuse this version however often it is retried (e.g. an MLflow
        # model name with characters catalogue names do not allow). Recorded, not retried.
        log.warning("catalogue_sync_rejected", model=event.registered_model, version=event.version, reason=exc.detail)
        return
    log.info(
        "catalogue_version_synced",
        project=ref.project,
        model=ref.model,
        version=ref.version,
        mlflow_version=event.version,
        created=ref.created,
    )


async def _register(
    session: AsyncSession, actor: str, project: str, run_id: str, event: ModelVersionCreated
) -> ModelVersionRef:
    return await register_external_version(
        session,
        project=project,
        model_name=event.model,
        source_run_id=run_id,
        model_uri=event.model_uri,
        mlflow_version=str(event.version),
        metrics=event.metrics,
        params=event.params,
        actor=actor,
        tags={k: v for k, v in event.tags.items() if not k.startswith("mlflow.")} or None,
        description=event.description or "",
    )


def catalogue_sync_subscriber() -> Subscriber:
    return Subscriber(
        name="experiments.catalogue_sync",
        handler=sync_model_version,
        event_types=frozenset({ModelVersionCreated.event_type}),
    )
