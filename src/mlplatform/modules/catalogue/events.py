"""Domain events the catalogue publishes through the outbox (in the transaction of the change).

Model-side events share the aggregate `catalogue.model:<model id>`, so a subscriber sees a model's
creation, its versions, validations, approvals and stage changes in the order they happened.
Deployment events use `catalogue.deployment:<deployment id>`.
"""

from __future__ import annotations

from typing import ClassVar

from mlplatform.kernel.events import DomainEvent

MODEL_AGGREGATE = "catalogue.model"
DEPLOYMENT_AGGREGATE = "catalogue.deployment"


class _ModelEvent(DomainEvent, frozen=True, kw_only=True):
    aggregate_type: ClassVar[str] = MODEL_AGGREGATE
    model: str
    """Model name (unique in the project)."""


class ModelCreated(_ModelEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "catalogue.ModelCreated"
    owner: str
    task_type: str | None = None
    tags: dict[str, str] = {}


class ModelUpdated(_ModelEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "catalogue.ModelUpdated"
    changed: list[str]


class ModelVersionCreated(_ModelEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "catalogue.ModelVersionCreated"
    version: int
    version_id: str
    model_uri: str
    source_run_id: str | None = None
    mlflow_version: str | None = None
    framework: str | None = None
    feature_service: str | None = None
    feast_project: str | None = None


class ModelVersionUpdated(_ModelEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "catalogue.ModelVersionUpdated"
    version: int
    version_id: str
    changed: list[str]


class ValidationRecorded(_ModelEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "catalogue.ValidationRecorded"
    version: int
    version_id: str
    validation_id: str
    name: str
    status: str
    report_uri: str | None = None


class StageChangeRequested(_ModelEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "catalogue.StageChangeRequested"
    version: int
    version_id: str
    request_id: str
    from_stage: str
    to_stage: str
    required_approvals: int
    requested_by: str


class ApprovalRecorded(_ModelEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "catalogue.ApprovalRecorded"
    version: int
    version_id: str
    request_id: str
    decision: str
    """approve | reject | cancel."""
    by: str
    request_status: str
    approvals: int
    required_approvals: int


class StageChanged(_ModelEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "catalogue.StageChanged"
    version: int
    version_id: str
    from_stage: str
    to_stage: str
    reason: str = ""
    by: str
    automatic: bool = False
    request_id: str | None = None


class DeploymentChanged(DomainEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "catalogue.DeploymentChanged"
    aggregate_type: ClassVar[str] = DEPLOYMENT_AGGREGATE
    model: str
    version: int
    version_id: str
    environment: str
    target: str
    status: str
    traffic_share: int
    change: str
    """created | updated | retired | activated | failed (the last two: a managed deployment's workers)."""
    by: str
    mode: str = "external"
    """external | managed."""
    reason: str = ""
    """Why a managed deployment failed (or waits)."""
    skew_override: str = ""
    """On `created`: the reason given to deploy although feature views changed since the version's training
    data was built (empty: the skew guard found nothing, or did not apply)."""
    skewed_views: list[dict[str, object]] = []
    """On `created` with `skew_override`: the views that changed (`name`, `trained_on`, `now`, `dataset`)."""


class MonitoringRuleChanged(DomainEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "catalogue.MonitoringRuleChanged"
    aggregate_type: ClassVar[str] = DEPLOYMENT_AGGREGATE
    rule_id: str
    name: str
    metric: str
    operator: str
    threshold: float
    change: str
    """created | deleted."""


class MonitoringRecorded(DomainEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "catalogue.MonitoringRecorded"
    aggregate_type: ClassVar[str] = DEPLOYMENT_AGGREGATE
    metrics: list[str]
    records: int


class MonitoringAlert(DomainEvent, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "catalogue.MonitoringAlert"
    aggregate_type: ClassVar[str] = DEPLOYMENT_AGGREGATE
    alert_id: str
    rule_id: str
    rule: str
    metric: str
    operator: str
    threshold: float
    value: float
    severity: str
    status: str
    """open (the rule started breaching) | resolved (back within the threshold)."""
    model: str
    environment: str


ALL_EVENTS: tuple[type[DomainEvent], ...] = (
    ModelCreated,
    ModelUpdated,
    ModelVersionCreated,
    ModelVersionUpdated,
    ValidationRecorded,
    StageChangeRequested,
    ApprovalRecorded,
    StageChanged,
    DeploymentChanged,
    MonitoringRuleChanged,
    MonitoringRecorded,
    MonitoringAlert,
)
