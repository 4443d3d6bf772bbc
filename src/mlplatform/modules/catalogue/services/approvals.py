"""Approvals of stage changes: maintainers other than the requester approve or reject a pending
transition request; the move happens in the approval that completes the model's policy."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.db import utcnow
from mlplatform.kernel.errors import Conflict, Forbidden, NotFound
from mlplatform.kernel.events import publish
from mlplatform.kernel.pagination import Page, check_limit
from mlplatform.modules.catalogue import events, repositories, rules, schemas, views
from mlplatform.modules.catalogue.models import CatalogueApproval
from mlplatform.modules.catalogue.services.lifecycle import LifecycleService


class ApprovalService:
    def __init__(self, session: AsyncSession, actor: str) -> None:
        self.session = session
        self.actor = actor
        self.lifecycle = LifecycleService(session, actor)
        self.models = self.lifecycle.models

    async def decide(
        self, project: str, model_name: str, number: int, data: schemas.ApprovalCreate
    ) -> schemas.ApprovalOutcome:
        """Record an approval or rejection of the version's pending request; apply the move once the
        request has the approvals it needs. The caller must be a maintainer (checked by the route)."""
        model, version = await self.models.require_version(project, model_name, number, for_update=True)
        request = await repositories.pending_request(self.session, version.id, for_update=True)
        if request is None or (data.request_id is not None and request.id != data.request_id):
            raise NotFound(f"version {number} of {model_name!r} has no pending transition request to decide on")
        if data.decision == "approve" and request.requested_by == self.actor:
            raise Forbidden("approvals must come from maintainers other than the requester")
        if await repositories.has_decided(self.session, request.id, self.actor):
            raise Conflict(f"{self.actor} has already decided on this request")
        now = utcnow()
        approval = CatalogueApproval(
            request_id=request.id,
            version_id=version.id,
            decision=data.decision,
            actor=self.actor,
            comment=rules.check_text(data.comment, "comment", 2000),
            created_at=now,
        )
        self.session.add(approval)
        await self.session.flush()
        decisions = (await repositories.request_decisions(self.session, [request.id]))[request.id]
        approvals = sum(1 for d in decisions if d.decision == "approve")
        if data.decision == "reject":
            request.status, request.resolved_at, request.resolved_by = "rejected", now, self.actor
        elif approvals >= request.required_approvals:
            await self.lifecycle.check_validations(model, version, request.to_stage)
            request.status, request.resolved_at, request.resolved_by = "applied", now, self.actor
            await self.session.flush()
            await self.lifecycle.apply(
                model,
                version,
                request.to_stage,
                reason=request.reason or f"approved by {', '.join(d.actor for d in decisions)}",
                actor=request.requested_by,
                request=request,
            )
        await self.session.flush()
        await publish(
            self.session,
            events.ApprovalRecorded(
                aggregate_id=str(model.id),
                project=project,
                model=model.name,
                version=version.version,
                version_id=str(version.id),
                request_id=str(request.id),
                decision=data.decision,
                by=self.actor,
                request_status=request.status,
                approvals=approvals,
                required_approvals=request.required_approvals,
            ),
        )
        return schemas.ApprovalOutcome(
            approval=views.approval(approval),
            request=views.request(request, model.name, version.version, decisions),
            version=await self.models.version_detail(model, version),
        )

    async def cancel_request(
        self, project: str, model_name: str, number: int, request_id: uuid.UUID, *, may_cancel_others: bool
    ) -> schemas.TransitionRequest:
        """The requester (or a maintainer) withdraws a pending request."""
        model, version = await self.models.require_version(project, model_name, number, for_update=True)
        request = await repositories.pending_request(self.session, version.id, for_update=True)
        if request is None or request.id != request_id:
            raise NotFound(f"no pending transition request {request_id} on version {number} of {model_name!r}")
        if request.requested_by != self.actor and not may_cancel_others:
            raise Forbidden("only the requester or a maintainer can cancel a request")
        request.status, request.resolved_at, request.resolved_by = "cancelled", utcnow(), self.actor
        await self.session.flush()
        decisions = (await repositories.request_decisions(self.session, [request.id]))[request.id]
        await publish(
            self.session,
            events.ApprovalRecorded(
                aggregate_id=str(model.id),
                project=project,
                model=model.name,
                version=version.version,
                version_id=str(version.id),
                request_id=str(request.id),
                decision="cancel",
                by=self.actor,
                request_status="cancelled",
                approvals=sum(1 for d in decisions if d.decision == "approve"),
                required_approvals=request.required_approvals,
            ),
        )
        return views.request(request, model.name, version.version, decisions)

    async def list_requests(
        self,
        project: str,
        model_name: str,
        number: int,
        *,
        status: str | None,
        cursor: str | None,
        limit: int | None,
    ) -> Page[schemas.TransitionRequest]:
        size = check_limit(limit)
        model, version = await self.models.require_version(project, model_name, number)
        page = await repositories.requests_page(self.session, version.id, status=status, cursor=cursor, limit=size)
        decisions = await repositories.request_decisions(self.session, [r.id for r in page.items])
        return page.map(lambda r: views.request(r, model.name, version.version, decisions[r.id]))

    async def list_approvals(
        self, project: str, model_name: str, number: int, *, cursor: str | None, limit: int | None
    ) -> Page[schemas.Approval]:
        size = check_limit(limit)
        _, version = await self.models.require_version(project, model_name, number)
        page = await repositories.approvals_page(self.session, version.id, cursor=cursor, limit=size)
        return page.map(views.approval)
