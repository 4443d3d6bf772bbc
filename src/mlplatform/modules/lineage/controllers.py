"""`GET /api/v1/lineage` (a node's provenance and impact) and `GET /api/v1/lineage/events`."""

from __future__ import annotations

from typing import Literal

from litestar import Controller, get
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import Forbidden, NotFound
from mlplatform.kernel.page_parameters import PageCursor, PageLimit
from mlplatform.modules.gateway.api import Principal, Role, ensure_role, project_directory, requires_authenticated
from mlplatform.modules.lineage import schemas
from mlplatform.modules.lineage.access import visibility
from mlplatform.modules.lineage.services import LineageService
from mlplatform.modules.lineage.vocabulary import DEFAULT_DEPTH, MAX_DEPTH, NODE_PATTERN


def provide_lineage(db_session: AsyncSession, principal: Principal) -> LineageService:
    return LineageService(db_session, visibility(principal))


class LineageController(Controller):
    path = "/api/v1/lineage"
    tags = ["lineage"]
    dependencies = {"lineage": Provide(provide_lineage, sync_to_thread=False)}

    @get(
        "/",
        guards=[requires_authenticated],
        raises=[NotFound],
        summary="Lineage of a node: provenance (upstream), impact (downstream) or both",
        description=(
            "`node=<type>:<id>` with type one of data_source, feature_view, feature_service, training_dataset, "
            "experiment_run, model, model_version, deployment, validation_report, job "
            "(`feature_view:fraud/card_stats`, `model_version:fraud/scorer/3` or the version's UUID, "
            "`deployment:<id>`, `experiment_run:<MLflow run id>`). Edges point downstream (data flows from "
            "`source` to `target`). `both` returns the node's ancestors and its descendants (not their other "
            "children). Only nodes of projects you can read are returned, and the walk does not pass through "
            "others; a node you cannot read answers 404."
        ),
    )
    async def query_lineage(
        self,
        lineage: LineageService,
        node: str = Parameter(pattern=NODE_PATTERN, description="`<type>:<id>`, e.g. `feature_view:fraud/card_stats`."),
        depth: int | None = Parameter(
            default=None, ge=1, le=MAX_DEPTH, description=f"Hops to follow (default {DEFAULT_DEPTH})."
        ),
        direction: Literal["upstream", "downstream", "both"] | None = Parameter(
            default=None, description="Default: both."
        ),
    ) -> schemas.LineageGraph:
        return await lineage.graph(node, depth=depth, direction=direction)

    @get(
        "/events",
        guards=[requires_authenticated],
        raises=[Forbidden, NotFound],
        summary="OpenLineage events built from the platform's domain events, newest first",
        description=(
            "Each item is one OpenLineage 2-0-2 RunEvent (`event`) with its delivery state to "
            "`MLPLATFORM_OPENLINEAGE_URL`: pending, emitted, failed (gave up; `mlplatform lineage replay` "
            "re-sends) or unsent (no endpoint configured). Only events of projects you can read."
        ),
    )
    async def list_lineage_events(
        self,
        lineage: LineageService,
        principal: Principal,
        platform: PlatformContext,
        project: str | None = None,
        status: Literal["pending", "emitted", "failed", "unsent"] | None = Parameter(
            default=None, description="Delivery state."
        ),
        job: str | None = Parameter(default=None, description="Job name, e.g. `train.fraud/baseline`."),
        run_id: str | None = Parameter(default=None, description="OpenLineage runId."),
        cursor: PageCursor = None,
        limit: PageLimit = None,
    ) -> schemas.OpenLineageEventPage:
        if project is not None:
            await ensure_role(principal, project, Role.VIEWER, projects=project_directory(platform))
        return await lineage.events(
            project=project, status=status, job_name=job, run_id=run_id, cursor=cursor, limit=limit
        )
