"""Request and response bodies of the catalogue's routes.

Shape limits are declared here (they appear in the OpenAPI document and are enforced while
decoding); the services re-check the same rules (`rules.py`) so `api.py` callers get them too.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from mlplatform.modules.catalogue import rules
from mlplatform.modules.catalogue.rules import DeploymentStatus, Operator, Stage

ModelName = Annotated[str, msgspec.Meta(pattern=rules.NAME_PATTERN, description="1-128 of [A-Za-z0-9_.-]")]
CheckName = Annotated[str, msgspec.Meta(pattern=rules.CHECK_NAME_PATTERN)]
Description = Annotated[str, msgspec.Meta(max_length=rules.MAX_DESCRIPTION)]
Reason = Annotated[str, msgspec.Meta(max_length=2000)]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
Uri = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=rules.MAX_URI,
        pattern=rules.URI_PATTERN,
        description=f"Artifact URI with one of the schemes {', '.join(sorted(rules.URI_SCHEMES))}.",
    ),
]
TagKey = Annotated[str, msgspec.Meta(pattern=rules.TAG_KEY_PATTERN)]
TagValue = Annotated[str, msgspec.Meta(max_length=rules.MAX_TAG_VALUE)]
Tags = Annotated[
    dict[TagKey, TagValue],
    msgspec.Meta(
        max_length=rules.MAX_TAGS,
        description=f"String → string; at most {rules.MAX_TAGS} tags, keys 1-64 of [A-Za-z0-9_.-/], "
        f"values at most {rules.MAX_TAG_VALUE} characters.",
    ),
]
SnapshotKey = Annotated[str, msgspec.Meta(min_length=1, max_length=rules.MAX_SNAPSHOT_KEY)]
Metrics = Annotated[dict[SnapshotKey, float], msgspec.Meta(max_length=rules.MAX_SNAPSHOT_ENTRIES)]
Params = Annotated[
    dict[SnapshotKey, Annotated[str, msgspec.Meta(max_length=rules.MAX_PARAM_VALUE)]],
    msgspec.Meta(max_length=rules.MAX_SNAPSHOT_ENTRIES),
]
RequiredValidations = Annotated[list[CheckName], msgspec.Meta(max_length=rules.MAX_REQUIRED_VALIDATIONS)]
ApprovalPolicy = Annotated[
    dict[
        Annotated[str, msgspec.Meta(pattern=rules.TARGET_STAGE_PATTERN)],
        Annotated[int, msgspec.Meta(ge=0, le=rules.MAX_APPROVALS)],
    ],
    msgspec.Meta(description="Stage → approvals (by maintainers other than the requester) a move into it needs."),
]
VersionNumber = Annotated[int, msgspec.Meta(ge=1, le=rules.MAX_VERSION)]
TrafficShare = Annotated[int, msgspec.Meta(ge=0, le=100, description="Percent of the environment's traffic.")]
Environment = Annotated[str, msgspec.Meta(pattern=rules.ENVIRONMENT_PATTERN)]
MetricName = Annotated[str, msgspec.Meta(pattern=rules.METRIC_NAME_PATTERN)]
Severity = Literal["info", "warning", "critical"]


class _In(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Request bodies reject unknown fields (a typo is an error, not silently ignored)."""


# Models


class ModelCreate(_In):
    name: ModelName
    description: Description = ""
    owner: ShortText | None = None
    """Defaults to the caller."""
    task_type: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    tags: Tags = {}
    required_validations: RequiredValidations = []
    """Checks that must have passed before a version may enter `validated` or `production`."""
    approval_policy: ApprovalPolicy = {}


class ModelUpdate(_In):
    """Fields left out stay as they are. `tags` replaces the whole tag set."""

    description: Description | None = None
    owner: ShortText | None = None
    task_type: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    tags: Tags | None = None
    required_validations: RequiredValidations | None = None
    approval_policy: ApprovalPolicy | None = None


