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


class KServeModelFormat(msgspec.Struct, kw_only=True):
    name: str


class KServeResources(msgspec.Struct, kw_only=True):
    requests: dict[str, str]
    limits: dict[str, str]


class KServeModel(msgspec.Struct, kw_only=True, rename="camel"):
    model_format: KServeModelFormat
    protocol_version: str
    storage_uri: str
    """Where the version's model folder is stored (the platform's object store)."""
    resources: KServeResources


class KServePredictor(msgspec.Struct, kw_only=True, rename="camel"):
    min_replicas: int
    model: KServeModel


class KServeSpec(msgspec.Struct, kw_only=True):
    predictor: KServePredictor


class KServeMetadata(msgspec.Struct, kw_only=True):
    name: str
    namespace: str
    labels: dict[str, str]
    annotations: dict[str, str]


class InferenceService(msgspec.Struct, kw_only=True, rename="camel"):
    """The KServe `InferenceService` manifest (YAML) of a managed deployment's current version."""

    api_version: str
    kind: str
    metadata: KServeMetadata
    spec: KServeSpec
