"""Features events (decoded with the classes of `modules/features/api.py`) → graph.

| event | nodes | edges |
|---|---|---|
| DataSourceApplied | data_source `<project>/<name>` | push source read → its batch source |
| FeatureViewApplied | feature_view `<project>/<name>` | data_source read → view (replaced on re-apply) |
| FeatureServiceApplied | feature_service `<project>/<name>` | view part_of → service (replaced on re-apply) |
| FeatureDefinitionDeleted | the definition, marked `deleted` | |
| FeaturesMaterialized | job `<job id>` (status `succeeded`) | source read → job, job produced → view |
| TrainingDatasetCreated | training_dataset `<dataset id>` (alias: URI) | service, views read →; job produced → |
| ValidationReportCreated | validation_report `<report id>` | view validated_by → report |
"""

from __future__ import annotations

from collections.abc import Sequence

from mlplatform.modules.features.api import (
    DataSourceApplied,
    FeatureDefinitionDeleted,
    FeatureServiceApplied,
    FeaturesMaterialized,
    FeatureViewApplied,
    TrainingDatasetCreated,
    ValidationReportCreated,
)
from mlplatform.modules.lineage.mapping.events import Delivered, GraphHandler, names_in, text
from mlplatform.modules.lineage.repositories.graph import find_node, neighbours
from mlplatform.modules.lineage.repositories.graph_writer import GraphWriter, NodeRef
from mlplatform.modules.lineage.vocabulary import EdgeKind, NodeType, named_key


def _view_names(feature_views: Sequence[str | dict[str, str]], features: Sequence[str] = ()) -> list[str]:
    """Views named by `feature_views` (names, or `{"name", "version"}` objects) or by the `view:feature`
    references of `features`."""
    views = names_in(feature_views)
    for feature in names_in(features):
        view, found, _ = feature.partition(":")
        if found and view:
            views.append(view)
    return list(dict.fromkeys(views))


def _view_versions(feature_views: Sequence[dict[str, str]]) -> dict[str, str]:
    versions: dict[str, str] = {}
    for item in feature_views:
        if isinstance(item.get("name"), str) and item.get("version") is not None:
            versions[item["name"]] = str(item["version"])
    return versions


async def on_data_source(graph: GraphWriter, delivered: Delivered[DataSourceApplied]) -> None:
    event = delivered.event
    project, name = delivered.project, text(event.name)
    if project is None or name is None:
        return
    source = await graph.node(
        NodeType.DATA_SOURCE,
        named_key(project, name),
        project=project,
        name=name,
        attributes={
            "name": name,
            "kind": text(event.kind),
            "uri": text(event.uri),
            "table": text(event.table),
            "batch_source": text(event.batch_source),
        },
    )
    batch = text(event.batch_source)
    if batch:
        # Rows pushed to a push source land in its batch source (the offline copy).
        target = await graph.reference(NodeType.DATA_SOURCE, named_key(project, batch), project=project, name=batch)
        await graph.edge(source, target, EdgeKind.READ, project=project)


async def on_feature_view(graph: GraphWriter, delivered: Delivered[FeatureViewApplied]) -> None:
    event = delivered.event
    project, name = delivered.project, text(event.name)
    if project is None or name is None:
        return
    view = await graph.node(
        NodeType.FEATURE_VIEW,
        named_key(project, name),
        project=project,
        name=name,
        attributes={
            "name": name,
            "version": text(event.version),
            "entities": names_in(event.entities) or None,
            "features": names_in(event.features) or None,
            "source": text(event.source),
            "deleted": False,
        },
    )
    source = text(event.source)
    sources = (
        [await graph.reference(NodeType.DATA_SOURCE, named_key(project, source), project=project, name=source)]
        if source
        else []
    )
    await graph.replace_inbound(view, EdgeKind.READ, sources, project=project, source_type=NodeType.DATA_SOURCE)


async def on_feature_service(graph: GraphWriter, delivered: Delivered[FeatureServiceApplied]) -> None:
    event = delivered.event
    project, name = delivered.project, text(event.name)
    if project is None or name is None:
        return
    service = await graph.node(
        NodeType.FEATURE_SERVICE,
        named_key(project, name),
        project=project,
        name=name,
        attributes={"name": name, "features": names_in(event.features) or None, "deleted": False},
    )
    views = [
        await graph.reference(NodeType.FEATURE_VIEW, named_key(project, view), project=project, name=view)
        for view in _view_names(event.feature_views, event.features)
    ]
    await graph.replace_inbound(service, EdgeKind.PART_OF, views, project=project, source_type=NodeType.FEATURE_VIEW)


DELETABLE = {
    "data_source": NodeType.DATA_SOURCE,
    "feature_view": NodeType.FEATURE_VIEW,
    "feature_service": NodeType.FEATURE_SERVICE,
}


