"""Experiments events (decoded with the classes of `modules/experiments/api.py`) → graph.

| event | nodes | edges |
|---|---|---|
| experiments.RunFinished | experiment_run `<run id>` | dataset / feature_service trained_on → run (eval data: read) |
| experiments.ModelVersionCreated | experiment_run (referenced) | the same training links, from the run's params/tags |
| experiments.RunLinked | | run registered_as → model_version `<project>/<model>/<version>` |

How a run names what it trained on: the run tag (or param) `mlplatform.training_dataset` holds the
dataset id(s) the features module returned (comma-separated for several), `mlplatform.feature_service`
a feature service (`<name>` in the run's project, or `<project>/<name>`). An MLflow dataset input
(`dataset_inputs`) links by its source's URI (the training dataset's storage URI; other data is recorded
under its URI too), else by its name when that is a dataset id (a UUID); an input without either (a pandas
frame from code) is left out. Inputs logged for training (context `training`, or none) are `trained_on`
edges, the others (`validation`, `evaluation` ...) `read` edges.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from mlplatform.modules.experiments.api import DatasetInput, ModelVersionCreated, RunFinished, RunLinked
from mlplatform.modules.lineage.mapping.events import Delivered, GraphHandler, iso, lookup, names_in, text
from mlplatform.modules.lineage.repositories.graph_writer import GraphWriter, NodeRef
from mlplatform.modules.lineage.vocabulary import (
    FEATURE_SERVICE_TAG,
    TRAINING_DATASET_TAG,
    EdgeKind,
    NodeType,
    named_key,
)

MAX_RECORDED_PARAMS = 200


def _trimmed(values: dict[str, Any]) -> dict[str, Any]:
    return dict(list(values.items())[:MAX_RECORDED_PARAMS])


TRAINING_CONTEXTS = {"", "train", "training"}


@dataclass(frozen=True)
class InputRef:
    """A training dataset a run names: its id or storage URI, how the run used it, and MLflow's digest."""

    ref: str
    kind: EdgeKind = EdgeKind.TRAINED_ON
    digest: str | None = None


def dataset_refs(event: RunFinished | ModelVersionCreated) -> list[InputRef]:
    """Training datasets (ids or storage URIs) the run names in tags, params and dataset inputs."""
    found = [InputRef(ref) for ref in names_in(lookup(event.tags, event.params, TRAINING_DATASET_TAG) or "")]
    for item in event.dataset_inputs if isinstance(event, RunFinished) else ():
        location = _input_ref(item)
        if location is None:
            continue
        training = item.context is None or item.context.strip().lower() in TRAINING_CONTEXTS
        found.append(InputRef(location, EdgeKind.TRAINED_ON if training else EdgeKind.READ, item.digest or None))
    unique: dict[tuple[str, EdgeKind], InputRef] = {}
    for item_ref in found:
        known = unique.get((item_ref.ref, item_ref.kind))
        if known is None or (known.digest is None and item_ref.digest is not None):
            unique[(item_ref.ref, item_ref.kind)] = item_ref
    return list(unique.values())


def _input_ref(dataset: DatasetInput) -> str | None:
    """The URI of an MLflow dataset input's source, else its name when that is a dataset id."""
    source = dataset.source.strip()
    if source:
        uri = _source_uri(source)
        if uri is not None:
            return uri
    name = dataset.name.strip()
    return name if _is_uuid(name) else None


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _source_uri(source: str) -> str | None:
    """MLflow stores a dataset source as JSON (`{"uri": "s3://..."}`) or a plain string; None when it
    names no location (a code source only carries tags)."""
    if source.startswith("{"):
        try:
            parsed = json.loads(source)
        except ValueError:
            return None
        if isinstance(parsed, dict):
            for field in ("uri", "url", "path"):
                value = parsed.get(field)
                if isinstance(value, str) and value.strip():
                    return value.strip()
        return None
    return source if "://" in source or source.startswith("/") else None


def feature_service_ref(event: RunFinished | ModelVersionCreated, project: str) -> tuple[str, str] | None:
    value = lookup(event.tags, event.params, FEATURE_SERVICE_TAG)
    if not value:
        return None
    service_project, found, name = value.partition("/")
    return (service_project, name) if found and name else (project, value)


async def link_training_inputs(
    graph: GraphWriter, event: RunFinished | ModelVersionCreated, run: NodeRef, project: str
) -> None:
    for found in dataset_refs(event):
        dataset = await graph.resolve(NodeType.TRAINING_DATASET, found.ref, project=project)
        await graph.edge(dataset, run, found.kind, project=project)
    service = feature_service_ref(event, project)
    if service is not None:
        service_project, name = service
        node = await graph.reference(
            NodeType.FEATURE_SERVICE, named_key(service_project, name), project=service_project, name=name
        )
        await graph.edge(node, run, EdgeKind.TRAINED_ON, project=project)


async def on_run_finished(graph: GraphWriter, delivered: Delivered[RunFinished]) -> None:
    event = delivered.event
    run_id, project = text(event.run_id), delivered.project
    if run_id is None or project is None:
        return
    run = await graph.node(
        NodeType.EXPERIMENT_RUN,
        run_id,
        project=project,
        name=text(event.run_name) or run_id,
        attributes={
            "run_id": run_id,
            "run_name": text(event.run_name),
            "experiment_id": text(event.experiment_id),
            "experiment_name": text(event.experiment_name),
            "status": text(event.status),
            "start_time": iso(event.start_time),
            "end_time": iso(event.end_time),
            "user_id": text(event.user_id),
            "artifact_uri": text(event.artifact_uri),
            "metrics": dict(event.metrics) or None,
            "params": _trimmed(dict(event.params)) or None,
        },
    )
    await link_training_inputs(graph, event, run, project)


async def on_registry_version(graph: GraphWriter, delivered: Delivered[ModelVersionCreated]) -> None:
    """An MLflow registry version: the catalogue's own event draws run → model_version; this one adds
    the source run's training links (its params are in the payload) before the run has even finished."""
    run_id, project = text(delivered.event.run_id), delivered.project
    if run_id is None or project is None:
        return
    run = await graph.reference(NodeType.EXPERIMENT_RUN, run_id, project=project)
    await link_training_inputs(graph, delivered.event, run, project)


async def on_run_linked(graph: GraphWriter, delivered: Delivered[RunLinked]) -> None:
    event = delivered.event
    run_id, project, model, version = text(event.run_id), delivered.project, text(event.model), event.version
    if run_id is None or project is None or model is None:
        return
    run = await graph.reference(NodeType.EXPERIMENT_RUN, run_id, project=project)
    model_version = await graph.reference(
        NodeType.MODEL_VERSION,
        named_key(project, model, version),
        project=project,
        name=f"{model} v{version}",
        alias=text(event.catalogue_version_id),
    )
    await graph.edge(run, model_version, EdgeKind.REGISTERED_AS, project=project)


HANDLERS: dict[str, GraphHandler] = {
    RunFinished.event_type: on_run_finished,
    ModelVersionCreated.event_type: on_registry_version,
    RunLinked.event_type: on_run_linked,
}
