"""One prediction: route, join features, call the model workers, count it.

The event loop only parses, reads features (one pipelined Redis round trip) and waits on a worker pipe:
`predict` itself always runs in a model worker process.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import Invalid, NotFound, PayloadTooLarge, PlatformError
from mlplatform.modules.serving import metrics
from mlplatform.modules.serving.assembly import Joined, join_features
from mlplatform.modules.serving.formats.payload import FrameInput, PredictRequest, TensorInput
from mlplatform.modules.serving.formats.scoring import as_frame
from mlplatform.modules.serving.monitoring import Monitor
from mlplatform.modules.serving.prediction_log.records import Trace
from mlplatform.modules.serving.prediction_log.writer import PredictionLog
from mlplatform.modules.serving.routing import entity_bucket, pick
from mlplatform.modules.serving.served import Served
from mlplatform.modules.serving.supervisor import Supervisor
from mlplatform.modules.serving.workers.errors import ModelRaised, PredictInputError, WorkerUnavailable


@dataclass(frozen=True)
class Outcome:
    served: Served
    predictions: Any
    joined: Joined | None


def choose(
    supervisor: Supervisor, project: str, model: str, environment: str, request: PredictRequest, request_id: str
) -> Served:
    """The deployment of `model` in `environment` that answers `request` (traffic shares, sticky per entity)."""
    candidates = supervisor.candidates(project, model, environment)
    served = pick(candidates, entity_bucket(request.entities, request_id)) if candidates else None
    if served is None:
        raise _nothing_live(supervisor, project, model, environment)
    return served


def pick_among(candidates: Sequence[Served], entities: dict[str, list[Any]] | None, request_id: str) -> Served:
    """`choose` among candidates already found (at least one); a 0 % share set picks the first."""
    return pick(candidates, entity_bucket(entities, request_id)) or candidates[0]


def by_id(supervisor: Supervisor, project: str, deployment_id: uuid.UUID) -> Served:
    served = supervisor.served.get(deployment_id)
    if served is None or served.deployment.project != project:
        if deployment_id in supervisor.failures:
            raise WorkerUnavailable(
                f"deployment {deployment_id} failed to load: {supervisor.failures[deployment_id][1]}",
                deployment_id=str(deployment_id),
            )
        raise NotFound(
            f"deployment {deployment_id} is not a live managed deployment of project {project!r} in this replica "
            "(external, retired, failed or still loading: GET the deployment for its status)",
        )
    return served


def _nothing_live(supervisor: Supervisor, project: str, model: str, environment: str) -> PlatformError:
    return NotFound(
        f"model {model!r} of project {project!r} has no active managed deployment in environment {environment!r}"
        + (" on this replica yet" if supervisor.loading_any(project, model) else ""),
        environment=environment,
    )


async def predict(
    platform: PlatformContext,
    served: Served,
    request: PredictRequest,
    monitor: Monitor | None = None,
    trace: Trace | None = None,
) -> Outcome:
    deployment = served.deployment
    labels = (deployment.project, deployment.model, str(deployment.id), str(deployment.version))
    started = time.perf_counter()
    outcome = "ok"
    model_input: FrameInput | TensorInput | None = None
    joined = answer = None
    try:
        rows = request.rows
        if rows > deployment.serving.max_rows:
            raise PayloadTooLarge(
                f"{rows} rows; deployment {deployment.id} takes at most {deployment.serving.max_rows} per request "
                "(serving.max_rows)",
                rows=rows,
            )
        joined = None
        if request.entities:
            given = _frame(served, request.input) if request.input is not None else None
            if request.input is not None and given is None:
                raise Invalid("inputs: request values beside entities must be named columns", field="inputs")
            model_input, joined = await join_features(platform, served, request.entities, given)
            result = await served.pool.predict_frame(model_input.columns, params=request.params)
        elif request.input is None:
            raise Invalid(
                "body: give the model's input (dataframe_split, dataframe_records, instances, inputs) or entities"
            )
        else:
            columns = model_input = _frame(served, request.input)
            if columns is not None:
                result = await served.pool.predict_frame(columns.columns, params=request.params)
            else:
                assert isinstance(request.input, TensorInput)
                model_input = request.input
                result = await served.pool.predict_tensor(request.input.data, params=request.params)
        metrics.ROWS.labels(*labels).inc(rows)
        answer = Outcome(served=served, predictions=result.predictions, joined=joined)
        return answer
    except (PredictInputError, Invalid, PayloadTooLarge):
        outcome = "bad_input"
        raise
    except ModelRaised:
        outcome = "model_error"
        raise
    except WorkerUnavailable:
        outcome = "unavailable"
        raise
    finally:
        elapsed = time.perf_counter() - started
        metrics.PREDICTIONS.labels(*labels, outcome).inc()
        metrics.LATENCY.labels(*labels).observe(elapsed)
        if monitor is not None:
            monitor.observe(deployment.project, deployment.id, elapsed, outcome, request.rows)
        if trace is not None:
            predictions = answer.predictions if answer is not None else None
            trace.fill(served, outcome, elapsed, model_input, joined, predictions, answered=answer is not None)


async def predict_settled(
    platform: PlatformContext,
    supervisor: Supervisor,
    served: Served,
    request: PredictRequest,
    log: PredictionLog | None = None,
    request_id: str = "",
) -> Outcome:
    """`predict`, once more on the deployment's new pool when its pool was replaced (a swap, new serving
    options) while the request was on its way: the old pool takes no new work once it drains, and a swap
    must lose no request. The prediction log gets the request once, as it ended (nothing, at a float
    compare's cost, when the deployment logs nothing)."""
    trace = Trace(request, request_id) if log is not None and served.deployment.serving.log_sample_rate else None
    try:
        try:
            answer = await predict(platform, served, request, supervisor.monitor, trace)
        except WorkerUnavailable:
            current = supervisor.served.get(served.deployment.id)
            if current is None or current.pool is served.pool:
                raise
            answer = await predict(platform, current, request, supervisor.monitor, trace)
    except Exception as exc:
        if trace is not None and log is not None:
            log.record(trace, exc)
        raise
    if trace is not None and log is not None:
        log.record(trace, None)
    return answer


MAX_MIRRORED = 64
"""Shadow predictions in flight at once per replica; beyond that a copy is dropped (and counted), so a slow
shadow never holds memory or slows the deployments that answer."""


def mirror(
    platform: PlatformContext,
    supervisor: Supervisor,
    served: Served,
    request: PredictRequest,
    log: PredictionLog | None = None,
    request_id: str = "",
) -> None:
    """Send a copy of `request` to the shadow deployments of `served`'s model and environment, off the request's
    path: their answers are counted (metrics, monitoring records) and, by a shadow's own `log_sample_rate`,
    written to its prediction log under the same request id, never returned."""
    d = served.deployment
    for shadow in supervisor.shadows_of(d.project, d.model, d.environment):
        if len(supervisor.mirrored) >= MAX_MIRRORED:
            metrics.SHADOW_DROPPED.labels(d.project, d.model, str(shadow.deployment.id)).inc()
            continue
        task = asyncio.get_running_loop().create_task(_shadow(platform, supervisor, shadow, request, log, request_id))
        supervisor.mirrored.add(task)
        task.add_done_callback(supervisor.mirrored.discard)


async def _shadow(
    platform: PlatformContext,
    supervisor: Supervisor,
    shadow: Served,
    request: PredictRequest,
    log: PredictionLog | None,
    request_id: str,
) -> None:
    trace = Trace(request, request_id) if log is not None and shadow.deployment.serving.log_sample_rate else None
    try:  # counted by `predict` like any answer; nobody waits for it
        await predict(platform, shadow, request, supervisor.monitor, trace)
    except PlatformError as exc:
        if trace is not None and log is not None:
            log.record(trace, exc)
        return
    if trace is not None and log is not None:
        log.record(trace, None)


def _frame(served: Served, model_input: FrameInput | TensorInput) -> FrameInput | None:
    if isinstance(model_input, FrameInput):
        return model_input
    signature = served.info.inputs
    if signature is None or served.info.tensor_inputs:
        return None
    columns: Sequence[str] = [column.name for column in signature]
    return as_frame(model_input, columns)
