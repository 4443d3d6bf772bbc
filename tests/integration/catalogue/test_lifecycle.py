"""The stage state machine, its history, validations gating promotion and approval policies — on
PostgreSQL and on SQLite."""

from __future__ import annotations

import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from mlplatform.kernel.db import Database
from mlplatform.kernel.errors import Conflict, Forbidden, Invalid, NotFound, PreconditionFailed
from mlplatform.modules.catalogue import schemas
from mlplatform.modules.catalogue.models import CatalogueApproval, CatalogueModelVersion
from mlplatform.modules.catalogue.rules import ALLOWED_MOVES
from tests.integration.catalogue.conftest import acting, event_types, events_of
from tests.support.factories import catalogue_model

P = "fraud"


async def move(
    database: Database, number: int, stage: str, actor: str = "user:alice", if_match: str | None = None
) -> schemas.TransitionOutcome:
    async with acting(database, actor) as svc:
        return await svc.lifecycle.request_transition(
            P,
            "scorer",
            number,
            msgspec.convert({"to_stage": stage, "reason": f"to {stage}"}, schemas.TransitionCreate),
            if_match=if_match,
        )


async def stages(database: Database) -> dict[int, str]:
    async with database.sessionmaker() as session:
        rows = await session.execute(select(CatalogueModelVersion.version, CatalogueModelVersion.stage))
        return dict(rows.tuples().all())


async def promote_to_staging(database: Database, number: int) -> None:
    for stage in ("validated", "staging"):
        await move(database, number, stage)


async def test_happy_path_with_history(database: Database) -> None:
    await catalogue_model(database, P, "scorer", versions=1)
    for stage in ("validated", "staging", "production", "archived"):
        outcome = await move(database, 1, stage)
        assert outcome.status == "applied"
        assert outcome.version.stage == stage
    async with acting(database) as svc:
        history = await svc.lifecycle.list_transitions(P, "scorer", 1, cursor=None, limit=2)
        older = await svc.lifecycle.list_transitions(P, "scorer", 1, cursor=history.next_cursor, limit=10)
    steps = [(t.from_stage, t.to_stage) for t in history.items + older.items]
    assert steps == [
        ("production", "archived"),
        ("staging", "production"),
        ("validated", "staging"),
        ("registered", "validated"),
    ]
    assert all(t.actor == "user:alice" and t.reason == f"to {t.to_stage}" for t in history.items + older.items)
    changes = await events_of(database, "catalogue.StageChanged")
    assert [(e["from_stage"], e["to_stage"]) for e in changes] == list(reversed(steps))


@pytest.mark.parametrize(("current", "target"), [("registered", "production"), ("registered", "staging")])
async def test_illegal_move_is_409_listing_allowed_moves(database: Database, current: str, target: str) -> None:
    await catalogue_model(database, P, "scorer", versions=1)
    with pytest.raises(Conflict) as error:
        await move(database, 1, target)
    assert error.value.extra["allowed_moves"] == list(ALLOWED_MOVES[current])
    assert error.value.extra["current_stage"] == current
    assert await stages(database) == {1: "registered"}
    assert "catalogue.StageChanged" not in await event_types(database)


async def test_rejected_is_final_and_unknown_stage_is_invalid(database: Database) -> None:
    await catalogue_model(database, P, "scorer", versions=1)
    await move(database, 1, "rejected")
    with pytest.raises(Conflict, match="none") as error:
        await move(database, 1, "staging")
    assert error.value.extra["allowed_moves"] == []
    with pytest.raises(msgspec.ValidationError):
        await move(database, 1, "shipped")
    unchecked = schemas.TransitionCreate(to_stage="staging")
    unchecked.to_stage = "shipped"  # type: ignore[assignment]  # as a Python caller could
    with pytest.raises(Invalid, match="unknown stage"):
        async with acting(database) as svc:
            await svc.lifecycle.request_transition(P, "scorer", 1, unchecked, if_match=None)
    assert await stages(database) == {1: "rejected"}


async def test_promotion_archives_previous_production_atomically(database: Database) -> None:
    await catalogue_model(database, P, "scorer", versions=3)
    for number in (1, 2):
        await promote_to_staging(database, number)
    await move(database, 1, "production")
    outcome = await move(database, 2, "production")
    assert outcome.version.stage == "production"
    assert await stages(database) == {1: "archived", 2: "production", 3: "registered"}
    async with acting(database) as svc:
        assert (await svc.models.get_model(P, "scorer")).production_version == 2
        history = await svc.lifecycle.list_transitions(P, "scorer", 1, cursor=None, limit=None)
    automatic = history.items[0]
    assert (automatic.from_stage, automatic.to_stage, automatic.automatic) == ("production", "archived", True)
    assert "replaced in production by version 2" in automatic.reason
    archived_event = [e for e in await events_of(database, "catalogue.StageChanged") if e["to_stage"] == "archived"]
    assert archived_event
    assert archived_event[0]["automatic"] is True


