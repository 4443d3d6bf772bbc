"""Kernel job events (decoded with `kernel/jobs/events.py`'s `JobFailed`) → graph.

| event | nodes | edges |
|---|---|---|
| JobFailed, kind `features.materialize` | job `<job id>`, status `failed` | the views' data sources read → job |
| JobFailed, kind `features.historical` | job `<job id>`, status `failed` | the views (and service) read → job |
| JobFailed, kind `features.validate` | job `<job id>`, status `failed` | the view read → job |

A failed job produced nothing, so it gets no `produced` edge: it hangs off what it read, where the
impact of a data source or view shows it (with `status: failed`, the error and the attempts). Jobs of
other kinds are not lineage and are ignored. Successful jobs are recorded from their module's own
events (`FeaturesMaterialized`, `TrainingDatasetCreated`) with `status: succeeded`.
"""

from __future__ import annotations

from mlplatform.kernel.jobs.events import JobFailed
from mlplatform.modules.lineage.mapping.events import Delivered, GraphHandler, text
from mlplatform.modules.lineage.repositories.graph import find_node, neighbours
from mlplatform.modules.lineage.repositories.graph_writer import GraphWriter, NodeRef
from mlplatform.modules.lineage.vocabulary import EdgeKind, NodeType, named_key

MATERIALIZE = "features.materialize"
HISTORICAL = "features.historical"
VALIDATE = "features.validate"
FAILED_JOB_KINDS = frozenset({MATERIALIZE, HISTORICAL, VALIDATE})
MAX_ERROR_CHARS = 2000


class FailedJob:
    """A `JobFailed` event's fields, with the job's parameters as the lineage mapping reads them."""

    def __init__(self, delivered: Delivered[JobFailed]) -> None:
        event = delivered.event
        self.params = {str(k): v for k, v in event.params.items()}
        self.kind = text(event.kind)
        self.job_id = text(event.job_id) or delivered.stored.aggregate_id
        param_project = self.params.get("project")
        self.project = delivered.project or (param_project if isinstance(param_project, str) else None)

    @property
    def mapped(self) -> bool:
        return self.kind in FAILED_JOB_KINDS and bool(self.job_id) and self.project is not None

    def text(self, name: str) -> str | None:
        value = self.params.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    @property
    def feature_views(self) -> list[str]:
        """The views the job worked on: `feature_views` (materialize), the `<view>:<feature>` references
        of `features` (historical retrieval), `feature_view` (validation)."""
        views: list[str] = []
        listed = self.params.get("feature_views")
        if isinstance(listed, list):
            views += [v.strip() for v in listed if isinstance(v, str) and v.strip()]
        single = self.text("feature_view")
        if single:
            views.append(single)
        features = self.params.get("features")
        if isinstance(features, list):
            for feature in features:
                if isinstance(feature, str):
                    view, found, _ = feature.partition(":")
                    if found and view.strip():
                        views.append(view.strip())
        return list(dict.fromkeys(views))

    @property
    def name(self) -> str:
        if self.kind == MATERIALIZE:
            return f"materialize {', '.join(self.feature_views) or 'features'}"
        if self.kind == HISTORICAL:
            return f"historical retrieval {self.text('feature_service') or self.text('name') or 'features'}"
        return f"validate {', '.join(self.feature_views) or 'features'}"


async def on_job_failed(graph: GraphWriter, delivered: Delivered[JobFailed]) -> None:
    event = delivered.event
    job = FailedJob(delivered)
    project = job.project
    if not job.mapped or project is None:
        return
    error = text(event.error)
    node = await graph.node(
        NodeType.JOB,
        job.job_id,
        project=project,
        name=job.name,
        attributes={
            "kind": job.kind,
            "status": "failed",
            "error": error[:MAX_ERROR_CHARS] if error else None,
            "attempts": event.attempts,
            "started_at": text(event.started_at),
            "feature_views": job.feature_views or None,
            "feature_service": job.text("feature_service"),
            "start": job.text("start"),
            "end": job.text("end"),
        },
    )
    if job.kind == MATERIALIZE:
        # What it read: the data sources of the views it was to write (as far as the graph knows them).
        for view_name in job.feature_views:
            view = await find_node(graph.session, NodeType.FEATURE_VIEW, named_key(project, view_name))
            if view is None:
                continue
            for source in await neighbours(
                graph.session, view.id, kind=EdgeKind.READ, upstream=True, node_type=NodeType.DATA_SOURCE
            ):
                await graph.edge(NodeRef(source.id, source.type, source.key), node, EdgeKind.READ, project=project)
        return
    for view_name in job.feature_views:
        view_ref = await graph.reference(
            NodeType.FEATURE_VIEW, named_key(project, view_name), project=project, name=view_name
        )
        await graph.edge(view_ref, node, EdgeKind.READ, project=project)
    service = job.text("feature_service")
    if job.kind == HISTORICAL and service:
        service_ref = await graph.reference(
            NodeType.FEATURE_SERVICE, named_key(project, service), project=project, name=service
        )
        await graph.edge(service_ref, node, EdgeKind.READ, project=project)


HANDLERS: dict[str, GraphHandler] = {JobFailed.event_type: on_job_failed}
