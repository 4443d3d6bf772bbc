"""Validations, stage transitions (with approval requests) and approvals of a model version."""

from __future__ import annotations

import uuid

from litestar import Controller, Response, get, post
from litestar.openapi import ResponseSpec

from mlplatform.kernel.errors import Conflict, Forbidden
from mlplatform.kernel.page_parameters import PageCursor, PageLimit
from mlplatform.kernel.pagination import Page
from mlplatform.modules.catalogue import schemas
from mlplatform.modules.catalogue.controllers.dependencies import (
    ETAG_HEADER,
    LIFECYCLE_DEPENDENCIES,
    PROJECT_PATH,
    TAGS,
    IfMatch,
    ModelPath,
    RequestStatus,
    VersionPath,
)
from mlplatform.modules.catalogue.services.approvals import ApprovalService
from mlplatform.modules.catalogue.services.lifecycle import LifecycleService
from mlplatform.modules.gateway.api import Principal, Role, requires_role


class VersionLifecycleController(Controller):
    path = PROJECT_PATH + "/models/{model:str}/versions/{version:int}"
    tags = TAGS
    dependencies = LIFECYCLE_DEPENDENCIES

    @post(
        "/validations",
        guards=[requires_role(Role.CONTRIBUTOR)],
        summary="Record a validation result",
        status_code=201,
    )
    async def record_validation(
        self,
        project: str,
        model: ModelPath,
        version: VersionPath,
        data: schemas.ValidationCreate,
        lifecycle_service: LifecycleService,
    ) -> schemas.Validation:
        return await lifecycle_service.record_validation(project, model, version, data)

    @get("/validations", guards=[requires_role(Role.VIEWER)], summary="Validation results, newest first")
    async def list_validations(
        self,
        project: str,
        model: ModelPath,
        version: VersionPath,
        lifecycle_service: LifecycleService,
        cursor: PageCursor = None,
        limit: PageLimit = None,
    ) -> Page[schemas.Validation]:
        return await lifecycle_service.list_validations(project, model, version, cursor=cursor, limit=limit)

    @post(
        "/transitions",
        guards=[requires_role(Role.CONTRIBUTOR)],
        summary="Change the version's stage",
        description=(
            "200 `applied` when the move happened; 202 `pending_approval` when the model's approval policy "
            "asks for approvals first (the move happens when enough maintainers approve). 409 lists the "
            "allowed moves for an illegal one, or the missing validations. Promoting to production archives "
            "the current production version in the same transaction."
        ),
        status_code=200,
        responses={
            202: ResponseSpec(
                data_container=schemas.TransitionOutcome,
                description="`pending_approval`: a transition request waits for approvals.",
            )
        },
        raises=[Conflict],
        response_headers=ETAG_HEADER,
    )
    async def change_stage(
        self,
        project: str,
        model: ModelPath,
        version: VersionPath,
        data: schemas.TransitionCreate,
        lifecycle_service: LifecycleService,
        if_match: IfMatch = None,
    ) -> Response[schemas.TransitionOutcome]:
        outcome = await lifecycle_service.request_transition(project, model, version, data, if_match=if_match)
        status = 202 if outcome.status == "pending_approval" else 200
        return Response(outcome, status_code=status, headers={"ETag": outcome.version.etag})

    @get("/transitions", guards=[requires_role(Role.VIEWER)], summary="Stage history, newest first")
    async def list_transitions(
        self,
        project: str,
        model: ModelPath,
        version: VersionPath,
        lifecycle_service: LifecycleService,
        cursor: PageCursor = None,
        limit: PageLimit = None,
    ) -> Page[schemas.StageTransition]:
        return await lifecycle_service.list_transitions(project, model, version, cursor=cursor, limit=limit)

    @get("/transition-requests", guards=[requires_role(Role.VIEWER)], summary="Approval requests, newest first")
    async def list_transition_requests(
        self,
        project: str,
        model: ModelPath,
        version: VersionPath,
        approval_service: ApprovalService,
        status: RequestStatus | None = None,
        cursor: PageCursor = None,
        limit: PageLimit = None,
    ) -> Page[schemas.TransitionRequest]:
        return await approval_service.list_requests(project, model, version, status=status, cursor=cursor, limit=limit)

    @post(
        "/transition-requests/{request_id:uuid}/cancel",
        guards=[requires_role(Role.CONTRIBUTOR)],
        summary="Withdraw a pending request (its requester, or a maintainer)",
        raises=[Forbidden],
        status_code=200,
    )
    async def cancel_transition_request(
        self,
        project: str,
        model: ModelPath,
        version: VersionPath,
        request_id: uuid.UUID,
        approval_service: ApprovalService,
        principal: Principal,
    ) -> schemas.TransitionRequest:
        return await approval_service.cancel_request(
            project, model, version, request_id, may_cancel_others=principal.can(project, Role.MAINTAINER)
        )

    @post(
        "/approvals",
        guards=[requires_role(Role.MAINTAINER)],
        summary="Approve or reject the pending stage change (maintainers other than the requester)",
        raises=[Conflict, Forbidden],
        status_code=201,
    )
    async def decide_transition(
        self,
        project: str,
        model: ModelPath,
        version: VersionPath,
        data: schemas.ApprovalCreate,
        approval_service: ApprovalService,
    ) -> schemas.ApprovalOutcome:
        return await approval_service.decide(project, model, version, data)

    @get("/approvals", guards=[requires_role(Role.VIEWER)], summary="Approvals and rejections, newest first")
    async def list_approvals(
        self,
        project: str,
        model: ModelPath,
        version: VersionPath,
        approval_service: ApprovalService,
        cursor: PageCursor = None,
        limit: PageLimit = None,
    ) -> Page[schemas.Approval]:
        return await approval_service.list_approvals(project, model, version, cursor=cursor, limit=limit)