async def test_failed_promotion_leaves_previous_production_in_place(database: Database) -> None:
    await catalogue_model(database, P, "scorer", versions=2, required_validations=["bias"])
    async with acting(database) as svc:
        for number in (1, 2):
            await svc.lifecycle.record_validation(
                P, "scorer", number, schemas.ValidationCreate(name="bias", status="passed")
            )
    await promote_to_staging(database, 1)
    await promote_to_staging(database, 2)
    await move(database, 1, "production")
    async with acting(database) as svc:
        await svc.lifecycle.record_validation(P, "scorer", 2, schemas.ValidationCreate(name="bias", status="failed"))
    with pytest.raises(Conflict, match="bias"):
        await move(database, 2, "production")
    assert await stages(database) == {1: "production", 2: "staging"}


async def test_database_allows_only_one_production_version(database: Database) -> None:
    """The partial unique index itself refuses a second production row, whatever the code does."""
    await catalogue_model(database, P, "scorer", versions=2)
    await promote_to_staging(database, 1)
    await move(database, 1, "production")
    with pytest.raises(IntegrityError, match=r"(?i)unique"):
        async with database.transaction() as session:
            row = (await session.scalars(select(CatalogueModelVersion).where(CatalogueModelVersion.version == 2))).one()
            row.stage = "production"
            await session.flush()
    assert await stages(database) == {1: "production", 2: "registered"}


async def test_required_validations_gate_validated_and_production(database: Database) -> None:
    await catalogue_model(database, P, "scorer", versions=1, required_validations=["accuracy", "bias"])
    with pytest.raises(Conflict) as error:
        await move(database, 1, "validated")
    assert error.value.extra["missing_validations"] == ["accuracy", "bias"]
    async with acting(database, "user:ci") as svc:
        await svc.lifecycle.record_validation(
            P,
            "scorer",
            1,
            schemas.ValidationCreate(
                name="accuracy", status="passed", metrics={"acc": 0.97}, report_uri="s3://reports/acc.html"
            ),
        )
        await svc.lifecycle.record_validation(P, "scorer", 1, schemas.ValidationCreate(name="bias", status="failed"))
        detail = await svc.models.get_version(P, "scorer", 1)
    assert detail.validations == {"accuracy": "passed", "bias": "failed"}
    assert detail.missing_validations == ["bias"]
    with pytest.raises(Conflict, match="bias"):
        await move(database, 1, "validated")
    async with acting(database, "user:ci") as svc:
        await svc.lifecycle.record_validation(P, "scorer", 1, schemas.ValidationCreate(name="bias", status="passed"))
        page = await svc.lifecycle.list_validations(P, "scorer", 1, cursor=None, limit=None)
    assert [(v.name, v.status) for v in page.items] == [("bias", "passed"), ("bias", "failed"), ("accuracy", "passed")]
    await promote_to_staging(database, 1)
    assert (await move(database, 1, "production")).version.stage == "production"
    assert len(await events_of(database, "catalogue.ValidationRecorded")) == 3


async def test_validation_input_is_checked(database: Database) -> None:
    await catalogue_model(database, P, "scorer", versions=1)
    async with acting(database) as svc:
        with pytest.raises(Invalid, match="report_uri"):
            await svc.lifecycle.record_validation(
                P, "scorer", 1, schemas.ValidationCreate(name="x", status="passed", report_uri="nope")
            )
        with pytest.raises(NotFound):
            await svc.lifecycle.record_validation(P, "scorer", 9, schemas.ValidationCreate(name="x", status="passed"))


async def test_transition_with_stale_if_match_is_412(database: Database) -> None:
    await catalogue_model(database, P, "scorer", versions=1)
    async with acting(database) as svc:
        etag = (await svc.models.get_version(P, "scorer", 1)).etag
    fresh = await move(database, 1, "validated", if_match=etag)
    with pytest.raises(PreconditionFailed):
        await move(database, 1, "staging", if_match=etag)
    assert await stages(database) == {1: "validated"}
    assert (await move(database, 1, "staging", if_match=fresh.version.etag)).version.stage == "staging"


async def approve(database: Database, actor: str, decision: str = "approve") -> schemas.ApprovalOutcome:
    async with acting(database, actor) as svc:
        return await svc.approvals.decide(
            P,
            "scorer",
            1,
            msgspec.convert({"decision": decision, "comment": f"{actor} says {decision}"}, schemas.ApprovalCreate),
        )


