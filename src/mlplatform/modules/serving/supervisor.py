"""Keeps this replica's model workers in step with the live managed deployments.

Every round (`serving.reconcile_seconds`, and at once when a deployment of this replica changed) reads the
live managed deployments from the catalogue and:

- loads what is new or changed (another version, other serving options, the version a deployment that
  follows the production stage moves to) in the background: the model is
  located in the platform's MLflow, its workers start and warm up, and only then does the new pool take the
  traffic (one assignment: requests already running finish on the old pool, which drains and stops);
- reports the outcome to the catalogue: `active` once the workers answer, `failed` with the reason (a bad
  artifact, a missing library, the memory limit, a load timeout); for a move to another version, the swap
  (committed before the new pool takes the traffic) or why the deployment stays where it is;
- drains and stops the pools of deployments that are no longer live.

Each replica runs its own workers; the first to load a deployment makes it `active`.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import structlog

from mlplatform.kernel.background import PollingLoop
from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import PlatformError
from mlplatform.modules.catalogue.api import (
    ManagedDeployment,
    NextVersion,
    live_managed_deployments,
    report_managed_status,
    report_managed_swap,
)
from mlplatform.modules.experiments.api import locate_model
from mlplatform.modules.gateway.api import record_system_action
from mlplatform.modules.lineage.api import training_feature_services
from mlplatform.modules.serving.monitoring import Monitor
from mlplatform.modules.serving.served import Served, load_key
from mlplatform.modules.serving.workers.errors import ModelLoadFailed
from mlplatform.modules.serving.workers.pool import ModelWorkerPool, WorkerSpec

log = structlog.get_logger("mlplatform.serving")

ACTOR = "service:serving"
RouteKey = tuple[str, str, str]
"""(project, model, environment)."""


@dataclass(frozen=True)
class Loading:
    key: tuple[uuid.UUID, bytes]
    task: asyncio.Task[None]
    deployment: ManagedDeployment


class Supervisor:
    def __init__(self, platform: PlatformContext, monitor: Monitor) -> None:
        self.platform = platform
        self.monitor = monitor
        self.settings = platform.settings.serving
        self.served: dict[uuid.UUID, Served] = {}
        self.routes: dict[RouteKey, list[Served]] = {}
        self.shadows: dict[RouteKey, list[Served]] = {}
        self.mirrored: set[asyncio.Task[None]] = set()
        """Shadow predictions in flight (kept referenced until they end)."""
        self.failures: dict[uuid.UUID, tuple[tuple[uuid.UUID, bytes], str]] = {}
        self._loading: dict[uuid.UUID, Loading] = {}
        self._draining: set[asyncio.Task[None]] = set()
        self.loop = PollingLoop(
            "serving-supervisor",
            self.reconcile,
            interval=self.settings.reconcile_seconds,
            failure_event="serving_reconcile_failed",
        )

    async def start(self) -> None:
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()
        loading = list(self._loading.values())
        for load in loading:
            load.task.cancel()
        for load in loading:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await load.task
        self._loading.clear()
        pools = [served.pool for served in self.served.values()]
        self.served.clear()
        self.routes, self.shadows = {}, {}
        await asyncio.gather(*(pool.close(drain_timeout=self.settings.drain_seconds) for pool in pools))
        await asyncio.gather(*self._draining, return_exceptions=True)

    def wake(self) -> None:
        self.loop.wake()

    async def reconcile(self) -> None:
        async with self.platform.database.transaction() as session:
            live = await live_managed_deployments(session)
        wanted = {deployment.id: deployment for deployment in live}
        for deployment in live:
            self._want(deployment)
        for deployment_id in [d for d in self.served if d not in wanted]:
            self._retire(deployment_id)
        for deployment_id in [d for d in self._loading if d not in wanted]:
            self._loading.pop(deployment_id).task.cancel()
        self.failures = {d: failure for d, failure in self.failures.items() if d in wanted}
        self._route()

    def _want(self, deployment: ManagedDeployment) -> None:
        key = load_key(deployment)
        served = self.served.get(deployment.id)
        if served is not None and served.key == key:
            served.deployment = deployment  # a share or status change: no new workers
            return
        loading = self._loading.get(deployment.id)
        if loading is not None and loading.key == key:
            return
        failure = self.failures.get(deployment.id)
        if failure is not None and failure[0] == key and deployment.status != "pending":
            return  # it failed here and the catalogue knows; PATCH status=pending asks for another attempt
        if loading is not None:
            loading.task.cancel()
        task = asyncio.get_running_loop().create_task(self._load(deployment), name=f"serving-load-{deployment.id}")
        self._loading[deployment.id] = Loading(key=key, task=task, deployment=deployment)

    async def _load(self, deployment: ManagedDeployment) -> None:
        key, wanted = load_key(deployment), deployment.wanted
        pool: ModelWorkerPool | None = None
        try:
            async with asyncio.timeout(self.settings.load_timeout_seconds):
                location = await locate_model(self.platform, deployment.project, wanted.model_uri)
                options = deployment.serving
                pool = ModelWorkerPool(
                    WorkerSpec(
                        name=f"{deployment.id}:v{wanted.version}",
                        model_location=location.uri,
                        processes=options.processes,
                        memory_limit_mb=options.memory_limit_mb,
                        environment=location.environment,
                        max_batch_rows=options.max_rows,
                        load_timeout=self.settings.load_timeout_seconds,
                    )
                )
                info = await pool.start()
                feature_service = await self._feature_service(deployment, wanted)
        except (ModelLoadFailed, PlatformError, TimeoutError) as exc:
            reason = _reason(exc, self.settings.load_timeout_seconds)
            log.warning("serving_load_failed", deployment=str(deployment.id), version=wanted.version, reason=reason)
            if pool is not None:
                await pool.close(drain_timeout=0)
            self._loading.pop(deployment.id, None)
            self.failures[deployment.id] = (key, reason)
            if deployment.next is not None:
                await self._report_swap(deployment, reason)
            else:
                await self._report(deployment, "failed", reason)
            return
        except BaseException:
            if pool is not None:
                await asyncio.shield(pool.close(drain_timeout=0))
            raise
        self._loading.pop(deployment.id, None)
        self.failures.pop(deployment.id, None)
        if deployment.next is not None:
            if not await self._report_swap(deployment, None):
                await pool.close(drain_timeout=0)  # the deployment changed meanwhile: the next round decides
                return
            deployment = msgspec.structs.replace(
                deployment,
                version=wanted.version,
                version_id=wanted.version_id,
                model_uri=wanted.model_uri,
                feature_service=wanted.feature_service,
                next=None,
            )
        self._install(Served(deployment=deployment, pool=pool, info=info, feature_service=feature_service))
        log.info(
            "serving_loaded",
            deployment=str(deployment.id),
            version=wanted.version,
            seconds=round(info.load_seconds, 2),
            rss_mb=round(info.memory_rss_mb, 1),
        )
        if deployment.status == "pending":
            await self._report(deployment, "active", "")

    def _install(self, served: Served) -> None:
        """The new pool takes the traffic in one assignment; the one it replaces finishes what it holds."""
        previous = self.served.get(served.deployment.id)
        self.served[served.deployment.id] = served
        self._route()
        if previous is not None:
            self._drain(previous.pool)

    async def _report_swap(self, deployment: ManagedDeployment, failure: str | None) -> bool:
        """Record the move (or why it could not happen) with its audit row; True when the deployment now runs
        the version it moved to."""
        assert deployment.next is not None
        wanted = deployment.next
        try:
            async with self.platform.database.transaction() as session:
                outcome = await report_managed_swap(
                    session, deployment.id, to_version_id=wanted.version_id, failure=failure, actor=ACTOR
                )
                if outcome in ("swapped", "failed"):
                    record_system_action(
                        session,
                        actor=ACTOR,
                        action="serving.swap" if outcome == "swapped" else "serving.swap_failed",
                        project=deployment.project,
                        resource=f"deployment={deployment.id}",
                        detail=f"{deployment.model} version {deployment.version} -> {wanted.version}"
                        + (f": {failure}" if failure else ""),
                    )
        except Exception:
            log.exception("serving_report_failed", deployment=str(deployment.id), swap=True)
            return False
        return outcome in ("swapped", "already")

    async def _feature_service(self, deployment: ManagedDeployment, wanted: NextVersion) -> str | None:
        if wanted.feature_service is not None:
            return wanted.feature_service
        async with self.platform.database.transaction() as session:
            found = await training_feature_services(
                session, project=deployment.project, model=deployment.model, version=wanted.version
            )
        return found[0] if found else None

    async def _report(self, deployment: ManagedDeployment, status: str, reason: str) -> None:
        try:
            async with self.platform.database.transaction() as session:
                await report_managed_status(
                    session,
                    deployment.id,
                    version_id=deployment.version_id,
                    status="active" if status == "active" else "failed",
                    reason=reason,
                    actor=ACTOR,
                )
        except Exception:  # the next round reports again (the catalogue still says pending)
            log.exception("serving_report_failed", deployment=str(deployment.id), status=status)

    def _retire(self, deployment_id: uuid.UUID) -> None:
        served = self.served.pop(deployment_id)
        self._drain(served.pool)

    def _drain(self, pool: ModelWorkerPool) -> None:
        task = asyncio.get_running_loop().create_task(pool.close(drain_timeout=self.settings.drain_seconds))
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    def _route(self) -> None:
        routes: dict[RouteKey, list[Served]] = defaultdict(list)
        shadows: dict[RouteKey, list[Served]] = defaultdict(list)
        for served in sorted(self.served.values(), key=lambda s: str(s.deployment.id)):
            d = served.deployment
            (shadows if d.serving.shadow else routes)[(d.project, d.model, d.environment)].append(served)
        self.routes, self.shadows = dict(routes), dict(shadows)

    def candidates(self, project: str, model: str, environment: str) -> Sequence[Served]:
        return self.routes.get((project, model, environment), ())

    def shadows_of(self, project: str, model: str, environment: str) -> Sequence[Served]:
        return self.shadows.get((project, model, environment), ())

    def loading_any(self, project: str, model: str) -> bool:
        """Whether a deployment of the model is being loaded here (its predictions will come)."""
        return any(ld.deployment.project == project and ld.deployment.model == model for ld in self._loading.values())


def _reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"the model did not load within {timeout:g} s (serving.load_timeout_seconds)"
    if isinstance(exc, PlatformError):
        return str(exc.detail)
    return str(getattr(exc, "reason", exc))