async def on_definition_deleted(graph: GraphWriter, delivered: Delivered[FeatureDefinitionDeleted]) -> None:
    """The definition stays in the graph (what was built from it still was), marked deleted."""
    event = delivered.event
    project, name, kind = delivered.project, text(event.name), text(event.kind)
    node_type = DELETABLE.get(kind or "")
    if project is None or name is None or node_type is None:
        return
    await graph.node(node_type, named_key(project, name), project=project, name=name, attributes={"deleted": True})


async def on_materialized(graph: GraphWriter, delivered: Delivered[FeaturesMaterialized]) -> None:
    event = delivered.event
    project, job_id = delivered.project, text(event.job_id)
    views = _view_names(event.feature_views)
    if project is None or job_id is None or not views:
        return
    job = await graph.node(
        NodeType.JOB,
        job_id,
        project=project,
        name=f"materialize {', '.join(views)}",
        attributes={
            "kind": "features.materialize",
            "status": "succeeded",
            "feature_views": views,
            "start": text(event.start),
            "end": text(event.end),
            "rows": event.rows,
        },
    )
    for view in views:
        view_node = await graph.reference(NodeType.FEATURE_VIEW, named_key(project, view), project=project, name=view)
        await graph.edge(job, view_node, EdgeKind.PRODUCED, project=project)
        for source in await neighbours(
            graph.session, view_node.id, kind=EdgeKind.READ, upstream=True, node_type=NodeType.DATA_SOURCE
        ):
            await graph.edge(NodeRef(source.id, source.type, source.key), job, EdgeKind.READ, project=project)


async def _columns(graph: GraphWriter, project: str, views: list[str]) -> list[str]:
    """The feature columns a retrieval of `views` returns, as far as the graph knows the views."""
    columns: list[str] = []
    for view in views:
        node = await find_node(graph.session, NodeType.FEATURE_VIEW, named_key(project, view))
        features = (node.attributes or {}).get("features") if node is not None else None
        if isinstance(features, list):
            columns += [f for f in features if isinstance(f, str)]
    return list(dict.fromkeys(columns))


async def on_training_dataset(graph: GraphWriter, delivered: Delivered[TrainingDatasetCreated]) -> None:
    event = delivered.event
    project, dataset_id = delivered.project, text(event.dataset_id)
    if project is None or dataset_id is None:
        return
    uri = text(event.uri)
    service = text(event.feature_service)
    views = _view_names(event.feature_views)
    dataset = await graph.node(
        NodeType.TRAINING_DATASET,
        dataset_id,
        project=project,
        name=text(event.name) or (f"{service} {dataset_id[:8]}" if service else dataset_id),
        alias=uri,
        attributes={
            "dataset_id": dataset_id,
            "uri": uri,
            "feature_service": service,
            "feature_views": views or None,
            "feature_view_versions": _view_versions(event.feature_views) or None,
            "row_count": event.row_count,
            "columns": await _columns(graph, project, views) or None,
            "job_id": text(event.job_id),
        },
    )
    if uri:
        await graph.absorb(dataset, uri)
    if service:
        service_node = await graph.reference(
            NodeType.FEATURE_SERVICE, named_key(project, service), project=project, name=service
        )
        await graph.edge(service_node, dataset, EdgeKind.READ, project=project)
    for view in views:
        view_node = await graph.reference(NodeType.FEATURE_VIEW, named_key(project, view), project=project, name=view)
        await graph.edge(view_node, dataset, EdgeKind.READ, project=project)
    job_id = text(event.job_id)
    if job_id:
        job = await graph.node(
            NodeType.JOB,
            job_id,
            project=project,
            name=f"historical retrieval {service or dataset_id}",
            attributes={"kind": "features.historical", "status": "succeeded"},
        )
        await graph.edge(job, dataset, EdgeKind.PRODUCED, project=project)


async def on_validation_report(graph: GraphWriter, delivered: Delivered[ValidationReportCreated]) -> None:
    event = delivered.event
    project, report_id, view = delivered.project, text(event.report_id), text(event.feature_view)
    if project is None or report_id is None or view is None:
        return
    kind = text(event.kind) or "validation"
    report = await graph.node(
        NodeType.VALIDATION_REPORT,
        report_id,
        project=project,
        name=f"{kind} check of {view}",
        attributes={
            "subject": "feature_view",
            "feature_view": view,
            "kind": kind,
            "status": text(event.outcome),
            "rows_checked": event.rows_checked,
            "rows_failed": event.rows_failed,
        },
    )
    view_node = await graph.reference(NodeType.FEATURE_VIEW, named_key(project, view), project=project, name=view)
    await graph.edge(view_node, report, EdgeKind.VALIDATED_BY, project=project)


HANDLERS: dict[str, GraphHandler] = {
    DataSourceApplied.event_type: on_data_source,
    FeatureViewApplied.event_type: on_feature_view,
    FeatureServiceApplied.event_type: on_feature_service,
    FeatureDefinitionDeleted.event_type: on_definition_deleted,
    FeaturesMaterialized.event_type: on_materialized,
    TrainingDatasetCreated.event_type: on_training_dataset,
    ValidationReportCreated.event_type: on_validation_report,
}
