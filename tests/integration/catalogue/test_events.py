"""Every change publishes a typed domain event, delivered through the outbox to subscribers."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.db import Database
from mlplatform.kernel.events import Dispatcher, StoredEvent, Subscriber
from mlplatform.modules.catalogue import api, schemas
from mlplatform.modules.catalogue.events import ALL_EVENTS
from mlplatform.modules.catalogue.services.models import NewVersion
from mlplatform.settings import OutboxSettings
from tests.integration.catalogue.conftest import acting, event_types

P = "events"


async def test_a_full_lifecycle_publishes_each_event_type_and_subscribers_decode_them(database: Database) -> None:
    async with acting(database, "user:dev") as svc:
        await svc.models.create_model(P, schemas.ModelCreate(name="m", approval_policy={"production": 1}))
        await svc.models.update_model(P, "m", schemas.ModelUpdate(description="now documented"), if_match=None)
        await svc.models.create_version(P, "m", NewVersion(model_uri="s3://b/m/1"))
        await svc.models.update_version(P, "m", 1, schemas.ModelVersionUpdate(tags={"a": "b"}), if_match=None)
        await svc.lifecycle.record_validation(P, "m", 1, schemas.ValidationCreate(name="smoke", status="passed"))
        for stage in ("validated", "staging", "production"):
            await svc.lifecycle.request_transition(P, "m", 1, schemas.TransitionCreate(to_stage=stage), if_match=None)
    async with acting(database, "user:lead") as svc:
        await svc.approvals.decide(P, "m", 1, schemas.ApprovalCreate(decision="approve"))
        deployment = await svc.deployments.create(
            P,
            schemas.DeploymentCreate(
                model="m",
                version=1,
                environment="prod",
                rules=[schemas.MonitoringRuleCreate(name="err", metric="error_rate", operator="gt", threshold=0.05)],
            ),
        )
        await svc.monitoring.record(P, deployment.id, [schemas.MonitoringRecordCreate(metric="error_rate", value=0.2)])

    published = await event_types(database)
    assert set(published) == {e.event_type for e in ALL_EVENTS}
    assert published[:4] == [
        "catalogue.ModelCreated",
        "catalogue.ModelUpdated",
        "catalogue.ModelVersionCreated",
        "catalogue.ModelVersionUpdated",
    ]

    received: dict[str, object] = {}
    by_type = {e.event_type: e for e in ALL_EVENTS}

    async def handle(session: AsyncSession, event: StoredEvent) -> None:
        received[event.event_type] = event.decode(by_type[event.event_type])
        assert event.project == P

    dispatcher = Dispatcher(database, [Subscriber("probe", handle)], OutboxSettings(poll_interval_seconds=0.05))
    assert await dispatcher.run_until_idle() == len(published)
    alert = received["catalogue.MonitoringAlert"]
    assert isinstance(alert, api.MonitoringAlert)
    assert (alert.status, alert.value, alert.model, alert.aggregate_id) == ("open", 0.2, "m", str(deployment.id))
    approved = received["catalogue.ApprovalRecorded"]
    assert isinstance(approved, api.ApprovalRecorded)
    assert approved.request_status == "applied"
