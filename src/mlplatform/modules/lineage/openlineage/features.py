"""Features events → OpenLineage RunEvents (jobs in the namespace `mlplatform/<project>`).

- FeaturesMaterialized → job `materialize.<views>`: START, COMPLETE (runId from the platform job id;
  times from the job record); the views' data sources → the feature views (with the rows written).
- TrainingDatasetCreated → job `historical_retrieval.<feature service>`: START, COMPLETE; the feature
  views (and service) → the training dataset (parquet in the object store).
- ValidationReportCreated → job `validate.feature_views.<view>`: START, COMPLETE; the view with a
  `dataQualityAssertions` input facet (and its row count) → the report.

A job that fails is reported by the kernel's job runner (`JobFailed`): `jobs.py` turns it into START +
FAIL on the same job (and, for materializations and retrievals, the same runId).
"""

from __future__ import annotations

from openlineage.client.event_v2 import RunEvent, RunState
from openlineage.client.generated.base import InputDatasetFacet
from openlineage.client.generated.data_quality_assertions_dataset import Assertion, DataQualityAssertionsDatasetFacet
from openlineage.client.generated.data_quality_metrics_input_dataset import DataQualityMetricsInputDatasetFacet
from openlineage.client.generated.output_statistics_output_dataset import OutputStatisticsOutputDatasetFacet

from mlplatform.modules.lineage.mapping.payload import EventView
from mlplatform.modules.lineage.openlineage import naming
from mlplatform.modules.lineage.openlineage.builders import Builder
from mlplatform.modules.lineage.openlineage.datasets import (
    BuildContext,
    data_source_dataset,
    dataset_of,
    feature_view_dataset,
    training_dataset,
    validation_report_dataset,
)
from mlplatform.modules.lineage.openlineage.facets import PRODUCER
from mlplatform.modules.lineage.openlineage.runs import run_id, start_and_end
from mlplatform.modules.lineage.vocabulary import EdgeKind, NodeType, named_key

PASSING_OUTCOMES = {"passed"}


async def materialization(ctx: BuildContext, event: EventView) -> list[RunEvent]:
    project, job_id = event.project, event.text("job_id")
    if project is None or job_id is None:
        return []
    job = await ctx.node(NodeType.JOB, job_id)
    if job is None:
        return []
    views = await ctx.downstream(job, EdgeKind.PRODUCED, NodeType.FEATURE_VIEW)
    sources = await ctx.upstream(job, EdgeKind.READ, NodeType.DATA_SOURCE)
    outputs = [feature_view_dataset(node, prefix=ctx.prefix).as_output() for node in views]
    rows = event.integer("rows")
    if rows is not None and len(outputs) == 1:
        outputs[0].outputFacets = {
            "outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=rows, producer=PRODUCER)
        }
    record = await ctx.job(job_id)
    ended = (record.finished_at if record else None) or event.occurred_at
    window = {k: v for k in ("start", "end") if (v := event.text(k))}
    return start_and_end(
        terminal=RunState.COMPLETE,
        started=(record.started_at if record else None) or ended,
        ended=ended,
        run=run_id("job", job_id),
        namespace=ctx.namespace(project),
        job=naming.materialization_job([node.name for node in views]),
        job_type="MATERIALIZATION",
        inputs=[data_source_dataset(node, ctx.postgres, prefix=ctx.prefix).as_input() for node in sources],
        outputs=outputs,
        parameters=window,
    )


async def historical_retrieval(ctx: BuildContext, event: EventView) -> list[RunEvent]:
    project, dataset_id = event.project, event.text("dataset_id")
    if project is None or dataset_id is None:
        return []
    dataset = await ctx.node(NodeType.TRAINING_DATASET, dataset_id)
    if dataset is None:
        return []
    inputs = [
        built.as_input()
        for node in await ctx.upstream(dataset, EdgeKind.READ)
        if (built := dataset_of(node, ctx.postgres, prefix=ctx.prefix)) is not None
    ]
    output = training_dataset(dataset, prefix=ctx.prefix).as_output()
    rows = event.integer("row_count")
    if rows is not None:
        output.outputFacets = {"outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=rows, producer=PRODUCER)}
    job_id = event.text("job_id")
    record = await ctx.job(job_id)
    ended = (record.finished_at if record else None) or event.occurred_at
    return start_and_end(
        terminal=RunState.COMPLETE,
        started=(record.started_at if record else None) or ended,
        ended=ended,
        run=run_id("job", job_id or f"dataset:{dataset_id}"),
        namespace=ctx.namespace(project),
        job=naming.retrieval_job(event.text("feature_service")),
        job_type="HISTORICAL_RETRIEVAL",
        inputs=inputs,
        outputs=[output],
    )


def _quality_facets(event: EventView) -> dict[str, InputDatasetFacet]:
    outcome = (event.text("outcome") or "").lower()
    checked, failed = event.integer("rows_checked"), event.integer("rows_failed")
    kind = event.text("kind") or "expectations"
    assertions = [
        Assertion(assertion=f"{kind}_expectations", success=outcome in PASSING_OUTCOMES, name=outcome or None)
    ]
    if failed is not None:
        assertions.append(Assertion(assertion="rows_failed", success=failed == 0, expected="0", actual=str(failed)))
    facets: dict[str, InputDatasetFacet] = {
        "dataQualityAssertions": DataQualityAssertionsDatasetFacet(assertions=assertions, producer=PRODUCER)
    }
    if checked is not None:
        facets["dataQualityMetrics"] = DataQualityMetricsInputDatasetFacet(
            columnMetrics={}, rowCount=checked, producer=PRODUCER
        )
    return facets


async def feature_validation(ctx: BuildContext, event: EventView) -> list[RunEvent]:
    project, report_id, view_name = event.project, event.text("report_id"), event.text("feature_view")
    if project is None or report_id is None or view_name is None:
        return []
    report = await ctx.node(NodeType.VALIDATION_REPORT, report_id)
    view = await ctx.node(NodeType.FEATURE_VIEW, named_key(project, view_name))
    if report is None or view is None:
        return []
    return start_and_end(
        terminal=RunState.COMPLETE,
        started=event.occurred_at,
        ended=event.occurred_at,
        run=run_id("validation", report_id),
        namespace=ctx.namespace(project),
        job=naming.feature_validation_job(view_name),
        job_type="VALIDATION",
        inputs=[feature_view_dataset(view, prefix=ctx.prefix).as_input(_quality_facets(event))],
        outputs=[validation_report_dataset(report, prefix=ctx.prefix).as_output()],
    )


BUILDERS: dict[str, Builder] = {
    "FeaturesMaterialized": materialization,
    "TrainingDatasetCreated": historical_retrieval,
    "ValidationReportCreated": feature_validation,
}
