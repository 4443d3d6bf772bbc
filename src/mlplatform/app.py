"""`create_app(settings)`: the one place where the platform is wired together."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial

import structlog
from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Tag
from litestar.plugins.prometheus import PrometheusConfig

from mlplatform import __version__
from mlplatform.kernel.allow_header import complete_allow_header
from mlplatform.kernel.context import PlatformContext, build_context
from mlplatform.kernel.dependencies import provide_db_session, provide_platform
from mlplatform.kernel.errors import EXCEPTION_HANDLERS
from mlplatform.kernel.events import Dispatcher
from mlplatform.kernel.express import express_middleware
from mlplatform.kernel.input_guard import input_guard_middleware
from mlplatform.kernel.jobs.hosting import start_jobs, stop_jobs
from mlplatform.kernel.jobs.http import TAG as JOBS_TAG
from mlplatform.kernel.jobs.http import jobs_router
from mlplatform.kernel.logging import configure_logging
from mlplatform.kernel.migrations import current_revisions, head_revisions, upgrade_async
from mlplatform.kernel.module import Module
from mlplatform.kernel.openapi_bodies import document_raw_bodies
from mlplatform.kernel.openapi_ids import operation_id
from mlplatform.kernel.openapi_problems import document_problems
from mlplatform.kernel.openapi_structs import ClosedStructSchemaPlugin
from mlplatform.kernel.openapi_unions import document_discriminators
from mlplatform.kernel.purge import purge_registrar
from mlplatform.kernel.request_context import request_id_middleware
from mlplatform.kernel.runtimes import ModuleRuntime
from mlplatform.kernel.shutdown import ShutdownSequence
from mlplatform.kernel.strict_body import strict_bodies
from mlplatform.kernel.system import SYSTEM_ROUTES
from mlplatform.settings import Settings

log = structlog.get_logger("mlplatform.app")

TAGS = [
    Tag(name="system", description="Health, readiness and metrics."),
    Tag(name=JOBS_TAG[0], description=JOBS_TAG[1]),
]


class StartupError(RuntimeError):
    """The platform cannot start; the message says what to do."""


def platform_modules() -> list[Module]:
    """The modules this build of the platform hosts, in start-up order."""
    from mlplatform.modules.catalogue import module as catalogue
    from mlplatform.modules.experiments import module as experiments
    from mlplatform.modules.features import module as features
    from mlplatform.modules.gateway import module as gateway
    from mlplatform.modules.lineage import module as lineage
    from mlplatform.modules.serving import module as serving

    return [gateway, catalogue, experiments, lineage, features, serving]


async def ensure_migrated(context: PlatformContext) -> None:
    heads = head_revisions(context.settings.resolved_database_url)
    current = await current_revisions(context.database)
    if current == heads:
        return
    if context.settings.should_auto_migrate:
        log.info("migrating", current=sorted(current), target=sorted(heads))
        await upgrade_async(context.settings.resolved_database_url, secrets=lambda: context.secrets)
        return
    raise StartupError(
        f"the database is not migrated (at {sorted(current) or 'nothing'}, code expects {sorted(heads)}): "
        "run `mlplatform migrate` first"
    )


def create_app(settings: Settings | None = None, *, modules: Sequence[Module] | None = None) -> Litestar:
    settings = settings or Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    chosen = list(platform_modules() if modules is None else modules)
    context = build_context(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await ensure_migrated(context)
        subscribers = [s for m in chosen if m.subscribers for s in m.subscribers(context)]
        dispatcher = Dispatcher(context.database, subscribers, settings.outbox)
        context.dispatcher = dispatcher
        context.database.on_commit(dispatcher.wake)
        for module in chosen:
            for check in module.health_checks(context) if module.health_checks else ():
                context.health.add(check)
        started: list[tuple[str, ModuleRuntime]] = []
        try:
            for module in chosen:
                if module.runtime is None:
                    continue
                runtime = module.runtime(context)
                context.runtimes.add(runtime)
                started.append((module.name, runtime))  # stopped even if its start fails half-way
                await runtime.start()
            await start_jobs(context, [purge_registrar(chosen), *(register for m in chosen for register in m.jobs)])
            dispatcher.start()
            log.info("started", modules=[m.name for m in chosen], database=context.database.dialect)
            yield
        finally:
            shutdown = ShutdownSequence(settings.server.component_stop_seconds)
            await shutdown.run("jobs", partial(stop_jobs, context))  # before the modules: running jobs use them
            await shutdown.run("outbox_dispatcher", dispatcher.stop)
            for name, runtime in reversed(started):
                await shutdown.run(name, runtime.stop)
                context.runtimes.discard(type(runtime))
            await shutdown.run("connections", context.close)

    module_routers = [Router(path="/", route_handlers=list(m.route_handlers)) for m in chosen if m.route_handlers]
    jobs_routes = jobs_router(next((m.job_access for m in chosen if m.job_access), None))
    cors = (
        CORSConfig(allow_origins=settings.http.cors_origins, allow_credentials=True, expose_headers=["X-Request-ID"])
        if settings.http.cors_origins
        else None
    )
    prometheus = PrometheusConfig(app_name="mlplatform", prefix="mlplatform", group_path=True, exclude=["/metrics"])
    app = Litestar(
        route_handlers=[*SYSTEM_ROUTES, jobs_routes, *module_routers],
        dependencies={
            "platform": Provide(provide_platform, sync_to_thread=False),
            "db_session": Provide(provide_db_session),
            **{name: dependency for m in chosen for name, dependency in m.dependencies.items()},
        },
        exception_handlers=EXCEPTION_HANDLERS,
        plugins=[ClosedStructSchemaPlugin()],
        # The input guard before the modules' middleware: no gateway, guard or handler sees refused input.
        middleware=[prometheus.middleware, input_guard_middleware, *(mw for m in chosen for mw in m.middleware)],
        lifespan=[lifespan],
        before_request=strict_bodies(),  # after the gateway and the guards: bodies as strict as the document
        before_send=[complete_allow_header],
        cors_config=cors,
        request_max_body_size=settings.http.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="mlplatform",
            version=__version__,
            description="Self-hosted ML platform: gateway, model catalogue, feature store, experiments, lineage.",
            tags=[*TAGS, *(Tag(name=n, description=d) for m in chosen for n, d in m.openapi_tags)],
            operation_id_creator=operation_id,
            use_handler_docstrings=True,
            render_plugins=[],
        ),
        state=None,
        debug=False,
        logging_config=None,
    )
    document_discriminators(app)
    document_raw_bodies(app)  # before the problems: a body the handler reads itself can be too large (413)
    document_problems(app, [m.route_answers for m in chosen if m.route_answers])
    express = [route for m in chosen if m.express_routes for route in m.express_routes(context)]
    # Outermost, so unknown routes and wrong methods (answered before route middleware) carry an id too.
    app.asgi_handler = request_id_middleware(
        express_middleware(
            app.asgi_handler,
            express if settings.http.express_routes else (),
            max_body_bytes=settings.http.max_body_bytes,
        ),
        access_log_sample_rate=settings.http.access_log_sample_rate,
        production=settings.is_production,
    )
    app.state.platform = context
    app.state.settings = settings
    return app
