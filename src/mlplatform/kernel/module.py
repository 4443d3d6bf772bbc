"""How a module plugs into the app: one `Module` value per module, collected by `create_app`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler

    from mlplatform.kernel.context import PlatformContext
    from mlplatform.kernel.events import Subscriber
    from mlplatform.kernel.express import ExpressRoute
    from mlplatform.kernel.health import HealthCheck
    from mlplatform.kernel.jobs.hosting import JobRegistrar
    from mlplatform.kernel.jobs.http import JobAccess
    from mlplatform.kernel.openapi_problems import RouteAnswerSource
    from mlplatform.kernel.runtimes import ModuleRuntime

RuntimeFactory = Callable[["PlatformContext"], "ModuleRuntime"]
PurgeHook = Callable[["PlatformContext", str], Awaitable[Mapping[str, int]]]
"""`async def purge(platform, project) -> {"what": count, ...}`: remove everything the module keeps for a
deleted project (see `kernel/purge.py`). Idempotent: a retried purge finds less or nothing to remove."""


@dataclass(frozen=True)
class Module:
    """A module's contribution to the app. Nothing registers itself at import time: `create_app`
    reads these fields and wires them in order.

    - `runtime(ctx)`: builds the module's live objects (no I/O); `create_app` registers it in
      `ctx.runtimes`, starts it in module order and stops it in reverse (`kernel/runtimes.py`).
    - `route_handlers`: controllers/routers mounted on the app (a foreign ASGI app such as MLflow is mounted
      as a Litestar `asgi` handler among them).
    - `subscribers(ctx)`: outbox subscribers (built with the live context).
    - `health_checks(ctx)`: readiness probes the module adds.
    The other fields are documented where they are declared.
    """

    name: str
    runtime: RuntimeFactory | None = None
    route_handlers: Sequence[ControllerRouterHandler] = ()
    subscribers: Callable[[PlatformContext], Sequence[Subscriber]] | None = None
    health_checks: Callable[[PlatformContext], Sequence[HealthCheck]] | None = None
    middleware: Sequence[Any] = field(default_factory=tuple)
    """App-wide ASGI middleware factories (they see every routed request, in module order)."""
    dependencies: Mapping[str, Any] = field(default_factory=dict)
    """App-wide Litestar dependencies the module provides (e.g. the gateway's `principal`)."""
    openapi_tags: Sequence[tuple[str, str]] = ()
    """(name, description) of the OpenAPI tags the module's routes use."""
    jobs: Sequence[JobRegistrar] = ()
    """Register the module's job kinds in the kernel's jobs runtime (called once at start-up, after every
    module's runtime started); the kernel starts and stops the runtime and serves `/api/v1/jobs`."""
    job_access: JobAccess | None = None
    """From the identity module: guards and `JobScope` provider of the kernel's `/api/v1/jobs` routes."""
    express_routes: Callable[[PlatformContext], Sequence[ExpressRoute]] | None = None
    """High-volume routes whose common case is answered before Litestar's router (`kernel/express.py`);
    each also exists in `route_handlers`, which answers whatever the express handler declines."""
    route_answers: RouteAnswerSource | None = None
    """What the module's middleware answers on a route besides the route itself (statuses, headers), for the
    OpenAPI document (`kernel/openapi_problems.py`): e.g. the gateway's 401 and 429."""
    purge_project: PurgeHook | None = None
    """Remove what the module holds for a deleted project; run by the `kernel.purge_project` job, in reverse
    module order (the identity module, first, is purged last: that frees the project's name)."""
