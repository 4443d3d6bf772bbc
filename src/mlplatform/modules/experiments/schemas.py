"""Request and response bodies of the typed experiments API (`/api/v1/projects/{project}/...`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from mlplatform.kernel.constraints import whole

CatalogueModelName = Annotated[str, msgspec.Meta(pattern=whole(r"[A-Za-z0-9_.-]{1,128}"))]
INT32_DIGITS = (
    r"0*(?:[0-9]{1,9}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|2147[0-3][0-9]{5}"
    r"|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|21474836[0-3][0-9]|214748364[0-7])"
)
"""0 .. 2**31 - 1 in decimal digits: MLflow stores experiment ids as 32-bit integers."""
ExperimentId = Annotated[
    str, msgspec.Meta(pattern=whole(INT32_DIGITS), description="MLflow experiment id (a number, as text).")
]


class Experiment(msgspec.Struct, kw_only=True):
    """An MLflow experiment of the project."""

    id: str
    name: str
    """MLflow's name, `<project>/<name>`."""
    project: str
    lifecycle_stage: str
    """`active` or `deleted`."""
    artifact_location: str
    tags: dict[str, str]
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Run(msgspec.Struct, kw_only=True):
    """An MLflow run with its latest metric values, params and tags."""

    id: str
    name: str | None
    experiment_id: str
    status: str
    """RUNNING, SCHEDULED, FINISHED, FAILED or KILLED."""
    lifecycle_stage: str
    user_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    artifact_uri: str | None = None
    metrics: dict[str, float] = {}
    params: dict[str, str] = {}
    tags: dict[str, str] = {}


class RunLinkCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Link a run to a catalogue model version of the same project."""

    model: CatalogueModelName
    version: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
    note: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class RunLink(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    project: str
    run_id: str
    experiment_id: str
    model: str
    version: int
    catalogue_version_id: uuid.UUID
    note: str
    created_by: str
    created_at: datetime


class RunDetail(Run, kw_only=True):
    """A run with the catalogue versions it was linked to."""

    links: list[RunLink] = []


class MetricPoint(msgspec.Struct, kw_only=True):
    step: int
    timestamp: datetime
    value: float
