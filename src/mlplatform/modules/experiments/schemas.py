"""Request and response bodies of the typed experiments API (`/api/v1/projects/{project}/...`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

CatalogueModelName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,128}$")]


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
    version: Annotated[int, msgspec.Meta(ge=1)]
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
