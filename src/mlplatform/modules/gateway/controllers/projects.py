"""Projects and their members."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, patch, post, put
from litestar.di import Provide

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import Conflict
from mlplatform.kernel.jobs.runtime import jobs_runtime
from mlplatform.modules.gateway.access.invalidation import EVERYTHING, PROJECTS, principal_changed
from mlplatform.modules.gateway.api import (
    Principal,
    Role,
    requires_authenticated,
    requires_platform_admin,
    requires_role,
)
from mlplatform.modules.gateway.controllers.dependencies import provide_gateway_service
from mlplatform.modules.gateway.names import ProjectNameParameter, SubjectParameter
from mlplatform.modules.gateway.runtime import GatewayRuntime
from mlplatform.modules.gateway.schemas import (
    MemberOut,
    MemberPut,
    ProjectCreate,
    ProjectDeletion,
    ProjectOut,
    ProjectUpdate,
)
from mlplatform.modules.gateway.services import GatewayService


class ProjectController(Controller):
    path = "/api/v1/projects"
    tags = ["projects"]
    dependencies = {"service": Provide(provide_gateway_service, sync_to_thread=False)}

    @post(
        "/",
        guards=[requires_platform_admin],
        summary="Create a project (platform admins; the creator becomes its admin)",
        raises=[Conflict],
    )
    async def create_project(
        self,
        request: Request[Any, Any, Any],
        data: ProjectCreate,
        service: GatewayService,
        principal: Principal,
        gateway: GatewayRuntime,
    ) -> ProjectOut:
        project = await service.create_project(data, principal)
        gateway.invalidations.changed(request.scope, PROJECTS, principal_changed(principal.id))
        return ProjectOut.of(project, Role.ADMIN)

    @get("/", guards=[requires_authenticated], summary="Projects the caller can see")
    async def list_projects(self, service: GatewayService, principal: Principal) -> list[ProjectOut]:
        return [ProjectOut.of(p, role) for p, role in await service.list_projects(principal)]

    @get("/{project:str}", guards=[requires_role(Role.VIEWER)])
    async def get_project(
        self, project: ProjectNameParameter, service: GatewayService, principal: Principal
    ) -> ProjectOut:
        return ProjectOut.of(await service.project(project), principal.role_in(project))

    @patch("/{project:str}", guards=[requires_role(Role.ADMIN)])
    async def update_project(
        self, project: ProjectNameParameter, data: ProjectUpdate, service: GatewayService, principal: Principal
    ) -> ProjectOut:
        return ProjectOut.of(await service.update_project(project, data), principal.role_in(project))

    @delete(
        "/{project:str}",
        guards=[requires_role(Role.ADMIN)],
        status_code=202,
        summary="Delete a project: gone at once; a purge job removes what it left everywhere, then frees its name",
    )
    async def delete_project(
        self,
        request: Request[Any, Any, Any],
        project: ProjectNameParameter,
        service: GatewayService,
        principal: Principal,
        gateway: GatewayRuntime,
        platform: PlatformContext,
    ) -> ProjectDeletion:
        row, job = await service.delete_project(project, principal, jobs_runtime(platform))
        gateway.invalidations.changed(request.scope, EVERYTHING)
        assert row.deleted_at is not None
        return ProjectDeletion(name=row.name, deleted_at=row.deleted_at, purge_job_id=job.id)

    @post(
        "/{project:str}/purge",
        guards=[requires_platform_admin],
        status_code=202,
        summary="Run the purge of a deleted project again (platform admins; after its purge job failed)",
        raises=[Conflict],
    )
    async def purge_project(
        self, project: ProjectNameParameter, service: GatewayService, principal: Principal, platform: PlatformContext
    ) -> ProjectDeletion:
        row, job = await service.purge_again(project, principal, jobs_runtime(platform))
        assert row.deleted_at is not None
        return ProjectDeletion(name=row.name, deleted_at=row.deleted_at, purge_job_id=job.id)

    @get("/{project:str}/members", guards=[requires_role(Role.VIEWER)])
    async def list_members(self, project: ProjectNameParameter, service: GatewayService) -> list[MemberOut]:
        return [MemberOut.of(p, m) for p, m in await service.members(project)]

    @put(
        "/{project:str}/members/{member:str}",
        guards=[requires_role(Role.MAINTAINER)],
        summary="Grant or change a member's role (`member` is `user:<name>` or `service_account:<name>`)",
        raises=[Conflict],
    )
    async def put_member(
        self,
        request: Request[Any, Any, Any],
        project: ProjectNameParameter,
        member: SubjectParameter,
        data: MemberPut,
        service: GatewayService,
        principal: Principal,
        gateway: GatewayRuntime,
    ) -> MemberOut:
        row, membership = await service.put_member(project, member, Role.parse(data.role), principal)
        gateway.invalidations.changed(request.scope, principal_changed(row.id))
        return MemberOut.of(row, membership)

    @delete("/{project:str}/members/{member:str}", guards=[requires_role(Role.MAINTAINER)], raises=[Conflict])
    async def remove_member(
        self,
        request: Request[Any, Any, Any],
        project: ProjectNameParameter,
        member: SubjectParameter,
        service: GatewayService,
        principal: Principal,
        gateway: GatewayRuntime,
    ) -> None:
        removed = await service.remove_member(project, member, principal)
        gateway.invalidations.changed(request.scope, principal_changed(removed))
