"""Deployments (traffic rules, retirement, If-Match) and monitoring (rules, records, alerts) — on
PostgreSQL and on SQLite."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from mlplatform.kernel.db import Database
from mlplatform.kernel.errors import Conflict, Invalid, NotFound, PreconditionFailed
from mlplatform.modules.catalogue import schemas
from mlplatform.modules.catalogue.repositories import DeploymentFilters
from tests.integration.catalogue.conftest import acting, event_types, events_of
from tests.support.factories import catalogue_model

P = "ads"
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def deploy(database: Database, version: int, **fields: object) -> schemas.Deployment:
    body = {"model": "ctr", "version": version, "environment": "prod", "target": "https://serve/ctr", **fields}
    async with acting(database) as svc:
        return await svc.deployments.create(P, schemas.DeploymentCreate(**body))  # type: ignore[arg-type]


async def live(database: Database, environment: str = "prod") -> list[tuple[int, int]]:
    async with acting(database) as svc:
        page = await svc.deployments.search(
            P, DeploymentFilters(environment=environment, status="live"), sort="created_at", cursor=None, limit=None
        )
    return [(d.version, d.traffic_share) for d in page.items]


async def test_one_live_deployment_per_environment_unless_split(database: Database) -> None:
    await catalogue_model(database, P, "ctr", versions=2)
    first = await deploy(database, 1)
    assert (first.status, first.traffic_share, first.health) == ("active", 100, "ok")
    with pytest.raises(Conflict, match="100% of the traffic") as error:
        await deploy(database, 2)
    assert error.value.extra["live_deployments"] == [str(first.id)]
    assert await live(database) == [(1, 100)]

    # Split explicitly: shrink the first, then add a canary with the freed share.
    async with acting(database) as svc:
        await svc.deployments.update(P, first.id, schemas.DeploymentUpdate(traffic_share=90), if_match=first.etag)
    with pytest.raises(Conflict, match="at most 10% is free"):
        await deploy(database, 2, traffic_share=20)
    await deploy(database, 2, traffic_share=10)
    assert await live(database) == [(1, 90), (2, 10)]
    # Other environments are independent.
    await deploy(database, 2, environment="staging")
    assert await live(database, "staging") == [(2, 100)]


async def test_replace_retires_the_current_ones_in_the_same_transaction(database: Database) -> None:
    await catalogue_model(database, P, "ctr", versions=2)
    first = await deploy(database, 1)
    second = await deploy(database, 2, replace=True)
    assert await live(database) == [(2, 100)]
    async with acting(database) as svc:
        old = await svc.deployments.get(P, first.id)
    assert old.status == "retired"
    assert old.retired_at is not None
    changes = await events_of(database, "catalogue.DeploymentChanged")
    assert [(e["version"], e["change"]) for e in changes] == [(1, "created"), (1, "retired"), (2, "created")]
    assert second.status == "active"


async def test_archiving_a_version_retires_its_deployments(database: Database) -> None:
    await catalogue_model(database, P, "ctr", versions=2)
    prod = await deploy(database, 1)
    await deploy(database, 1, environment="staging")
    async with acting(database) as svc:
        for stage in ("validated", "staging", "archived"):
            await svc.lifecycle.request_transition(
                P,
                "ctr",
                1,
                schemas.TransitionCreate(to_stage=stage),
                if_match=None,
            )
    assert await live(database) == []
    assert await live(database, "staging") == []
    async with acting(database) as svc:
        retired = await svc.deployments.get(P, prod.id)
    assert (retired.status, retired.version_stage) == ("retired", "archived")
    with pytest.raises(Conflict, match="archived"):
        await deploy(database, 1)
    with pytest.raises(Conflict, match="retired deployment"):
        async with acting(database) as svc:
            await svc.deployments.update(P, prod.id, schemas.DeploymentUpdate(status="active"), if_match=None)


async def test_promotion_retires_the_replaced_production_versions_deployments(database: Database) -> None:
    await catalogue_model(database, P, "ctr", versions=2)
    old = await deploy(database, 1, traffic_share=50)
    new = await deploy(database, 2, traffic_share=50)
    async with acting(database) as svc:
        for number in (1, 2):
            for stage in ("validated", "staging", "production"):
                await svc.lifecycle.request_transition(
                    P,
                    "ctr",
                    number,
                    schemas.TransitionCreate(to_stage=stage),
                    if_match=None,
                )
        assert (await svc.deployments.get(P, old.id)).status == "retired"
        assert (await svc.deployments.get(P, new.id)).status == "active"


async def test_update_with_if_match_and_traffic_rules(database: Database) -> None:
    await catalogue_model(database, P, "ctr", versions=2)
    d = await deploy(database, 1, traffic_share=60)
    async with acting(database) as svc:
        failed = await svc.deployments.update(P, d.id, schemas.DeploymentUpdate(status="failed"), if_match=d.etag)
    assert failed.status == "failed"
    assert failed.etag != d.etag
    with pytest.raises(PreconditionFailed):
        async with acting(database) as svc:
            await svc.deployments.update(P, d.id, schemas.DeploymentUpdate(traffic_share=1), if_match=d.etag)
    await deploy(database, 2, traffic_share=100)  # a failed deployment holds no traffic
    with pytest.raises(Conflict, match="holding 100%"):
        async with acting(database) as svc:
            await svc.deployments.update(P, d.id, schemas.DeploymentUpdate(status="active"), if_match=failed.etag)
    async with acting(database) as svc:
        current = await svc.deployments.get(P, d.id)
    assert (current.status, current.traffic_share) == ("failed", 60)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"traffic_share": -5}, Invalid),
        ({"traffic_share": 101}, Invalid),
        ({"environment": "Prod Env"}, Invalid),
        ({"version": 99}, NotFound),
        ({"model": "nope"}, NotFound),
    ],
)
async def test_bad_deployment_input_changes_nothing(
    database: Database, fields: dict[str, object], error: type[Exception]
) -> None:
    await catalogue_model(database, P, "ctr", versions=2)
    body = {"model": "ctr", "version": 1, "environment": "prod", **fields}
    with pytest.raises(error):
        async with acting(database) as svc:
            # Structs built in Python skip msgspec's decoding checks (HTTP has them): the service checks again.
            data = schemas.DeploymentCreate(model="ctr", version=1, environment="prod")
            for key, value in body.items():
                setattr(data, key, value)
            await svc.deployments.create(P, data)
    assert await live(database) == []
    assert "catalogue.DeploymentChanged" not in await event_types(database)


async def record(database: Database, deployment_id: uuid.UUID, *values: tuple[int, float]) -> schemas.MonitoringResult:
    records = [
        schemas.MonitoringRecordCreate(
            metric="latency_p99_ms", value=v, window_seconds=300, observed_at=T0 + timedelta(minutes=m)
        )
        for m, v in values
    ]
    async with acting(database, "service_account:monitor") as svc:
        return await svc.monitoring.record(P, deployment_id, records)


async def test_threshold_rules_open_extend_and_resolve_alerts(database: Database) -> None:
    await catalogue_model(database, P, "ctr", versions=2)
    rule = schemas.MonitoringRuleCreate(name="slow", metric="latency_p99_ms", operator="gt", threshold=250)
    d = await deploy(database, 1, rules=[rule])
    assert [r.name for r in d.rules or []] == ["slow"]

    calm = await record(database, d.id, (0, 120.0), (1, 180.0))
    assert calm.accepted == 2
    assert calm.alerts == []
    breach = await record(database, d.id, (2, 300.0), (3, 410.0))
    assert [(a.status, a.breaches, a.value) for a in breach.alerts] == [("open", 2, 410.0)]
    async with acting(database) as svc:
        shown = await svc.deployments.get(P, d.id)
    assert (shown.health, shown.open_alerts) == ("alerting", 1)
    assert shown.alerts is not None
    assert shown.alerts[0].rule == "slow"
    # A late record from before the breach does not resolve it; a newer calm one does.
    assert (await record(database, d.id, (1, 100.0))).alerts == []
    resolved = await record(database, d.id, (5, 90.0))
    assert [(a.status, a.resolved_at) for a in resolved.alerts] == [("resolved", T0 + timedelta(minutes=5))]
    async with acting(database) as svc:
        assert (await svc.deployments.get(P, d.id)).health == "ok"
        alerts = await svc.monitoring.list_alerts(P, d.id, status=None, cursor=None, limit=None)
        records = await svc.monitoring.list_records(
            P, d.id, metric="latency_p99_ms", since=T0 + timedelta(minutes=2), cursor=None, limit=2
        )
        more = await svc.monitoring.list_records(
            P, d.id, metric="latency_p99_ms", since=T0 + timedelta(minutes=2), cursor=records.next_cursor, limit=2
        )
    assert [a.status for a in alerts.items] == ["resolved"]
    assert [r.value for r in records.items + more.items] == [90.0, 410.0, 300.0]
    alert_events = await events_of(database, "catalogue.MonitoringAlert")
    assert [(e["status"], e["value"], e["environment"], e["model"]) for e in alert_events] == [
        ("open", 300.0, "prod", "ctr"),
        ("resolved", 90.0, "prod", "ctr"),
    ]
    assert len(await events_of(database, "catalogue.MonitoringRecorded")) == 4


async def test_alert_can_open_and_resolve_and_reopen_within_one_batch(database: Database) -> None:
    await catalogue_model(database, P, "ctr", versions=2)
    d = await deploy(database, 1)
    async with acting(database) as svc:
        await svc.monitoring.add_rule(
            P, d.id, schemas.MonitoringRuleCreate(name="accuracy", metric="latency_p99_ms", operator="lt", threshold=10)
        )
    result = await record(database, d.id, (0, 5.0), (1, 50.0), (2, 1.0))
    assert sorted(a.status for a in result.alerts) == ["open", "resolved"]
    assert [e["status"] for e in await events_of(database, "catalogue.MonitoringAlert")] == ["open", "resolved", "open"]


async def test_monitoring_rule_management_and_bad_records(database: Database) -> None:
    await catalogue_model(database, P, "ctr", versions=2)
    d = await deploy(database, 1)
    rule = schemas.MonitoringRuleCreate(name="drift", metric="psi", operator="ge", threshold=0.2, severity="critical")
    async with acting(database) as svc:
        created = await svc.monitoring.add_rule(P, d.id, rule)
    with pytest.raises(Conflict, match="already has a rule"):
        async with acting(database) as svc:
            await svc.monitoring.add_rule(P, d.id, rule)
    naive = schemas.MonitoringRecordCreate(metric="psi", value=0.5, observed_at=datetime(2026, 1, 1))
    with pytest.raises(Invalid, match="timezone"):
        async with acting(database) as svc:
            await svc.monitoring.record(P, d.id, [naive])
    with pytest.raises(Invalid, match="finite"):
        async with acting(database) as svc:
            await svc.monitoring.record(P, d.id, [schemas.MonitoringRecordCreate(metric="psi", value=float("inf"))])
    with pytest.raises(NotFound):
        async with acting(database) as svc:
            await svc.monitoring.record(P, uuid.uuid4(), [schemas.MonitoringRecordCreate(metric="psi", value=1.0)])
    async with acting(database) as svc:
        assert (
            await svc.monitoring.list_records(P, d.id, metric=None, since=None, cursor=None, limit=None)
        ).items == []
        opened = await svc.monitoring.record(P, d.id, [schemas.MonitoringRecordCreate(metric="psi", value=0.3)])
        assert [a.severity for a in opened.alerts] == ["critical"]
        await svc.monitoring.delete_rule(P, d.id, created.id)
        assert await svc.monitoring.list_rules(P, d.id) == []
        history = await svc.monitoring.list_alerts(P, d.id, status=None, cursor=None, limit=None)
    assert [(a.status, a.rule_id) for a in history.items] == [("resolved", None)]
    assert [e["change"] for e in await events_of(database, "catalogue.MonitoringRuleChanged")] == ["created", "deleted"]
