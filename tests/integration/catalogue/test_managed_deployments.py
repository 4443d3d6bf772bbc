"""Managed deployments in the catalogue: how they start, what users may change, and the serving module's
reports (`api.live_managed_deployments`, `api.report_managed_status`) — on PostgreSQL and on SQLite."""

from __future__ import annotations

import pytest

from mlplatform.kernel.db import Database
from mlplatform.kernel.errors import Conflict, Invalid
from mlplatform.modules.catalogue import api, schemas
from tests.integration.catalogue.conftest import acting, events_of
from tests.support.factories import catalogue_model

P = "ads"


async def deploy(database: Database, **fields: object) -> schemas.Deployment:
    body: dict[str, object] = {"model": "ctr", "version": 1, "environment": "prod", "mode": "managed", **fields}
    async with acting(database) as svc:
        return await svc.deployments.create(P, schemas.DeploymentCreate(**body))  # type: ignore[arg-type]


async def test_a_managed_deployment_starts_pending_and_the_serving_module_activates_it(database: Database) -> None:
    await catalogue_model(database, P, "ctr", versions=1)
    created = await deploy(database, serving=schemas.ServingOptions(missing_features="null", processes=2))
    assert (created.mode, created.status, created.status_reason) == ("managed", "pending", "waiting for model workers")
    assert created.serving is not None
    assert (created.serving.missing_features, created.serving.processes) == ("null", 2)

    async with database.transaction() as session:
        live = await api.live_managed_deployments(session)
    assert [(d.id, d.version, d.status, d.serving.processes) for d in live] == [(created.id, 1, "pending", 2)]

    async with database.transaction() as session:
        changed = await api.report_managed_status(
            session, created.id, version_id=live[0].version_id, status="active", reason="", actor="service:serving"
        )
    assert changed
    async with database.transaction() as session:  # a second replica reporting the same: nothing changes
        assert not await api.report_managed_status(
            session, created.id, version_id=live[0].version_id, status="active", reason="", actor="service:serving"
        )
    async with acting(database) as svc:
        now = await svc.deployments.get(P, created.id)
    assert (now.status, now.status_reason) == ("active", "")
    changes = [e["change"] for e in await events_of(database, "catalogue.DeploymentChanged")]
    assert changes == ["created", "activated"]


async def test_a_failed_load_is_recorded_and_pending_asks_for_another_attempt(database: Database) -> None:
    await catalogue_model(database, P, "ctr", versions=1)
    created = await deploy(database)
    async with database.transaction() as session:
        (managed,) = await api.live_managed_deployments(session)
        await api.report_managed_status(
            session, created.id, version_id=managed.version_id, status="failed", reason="no MLmodel", actor="s"
        )
    async with acting(database) as svc:
        failed = await svc.deployments.get(P, created.id)
    assert (failed.status, failed.status_reason) == ("failed", "no MLmodel")
    async with database.transaction() as session:
        assert await api.live_managed_deployments(session) == []
        # A report about a deployment that is no longer live changes nothing.
        assert not await api.report_managed_status(
            session, created.id, version_id=managed.version_id, status="active", reason="", actor="s"
        )

    async with acting(database) as svc:
        with pytest.raises(Conflict, match="the platform sets a managed deployment's status"):
            await svc.deployments.update(P, created.id, schemas.DeploymentUpdate(status="active"), if_match=None)
        retried = await svc.deployments.update(P, created.id, schemas.DeploymentUpdate(status="pending"), if_match=None)
    assert (retried.status, retried.status_reason) == ("pending", "waiting for model workers")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"status": "active"}, "a managed deployment starts pending"),
        ({"target": "https://elsewhere"}, "leave target empty"),
        ({"serving": schemas.ServingOptions(missing_features="default")}, "feature_defaults"),
        ({"mode": "external", "serving": schemas.ServingOptions()}, "only a managed deployment"),
        ({"serving": schemas.ServingOptions(shadow=True)}, "a shadow deployment gets a copy of the traffic"),
    ],
)
async def test_inconsistent_managed_fields_are_refused(
    database: Database, fields: dict[str, object], message: str
) -> None:
    await catalogue_model(database, P, "ctr", versions=1)
    with pytest.raises(Invalid, match=message):
        await deploy(database, **fields)
    async with database.transaction() as session:
        assert await api.live_managed_deployments(session) == []


async def test_external_deployments_keep_their_defaults(database: Database) -> None:
    await catalogue_model(database, P, "ctr", versions=1)
    created = await deploy(database, mode="external", target="https://serve/ctr")
    assert (created.mode, created.status, created.serving, created.status_reason) == ("external", "active", None, "")


async def promote(database: Database, number: int) -> None:
    async with acting(database) as svc:
        for stage in ("validated", "staging", "production"):
            await svc.lifecycle.request_transition(
                P, "ctr", number, schemas.TransitionCreate(to_stage=stage), if_match=None
            )


async def test_a_following_deployment_moves_to_the_new_production_version_once_swapped(database: Database) -> None:
    await catalogue_model(database, P, "ctr", versions=3)
    await promote(database, 1)
    following = await deploy(database, serving=schemas.ServingOptions(follow_stage=True), traffic_share=50)
    pinned = await deploy(database, traffic_share=50)

    await promote(database, 2)  # version 1 is archived: the pinned deployment goes, the following one moves
    async with acting(database) as svc:
        assert (await svc.deployments.get(P, pinned.id)).status == "retired"
        moving = await svc.deployments.get(P, following.id)
    assert (moving.status, moving.version, moving.status_reason) == ("pending", 1, "loading version 2 to take over")
    async with database.transaction() as session:
        (managed,) = await api.live_managed_deployments(session)
    assert managed.next is not None
    assert (managed.version, managed.next.version, managed.wanted.version) == (1, 2, 2)

    async with database.transaction() as session:
        swapped = await api.report_managed_swap(
            session, following.id, to_version_id=managed.next.version_id, failure=None, actor="s"
        )
        assert swapped == "swapped"
        # A second replica reporting the same swap: already done.
        again = await api.report_managed_swap(
            session, following.id, to_version_id=managed.next.version_id, failure=None, actor="s"
        )
        assert again == "already"
    async with acting(database) as svc:
        now = await svc.deployments.get(P, following.id)
    assert (now.version, now.status_reason) == (2, "")
    changes = [e["change"] for e in await events_of(database, "catalogue.DeploymentChanged")]
    assert changes.count("swap_requested") == 1
    assert changes[-1] == "swapped"

    await promote(database, 3)
    async with database.transaction() as session:
        (managed,) = await api.live_managed_deployments(session)
        assert managed.next is not None
        failed = await api.report_managed_swap(
            session, following.id, to_version_id=managed.next.version_id, failure="no MLmodel", actor="s"
        )
        assert failed == "failed"
    async with acting(database) as svc:
        stayed = await svc.deployments.get(P, following.id)
    assert (stayed.version, stayed.status) == (2, "pending")
    assert stayed.status_reason == "version 3 could not take over: no MLmodel"
