"""Deleting a project: the `kernel.purge_project` job, which runs every module's `purge_project` hook.

The module owning projects (the gateway) tombstones a deleted project — it disappears from every check and
listing at once, its name stays taken — and submits this job in the same transaction. The job:

1. stops the project's own jobs (cancels them, waits until they ended: a running materialization would
   write again what the purge removes);
2. waits until every outbox event of the project reached its subscribers (a late delivery would re-create
   catalogue rows or lineage nodes);
3. runs the `purge_project` hooks of the modules, last module first, except the first module's;
4. removes the kernel's own rows of the project: ended job records and outbox events;
5. runs the first module's hook last: the gateway's removes the tombstone, which frees the name.

A project of the same name created afterwards therefore starts from nothing. Every step is idempotent, and a
step that cannot finish yet raises `PurgeNotReady`, which the job runner retries: the whole purge runs again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import structlog
from sqlalchemy import delete, func, select

from mlplatform.kernel.errors import Unavailable
from mlplatform.kernel.events.model import OutboxDelivery, OutboxEvent
from mlplatform.kernel.jobs.context import JobContext
from mlplatform.kernel.jobs.hosting import JobRegistrar
from mlplatform.kernel.jobs.model import ACTIVE_STATUSES, TERMINAL_STATUSES, KernelJob
from mlplatform.kernel.jobs.registry import JobDefinition, JobRegistry
from mlplatform.kernel.jobs.runtime import jobs_runtime
from mlplatform.kernel.module import Module, PurgeHook
from mlplatform.kernel.storage import ObjectStore

log = structlog.get_logger("mlplatform.purge")

PURGE_KIND = "kernel.purge_project"
WAIT_SECONDS = 1800.0
"""How long one attempt waits for the project's jobs to end and its events to be delivered."""
POLL_SECONDS = 0.5


class PurgeNotReady(RuntimeError):
    """The purge cannot finish yet (jobs still running, events still undelivered): retried later."""


def purge_registrar(modules: Sequence[Module]) -> JobRegistrar:
    """Registers the purge job over these modules' hooks (called by `create_app` with every hosted module)."""
    ordered = list(modules)
    early = _hooks(reversed(ordered[1:]))
    last = _hooks(ordered[:1])

    async def purge(ctx: JobContext) -> dict[str, Any]:
        return await run_purge(ctx, early, last)

    def register(registry: JobRegistry) -> None:
        registry.register(
            JobDefinition(
                kind=PURGE_KIND,
                function=purge,
                max_attempts=5,
                timeout_seconds=int(WAIT_SECONDS * 2) + 600,
                description="Removes everything a deleted project left in every module, then frees its name.",
            )
        )

    return register


async def run_purge(
    ctx: JobContext, early: Sequence[tuple[str, PurgeHook]], last: Sequence[tuple[str, PurgeHook]]
) -> dict[str, Any]:
    project = str(ctx.params["project"])
    ctx.report(0.02, f"stopping the jobs of {project!r}")
    await stop_project_jobs(ctx, project)
    ctx.report(0.1, f"waiting for the events of {project!r} to be delivered")
    await drain_project_events(ctx, project)
    latest = await latest_event_seq(ctx, project)
    removed: dict[str, Mapping[str, int]] = {}
    steps = len(early) + len(last) + 1
    for index, (name, hook) in enumerate(early):
        ctx.report(0.2 + 0.75 * index / steps, f"purging {name}")
        removed[name] = await run_hook(ctx, name, hook, project)
    if await latest_event_seq(ctx, project) != latest:
        # Something published an event of the project while the modules were purged: start over.
        raise PurgeNotReady(f"project {project!r} published events during its purge")
    ctx.report(0.2 + 0.75 * len(early) / steps, "purging the kernel's records")
    removed["kernel"] = await purge_kernel_rows(ctx, project)
    for name, hook in last:
        ctx.report(0.95, f"purging {name}")
        removed[name] = await run_hook(ctx, name, hook, project)
    log.info("project_purged", project=project, removed=removed)
    ctx.report(1.0, f"project {project!r} purged")
    return {"project": project, "removed": removed}


