"""The typed experiments API: what platform clients need without the MLflow client.

Reads need the viewer role in the project, linking a run to a catalogue version the contributor role.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, delete, get, post
from litestar.di import Provide
from litestar.openapi import ResponseSpec
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.constraints import parameter_of
from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import Conflict
from mlplatform.kernel.page_parameters import PageCursor, PageLimit
from mlplatform.kernel.pagination import Page
from mlplatform.modules.experiments import schemas
from mlplatform.modules.experiments.runtime import ExperimentsRuntime
from mlplatform.modules.experiments.services import RunLinkService, TrackingService
from mlplatform.modules.gateway.api import Principal, Role, requires_role

PROJECT_PATH = "/api/v1/projects/{project:str}"
ExperimentIdPath = Annotated[str, parameter_of(schemas.ExperimentId)]


def provide_tracking(project: str, platform: PlatformContext) -> TrackingService:
    return TrackingService(platform.runtimes.get(ExperimentsRuntime).mlflow, project)


def provide_links(db_session: AsyncSession, tracking: TrackingService, principal: Principal) -> RunLinkService:
    return RunLinkService(db_session, tracking, principal.subject)


class ExperimentsController(Controller):
    path = PROJECT_PATH
    tags = ["experiments"]
    dependencies = {"tracking": Provide(provide_tracking, sync_to_thread=False)}

    @get("/experiments", guards=[requires_role(Role.VIEWER)], summary="List or search the project's experiments")
    async def list_experiments(
        self,
        tracking: TrackingService,
        q: str | None = Parameter(default=None, description="Only experiments whose name contains this text."),
        include_deleted: bool = False,
        limit: PageLimit = None,
        cursor: PageCursor = None,
    ) -> Page[schemas.Experiment]:
        """Newest activity first. These are the MLflow experiments named `<project>/...`."""
        return await tracking.list_experiments(
            name_contains=q, include_deleted=include_deleted, limit=limit, cursor=cursor
        )

    @get("/experiments/{experiment_id:str}", guards=[requires_role(Role.VIEWER)], summary="One experiment")
    async def get_experiment(self, tracking: TrackingService, experiment_id: ExperimentIdPath) -> schemas.Experiment:
        return await tracking.get_experiment(experiment_id)

    @get(
        "/experiments/{experiment_id:str}/runs",
        guards=[requires_role(Role.VIEWER)],
        summary="Search the runs of an experiment",
    )
    async def list_experiment_runs(
        self,
        tracking: TrackingService,
        experiment_id: ExperimentIdPath,
        filter: str | None = Parameter(
            default=None, description="MLflow search filter, e.g. `metrics.auc > 0.9 AND params.depth = '6'`."
        ),
        order_by: list[str] | None = Parameter(
            default=None, description="MLflow order clauses, e.g. `metrics.auc DESC` (repeatable)."
        ),
        include_deleted: bool = False,
        limit: PageLimit = None,
        cursor: PageCursor = None,
    ) -> Page[schemas.Run]:
        return await tracking.list_runs(
            experiment_id,
            filter_string=filter,
            order_by=order_by,
            include_deleted=include_deleted,
            limit=limit,
            cursor=cursor,
        )


class RunsController(Controller):
    path = f"{PROJECT_PATH}/runs/{{run_id:str}}"
    tags = ["experiments"]
    dependencies = {
        "tracking": Provide(provide_tracking, sync_to_thread=False),
        "links": Provide(provide_links, sync_to_thread=False),
    }

    @get("/", guards=[requires_role(Role.VIEWER)], summary="A run with params, latest metrics, tags and links")
    async def get_run(self, links: RunLinkService, run_id: str) -> schemas.RunDetail:
        return await links.detail(run_id)

    @get(
        "/metrics/{key:path}",
        guards=[requires_role(Role.VIEWER)],
        summary="The history of one metric of a run, by step",
    )
    async def get_metric_history(
        self,
        tracking: TrackingService,
        run_id: str,
        key: str,
        limit: PageLimit = None,
        cursor: PageCursor = None,
    ) -> Page[schemas.MetricPoint]:
        """Metric keys may contain `/` (`train/loss`)."""
        return await tracking.metric_history(run_id, key.lstrip("/"), limit=limit, cursor=cursor)

    @get("/links", guards=[requires_role(Role.VIEWER)], summary="Catalogue versions this run is linked to")
    async def list_run_links(self, links: RunLinkService, run_id: str) -> list[schemas.RunLink]:
        return await links.links(run_id)

    @post(
        "/links",
        guards=[requires_role(Role.CONTRIBUTOR)],
        summary="Link the run to a catalogue model version",
        description="Idempotent: linking the same version again answers 200 with the existing link.",
        responses={200: ResponseSpec(data_container=schemas.RunLink, description="The version was already linked.")},
        raises=[Conflict],
    )
    async def link_run(
        self, links: RunLinkService, run_id: str, data: schemas.RunLinkCreate
    ) -> Response[schemas.RunLink]:
        link, created = await links.link(run_id, data)
        return Response(link, status_code=201 if created else 200)

    @delete("/links/{link_id:uuid}", guards=[requires_role(Role.CONTRIBUTOR)], summary="Remove a link")
    async def unlink_run(self, links: RunLinkService, run_id: str, link_id: uuid.UUID) -> None:
        await links.unlink(run_id, link_id)
