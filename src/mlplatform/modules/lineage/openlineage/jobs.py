"""Failed platform jobs → OpenLineage RunEvents: START, then FAIL with the `errorMessage` run facet.

The kernel's job runner publishes `JobFailed` in the transaction that records a job as failed (an
error, a time-out, its last retry, or a dead worker). For the features jobs it becomes the same job
(namespace `mlplatform/<project>`, name) and, for materializations and retrievals, the same runId
(uuid5 of the platform job id) their COMPLETE would have had:

- `features.materialize` → `materialize.<views>`; inputs: the views' data sources.
- `features.historical` → `historical_retrieval.<feature service>`; inputs: the feature views (and service).
- `features.validate` → `validate.feature_views.<view>`; input: the view. A finished check's runId comes
  from its report id; a failed one has no report, so its runId comes from the job id.

A failed run names no outputs (it wrote nothing anyone should read). Other job kinds are ignored.
"""

from __future__ import annotations

from openlineage.client.event_v2 import RunEvent, RunState

from mlplatform.kernel.jobs.events import JobFailed
from mlplatform.modules.lineage.mapping.events import Delivered, parse_time, text
from mlplatform.modules.lineage.mapping.jobs import HISTORICAL, MATERIALIZE, FailedJob
from mlplatform.modules.lineage.openlineage import naming
from mlplatform.modules.lineage.openlineage.builders import Builder
from mlplatform.modules.lineage.openlineage.datasets import BuildContext, dataset_of
from mlplatform.modules.lineage.openlineage.runs import run_id, start_and_end
from mlplatform.modules.lineage.vocabulary import EdgeKind, NodeType

JOB_TYPES = {MATERIALIZE: "MATERIALIZATION", HISTORICAL: "HISTORICAL_RETRIEVAL"}


def _job_name(job: FailedJob) -> str:
    if job.kind == MATERIALIZE:
        return naming.materialization_job(job.feature_views)
    if job.kind == HISTORICAL:
        return naming.retrieval_job(job.text("feature_service"))
    views = job.feature_views
    return naming.feature_validation_job(views[0] if views else "features")


async def job_failed(ctx: BuildContext, delivered: Delivered[JobFailed]) -> list[RunEvent]:
    event = delivered.event
    job = FailedJob(delivered)
    if not job.mapped or job.project is None:
        return []
    node = await ctx.node(NodeType.JOB, job.job_id)
    if node is None:
        return []
    inputs = [
        built.as_input()
        for read in await ctx.upstream(node, EdgeKind.READ)
        if (built := dataset_of(read, ctx.postgres, prefix=ctx.prefix)) is not None
    ]
    record = await ctx.job(job.job_id)
    ended = (record.finished_at if record else None) or delivered.occurred_at
    started = parse_time(event.started_at) or (record.started_at if record else None) or ended
    error = text(event.error) or (record.error if record else None) or "the job failed"
    attempts = event.attempts
    return start_and_end(
        terminal=RunState.FAIL,
        started=started,
        ended=ended,
        run=run_id("job", job.job_id),
        namespace=ctx.namespace(job.project),
        job=_job_name(job),
        job_type=JOB_TYPES.get(job.kind or "", "VALIDATION"),
        inputs=inputs,
        outputs=[],
        error=f"{error} (after {attempts} attempts)" if attempts and attempts > 1 else error,
        parameters={k: v for k in ("start", "end") if (v := job.text(k))},
    )


BUILDERS: dict[str, Builder] = {JobFailed.event_type: job_failed}
