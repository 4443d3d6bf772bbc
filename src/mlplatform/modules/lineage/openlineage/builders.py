"""Domain events → OpenLineage RunEvents (catalogue and experiments; features in `features.py`).

Jobs live in the namespace `mlplatform/<project>`.

- experiments.RunFinished → job `train.<experiment name>`: START, then COMPLETE / FAIL / ABORT (MLflow's
  FINISHED / FAILED / KILLED; `errorMessage` on FAIL and ABORT). Inputs: the training datasets and
  feature services the run trained on, and the evaluation data it logged (an MLflow dataset input's
  digest becomes the `version` facet); outputs: the model versions registered from the run so far.
- catalogue.ModelVersionCreated, experiments.RunLinked, for a run that already finished → OTHER on that run
  (same runId), with the new model version as output.
- catalogue.ValidationRecorded → job `validate.<model>.<check>`: START, COMPLETE (FAIL for a check that errored);
  input: the model version with a `dataQualityAssertions` facet; output: the report.
- catalogue.DeploymentChanged → job `deploy.<model>.<environment>`: START, COMPLETE (FAIL for a failed deployment);
  model version → deployment (with `lifecycleStateChange: DROP` when retired).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from openlineage.client.event_v2 import RunEvent, RunState
from openlineage.client.generated.base import InputDatasetFacet
from openlineage.client.generated.data_quality_assertions_dataset import (
    Assertion,
    DataQualityAssertionsDatasetFacet,
)
from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet
from openlineage.client.generated.lifecycle_state_change_dataset import (
    LifecycleStateChange,
    LifecycleStateChangeDatasetFacet,
)

from mlplatform.modules.catalogue.api import DeploymentChanged, ValidationRecorded
from mlplatform.modules.catalogue.api import ModelVersionCreated as CatalogueVersionCreated
from mlplatform.modules.experiments.api import RunFinished, RunLinked
from mlplatform.modules.lineage.mapping.events import Delivered, parse_time, text
from mlplatform.modules.lineage.mapping.experiments import dataset_refs
from mlplatform.modules.lineage.models import LineageNode
from mlplatform.modules.lineage.openlineage import naming
from mlplatform.modules.lineage.openlineage.datasets import (
    BuildContext,
    dataset_of,
    deployment_dataset,
    model_version_dataset,
    node_uri,
    validation_report_dataset,
)
from mlplatform.modules.lineage.openlineage.facets import PRODUCER
from mlplatform.modules.lineage.openlineage.runs import run_event, run_facets, run_id, start_and_end
from mlplatform.modules.lineage.vocabulary import EdgeKind, NodeType, named_key

Builder = Callable[[BuildContext, Delivered[Any]], Awaitable[list[RunEvent]]]

RUN_STATES = {"FINISHED": RunState.COMPLETE, "FAILED": RunState.FAIL, "KILLED": RunState.ABORT}


def training_run_id(mlflow_run_id: str) -> str:
    return run_id("mlflow-run", mlflow_run_id)


def _training_job(run: LineageNode) -> str:
    attributes = run.attributes or {}
    name = attributes.get("experiment_name")
    experiment = attributes.get("experiment_id")
    return naming.training_job(
        name if isinstance(name, str) else None, experiment if isinstance(experiment, str) else None
    )


async def training_run(ctx: BuildContext, delivered: Delivered[RunFinished]) -> list[RunEvent]:
    event = delivered.event
    run_id_value, project = text(event.run_id), delivered.project
    if run_id_value is None or project is None:
        return []
    run = await ctx.node(NodeType.EXPERIMENT_RUN, run_id_value)
    if run is None:
        return []
    digests = {found.ref: found.digest for found in dataset_refs(event) if found.digest}
    inputs = []
    seen: set[tuple[str, str]] = set()
    for kind in (EdgeKind.TRAINED_ON, EdgeKind.READ):
        for node in await ctx.upstream(run, kind):
            dataset = dataset_of(node, ctx.postgres, prefix=ctx.prefix)
            if dataset is None or dataset.identity in seen:
                continue
            seen.add(dataset.identity)
            digest = next((digests[ref] for ref in (node.key, node.alias, node_uri(node)) if ref in digests), None)
            if digest is not None:
                dataset.facets["version"] = DatasetVersionDatasetFacet(datasetVersion=digest, producer=PRODUCER)
            inputs.append(dataset.as_input())
    outputs = [
        model_version_dataset(node, prefix=ctx.prefix).as_output()
        for node in await ctx.downstream(run, EdgeKind.REGISTERED_AS, NodeType.MODEL_VERSION)
    ]
    status = (text(event.status) or "FINISHED").upper()
    ended = parse_time(event.end_time) or delivered.occurred_at
    started = parse_time(event.start_time) or ended
    return start_and_end(
        terminal=RUN_STATES.get(status, RunState.COMPLETE),
        started=started,
        ended=ended,
        run=training_run_id(run_id_value),
        namespace=ctx.namespace(project),
        job=_training_job(run),
        job_type="TRAINING",
        inputs=inputs,
        outputs=outputs,
        error=f"MLflow run ended {status}" if status in {"FAILED", "KILLED"} else None,
        parameters=dict(event.params),
    )


async def _registration(ctx: BuildContext, at: datetime, run_key: str, version_key: str) -> list[RunEvent]:
    """A model version registered from a run that already ended: an OTHER event on that run adds it as an
    output (before the run ends, the run's COMPLETE lists it instead)."""
    run = await ctx.node(NodeType.EXPERIMENT_RUN, run_key)
    version = await ctx.node(NodeType.MODEL_VERSION, version_key)
    if run is None or version is None or run.placeholder or run.project is None:
        return []
    return [
        run_event(
            RunState.OTHER,
            at=at,
            run=training_run_id(run_key),
            namespace=ctx.namespace(run.project),
            job=_training_job(run),
            job_type="TRAINING",
            outputs=[model_version_dataset(version, prefix=ctx.prefix).as_output()],
        )
    ]


async def model_version_registered(ctx: BuildContext, delivered: Delivered[CatalogueVersionCreated]) -> list[RunEvent]:
    event = delivered.event
    project, model, source_run = delivered.project, text(event.model), text(event.source_run_id)
    if project is None or model is None or source_run is None:
        return []
    return await _registration(ctx, delivered.occurred_at, source_run, named_key(project, model, event.version))


async def run_linked(ctx: BuildContext, delivered: Delivered[RunLinked]) -> list[RunEvent]:
    event = delivered.event
    project, model, source_run = delivered.project, text(event.model), text(event.run_id)
    if project is None or model is None or source_run is None:
        return []
    return await _registration(ctx, delivered.occurred_at, source_run, named_key(project, model, event.version))


async def model_validation(ctx: BuildContext, delivered: Delivered[ValidationRecorded]) -> list[RunEvent]:
    event = delivered.event
    project, model, version = delivered.project, text(event.model), event.version
    validation_id, check = text(event.validation_id), text(event.name) or "validation"
    if project is None or model is None or validation_id is None:
        return []
    version_node = await ctx.node(NodeType.MODEL_VERSION, named_key(project, model, version))
    report = await ctx.node(NodeType.VALIDATION_REPORT, validation_id)
    if version_node is None or report is None:
        return []
    status = (text(event.status) or "").lower()
    assertions: dict[str, InputDatasetFacet] = {
        "dataQualityAssertions": DataQualityAssertionsDatasetFacet(
            assertions=[Assertion(assertion=check, success=status == "passed", name=check, severity="error")],
            producer=PRODUCER,
        )
    }
    at = delivered.occurred_at
    return start_and_end(
        terminal=RunState.COMPLETE if status in {"passed", "failed"} else RunState.FAIL,
        started=at,
        ended=at,
        run=run_id("validation", validation_id),
        namespace=ctx.namespace(project),
        job=naming.model_validation_job(model, check),
        job_type="VALIDATION",
        inputs=[model_version_dataset(version_node, prefix=ctx.prefix).as_input(assertions)],
        outputs=[validation_report_dataset(report, prefix=ctx.prefix).as_output()],
        error=None if status in {"passed", "failed"} else f"validation {check} ended {status or 'without a status'}",
    )


async def deployment_changed(ctx: BuildContext, delivered: Delivered[DeploymentChanged]) -> list[RunEvent]:
    event = delivered.event
    project, model, version = delivered.project, text(event.model), event.version
    environment = text(event.environment) or "default"
    if project is None or model is None:
        return []
    version_node = await ctx.node(NodeType.MODEL_VERSION, named_key(project, model, version))
    deployment = await ctx.node(NodeType.DEPLOYMENT, delivered.stored.aggregate_id)
    if version_node is None or deployment is None:
        return []
    output = deployment_dataset(deployment, prefix=ctx.prefix)
    if text(event.change) == "retired":
        output.facets["lifecycleStateChange"] = LifecycleStateChangeDatasetFacet(
            lifecycleStateChange=LifecycleStateChange.DROP, producer=PRODUCER
        )
    failed = text(event.status) == "failed"
    return start_and_end(
        terminal=RunState.FAIL if failed else RunState.COMPLETE,
        started=delivered.occurred_at,
        ended=delivered.occurred_at,
        run=run_id("deployment-change", str(delivered.stored.id)),
        namespace=ctx.namespace(project),
        job=naming.deployment_job(model, environment),
        job_type="DEPLOYMENT",
        inputs=[model_version_dataset(version_node, prefix=ctx.prefix).as_input()],
        outputs=[output.as_output()],
        error=(text(event.reason) or f"deployment to {environment} failed") if failed else None,
    )


BUILDERS: dict[str, Builder] = {
    RunFinished.event_type: training_run,
    CatalogueVersionCreated.event_type: model_version_registered,
    RunLinked.event_type: run_linked,
    ValidationRecorded.event_type: model_validation,
    DeploymentChanged.event_type: deployment_changed,
}

__all__ = ["BUILDERS", "Builder", "run_facets", "training_run_id"]
