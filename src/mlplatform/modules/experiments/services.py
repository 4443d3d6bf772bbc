"""The typed experiments API's rules: reads go to MLflow's stores (worker threads, MLflow's own limiter);
links between runs and catalogue versions live in the platform database.

Everything is scoped to one project: an experiment (and its runs) is visible only in the project of its
`mlplatform.project` tag; anything else is "not found", exactly like an id that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.errors import Conflict, Invalid, NotFound, Unavailable
from mlplatform.kernel.events import publish
from mlplatform.kernel.pagination import Page, check_limit, decode_cursor, encode_cursor
from mlplatform.modules.catalogue.api import find_model_version
from mlplatform.modules.experiments import repositories, schemas
from mlplatform.modules.experiments.authz.projects import PROJECT_TAG
from mlplatform.modules.experiments.events import RunLinked
from mlplatform.modules.experiments.hosting.error_details import ErrorScrubber
from mlplatform.modules.experiments.hosting.host import MlflowHost
from mlplatform.modules.experiments.models import RunLinkRow
from mlplatform.modules.experiments.snapshots import from_millis

T = TypeVar("T")
EPOCH = datetime.fromtimestamp(0, tz=UTC)

MAX_MLFLOW_PAGE = 1000
"""MLflow's own cap on search page sizes for experiments and runs."""


class TrackingService:
    """Read access to one project's experiments, runs and metric histories."""

    def __init__(self, mlflow: MlflowHost, project: str) -> None:
        self.mlflow = mlflow
        self.project = project

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run an MLflow store call on a worker thread; map MLflow's errors to the platform's."""
        from mlflow.exceptions import MlflowException

        def invoke() -> T:
            return fn(*args, **kwargs)

        try:
            return await self.mlflow.call(invoke)
        except MlflowException as exc:
            scrubber = ErrorScrubber(self.mlflow.config.internal_strings())
            where = getattr(fn, "__name__", "mlflow")
            if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}:
                raise NotFound(scrubber.safe_message(exc.message, status=404, path=where)) from None
            if exc.error_code in {"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "INVALID_STATE"}:
                raise Invalid(scrubber.safe_message(exc.message, status=422, path=where)) from None
            message = scrubber.safe_message(exc.message, status=503, path=where)
            raise Unavailable(f"MLflow: {message}", component="mlflow") from exc
        except SQLAlchemyError as exc:
            raise Unavailable("MLflow's database is unreachable", component="mlflow") from exc

    async def _stores(self) -> Any:
        return await self.mlflow.stores()

    async def list_experiments(
        self, *, name_contains: str | None, include_deleted: bool, limit: int | None, cursor: str | None
    ) -> Page[schemas.Experiment]:
        from mlflow.entities import ViewType

        size = min(check_limit(limit), MAX_MLFLOW_PAGE)
        token = _token(cursor, "mlflow-experiments")
        conditions = [f"tags.`{PROJECT_TAG}` = '{self.project}'"]
        if name_contains:
            # MLflow's filter language has no escapes: drop the characters that would change its meaning.
            text = "".join(c for c in name_contains if c not in "'%_\\")
            conditions.append(f"name ILIKE '%{text}%'")
        stores = await self._stores()
        found = await self._call(
            stores.tracking.search_experiments,
            view_type=ViewType.ALL if include_deleted else ViewType.ACTIVE_ONLY,
            max_results=size,
            filter_string=" AND ".join(conditions),
            order_by=["last_update_time DESC"],
            page_token=token,
        )
        items = [self._experiment(e) for e in found]
        next_cursor = _cursor("mlflow-experiments", found)
        return Page(items=items, next_cursor=next_cursor)

    async def get_experiment(self, experiment_id: str) -> schemas.Experiment:
        stores = await self._stores()
        experiment = await self._call(stores.tracking.get_experiment, experiment_id)
        if experiment.tags.get(PROJECT_TAG) != self.project:
            raise NotFound(f"experiment {experiment_id!r} not found in project {self.project!r}")
        return self._experiment(experiment)

    async def list_runs(
        self,
        experiment_id: str,
        *,
        filter_string: str | None,
        order_by: list[str] | None,
        include_deleted: bool,
        limit: int | None,
        cursor: str | None,
    ) -> Page[schemas.Run]:
        from mlflow.entities import ViewType

        await self.get_experiment(experiment_id)
        size = min(check_limit(limit), MAX_MLFLOW_PAGE)
        token = _token(cursor, f"mlflow-runs:{experiment_id}")
        stores = await self._stores()
        found = await self._call(
            stores.tracking.search_runs,
            experiment_ids=[experiment_id],
            filter_string=filter_string or "",
            run_view_type=ViewType.ALL if include_deleted else ViewType.ACTIVE_ONLY,
            max_results=size,
            order_by=order_by or None,
            page_token=token,
        )
        items = [self._run(r) for r in found]
        next_cursor = _cursor(f"mlflow-runs:{experiment_id}", found)
        return Page(items=items, next_cursor=next_cursor)

    async def get_run(self, run_id: str) -> schemas.Run:
        """A run of one of the project's experiments. Any other run is "not found" by its own id: naming its
        experiment would tell an outsider which experiment (of another project) holds it."""
        stores = await self._stores()
        missing = NotFound(f"run {run_id!r} not found in project {self.project!r}")
        try:
            run = await self._call(stores.tracking.get_run, run_id)
            experiment = await self._call(stores.tracking.get_experiment, str(run.info.experiment_id))
        except NotFound:
            raise missing from None
        if experiment.tags.get(PROJECT_TAG) != self.project:
            raise missing
        return self._run(run)

    async def metric_history(
        self, run_id: str, key: str, *, limit: int | None, cursor: str | None
    ) -> Page[schemas.MetricPoint]:
        await self.get_run(run_id)
        size = check_limit(limit)
        sort = f"mlflow-metric:{run_id}:{key}"
        token = _token(cursor, sort)
        stores = await self._stores()
        found = await self._call(stores.tracking.get_metric_history, run_id, key, max_results=size, page_token=token)
        items = [
            schemas.MetricPoint(step=int(m.step), timestamp=from_millis(m.timestamp) or EPOCH, value=float(m.value))
            for m in found
        ]
        return Page(items=items, next_cursor=_cursor(sort, found))

    def _experiment(self, experiment: Any) -> schemas.Experiment:
        return schemas.Experiment(
            id=str(experiment.experiment_id),
            name=experiment.name,
            project=self.project,
            lifecycle_stage=experiment.lifecycle_stage,
            artifact_location=experiment.artifact_location,
            tags=dict(experiment.tags),
            created_at=from_millis(experiment.creation_time),
            updated_at=from_millis(experiment.last_update_time),
        )

    @staticmethod
    def _run(run: Any) -> schemas.Run:
        info = run.info
        return schemas.Run(
            id=info.run_id,
            name=info.run_name,
            experiment_id=str(info.experiment_id),
            status=str(info.status),
            lifecycle_stage=info.lifecycle_stage,
            user_id=info.user_id or None,
            start_time=from_millis(info.start_time),
            end_time=from_millis(info.end_time),
            artifact_uri=info.artifact_uri,
            metrics={k: float(v) for k, v in run.data.metrics.items()},
            params=dict(run.data.params),
            tags=dict(run.data.tags),
        )


def _cursor(sort: str, found: Any) -> str | None:
    """Our cursor around MLflow's page token (bytes or str, depending on the store)."""
    token = getattr(found, "token", None)
    if not token:
        return None
    return encode_cursor(sort, [token.decode("ascii") if isinstance(token, bytes) else str(token)])