async def run_hook(ctx: JobContext, name: str, hook: PurgeHook, project: str) -> dict[str, int]:
    try:
        return dict(await hook(ctx.platform, project))
    except Unavailable as exc:
        # A dependency is down: not a reason to give up on the purge (other platform errors are).
        raise PurgeNotReady(f"{name}: {exc.detail}") from exc


async def stop_project_jobs(ctx: JobContext, project: str) -> None:
    """Cancel the project's queued and running jobs; return once none is active."""
    runtime = jobs_runtime(ctx.platform)
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while True:
        async with ctx.platform.database.transaction() as session:
            active = (
                await session.scalars(
                    select(KernelJob).where(
                        KernelJob.project == project,
                        KernelJob.status.in_([s.value for s in ACTIVE_STATUSES]),
                        KernelJob.id != ctx.job_id,
                    )
                )
            ).all()
            for job in active:
                if not job.cancel_requested:
                    await runtime.cancel(session, job.id)
        if not active:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise PurgeNotReady(f"{len(active)} job(s) of project {project!r} did not stop")
        ctx.report(0.05, f"waiting for {len(active)} job(s) of {project!r} to stop")
        await asyncio.sleep(POLL_SECONDS)


async def drain_project_events(ctx: JobContext, project: str) -> None:
    """Return once no event of the project waits for a subscriber (dead deliveries do not wait: they are
    removed with the events)."""
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while True:
        async with ctx.platform.database.sessionmaker() as session:
            unfanned = await session.scalar(
                select(func.count()).where(OutboxEvent.project == project, OutboxEvent.fanned_out.is_(False))
            )
            pending = await session.scalar(
                select(func.count())
                .select_from(OutboxDelivery)
                .join(OutboxEvent, OutboxEvent.seq == OutboxDelivery.event_seq)
                .where(OutboxEvent.project == project, OutboxDelivery.status == "pending")
            )
        waiting = (unfanned or 0) + (pending or 0)
        if not waiting:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise PurgeNotReady(f"{waiting} event delivery(ies) of project {project!r} still pending")
        if ctx.platform.dispatcher is not None:
            ctx.platform.dispatcher.wake()
        ctx.report(0.15, f"waiting for {waiting} event delivery(ies) of {project!r}")
        await asyncio.sleep(POLL_SECONDS)


async def latest_event_seq(ctx: JobContext, project: str) -> int:
    async with ctx.platform.database.sessionmaker() as session:
        return int(await session.scalar(select(func.max(OutboxEvent.seq)).where(OutboxEvent.project == project)) or 0)


async def purge_kernel_rows(ctx: JobContext, project: str) -> dict[str, int]:
    """The project's ended job records and its outbox events (their deliveries go with them)."""
    async with ctx.platform.database.transaction() as session:
        jobs = await session.execute(
            delete(KernelJob).where(
                KernelJob.project == project,
                KernelJob.status.in_([s.value for s in TERMINAL_STATUSES]),
                KernelJob.id != ctx.job_id,
            )
        )
        await session.execute(
            delete(OutboxDelivery).where(
                OutboxDelivery.event_seq.in_(select(OutboxEvent.seq).where(OutboxEvent.project == project))
            )
        )
        events = await session.execute(delete(OutboxEvent).where(OutboxEvent.project == project))
    return {"jobs": _count(jobs), "outbox_events": _count(events)}


async def delete_objects_under(store: ObjectStore, prefix: str) -> int:
    """Delete every object whose key starts with `prefix` (end it with `/` to mean a folder); returns how many."""
    removed = 0
    while True:
        batch: list[str] = []
        async with contextlib.aclosing(store.list(prefix)) as listing:
            async for info in listing:
                batch.append(info.key)
                if len(batch) >= 1000:
                    break
        if not batch:
            return removed
        for key in batch:
            await store.delete(key)
        removed += len(batch)


def _hooks(modules: Iterable[Module]) -> list[tuple[str, PurgeHook]]:
    return [(m.name, m.purge_project) for m in modules if m.purge_project is not None]


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
