"""Monitoring of deployments: threshold rules, metric records and the alerts they raise.

Alert lifecycle per rule: a record breaking the threshold opens an alert (MonitoringAlert event,
status `open`) or, if one is open, extends it (count, latest value); a record of the same metric,
observed after the last breach and within the threshold, resolves it (MonitoringAlert, `resolved`).
At most one alert per rule is open (partial unique index). Ingestion locks the deployment row, so
concurrent batches for one deployment are evaluated one after the other.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.db import utcnow
from mlplatform.kernel.errors import Conflict, Invalid, NotFound
from mlplatform.kernel.events import publish
from mlplatform.kernel.pagination import Page, check_limit
from mlplatform.modules.catalogue import events, repositories, rules, schemas, views
from mlplatform.modules.catalogue.models import (
    CatalogueDeployment,
    CatalogueMonitoringAlert,
    CatalogueMonitoringRecord,
    CatalogueMonitoringRule,
)


@dataclass(frozen=True)
class _Announcement:
    alert: CatalogueMonitoringAlert
    status: str
    value: float


async def insert_rule(
    session: AsyncSession, deployment: CatalogueDeployment, data: schemas.MonitoringRuleCreate, *, actor: str
) -> CatalogueMonitoringRule:
    """Add a rule to a (locked) deployment: at most 50, names unique per deployment."""
    name = rules.check_validation_name(data.name)
    if not math.isfinite(data.threshold):
        raise Invalid("threshold: must be a finite number", field="threshold")
    if data.operator not in ("gt", "ge", "lt", "le"):
        raise Invalid("operator: one of gt, ge, lt, le", field="operator")
    names = await repositories.rule_names(session, deployment.id)
    if name in names:
        raise Conflict(f"the deployment already has a rule named {name!r}", field="name")
    if len(names) >= rules.MAX_RULES_PER_DEPLOYMENT:
        raise Conflict(f"a deployment has at most {rules.MAX_RULES_PER_DEPLOYMENT} monitoring rules")
    row = CatalogueMonitoringRule(
        deployment_id=deployment.id,
        name=name,
        metric=data.metric,
        operator=data.operator,
        threshold=data.threshold,
        severity=data.severity,
        created_by=actor,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    await publish(
        session,
        events.MonitoringRuleChanged(
            aggregate_id=str(deployment.id),
            project=deployment.project,
            rule_id=str(row.id),
            name=row.name,
            metric=row.metric,
            operator=row.operator,
            threshold=row.threshold,
            change="created",
        ),
    )
    return row


class MonitoringService:
    def __init__(self, session: AsyncSession, actor: str) -> None:
        self.session = session
        self.actor = actor

    async def _lock(self, project: str, deployment_id: uuid.UUID) -> tuple[CatalogueDeployment, str]:
        """The deployment row, locked until commit, and its model's name."""
        found = await repositories.lock_deployment_in_project(self.session, project, deployment_id)
        if found is None:
            raise NotFound(f"deployment {deployment_id} not found in project {project!r}")
        return found

    async def _find(self, project: str, deployment_id: uuid.UUID) -> uuid.UUID:
        if not await repositories.deployment_exists(self.session, project, deployment_id):
            raise NotFound(f"deployment {deployment_id} not found in project {project!r}")
        return deployment_id

    # Rules

    async def add_rule(
        self, project: str, deployment_id: uuid.UUID, data: schemas.MonitoringRuleCreate
    ) -> schemas.MonitoringRule:
        deployment, _ = await self._lock(project, deployment_id)
        return views.rule(await insert_rule(self.session, deployment, data, actor=self.actor))

    async def list_rules(self, project: str, deployment_id: uuid.UUID) -> list[schemas.MonitoringRule]:
        found = await self._find(project, deployment_id)
        return [views.rule(r) for r in await repositories.rules_of(self.session, found)]

    async def delete_rule(self, project: str, deployment_id: uuid.UUID, rule_id: uuid.UUID) -> None:
        """Delete a rule; its open alert is resolved and its alerts stay as history."""
        deployment, _ = await self._lock(project, deployment_id)
        rule = await repositories.rule_by_id(self.session, rule_id)
        if rule is None or rule.deployment_id != deployment.id:
            raise NotFound(f"monitoring rule {rule_id} not found on deployment {deployment_id}")
        await repositories.resolve_open_alerts_of_rule(self.session, rule.id, at=utcnow())
        await self.session.delete(rule)
        await self.session.flush()
        await publish(
            self.session,
            events.MonitoringRuleChanged(
                aggregate_id=str(deployment.id),
                project=project,
                rule_id=str(rule.id),
                name=rule.name,
                metric=rule.metric,
                operator=rule.operator,
                threshold=rule.threshold,
                change="deleted",
            ),
        )

    # Records and alerts

    async def record(
        self, project: str, deployment_id: uuid.UUID, batch: Sequence[schemas.MonitoringRecordCreate]
    ) -> schemas.MonitoringResult:
        if not 1 <= len(batch) <= rules.MAX_RECORDS_PER_CALL:
            raise Invalid(f"records: 1..{rules.MAX_RECORDS_PER_CALL} per call", field="records")
        now = utcnow()
        records = [self._new_record(deployment_id, item, now, index) for index, item in enumerate(batch)]
        deployment, model_name = await self._lock(project, deployment_id)
        self.session.add_all(records)
        await self.session.flush()
        changed = await self._evaluate(deployment, model_name, records)
        await publish(
            self.session,
            events.MonitoringRecorded(
                aggregate_id=str(deployment.id),
                project=project,
                metrics=sorted({r.metric for r in records}),
                records=len(records),
            ),
        )
        return schemas.MonitoringResult(accepted=len(records), alerts=[views.alert(a) for a in changed])

    def _new_record(
        self, deployment_id: uuid.UUID, item: schemas.MonitoringRecordCreate, now: datetime, index: int
    ) -> CatalogueMonitoringRecord:
        if not math.isfinite(item.value):
            raise Invalid(f"records[{index}].value: must be a finite number", field="records")
        observed = now if item.observed_at is None else item.observed_at
        if isinstance(observed, float):
            observed = _from_unix(observed, index)
        if observed.tzinfo is None:
            raise Invalid(f"records[{index}].observed_at: needs a timezone (e.g. ...Z)", field="records")
        return CatalogueMonitoringRecord(
            id=uuid.uuid4(),
            deployment_id=deployment_id,
            metric=item.metric,
            value=item.value,
            window_seconds=item.window_seconds,
            observed_at=observed,
            created_by=self.actor,
        )

    async def _evaluate(
        self, deployment: CatalogueDeployment, model_name: str, records: Sequence[CatalogueMonitoringRecord]
    ) -> list[CatalogueMonitoringAlert]:
        """Walk the batch in time order per rule (rules ≤ 50, records ≤ 1,000 per call)."""
        metrics = {r.metric for r in records}
        watching = [r for r in await repositories.rules_of(self.session, deployment.id) if r.metric in metrics]
        if not watching:
            return []
        open_by_rule = {a.rule_id: a for a in await repositories.open_alerts(self.session, deployment.id)}
        ordered = sorted(records, key=lambda r: r.observed_at)
        changed: dict[uuid.UUID, CatalogueMonitoringAlert] = {}
        announcements: list[_Announcement] = []
        for rule in watching:
            alert = open_by_rule.get(rule.id)
            for item in (r for r in ordered if r.metric == rule.metric):
                if rules.breaches(rule.operator, item.value, rule.threshold):
                    if alert is None or alert.status != "open":
                        alert = CatalogueMonitoringAlert(
                            id=uuid.uuid4(),
                            deployment_id=deployment.id,
                            rule_id=rule.id,
                            rule_name=rule.name,
                            metric=rule.metric,
                            operator=rule.operator,
                            threshold=rule.threshold,
                            severity=rule.severity,
                            value=item.value,
                            breaches=1,
                            status="open",
                            opened_at=item.observed_at,
                            last_breach_at=item.observed_at,
                        )
                        self.session.add(alert)
                        announcements.append(_Announcement(alert, "open", item.value))
                    else:
                        alert.breaches += 1
                        alert.value = item.value
                        alert.last_breach_at = max(alert.last_breach_at, item.observed_at)
                    changed[alert.id] = alert
                elif alert is not None and alert.status == "open" and item.observed_at > alert.last_breach_at:
                    alert.status, alert.resolved_at = "resolved", item.observed_at
                    changed[alert.id] = alert
                    announcements.append(_Announcement(alert, "resolved", item.value))
                    # Written now: the rule's next alert may open later in this batch (one open per rule).
                    await self.session.flush()
        await self.session.flush()
        for note in announcements:
            await publish(
                self.session,
                events.MonitoringAlert(
                    aggregate_id=str(deployment.id),
                    project=deployment.project,
                    alert_id=str(note.alert.id),
                    rule_id=str(note.alert.rule_id),
                    rule=note.alert.rule_name,
                    metric=note.alert.metric,
                    operator=note.alert.operator,
                    threshold=note.alert.threshold,
                    value=note.value,
                    severity=note.alert.severity,
                    status=note.status,
                    model=model_name,
                    environment=deployment.environment,
                ),
            )
        return list(changed.values())

    async def list_records(
        self,
        project: str,
        deployment_id: uuid.UUID,
        *,
        metric: str | None,
        since: datetime | None,
        cursor: str | None,
        limit: int | None,
    ) -> Page[schemas.MonitoringRecord]:
        size = check_limit(limit)
        found = await self._find(project, deployment_id)
        if since is not None and since.tzinfo is None:
            raise Invalid("since: needs a timezone", parameter="since")
        page = await repositories.records_page(
            self.session, found, metric=metric, since=since, cursor=cursor, limit=size
        )
        return page.map(views.record)

    async def list_alerts(
        self, project: str, deployment_id: uuid.UUID, *, status: str | None, cursor: str | None, limit: int | None
    ) -> Page[schemas.Alert]:
        size = check_limit(limit)
        found = await self._find(project, deployment_id)
        if status is not None and status not in ("open", "resolved"):
            raise Invalid("status: open or resolved", parameter="status")
        page = await repositories.alerts_page(self.session, found, status=status, cursor=cursor, limit=size)
        return page.map(views.alert)


def _from_unix(seconds: float, index: int) -> datetime:
    if not math.isfinite(seconds):
        raise Invalid(f"records[{index}].observed_at: must be a finite number of seconds", field="records")
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise Invalid(f"records[{index}].observed_at: outside the years 1-9999", field="records") from None
