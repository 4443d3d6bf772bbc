"""Assembling RunEvents: stable run ids, times, and the job/run facets every platform event carries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from openlineage.client.constants import __version__ as CLIENT_VERSION
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated.base import JobFacet, RunFacet
from openlineage.client.generated.error_message_run import ErrorMessageRunFacet
from openlineage.client.generated.execution_parameters_run import ExecutionParameter, ExecutionParametersRunFacet
from openlineage.client.generated.job_type_job import JobTypeJobFacet
from openlineage.client.generated.nominal_time_run import NominalTimeRunFacet
from openlineage.client.generated.processing_engine_run import ProcessingEngineRunFacet

from mlplatform import __version__
from mlplatform.modules.lineage.openlineage.facets import PRODUCER

RUN_ID_NAMESPACE = uuid.UUID("5b0c7f0e-8f3e-4d6b-9a51-6c1c3f8d2a47")
"""Run ids are uuid5(this, "<kind>:<stable id>"): the same MLflow run, job or validation always gets the
same OpenLineage runId, whichever event (or redelivery) builds it."""

MAX_PARAMETERS = 100


def run_id(kind: str, stable_id: str) -> str:
    return str(uuid.uuid5(RUN_ID_NAMESPACE, f"{kind}:{stable_id}"))


def iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds")


def job_facets(job_type: str, *, processing: str = "BATCH") -> dict[str, JobFacet]:
    return {
        "jobType": JobTypeJobFacet(
            processingType=processing, integration="MLPLATFORM", jobType=job_type, producer=PRODUCER
        ),
    }


def run_facets(
    *,
    nominal_start: datetime | None = None,
    nominal_end: datetime | None = None,
    error: str | None = None,
    parameters: dict[str, Any] | None = None,
) -> dict[str, RunFacet]:
    facets: dict[str, RunFacet] = {
        "processing_engine": ProcessingEngineRunFacet(
            version=__version__, name="mlplatform", openlineageAdapterVersion=CLIENT_VERSION, producer=PRODUCER
        ),
    }
    if nominal_start is not None:
        facets["nominalTime"] = NominalTimeRunFacet(
            nominalStartTime=iso(nominal_start),
            nominalEndTime=iso(nominal_end) if nominal_end is not None else None,
            producer=PRODUCER,
        )
    if error:
        facets["errorMessage"] = ErrorMessageRunFacet(
            message=error[:4000], programmingLanguage="python", producer=PRODUCER
        )
    if parameters:
        facets["executionParameters"] = ExecutionParametersRunFacet(
            parameters=[
                ExecutionParameter(key=str(k), value=str(v)) for k, v in list(parameters.items())[:MAX_PARAMETERS]
            ],
            producer=PRODUCER,
        )
    return facets


def run_event(
    state: RunState,
    *,
    at: datetime,
    run: str,
    namespace: str,
    job: str,
    job_type: str,
    inputs: list[InputDataset] | None = None,
    outputs: list[OutputDataset] | None = None,
    facets: dict[str, RunFacet] | None = None,
) -> RunEvent:
    return RunEvent(
        eventType=state,
        eventTime=iso(at),
        run=Run(runId=run, facets=facets if facets is not None else run_facets()),
        job=Job(namespace=namespace, name=job, facets=job_facets(job_type)),
        inputs=inputs or [],
        outputs=outputs or [],
        producer=PRODUCER,
    )


def start_and_end(
    *,
    terminal: RunState,
    started: datetime,
    ended: datetime,
    run: str,
    namespace: str,
    job: str,
    job_type: str,
    inputs: list[InputDataset],
    outputs: list[OutputDataset],
    error: str | None = None,
    parameters: dict[str, Any] | None = None,
) -> list[RunEvent]:
    """A START and its terminal event (COMPLETE, FAIL or ABORT) for work reported once it ended."""
    return [
        run_event(
            RunState.START,
            at=started,
            run=run,
            namespace=namespace,
            job=job,
            job_type=job_type,
            inputs=inputs,
            facets=run_facets(nominal_start=started, parameters=parameters),
        ),
        run_event(
            terminal,
            at=max(ended, started),
            run=run,
            namespace=namespace,
            job=job,
            job_type=job_type,
            inputs=inputs,
            outputs=outputs,
            facets=run_facets(nominal_start=started, nominal_end=ended, error=error),
        ),
    ]