def _token(cursor: str | None, sort: str) -> str | None:
    if not cursor:
        return None
    (token,) = decode_cursor(cursor, sort=sort, arity=1)
    if not isinstance(token, str):
        raise Invalid("cursor: not a cursor issued by this API", parameter="cursor")
    return token


class RunLinkService:
    """Links between runs and catalogue model versions (same project), in the request's transaction."""

    def __init__(self, session: AsyncSession, tracking: TrackingService, actor: str) -> None:
        self.session = session
        self.tracking = tracking
        self.actor = actor

    @property
    def project(self) -> str:
        return self.tracking.project

    async def detail(self, run_id: str) -> schemas.RunDetail:
        run = await self.tracking.get_run(run_id)
        links = await repositories.links_of_run(self.session, self.project, run_id)
        return schemas.RunDetail(**_fields(run), links=[_link(row) for row in links])

    async def links(self, run_id: str) -> list[schemas.RunLink]:
        await self.tracking.get_run(run_id)
        return [_link(row) for row in await repositories.links_of_run(self.session, self.project, run_id)]

    async def link(self, run_id: str, data: schemas.RunLinkCreate) -> tuple[schemas.RunLink, bool]:
        """Idempotent: linking the same run and version again returns the existing link (created=False)."""
        run = await self.tracking.get_run(run_id)
        version = await find_model_version(
            self.session, project=self.project, model_name=data.model, version=data.version
        )
        if version is None:
            raise NotFound(f"catalogue model {data.model!r} has no version {data.version} in project {self.project!r}")
        existing = await repositories.find_link(self.session, self.project, run_id, data.model, data.version)
        if existing is not None:
            return _link(existing), False
        row = RunLinkRow(
            project=self.project,
            run_id=run_id,
            experiment_id=run.experiment_id,
            model=data.model,
            version=data.version,
            catalogue_version_id=version.version_id,
            note=data.note,
            created_by=self.actor,
        )
        if not await repositories.insert_link(self.session, row):
            raced = await repositories.find_link(self.session, self.project, run_id, data.model, data.version)
            if raced is None:
                raise Conflict("the link could not be created; retry")
            return _link(raced), False
        await publish(
            self.session,
            RunLinked(
                aggregate_id=run_id,
                project=self.project,
                run_id=run_id,
                experiment_id=run.experiment_id,
                model=data.model,
                version=data.version,
                catalogue_version_id=str(version.version_id),
            ),
        )
        return _link(row), True

    async def unlink(self, run_id: str, link_id: Any) -> None:
        row = await repositories.get_link(self.session, self.project, run_id, link_id)
        if row is None:
            raise NotFound(f"link {link_id} of run {run_id!r} not found")
        await repositories.delete_link(self.session, row)


def _fields(run: schemas.Run) -> dict[str, Any]:
    return {f: getattr(run, f) for f in run.__struct_fields__}


def _link(row: RunLinkRow) -> schemas.RunLink:
    return msgspec.convert(row, schemas.RunLink, from_attributes=True)