class Model(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    project: str
    name: str
    description: str
    owner: str
    task_type: str | None
    tags: dict[str, str]
    required_validations: list[str]
    approval_policy: dict[str, int]
    latest_version: int
    production_version: int | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    etag: str


# Versions


class FeatureServiceRef(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    feast_project: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class ModelVersionCreate(_In):
    model_uri: Uri
    """`runs:/<run>/model`, `models:/...`, `mlflow-artifacts:/...`, `s3://...` or another artifact URI."""
    source_run_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    mlflow_version: Annotated[str, msgspec.Meta(min_length=1, max_length=32)] | None = None
    framework: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    description: Description = ""
    signature: dict[str, Any] | None = None
    """MLflow model signature; at most 64 KiB of JSON."""
    metrics: Metrics = {}
    params: Params = {}
    tags: Tags = {}
    feature_service: FeatureServiceRef | None = None


class ModelVersionUpdate(_In):
    description: Description | None = None
    framework: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    tags: Tags | None = None


class ModelVersion(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    project: str
    model: str
    version: int
    stage: Stage
    description: str
    source_type: Literal["mlflow", "uri"]
    source_run_id: str | None
    mlflow_version: str | None
    model_uri: str
    framework: str | None
    signature: dict[str, Any] | None
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]
    feature_service: FeatureServiceRef | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    stage_changed_at: datetime
    etag: str
    validations: dict[str, str] | None = None
    """Latest status per check name (detail view only)."""
    missing_validations: list[str] | None = None
    """Required checks not (yet) passed (detail view only)."""
    pending_request: TransitionRequest | None = None


# Validations


class ValidationCreate(_In):
    name: CheckName
    status: Literal["passed", "failed"]
    metrics: Metrics = {}
    report_uri: Uri | None = None
    details: Description = ""


class Validation(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    model: str
    version: int
    name: str
    status: str
    metrics: dict[str, float]
    report_uri: str | None
    details: str
    created_by: str
    created_at: datetime


# Stage transitions and approvals


class TransitionCreate(_In):
    to_stage: Stage
    reason: Reason = ""


class StageTransition(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    model: str
    version: int
    from_stage: str
    to_stage: str
    reason: str
    actor: str
    automatic: bool
    request_id: uuid.UUID | None
    created_at: datetime


class Approval(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    request_id: uuid.UUID
    decision: Literal["approve", "reject"]
    actor: str
    comment: str
    created_at: datetime


class TransitionRequest(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    model: str
    version: int
    from_stage: str
    to_stage: str
    reason: str
    requested_by: str
    required_approvals: int
    approvals: int
    status: Literal["pending", "applied", "rejected", "cancelled", "superseded"]
    decisions: list[Approval]
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None


class TransitionOutcome(msgspec.Struct, kw_only=True):
    """`applied` (200): the version moved; `pending_approval` (202): a request waits for approvals."""

    status: Literal["applied", "pending_approval"]
    version: ModelVersion
    transition: StageTransition | None = None
    request: TransitionRequest | None = None


class ApprovalCreate(_In):
    decision: Literal["approve", "reject"]
    comment: Reason = ""
    request_id: uuid.UUID | None = None
    """The pending request decided on; defaults to the version's (only) pending request."""


class ApprovalOutcome(msgspec.Struct, kw_only=True):
    approval: Approval
    request: TransitionRequest
    version: ModelVersion


# Deployments and monitoring


class MonitoringRuleCreate(_In):
    name: CheckName
    metric: MetricName
    operator: Operator
    """Breach when `value <operator> threshold` (gt, ge, lt, le)."""
    threshold: float
    severity: Severity = "warning"


class MonitoringRule(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    deployment_id: uuid.UUID
    name: str
    metric: str
    operator: str
    threshold: float
    severity: str
    created_by: str
    created_at: datetime


class Alert(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    deployment_id: uuid.UUID
    rule_id: uuid.UUID | None
    rule: str
    metric: str
    operator: str
    threshold: float
    severity: str
    value: float
    breaches: int
    status: Literal["open", "resolved"]
    opened_at: datetime
    last_breach_at: datetime
    resolved_at: datetime | None


FeatureValue = float | int | str | bool


class ServingOptions(_In):
    """How the platform serves a managed deployment (the `serving` module reads these)."""

    feature_service: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    """Feature service whose online features are joined in when a request gives entity keys; default: the
    version's own (`feature_service` of the version, the one its training set was built from)."""
    missing_features: Literal["reject", "null", "default"] = "reject"
    """A feature with no fresh online value (NOT_FOUND, OUTSIDE_MAX_AGE, NULL_VALUE): `reject` answers 422
    naming the entity and feature, `null` passes a null, `default` uses `feature_defaults`."""
    feature_defaults: Annotated[dict[str, FeatureValue], msgspec.Meta(max_length=rules.MAX_SERVING_DEFAULTS)] = {}
    """Feature name -> value used when `missing_features` is `default`."""
    processes: Annotated[int, msgspec.Meta(ge=1, le=rules.MAX_SERVING_PROCESSES)] = 1
    """Model worker processes per platform replica."""
    memory_limit_mb: Annotated[int, msgspec.Meta(ge=256, le=65536)] = 2048
    """Address-space limit of each model worker process."""
    max_rows: Annotated[int, msgspec.Meta(ge=1, le=rules.MAX_SERVING_ROWS)] = 1000
    """Rows (entity rows or input rows) one prediction request may carry."""
    shadow: bool = False
    """A shadow deployment takes no traffic of its own (its `traffic_share` is 0): every prediction of its model
    in its environment is also sent to it, and its answer is counted and logged, never returned."""
    follow_stage: bool = False
    """Follow the production stage: when another version of the model enters production (after its
    approvals), the platform loads and warms it, then moves this deployment to it in one step; the old
    version drains. The deployment is not retired when its version is replaced in production."""
    log_sample_rate: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.0
    """Share of successful predictions written to the prediction log (0: none, 1: every one); while it is above
    0, every failed prediction is written too. See docs/serving.md#prediction-log."""


class DeploymentCreate(_In):
    model: ModelName
    version: VersionNumber
    environment: Environment
    mode: Literal["external", "managed"] = "external"
    """`external`: a record of a server elsewhere (`target`). `managed`: the platform loads the version's MLflow
    model into model worker processes and answers predictions itself (`serving`)."""
    serving: ServingOptions | None = None
    """Options of a managed deployment (defaults apply when omitted)."""
    target: Annotated[str, msgspec.Meta(max_length=rules.MAX_URI)] = ""
    """Endpoint or serving target (URL, cluster/service name ...) of an external deployment."""
    traffic_share: TrafficShare = 100
    status: Literal["pending", "active"] | None = None
    """Default: `active` for an external deployment; a managed one starts `pending` and the platform makes it
    `active` once its model workers answer (or `failed`, with `status_reason`)."""
    replace: bool = False
    """Retire the model's live deployments in this environment in the same transaction."""
    skew_override: Annotated[str, msgspec.Meta(min_length=1, max_length=500)] | None = None
    """Deploy although feature views changed since the version's training data was built (the skew guard
    answers 409 naming them otherwise): the reason, recorded on the deployment's event and in the audit log."""
    rules: Annotated[list[MonitoringRuleCreate], msgspec.Meta(max_length=rules.MAX_RULES_PER_DEPLOYMENT)] = []


class DeploymentUpdate(_In):
    status: DeploymentStatus | None = None
    traffic_share: TrafficShare | None = None
    target: Annotated[str, msgspec.Meta(max_length=rules.MAX_URI)] | None = None


class Deployment(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    project: str
    model: str
    version: int
    version_stage: str
    environment: str
    target: str
    status: DeploymentStatus
    status_reason: str
    """Why a managed deployment is pending or failed (empty otherwise)."""
    mode: Literal["external", "managed"]
    serving: ServingOptions | None
    traffic_share: int
    health: Literal["ok", "alerting"]
    open_alerts: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    retired_at: datetime | None
    etag: str
    alerts: list[Alert] | None = None
    """Open alerts (detail view only)."""
    rules: list[MonitoringRule] | None = None
    """Monitoring rules (detail view only)."""


class MonitoringRecordCreate(_In):
    metric: MetricName
    value: float
    window_seconds: Annotated[int, msgspec.Meta(ge=1, le=366 * 86400)] | None = None
    observed_at: datetime | float | None = None
    """End of the window the value describes: an RFC 3339 date-time with its timezone, or Unix seconds;
    defaults to now."""


class MonitoringRecordBatch(_In):
    records: Annotated[list[MonitoringRecordCreate], msgspec.Meta(min_length=1, max_length=rules.MAX_RECORDS_PER_CALL)]


class MonitoringRecord(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    deployment_id: uuid.UUID
    metric: str
    value: float
    window_seconds: int | None
    observed_at: datetime
    created_by: str


class MonitoringResult(msgspec.Struct, kw_only=True):
    accepted: int
    alerts: list[Alert]
    """Alerts opened or resolved by these records."""
