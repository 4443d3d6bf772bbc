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

from mlplatform.modules.features.api import FeaturesMaterialized, TrainingDatasetCreated, ValidationReportCreated
from mlplatform.modules.lineage.mapping.events import Delivered, text
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


async def materialization(ctx: BuildContext, delivered: Delivered[FeaturesMaterialized]) -> list[RunEvent]:
    event = delivered.event
    project, job_id = delivered.project, text(event.job_id)
    if project is None or job_id is None:
        return []
    job = await ctx.node(NodeType.JOB, job_id)
    if job is None:
        return []
    views = await ctx.downstream(job, EdgeKind.PRODUCED, NodeType.FEATURE_VIEW)
    sources = await ctx.upstream(job, EdgeKind.READ, NodeType.DATA_SOURCE)
    outputs = [feature_view_dataset(node, prefix=ctx.prefix).as_output() for node in views]
    if len(outputs) == 1:
        outputs[0].outputFacets = {
            "outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=event.rows, producer=PRODUCER)
        }
    record = await ctx.job(job_id)
    ended = (record.finished_at if record else None) or delivered.occurred_at
    window = {k: v for k, v in (("start", text(event.start)), ("end", text(event.end))) if v}
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


async def historical_retrieval(ctx: BuildContext, delivered: Delivered[TrainingDatasetCreated]) -> list[RunEvent]:
    event = delivered.event
    project, dataset_id = delivered.project, text(event.dataset_id)
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
    output.outputFacets = {
        "outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=event.row_count, producer=PRODUCER)
    }
    job_id = text(event.job_id)
    record = await ctx.job(job_id)
    ended = (record.finished_at if record else None) or delivered.occurred_at
    return start_and_end(
        terminal=RunState.COMPLETE,
        started=(record.started_at if record else None) or ended,
        ended=ended,
        run=run_id("job", job_id or f"dataset:{dataset_id}"),
        namespace=ctx.namespace(project),
        job=naming.retrieval_job(text(event.feature_service)),
        job_type="HISTORICAL_RETRIEVAL",
        inputs=inputs,
        outputs=[output],
    )


def _quality_facets(event: ValidationReportCreated) -> dict[str, InputDatasetFacet]:
    outcome = (text(event.outcome) or "").lower()
    kind = text(event.kind) or "expectations"
    failed = event.rows_failed
    assertions = [
        Assertion(assertion=f"{kind}_expectations", success=outcome in PASSING_OUTCOMES, name=outcome or None),
        Assertion(assertion="rows_failed", success=failed == 0, expected="0", actual=str(failed)),
    ]
    return {
        "dataQualityAssertions": DataQualityAssertionsDatasetFacet(assertions=assertions, producer=PRODUCER),
        "dataQualityMetrics": DataQualityMetricsInputDatasetFacet(
            columnMetrics={}, rowCount=event.rows_checked, producer=PRODUCER
        ),
    }


async def feature_validation(ctx: BuildContext, delivered: Delivered[ValidationReportCreated]) -> list[RunEvent]:
    event = delivered.event
    project, report_id, view_name = delivered.project, text(event.report_id), text(event.feature_view)
    if project is None or report_id is None or view_name is None:
        return []
    report = await ctx.node(NodeType.VALIDATION_REPORT, report_id)
    view = await ctx.node(NodeType.FEATURE_VIEW, named_key(project, view_name))
    if report is None or view is None:
        return []
    return start_and_end(
        terminal=RunState.COMPLETE,
        started=delivered.occurred_at,
        ended=delivered.occurred_at,
        run=run_id("validation", report_id),
        namespace=ctx.namespace(project),
        job=naming.feature_validation_job(view_name),
        job_type="VALIDATION",
        inputs=[feature_view_dataset(view, prefix=ctx.prefix).as_input(_quality_facets(event))],
        outputs=[validation_report_dataset(report, prefix=ctx.prefix).as_output()],
    )


BUILDERS: dict[str, Builder] = {
    FeaturesMaterialized.event_type: materialization,
    TrainingDatasetCreated.event_type: historical_retrieval,
    ValidationReportCreated.event_type: feature_validation,
}
