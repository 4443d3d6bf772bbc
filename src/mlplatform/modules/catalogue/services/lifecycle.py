"""Validations, stage transitions and approvals.

Promotion to production and the "one production version per model" rule:
1. the promoted version's row is locked (`FOR UPDATE`), its move checked against the state machine
   and its required validations;
2. the current production version is selected `FOR UPDATE` and archived (history row, its
   deployments retired, a StageChanged event);
3. the promoted version's stage is set to `production`.
There is deliberately no lock on the model: two promotions that overlap both reach step 3, and the
partial unique index (`model_id WHERE stage = 'production'`) lets exactly one of them commit; the
other gets an IntegrityError, answered as 409. So the invariant holds even for code paths or
replicas that skip the checks above.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.db import utcnow
from mlplatform.kernel.errors import Conflict
from mlplatform.kernel.events import publish
from mlplatform.kernel.pagination import Page, check_limit
from mlplatform.modules.catalogue import events, repositories, rules, schemas, views
from mlplatform.modules.catalogue.models import (
    CatalogueModel,
    CatalogueModelVersion,
    CatalogueStageTransition,
    CatalogueTransitionRequest,
    CatalogueValidation,
)
from mlplatform.modules.catalogue.repositories import flush_or_fail
from mlplatform.modules.catalogue.services.deployments import follow_production, retire_version_deployments
from mlplatform.modules.catalogue.services.models import ModelService


class LifecycleService:
    def __init__(self, session: AsyncSession, actor: str) -> None:
        self.session = session
        self.actor = actor
        self.models = ModelService(session, actor)

    # Validations

    async def record_validation(
        self, project: str, model_name: str, number: int, data: schemas.ValidationCreate
    ) -> schemas.Validation:
        model, version = await self.models.require_version(project, model_name, number)
        row = CatalogueValidation(
            version_id=version.id,
            model_id=model.id,
            name=rules.check_validation_name(data.name),
            status=data.status,
            metrics=rules.check_metrics(data.metrics),
            report_uri=rules.check_uri(data.report_uri, "report_uri") if data.report_uri else None,
            details=rules.check_text(data.details, "details"),
            created_by=self.actor,
            created_at=utcnow(),
        )
        self.session.add(row)
        await self.session.flush()
        await publish(
            self.session,
            events.ValidationRecorded(
                aggregate_id=str(model.id),
                project=project,
                model=model.name,
                version=version.version,
                version_id=str(version.id),
                validation_id=str(row.id),
                name=row.name,
                status=row.status,
                report_uri=row.report_uri,
            ),
        )
        return views.validation(row, model.name, version.version)

    async def list_validations(
        self, project: str, model_name: str, number: int, *, cursor: str | None, limit: int | None
    ) -> Page[schemas.Validation]:
        size = check_limit(limit)
        model, version = await self.models.require_version(project, model_name, number)
        page = await repositories.validations_page(self.session, version.id, cursor=cursor, limit=size)
        return page.map(lambda r: views.validation(r, model.name, version.version))

    # Transitions

    async def request_transition(
        self, project: str, model_name: str, number: int, data: schemas.TransitionCreate, *, if_match: str | None
    ) -> schemas.TransitionOutcome:
        """Apply the move now, or (when the model's policy asks for approvals) open a pending request."""
        model, version = await self.models.require_version(project, model_name, number, for_update=True)
        views.check_if_match(if_match, views.etag(version.id, version.revision), "version")
        rules.ensure_move_allowed(version.stage, data.to_stage)
        await self.check_validations(model, version, data.to_stage)
        required = int(model.approval_policy.get(data.to_stage, 0))
        if required > 0:
            request = await self._open_request(model, version, data, required)
            return schemas.TransitionOutcome(
                status="pending_approval",
                version=await self.models.version_detail(model, version),
                request=views.request(request, model.name, version.version, []),
            )
        transition = await self.apply(model, version, data.to_stage, reason=data.reason, actor=self.actor)
        return schemas.TransitionOutcome(
            status="applied",
            version=await self.models.version_detail(model, version),
            transition=views.transition(transition, model.name, version.version),
        )

    async def check_validations(self, model: CatalogueModel, version: CatalogueModelVersion, target: str) -> None:
        if target not in rules.GATED_STAGES or not model.required_validations:
            return
        latest = await repositories.latest_validations(self.session, version.id)
        missing = rules.missing_validations(model.required_validations, latest)
        if missing:
            raise Conflict(
                f"version {version.version} cannot enter {target}: required validations not passed: "
                f"{', '.join(missing)}",
                missing_validations=missing,
                validations=latest,
            )

    async def _open_request(
        self, model: CatalogueModel, version: CatalogueModelVersion, data: schemas.TransitionCreate, required: int
    ) -> CatalogueTransitionRequest:
        existing = await repositories.pending_request(self.session, version.id)
        if existing is not None:
            raise Conflict(
                f"version {version.version} already has a pending request to move to {existing.to_stage}",
                transition_request_id=str(existing.id),
            )
        request = CatalogueTransitionRequest(
            version_id=version.id,
            model_id=model.id,
            project=model.project,
            from_stage=version.stage,
            to_stage=data.to_stage,
            reason=rules.check_text(data.reason, "reason", 2000),
            requested_by=self.actor,
            required_approvals=required,
            status="pending",
            created_at=utcnow(),
        )
        self.session.add(request)
        await self.session.flush()
        await publish(
            self.session,
            events.StageChangeRequested(
                aggregate_id=str(model.id),
                project=model.project,
                model=model.name,
                version=version.version,
                version_id=str(version.id),
                request_id=str(request.id),
                from_stage=request.from_stage,
                to_stage=request.to_stage,
                required_approvals=required,
                requested_by=self.actor,
            ),
        )
        return request

    async def apply(
        self,
        model: CatalogueModel,
        version: CatalogueModelVersion,
        target: str,
        *,
        reason: str,
        actor: str,
        request: CatalogueTransitionRequest | None = None,
    ) -> CatalogueStageTransition:
        """Move a (locked) version to `target`, archiving the current production version first when
        promoting. Raises 409 when the move is illegal or lost a race."""
        rules.ensure_move_allowed(version.stage, target)
        if target == "production":
            await follow_production(self.session, model, version, actor=actor)
            previous = await repositories.lock_current_production(self.session, model.id)
            if previous is not None and previous.id != version.id:
                await self._move(
                    model,
                    previous,
                    "archived",
                    reason=f"replaced in production by version {version.version}",
                    actor=actor,
                    automatic=True,
                )
        return await self._move(model, version, target, reason=reason, actor=actor, request=request)

    async def _move(
        self,
        model: CatalogueModel,
        version: CatalogueModelVersion,
        target: str,
        *,
        reason: str,
        actor: str,
        automatic: bool = False,
        request: CatalogueTransitionRequest | None = None,
    ) -> CatalogueStageTransition:
        source, model_name = version.stage, model.name  # read before a failed flush expires them
        now = utcnow()
        version.stage = target
        version.stage_changed_at = now
        try:
            await flush_or_fail(
                self.session,
                Conflict(f"version {version.version} changed at the same time; reload and retry", current_stage=source),
            )
        except IntegrityError as exc:
            raise Conflict(
                f"another version of {model_name!r} was promoted to production at the same time; reload and retry",
                current_stage=source,
            ) from exc
        history = CatalogueStageTransition(
            version_id=version.id,
            model_id=model.id,
            from_stage=source,
            to_stage=target,
            reason=reason,
            actor=actor,
            request_id=request.id if request is not None else None,
            automatic=automatic,
            created_at=now,
        )
        self.session.add(history)
        await repositories.supersede_pending(
            self.session, version.id, keeping=request.id if request is not None else None, at=now, by=actor
        )
        await self.session.flush()
        await publish(
            self.session,
            events.StageChanged(
                aggregate_id=str(model.id),
                project=model.project,
                model=model.name,
                version=version.version,
                version_id=str(version.id),
                from_stage=source,
                to_stage=target,
                reason=reason,
                by=actor,
                automatic=automatic,
                request_id=str(request.id) if request is not None else None,
            ),
        )
        if target in rules.RETIRING_STAGES:
            await retire_version_deployments(
                self.session, model, version, actor=actor, reason=f"version {version.version} {target}"
            )
        return history

    async def list_transitions(
        self, project: str, model_name: str, number: int, *, cursor: str | None, limit: int | None
    ) -> Page[schemas.StageTransition]:
        size = check_limit(limit)
        model, version = await self.models.require_version(project, model_name, number)
        page = await repositories.transitions_page(self.session, version.id, cursor=cursor, limit=size)
        return page.map(lambda r: views.transition(r, model.name, version.version))
