"""A synthetic data flow as stored outbox events: raw data → features → dataset → run → model → deployment.

Payloads are built with the publishing modules' own event classes (what `publish()` stores is
`msgspec.to_builtins(event)`), so a change to their fields shows up here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import msgspec

from mlplatform.kernel.db import Database
from mlplatform.kernel.events import DomainEvent, StoredEvent
from mlplatform.kernel.jobs.events import JobFailed
from mlplatform.modules.catalogue import events as catalogue
from mlplatform.modules.experiments import events as experiments
from mlplatform.modules.features import events as features
from mlplatform.modules.lineage.subscriber import apply_event

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
_seq = count(1)


def stored(
    event_type: str,
    payload: dict[str, Any],
    *,
    project: str | None,
    aggregate_type: str = "test",
    aggregate_id: str | None = None,
    at: datetime | None = None,
) -> StoredEvent:
    body = {"aggregate_id": aggregate_id or str(uuid.uuid4()), "project": project, **payload}
    return StoredEvent(
        id=uuid.uuid4(),
        seq=next(_seq),
        event_type=event_type,
        aggregate_type=aggregate_type,
        aggregate_id=body["aggregate_id"],
        project=project,
        actor="user:alice",
        request_id=None,
        occurred_at=at or T0,
        payload=body,
    )


def from_domain(event: DomainEvent, *, at: datetime | None = None) -> StoredEvent:
    payload = msgspec.to_builtins(event)
    return stored(
        event.event_type,
        payload,
        project=event.project,
        aggregate_type=event.aggregate_type,
        aggregate_id=event.aggregate_id,
        at=at,
    )


@dataclass
class Flow:
    project: str = "fraud"
    bucket: str = "lake"
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    dataset_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    version_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    deployment_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    validation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    materialization_job: str = field(default_factory=lambda: str(uuid.uuid4()))
    retrieval_job: str = field(default_factory=lambda: str(uuid.uuid4()))
    model_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    feature_report: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def dataset_uri(self) -> str:
        return f"s3://{self.bucket}/platform/datasets/{self.dataset_id}.parquet"

    def at(self, minutes: int) -> datetime:
        return T0 + timedelta(minutes=minutes)

    # Features

    def data_source(self) -> StoredEvent:
        return from_domain(
            features.DataSourceApplied(
                aggregate_id=f"{self.project}/transactions",
                project=self.project,
                name="transactions",
                kind="parquet",
                uri=f"s3://{self.bucket}/raw/transactions.parquet",
            ),
            at=self.at(0),
        )

    def feature_view(self, source: str = "transactions") -> StoredEvent:
        return from_domain(
            features.FeatureViewApplied(
                aggregate_id=f"{self.project}/card_stats",
                project=self.project,
                name="card_stats",
                version="3f2a9c",
                entities=["card"],
                source=source,
                features=["txn_count_7d", "amount_avg_7d"],
            ),
            at=self.at(1),
        )

    def feature_service(self) -> StoredEvent:
        return from_domain(
            features.FeatureServiceApplied(
                aggregate_id=f"{self.project}/card_features",
                project=self.project,
                name="card_features",
                features=["card_stats:txn_count_7d", "card_stats:amount_avg_7d"],
                feature_views=["card_stats"],
            ),
            at=self.at(2),
        )

    def materialized(self) -> StoredEvent:
        return from_domain(
            features.FeaturesMaterialized(
                aggregate_id=f"{self.project}/card_stats",
                project=self.project,
                feature_views=["card_stats"],
                start="2026-11-01T00:00:00+00:00",
                end="2026-11-27T00:00:00+00:00",
                rows=1200,
                job_id=self.materialization_job,
            ),
            at=self.at(4),
        )

    def training_dataset(self) -> StoredEvent:
        return from_domain(
            features.TrainingDatasetCreated(
                aggregate_id=self.dataset_id,
                project=self.project,
                dataset_id=self.dataset_id,
                name=None,
                feature_service="card_features",
                feature_views=[{"name": "card_stats", "version": "3f2a9c"}],
                row_count=5000,
                uri=self.dataset_uri,
                job_id=self.retrieval_job,
            ),
            at=self.at(6),
        )

    def feature_check(self, outcome: str = "passed") -> StoredEvent:
        return from_domain(
            features.ValidationReportCreated(
                aggregate_id=f"{self.project}/card_stats",
                project=self.project,
                report_id=self.feature_report,
                feature_view="card_stats",
                kind="profile",
                outcome=outcome,
                rows_checked=1200,
                rows_failed=0 if outcome == "passed" else 12,
            ),
            at=self.at(5),
        )

    # Experiments and catalogue (their own event classes)

    def model_created(self) -> StoredEvent:
        return from_domain(
            catalogue.ModelCreated(aggregate_id=self.model_id, project=self.project, model="scorer", owner="alice"),
            at=self.at(7),
        )

    def registry_version(self) -> StoredEvent:
        return from_domain(
            experiments.ModelVersionCreated(
                aggregate_id=f"{self.project}.scorer",
                project=self.project,
                registered_model=f"{self.project}.scorer",
                model="scorer",
                version=1,
                model_uri=f"models:/{self.project}.scorer/1",
                source="mlflow-artifacts:/1/models/m-1/artifacts",
                run_id=self.run_id,
                experiment_id="1",
                metrics={"auc": 0.93},
                params={"mlplatform.training_dataset": self.dataset_id, "max_depth": "6"},
            ),
            at=self.at(8),
        )

    def catalogue_version(self) -> StoredEvent:
        return from_domain(
            catalogue.ModelVersionCreated(
                aggregate_id=self.model_id,
                project=self.project,
                model="scorer",
                version=1,
                version_id=self.version_id,
                model_uri=f"models:/{self.project}.scorer/1",
                source_run_id=self.run_id,
                mlflow_version="1",
                framework="sklearn",
                feature_service="card_features",
                feast_project=self.project,
            ),
            at=self.at(8),
        )

    def run_finished(
        self,
        status: str = "FINISHED",
        *,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        dataset_inputs: list[experiments.DatasetInput] | None = None,
    ) -> StoredEvent:
        return from_domain(
            experiments.RunFinished(
                aggregate_id=self.run_id,
                project=self.project,
                run_id=self.run_id,
                experiment_id="1",
                experiment_name=f"{self.project}/baseline",
                run_name="baseline-1",
                status=status,
                start_time=self.at(7),
                end_time=self.at(9),
                metrics={"auc": 0.93},
                params={"mlplatform.training_dataset": self.dataset_id, "max_depth": "6"} if params is None else params,
                tags=tags or {},
                dataset_inputs=dataset_inputs or [],
            ),
            at=self.at(9),
        )

    def job_failed(self, kind: str, params: dict[str, Any], *, job_id: str | None = None) -> StoredEvent:
        """What the kernel's job runner publishes when a job ends failed (its last attempt)."""
        job = job_id or str(uuid.uuid4())
        return from_domain(
            JobFailed(
                aggregate_id=job,
                project=self.project,
                job_id=job,
                kind=kind,
                params={"project": self.project, **params},
                error="OSError: the offline store is unreachable",
                attempts=3,
                started_at=self.at(3).isoformat(),
            ),
            at=self.at(4),
        )

    def validation(self, status: str = "passed") -> StoredEvent:
        return from_domain(
            catalogue.ValidationRecorded(
                aggregate_id=self.model_id,
                project=self.project,
                model="scorer",
                version=1,
                version_id=self.version_id,
                validation_id=self.validation_id,
                name="holdout-auc",
                status=status,
                report_uri=f"s3://{self.bucket}/reports/{self.validation_id}.html",
            ),
            at=self.at(10),
        )

    def promoted(self) -> StoredEvent:
        return from_domain(
            catalogue.StageChanged(
                aggregate_id=self.model_id,
                project=self.project,
                model="scorer",
                version=1,
                version_id=self.version_id,
                from_stage="validated",
                to_stage="production",
                by="user:lead",
            ),
            at=self.at(11),
        )

    def deployed(self, *, version: int = 1, version_id: str | None = None, change: str = "created") -> StoredEvent:
        return from_domain(
            catalogue.DeploymentChanged(
                aggregate_id=self.deployment_id,
                project=self.project,
                model="scorer",
                version=version,
                version_id=version_id or self.version_id,
                environment="prod",
                target="k8s://scoring",
                status="active",
                traffic_share=100,
                change=change,
                by="user:lead",
            ),
            at=self.at(12),
        )

    def events(self) -> list[StoredEvent]:
        return [
            self.data_source(),
            self.feature_view(),
            self.feature_service(),
            self.materialized(),
            self.feature_check(),
            self.training_dataset(),
            self.model_created(),
            self.registry_version(),
            self.catalogue_version(),
            self.run_finished(),
            self.validation(),
            self.promoted(),
            self.deployed(),
        ]


async def apply_all(database: Database, events: list[StoredEvent], *, emit: bool = False) -> int:
    """Apply events the way the subscriber does: one transaction per delivery."""
    created = 0
    for event in events:
        async with database.transaction() as session:
            created += await apply_event(session, event, emit=emit)
    return created
