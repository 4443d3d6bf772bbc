"""Response bodies of the serving module's own routes (predictions have theirs in `formats/answers.py`)."""

from __future__ import annotations

import uuid

import msgspec


class WorkerState(msgspec.Struct, kw_only=True):
    slot: int
    pid: int | None
    ready: bool
    in_flight: int
    rss_mb: float | None
    """Resident memory of the worker process (None: not running)."""
    given_up: str | None
    """Why the worker is no longer restarted (it kept failing at start); None while it is."""


class DeploymentWorkers(msgspec.Struct, kw_only=True):
    """A managed deployment's model workers in the replica that answered."""

    deployment_id: uuid.UUID
    version: int
    replica: str
    """`host:pid` of the platform process that runs these workers (each replica runs its own)."""
    state: str
    broken: str | None
    """Why the pool stopped restarting its workers (None: it has not)."""
    processes: int
    alive: int
    ready: int
    restarts: int
    in_flight: int
    load_seconds: float
    """Download, load and warm-up time of the workers."""
    workers: list[WorkerState]
