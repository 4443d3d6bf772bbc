"""Catalogue events (`catalogue.*`, decoded with the classes of `modules/catalogue/api.py`) → graph.

| event | nodes | edges |
|---|---|---|
| ModelCreated, ModelUpdated | model `<project>/<model>` | |
| ModelVersionCreated | model_version `<project>/<model>/<version>` (alias: version_id) | see below |
| ModelVersionUpdated, StageChanged | model_version (stage) | |
| ValidationRecorded | validation_report `<validation_id>` | model_version validated_by → |
| DeploymentChanged | deployment `<deployment id>` | model_version deployed_as → (the current version only) |

ModelVersionCreated draws: version version_of → model; experiment_run (`source_run_id`) registered_as →
version; feature_service (`feature_service`, in `feast_project`) read → version.
"""

from __future__ import annotations

from mlplatform.modules.catalogue.api import (
    DeploymentChanged,
    ModelCreated,
    ModelUpdated,
    ModelVersionCreated,
    ModelVersionUpdated,
    StageChanged,
    ValidationRecorded,
)
from mlplatform.modules.lineage.mapping.events import Delivered, GraphHandler, text
from mlplatform.modules.lineage.repositories.graph_writer import GraphWriter, NodeRef
from mlplatform.modules.lineage.vocabulary import EdgeKind, NodeType, named_key

Named = ModelCreated | ModelUpdated | ModelVersionCreated | ValidationRecorded | DeploymentChanged
Versioned = ValidationRecorded | DeploymentChanged


async def model_node(graph: GraphWriter, project: str | None, event: Named, *, reference: bool) -> NodeRef | None:
    model = text(event.model)
    if project is None or model is None:
        return None
    key = named_key(project, model)
    if reference:
        return await graph.reference(NodeType.MODEL, key, project=project, name=model)
    attributes: dict[str, object] = {"model": model}
    if isinstance(event, ModelCreated):
        attributes.update(owner=text(event.owner), task_type=text(event.task_type), tags=dict(event.tags) or None)
    return await graph.node(NodeType.MODEL, key, project=project, name=model, attributes=attributes)


async def version_reference(graph: GraphWriter, project: str | None, event: Versioned) -> NodeRef | None:
    model = text(event.model)
    if project is None or model is None:
        return None
    return await graph.reference(
        NodeType.MODEL_VERSION,
        named_key(project, model, event.version),
        project=project,
        name=f"{model} v{event.version}",
        alias=text(event.version_id),
    )


async def on_model(graph: GraphWriter, delivered: Delivered[ModelCreated | ModelUpdated]) -> None:
    await model_node(graph, delivered.project, delivered.event, reference=False)


async def on_model_version_created(graph: GraphWriter, delivered: Delivered[ModelVersionCreated]) -> None:
    event = delivered.event
    project, model, version = delivered.project, text(event.model), event.version
    if project is None or model is None:
        return
    node = await graph.node(
        NodeType.MODEL_VERSION,
        named_key(project, model, version),
        project=project,
        name=f"{model} v{version}",
        alias=text(event.version_id),
        attributes={
            "model": model,
            "version": version,
            "version_id": text(event.version_id),
            "model_uri": text(event.model_uri),
            "mlflow_version": text(event.mlflow_version),
            "framework": text(event.framework),
            "source_run_id": text(event.source_run_id),
            "feature_service": text(event.feature_service),
        },
        defaults={"stage": "registered"},
    )
    parent = await model_node(graph, project, event, reference=True)
    if parent is not None:
        await graph.edge(node, parent, EdgeKind.VERSION_OF, project=project)
    run_id = text(event.source_run_id)
    if run_id:
        run = await graph.reference(NodeType.EXPERIMENT_RUN, run_id, project=project)
        await graph.edge(run, node, EdgeKind.REGISTERED_AS, project=project)
    service = text(event.feature_service)
    if service:
        service_project = text(event.feast_project) or project
        feature_service = await graph.reference(
            NodeType.FEATURE_SERVICE, named_key(service_project, service), project=service_project, name=service
        )
        await graph.edge(feature_service, node, EdgeKind.READ, project=project)


async def on_model_version_changed(
    graph: GraphWriter, delivered: Delivered[ModelVersionUpdated | StageChanged]
) -> None:
    """ModelVersionUpdated / StageChanged: the version's current stage (and that it was seen)."""
    event = delivered.event
    project, model, version = delivered.project, text(event.model), event.version
    if project is None or model is None:
        return
    attributes: dict[str, object] = {}
    stage = text(event.to_stage) if isinstance(event, StageChanged) else None
    if stage:
        attributes["stage"] = stage
    await graph.node(
        NodeType.MODEL_VERSION,
        named_key(project, model, version),
        project=project,
        name=f"{model} v{version}",
        alias=text(event.version_id),
        attributes=attributes,
    )


async def on_validation(graph: GraphWriter, delivered: Delivered[ValidationRecorded]) -> None:
    event = delivered.event
    validation_id = text(event.validation_id)
    version = await version_reference(graph, delivered.project, event)
    if validation_id is None or version is None:
        return
    name = text(event.name) or "validation"
    report = await graph.node(
        NodeType.VALIDATION_REPORT,
        validation_id,
        project=delivered.project,
        name=name,
        attributes={
            "subject": "model_version",
            "name": name,
            "status": text(event.status),
            "report_uri": text(event.report_uri),
            "model": text(event.model),
            "version": event.version,
        },
    )
    await graph.edge(version, report, EdgeKind.VALIDATED_BY, project=delivered.project)


async def on_deployment(graph: GraphWriter, delivered: Delivered[DeploymentChanged]) -> None:
    event = delivered.event
    deployment_id = text(event.aggregate_id) or delivered.stored.aggregate_id
    version = await version_reference(graph, delivered.project, event)
    if version is None:
        return
    environment = text(event.environment) or "default"
    change = text(event.change)
    skew = (
        {"skew_override": text(event.skew_override), "skewed_views": list(event.skewed_views)}
        if event.skew_override
        else {}
    )
    deployment = await graph.node(
        NodeType.DEPLOYMENT,
        deployment_id,
        project=delivered.project,
        name=f"{text(event.model)}@{environment}",
        attributes={
            "model": text(event.model),
            "version": event.version,
            "version_id": text(event.version_id),
            "environment": environment,
            "target": text(event.target),
            "status": text(event.status),
            "status_reason": text(event.reason),
            "mode": text(event.mode),
            "traffic_share": event.traffic_share,
            "change": change,
            "retired": change == "retired",
            **skew,
        },
    )
    await graph.replace_inbound(
        deployment, EdgeKind.DEPLOYED_AS, [version], project=delivered.project, source_type=NodeType.MODEL_VERSION
    )


HANDLERS: dict[str, GraphHandler] = {
    ModelCreated.event_type: on_model,
    ModelUpdated.event_type: on_model,
    ModelVersionCreated.event_type: on_model_version_created,
    ModelVersionUpdated.event_type: on_model_version_changed,
    StageChanged.event_type: on_model_version_changed,
    ValidationRecorded.event_type: on_validation,
    DeploymentChanged.event_type: on_deployment,
}