async def test_approval_policy_two_maintainers_other_than_requester(database: Database) -> None:
    await catalogue_model(database, P, "scorer", versions=1, approval_policy={"production": 2})
    await promote_to_staging(database, 1)
    pending = await move(database, 1, "production", actor="user:requester")
    assert pending.status == "pending_approval"
    assert pending.request is not None
    assert pending.request.required_approvals == 2
    assert pending.version.stage == "staging"
    assert pending.version.pending_request is None or pending.version.pending_request.status == "pending"

    with pytest.raises(Forbidden, match="other than the requester"):
        await approve(database, "user:requester")
    first = await approve(database, "user:m1")
    assert (first.request.status, first.request.approvals, first.version.stage) == ("pending", 1, "staging")
    with pytest.raises(Conflict, match="already decided"):
        await approve(database, "user:m1")
    with pytest.raises(Conflict, match="pending request"):
        await move(database, 1, "production", actor="user:someone")
    second = await approve(database, "user:m2")
    assert (second.request.status, second.request.approvals, second.version.stage) == ("applied", 2, "production")
    assert await stages(database) == {1: "production"}

    async with acting(database) as svc:
        history = await svc.lifecycle.list_transitions(P, "scorer", 1, cursor=None, limit=1)
        approvals = await svc.approvals.list_approvals(P, "scorer", 1, cursor=None, limit=None)
        requests = await svc.approvals.list_requests(P, "scorer", 1, status=None, cursor=None, limit=None)
    applied = history.items[0]
    assert (applied.to_stage, applied.actor, applied.request_id) == ("production", "user:requester", first.request.id)
    assert [a.actor for a in approvals.items] == ["user:m2", "user:m1"]
    assert requests.items[0].status == "applied"
    assert requests.items[0].resolved_by == "user:m2"
    recorded = await events_of(database, "catalogue.ApprovalRecorded")
    assert [(e["by"], e["request_status"]) for e in recorded] == [("user:m1", "pending"), ("user:m2", "applied")]
    assert [e["to_stage"] for e in await events_of(database, "catalogue.StageChangeRequested")] == ["production"]


async def test_rejection_closes_the_request_and_keeps_the_stage(database: Database) -> None:
    await catalogue_model(database, P, "scorer", versions=1, approval_policy={"staging": 1})
    await move(database, 1, "validated")
    assert (await move(database, 1, "staging", actor="user:requester")).status == "pending_approval"
    rejected = await approve(database, "user:m1", decision="reject")
    assert (rejected.request.status, rejected.version.stage) == ("rejected", "validated")
    with pytest.raises(NotFound, match="no pending"):
        await approve(database, "user:m2")
    # A new request can be opened after a rejection.
    assert (await move(database, 1, "staging", actor="user:requester")).status == "pending_approval"


async def test_requester_can_cancel_and_a_direct_move_supersedes_a_pending_request(database: Database) -> None:
    await catalogue_model(database, P, "scorer", versions=1, approval_policy={"production": 1})
    await promote_to_staging(database, 1)
    pending = await move(database, 1, "production", actor="user:requester")
    assert pending.request is not None
    async with acting(database, "user:stranger") as svc:
        with pytest.raises(Forbidden):
            await svc.approvals.cancel_request(P, "scorer", 1, pending.request.id, may_cancel_others=False)
    async with acting(database, "user:requester") as svc:
        cancelled = await svc.approvals.cancel_request(P, "scorer", 1, pending.request.id, may_cancel_others=False)
    assert cancelled.status == "cancelled"

    again = await move(database, 1, "production", actor="user:requester")
    assert again.request is not None
    await move(database, 1, "archived")  # archiving needs no approval: the request is superseded
    async with acting(database) as svc:
        requests = await svc.approvals.list_requests(P, "scorer", 1, status="superseded", cursor=None, limit=None)
    assert [r.id for r in requests.items] == [again.request.id]
    with pytest.raises(NotFound):
        await approve(database, "user:m1")
    assert await stages(database) == {1: "archived"}


async def test_approval_is_refused_when_validations_failed_meanwhile(database: Database) -> None:
    await catalogue_model(
        database, P, "scorer", versions=1, approval_policy={"production": 1}, required_validations=["smoke"]
    )
    async with acting(database) as svc:
        await svc.lifecycle.record_validation(P, "scorer", 1, schemas.ValidationCreate(name="smoke", status="passed"))
    await promote_to_staging(database, 1)
    await move(database, 1, "production", actor="user:requester")
    async with acting(database) as svc:
        await svc.lifecycle.record_validation(P, "scorer", 1, schemas.ValidationCreate(name="smoke", status="failed"))
    with pytest.raises(Conflict, match="smoke"):
        await approve(database, "user:m1")
    assert await stages(database) == {1: "staging"}
    async with database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(CatalogueApproval)) == 0
