"""Catalogue events (`catalogue.*`) → graph (read from `mlplatform/modules/catalogue/events.py` by field name).

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

from mlplatform.modules.lineage.mapping.payload import EventView
from mlplatform.modules.lineage.repositories.graph_writer import GraphWriter, NodeRef
from mlplatform.modules.lineage.vocabulary import EdgeKind, NodeType, named_key


async def model_node(graph: GraphWriter, event: EventView, *, reference: bool) -> NodeRef | None:
    project, model = event.project, event.text("model")
    if project is None or model is None:
        return None
    key = named_key(project, model)
    if reference:
        return await graph.reference(NodeType.MODEL, key, project=project, name=model)
    attributes = {
        "model": model,
        "owner": event.text("owner"),
        "task_type": event.text("task_type"),
        "tags": event.mapping("tags") or None,
    }
    return await graph.node(NodeType.MODEL, key, project=project, name=model, attributes=attributes)


async def version_reference(graph: GraphWriter, event: EventView) -> NodeRef | None:
    project, model, version = event.project, event.text("model"), event.integer("version")
    if project is None or model is None or version is None:
        return None
    return await graph.reference(
        NodeType.MODEL_VERSION,
        named_key(project, model, version),
        project=project,
        name=f"{model} v{version}",
        alias=event.text("version_id", "catalogue_version_id"),
    )


async def on_model(graph: GraphWriter, event: EventView) -> None:
    await model_node(graph, event, reference=False)


async def on_model_version_created(graph: GraphWriter, event: EventView) -> None:
    project, model, version = event.project, event.text("model"), event.integer("version")
    if project is None or model is None or version is None:
        return
    node = await graph.node(
        NodeType.MODEL_VERSION,
        named_key(project, model, version),
        project=project,
        name=f"{model} v{version}",
        alias=event.text("version_id"),
        attributes={
            "model": model,
            "version": version,
            "version_id": event.text("version_id"),
            "model_uri": event.text("model_uri"),
            "mlflow_version": event.text("mlflow_version"),
            "framework": event.text("framework"),
            "source_run_id": event.text("source_run_id"),
            "feature_service": event.text("feature_service"),
        },
        defaults={"stage": event.text("stage") or "registered"},
    )
    parent = await model_node(graph, event, reference=True)
    if parent is not None:
        await graph.edge(node, parent, EdgeKind.VERSION_OF, project=project)
    run_id = event.text("source_run_id")
    if run_id:
        run = await graph.reference(NodeType.EXPERIMENT_RUN, run_id, project=project)
        await graph.edge(run, node, EdgeKind.REGISTERED_AS, project=project)
    service = event.text("feature_service")
    if service:
        service_project = event.text("feast_project") or project
        feature_service = await graph.reference(
            NodeType.FEATURE_SERVICE, named_key(service_project, service), project=service_project, name=service
        )
        await graph.edge(feature_service, node, EdgeKind.READ, project=project)


async def on_model_version_changed(graph: GraphWriter, event: EventView) -> None:
    """ModelVersionUpdated / StageChanged: the version's current stage (and that it was seen)."""
    project, model, version = event.project, event.text("model"), event.integer("version")
    if project is None or model is None or version is None:
        return
    attributes: dict[str, object] = {}
    stage = event.text("to_stage")
    if stage:
        attributes["stage"] = stage
    await graph.node(
        NodeType.MODEL_VERSION,
        named_key(project, model, version),
        project=project,
        name=f"{model} v{version}",
        alias=event.text("version_id"),
        attributes=attributes,
    )


async def on_validation(graph: GraphWriter, event: EventView) -> None:
    validation_id = event.text("validation_id")
    version = await version_reference(graph, event)
    if validation_id is None or version is None:
        return
    name = event.text("name") or "validation"
    report = await graph.node(
        NodeType.VALIDATION_REPORT,
        validation_id,
        project=event.project,
        name=name,
        attributes={
            "subject": "model_version",
            "name": name,
            "status": event.text("status"),
            "report_uri": event.text("report_uri"),
            "metrics": event.mapping("metrics") or None,
            "model": event.text("model"),
            "version": event.integer("version"),
        },
    )
    await graph.edge(version, report, EdgeKind.VALIDATED_BY, project=event.project)


async def on_deployment(graph: GraphWriter, event: EventView) -> None:
    deployment_id = event.text("aggregate_id") or event.stored.aggregate_id
    version = await version_reference(graph, event)
    if version is None:
        return
    environment = event.text("environment") or "default"
    change = event.text("change")
    deployment = await graph.node(
        NodeType.DEPLOYMENT,
        deployment_id,
        project=event.project,
        name=f"{event.text('model')}@{environment}",
        attributes={
            "model": event.text("model"),
            "version": event.integer("version"),
            "version_id": event.text("version_id"),
            "environment": environment,
            "target": event.text("target"),
            "status": event.text("status"),
            "traffic_share": event.integer("traffic_share"),
            "change": change,
            "retired": change == "retired",
        },
    )
    await graph.replace_inbound(
        deployment, EdgeKind.DEPLOYED_AS, [version], project=event.project, source_type=NodeType.MODEL_VERSION
    )


HANDLERS = {
    "catalogue.ModelCreated": on_model,
    "catalogue.ModelUpdated": on_model,
    "catalogue.ModelVersionCreated": on_model_version_created,
    "catalogue.ModelVersionUpdated": on_model_version_changed,
    "catalogue.StageChanged": on_model_version_changed,
    "catalogue.ValidationRecorded": on_validation,
    "catalogue.DeploymentChanged": on_deployment,
}
