"""Experiments events → graph (read from `mlplatform/modules/experiments/events.py` by field name).

| event | nodes | edges |
|---|---|---|
| experiments.RunFinished | experiment_run `<run id>` | dataset / feature_service trained_on → run (eval data: read) |
| experiments.ModelVersionCreated | experiment_run (referenced) | the same training links, from the run's params/tags |
| experiments.RunLinked | | run registered_as → model_version `<project>/<model>/<version>` |

How a run names what it trained on: the run tag (or param) `mlplatform.training_dataset` holds the
dataset id(s) the features module returned (comma-separated for several), `mlplatform.feature_service`
a feature service (`<name>` in the run's project, or `<project>/<name>`). An MLflow dataset input
(`dataset_inputs`: [{name, digest, source_type, source, context}]) links by its source's URI (the
training dataset's storage URI; other data is recorded under its URI too), else by its name when that
is a dataset id (a UUID); an input without either (a pandas frame from code) is left out. Inputs
logged for training (context `training`, or none) are `trained_on` edges, the others (`validation`,
`evaluation` ...) `read` edges.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from mlplatform.modules.lineage.mapping.payload import EventView, lookup, names_in
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


def dataset_refs(event: EventView) -> list[InputRef]:
    """Training datasets (ids or storage URIs) the run names in tags, params and dataset inputs."""
    tags, params = event.mapping("tags"), event.mapping("params")
    found = [InputRef(ref) for ref in names_in(lookup(tags, params, TRAINING_DATASET_TAG) or "")]
    for item in event.items("dataset_inputs") or event.items("inputs"):
        if not isinstance(item, dict):
            continue
        nested = item.get("dataset")
        dataset: dict[str, Any] = nested if isinstance(nested, dict) else item
        location = _input_ref(dataset)
        if location is None:
            continue
        context = item.get("context")
        training = not isinstance(context, str) or context.strip().lower() in TRAINING_CONTEXTS
        digest = dataset.get("digest")
        found.append(
            InputRef(
                location,
                EdgeKind.TRAINED_ON if training else EdgeKind.READ,
                digest if isinstance(digest, str) and digest else None,
            )
        )
    unique: dict[tuple[str, EdgeKind], InputRef] = {}
    for item_ref in found:
        known = unique.get((item_ref.ref, item_ref.kind))
        if known is None or (known.digest is None and item_ref.digest is not None):
            unique[(item_ref.ref, item_ref.kind)] = item_ref
    return list(unique.values())


def _input_ref(dataset: dict[str, Any]) -> str | None:
    """The URI of an MLflow dataset input's source, else its name when that is a dataset id."""
    source = dataset.get("source")
    if isinstance(source, str) and source.strip():
        uri = _source_uri(source.strip())
        if uri is not None:
            return uri
    name = dataset.get("name")
    if isinstance(name, str) and _is_uuid(name.strip()):
        return name.strip()
    return None


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


def feature_service_ref(event: EventView, project: str) -> tuple[str, str] | None:
    value = lookup(event.mapping("tags"), event.mapping("params"), FEATURE_SERVICE_TAG)
    if not value:
        return None
    service_project, found, name = value.partition("/")
    return (service_project, name) if found and name else (project, value)


async def link_training_inputs(graph: GraphWriter, event: EventView, run: NodeRef, project: str) -> None:
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


async def on_run_finished(graph: GraphWriter, event: EventView) -> None:
    run_id, project = event.text("run_id"), event.project
    if run_id is None or project is None:
        return
    run = await graph.node(
        NodeType.EXPERIMENT_RUN,
        run_id,
        project=project,
        name=event.text("run_name") or run_id,
        attributes={
            "run_id": run_id,
            "run_name": event.text("run_name"),
            "experiment_id": event.text("experiment_id"),
            "experiment_name": event.text("experiment_name"),
            "status": event.text("status"),
            "start_time": event.text("start_time"),
            "end_time": event.text("end_time"),
            "user_id": event.text("user_id"),
            "artifact_uri": event.text("artifact_uri"),
            "metrics": event.mapping("metrics") or None,
            "params": _trimmed(event.mapping("params")) or None,
        },
    )
    await link_training_inputs(graph, event, run, project)


async def on_registry_version(graph: GraphWriter, event: EventView) -> None:
    """An MLflow registry version: the catalogue's own event draws run → model_version; this one adds
    the source run's training links (its params are in the payload) before the run has even finished."""
    run_id, project = event.text("run_id"), event.project
    if run_id is None or project is None:
        return
    run = await graph.reference(NodeType.EXPERIMENT_RUN, run_id, project=project)
    await link_training_inputs(graph, event, run, project)


async def on_run_linked(graph: GraphWriter, event: EventView) -> None:
    run_id, project = event.text("run_id"), event.project
    model, version = event.text("model"), event.integer("version")
    if run_id is None or project is None or model is None or version is None:
        return
    run = await graph.reference(NodeType.EXPERIMENT_RUN, run_id, project=project)
    model_version = await graph.reference(
        NodeType.MODEL_VERSION,
        named_key(project, model, version),
        project=project,
        name=f"{model} v{version}",
        alias=event.text("catalogue_version_id"),
    )
    await graph.edge(run, model_version, EdgeKind.REGISTERED_AS, project=project)


HANDLERS = {
    "experiments.RunFinished": on_run_finished,
    "experiments.ModelVersionCreated": on_registry_version,
    "experiments.RunLinked": on_run_linked,
}
