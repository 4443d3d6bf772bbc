"""Models and versions: create, read, update, search; idempotent registration from MLflow."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.db import utcnow
from mlplatform.kernel.errors import Conflict, NotFound, PreconditionFailed
from mlplatform.kernel.events import publish
from mlplatform.kernel.pagination import Page, check_limit, pick_sort
from mlplatform.modules.catalogue import events, repositories, rules, schemas, views
from mlplatform.modules.catalogue.models import CatalogueModel, CatalogueModelVersion
from mlplatform.modules.catalogue.repositories import ModelFilters, VersionFilters, flush_or_fail


@dataclass(frozen=True)
class NewVersion:
    """What a version is registered from (validated by `ModelService.create_version`)."""

    model_uri: str
    source_run_id: str | None = None
    mlflow_version: str | None = None
    framework: str | None = None
    description: str = ""
    signature: Mapping[str, Any] | None = None
    metrics: Mapping[str, Any] | None = None
    params: Mapping[str, Any] | None = None
    tags: Mapping[str, Any] | None = None
    feature_service: str | None = None
    feast_project: str | None = None

    @classmethod
    def from_schema(cls, data: schemas.ModelVersionCreate) -> NewVersion:
        return cls(
            model_uri=data.model_uri,
            source_run_id=data.source_run_id,
            mlflow_version=data.mlflow_version,
            framework=data.framework,
            description=data.description,
            signature=data.signature,
            metrics=data.metrics,
            params=data.params,
            tags=data.tags,
            feature_service=data.feature_service.name if data.feature_service else None,
            feast_project=data.feature_service.feast_project if data.feature_service else None,
        )


class ModelService:
    def __init__(self, session: AsyncSession, actor: str) -> None:
        self.session = session
        self.actor = actor

    # Models

    async def require_model(self, project: str, name: str) -> tuple[CatalogueModel, int | None]:
        found = await repositories.model_by_name(self.session, project, name)
        if found is None:
            raise NotFound(f"model {name!r} not found in project {project!r}")
        return found

    async def create_model(self, project: str, data: schemas.ModelCreate) -> schemas.Model:
        row = await self._insert_model(
            project,
            name=data.name,
            description=data.description,
            owner=data.owner,
            task_type=data.task_type,
            tags=data.tags,
            required_validations=data.required_validations,
            approval_policy={str(k): v for k, v in data.approval_policy.items()},
        )
        if row is None:
            raise Conflict(f"a model named {data.name!r} already exists in project {project!r}", field="name")
        return views.model(row, None)

    async def ensure_model(self, project: str, name: str) -> CatalogueModel:
        """The model, created (owned by the actor, no policy) if it does not exist yet; race-free."""
        found = await repositories.model_by_name(self.session, project, name)
        if found is not None:
            return found[0]
        created = await self._insert_model(project, name=name)
        if created is not None:
            return created
        found = await repositories.model_by_name(self.session, project, name)
        if found is None:
            raise Conflict(f"model {name!r} was deleted while being registered; retry")
        return found[0]

    async def _insert_model(
        self,
        project: str,
        *,
        name: str,
        description: str = "",
        owner: str | None = None,
        task_type: str | None = None,
        tags: Mapping[str, Any] | None = None,
        required_validations: list[str] | None = None,
        approval_policy: Mapping[str, Any] | None = None,
    ) -> CatalogueModel | None:
        """Insert a model; None when the name is already taken (checked by the unique constraint)."""
        model_id = uuid.uuid4()
        now = utcnow()
        values = {
            "id": model_id,
            "project": project,
            "name": rules.check_name(name),
            "description": rules.check_text(description, "description"),
            "owner": rules.check_text(owner or self.actor, "owner", 200),
            "task_type": rules.check_text(task_type, "task_type", 64) if task_type else None,
            "tags": rules.check_tags(tags),
            "required_validations": rules.check_required_validations(required_validations),
            "approval_policy": rules.check_approval_policy(approval_policy),
            "latest_version": 0,
            "created_by": self.actor,
            "revision": 1,
            "created_at": now,
            "updated_at": now,
        }
        row = await repositories.insert_model(self.session, values)
        if row is None:
            return None
        await publish(
            self.session,
            events.ModelCreated(
                aggregate_id=str(model_id),
                project=project,
                model=name,
                owner=row.owner,
                task_type=row.task_type,
                tags=row.tags,
            ),
        )
        return row

    async def get_model(self, project: str, name: str) -> schemas.Model:
        row, production = await self.require_model(project, name)
        return views.model(row, production)

    async def update_model(
        self, project: str, name: str, data: schemas.ModelUpdate, *, if_match: str | None
    ) -> schemas.Model:
        row = await repositories.lock_model(self.session, project, name)
        if row is None:
            raise NotFound(f"model {name!r} not found in project {project!r}")
        views.check_if_match(if_match, views.etag(row.id, row.revision), "model")
        changes: dict[str, Any] = {}
        if data.description is not None:
            changes["description"] = rules.check_text(data.description, "description")
        if data.owner is not None:
            changes["owner"] = rules.check_text(data.owner, "owner", 200)
        if data.task_type is not None:
            changes["task_type"] = data.task_type or None
        if data.tags is not None:
            changes["tags"] = rules.check_tags(data.tags)
        if data.required_validations is not None:
            changes["required_validations"] = rules.check_required_validations(data.required_validations)
        if data.approval_policy is not None:
            changes["approval_policy"] = rules.check_approval_policy(
                {str(k): v for k, v in data.approval_policy.items()}
            )
        changed = sorted(k for k, v in changes.items() if getattr(row, k) != v)
        if changed:
            for key in changed:
                setattr(row, key, changes[key])
            await flush_or_fail(self.session, PreconditionFailed("it changed at the same time; GET it and retry"))
            await publish(
                self.session,
                events.ModelUpdated(aggregate_id=str(row.id), project=project, model=row.name, changed=changed),
            )
        found = await self.require_model(project, name)
        return views.model(*found)

    async def search_models(
        self, project: str, filters: ModelFilters, *, sort: str | None, cursor: str | None, limit: int | None
    ) -> Page[schemas.Model]:
        size = check_limit(limit)
        order = pick_sort(repositories.MODEL_SORTS, sort, "name")
        _check_filters(filters.tags, filters.stage)
        page = await repositories.search_models(self.session, project, filters, order, cursor=cursor, limit=size)
        return page.map(lambda r: views.model(*r))

    # Versions

    async def require_version(
        self, project: str, model_name: str, number: int, *, for_update: bool = False
    ) -> tuple[CatalogueModel, CatalogueModelVersion]:
        model, _ = await self.require_model(project, model_name)
        row = await repositories.version_by_number(self.session, model.id, number, for_update=for_update)
        if row is None:
            raise NotFound(f"model {model_name!r} has no version {number}")
        return model, row

    async def create_version(self, project: str, model_name: str, data: NewVersion) -> schemas.ModelVersion:
        model, _ = await self.require_model(project, model_name)
        if data.mlflow_version is not None:
            existing = await repositories.version_by_mlflow(
                self.session, model.id, mlflow_version=data.mlflow_version, run_id=data.source_run_id or ""
            )
            if existing is not None:
                raise Conflict(
                    f"MLflow version {data.mlflow_version} of {model_name!r} is already version {existing.version}",
                    version=existing.version,
                )
        row = await self._insert_version(model, data)
        return views.version(row, model.name)

    async def register_external(
        self, project: str, model_name: str, data: NewVersion
    ) -> tuple[CatalogueModel, CatalogueModelVersion, bool]:
        """Idempotent on (project, model, MLflow version) or, without a registry version, on
        (project, model, run id): a repeated call returns the version created the first time."""
        if not data.source_run_id:
            raise ValueError("an external registration needs the source run id")
        model = await self.ensure_model(project, model_name)
        # Serialise registrations of this model, then look again: a concurrent registration of the
        # same MLflow version has committed by the time the lock is ours.
        await repositories.lock_model(self.session, project, model_name)
        existing = await repositories.version_by_mlflow(
            self.session, model.id, mlflow_version=data.mlflow_version, run_id=data.source_run_id
        )
        if existing is not None:
            return model, existing, False
        return model, await self._insert_version(model, data), True

    async def _insert_version(self, model: CatalogueModel, data: NewVersion) -> CatalogueModelVersion:
        signature = rules.check_signature(
            data.signature, len(msgspec.json.encode(data.signature)) if data.signature is not None else 0
        )
        row = CatalogueModelVersion(
            model_id=model.id,
            project=model.project,
            stage="registered",
            description=rules.check_text(data.description, "description"),
            source_type="mlflow" if data.source_run_id or data.mlflow_version else "uri",
            source_run_id=data.source_run_id,
            mlflow_version=data.mlflow_version,
            model_uri=rules.check_uri(data.model_uri),
            framework=rules.check_text(data.framework, "framework", 64) if data.framework else None,
            signature=signature,
            metrics=rules.check_metrics(data.metrics),
            params=rules.check_params(data.params),
            tags=rules.check_tags(data.tags),
            feature_service=data.feature_service,
            feast_project=data.feast_project if data.feature_service else None,
            created_by=self.actor,
            stage_changed_at=utcnow(),
        )
        row.version = await repositories.next_version_number(self.session, model.id)
        self.session.add(row)
        await self.session.flush()
        await publish(
            self.session,
            events.ModelVersionCreated(
                aggregate_id=str(model.id),
                project=model.project,
                model=model.name,
                version=row.version,
                version_id=str(row.id),
                model_uri=row.model_uri,
                source_run_id=row.source_run_id,
                mlflow_version=row.mlflow_version,
                framework=row.framework,
                feature_service=row.feature_service,
                feast_project=row.feast_project,
            ),
        )
        return row

    async def get_version(self, project: str, model_name: str, number: int) -> schemas.ModelVersion:
        model, row = await self.require_version(project, model_name, number)
        return await self.version_detail(model, row)

    async def version_detail(self, model: CatalogueModel, row: CatalogueModelVersion) -> schemas.ModelVersion:
        latest = await repositories.latest_validations(self.session, row.id)
        pending = await repositories.pending_request(self.session, row.id)
        pending_view = None
        if pending is not None:
            decisions = await repositories.request_decisions(self.session, [pending.id])
            pending_view = views.request(pending, model.name, row.version, decisions[pending.id])
        return views.version(
            row,
            model.name,
            validations=latest,
            missing=rules.missing_validations(model.required_validations, latest),
            pending=pending_view,
        )

    async def update_version(
        self, project: str, model_name: str, number: int, data: schemas.ModelVersionUpdate, *, if_match: str | None
    ) -> schemas.ModelVersion:
        model, row = await self.require_version(project, model_name, number, for_update=True)
        views.check_if_match(if_match, views.etag(row.id, row.revision), "version")
        changes: dict[str, Any] = {}
        if data.description is not None:
            changes["description"] = rules.check_text(data.description, "description")
        if data.framework is not None:
            changes["framework"] = data.framework or None
        if data.tags is not None:
            changes["tags"] = rules.check_tags(data.tags)
        changed = sorted(k for k, v in changes.items() if getattr(row, k) != v)
        if changed:
            for key in changed:
                setattr(row, key, changes[key])
            await flush_or_fail(self.session, PreconditionFailed("it changed at the same time; GET it and retry"))
            await publish(
                self.session,
                events.ModelVersionUpdated(
                    aggregate_id=str(model.id),
                    project=project,
                    model=model.name,
                    version=row.version,
                    version_id=str(row.id),
                    changed=changed,
                ),
            )
        return await self.version_detail(model, row)

    async def search_versions(
        self,
        project: str,
        filters: VersionFilters,
        *,
        model_name: str | None,
        sort: str | None,
        cursor: str | None,
        limit: int | None,
    ) -> Page[schemas.ModelVersion]:
        size = check_limit(limit)
        model_id = None
        if model_name is not None:
            model_id = (await self.require_model(project, model_name))[0].id
            order = pick_sort(repositories.MODEL_VERSION_SORTS, sort, "-version")
        else:
            order = pick_sort(repositories.VERSION_SORTS, sort, "-created_at")
        _check_filters(filters.tags, filters.stage)
        page = await repositories.search_versions(
            self.session, project, filters, order, model_id=model_id, cursor=cursor, limit=size
        )
        return page.map(lambda r: views.version(*r))


def _check_filters(tags: Mapping[str, str], stage: str | None) -> None:
    rules.check_tags(tags, field="tag")
    if stage is not None:
        rules.check_stage(stage)
