"""Routes of the connections API: `/api/v1/connections` (platform admins) and the connections granted to a
project (`/api/v1/projects/{project}/connections`, its viewers)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post, put
from litestar.di import Provide
from litestar.params import Parameter

from mlplatform.kernel.errors import Conflict
from mlplatform.modules.features.connections import schemas as s
from mlplatform.modules.features.connections.service import ConnectionService
from mlplatform.modules.features.constraints import PROJECT_NAME_PATTERN
from mlplatform.modules.features.controllers.dependencies import PAGE_REQUEST, PageRequest, provide_connections
from mlplatform.modules.gateway.api import Principal, Role, requires_platform_admin, requires_role

PathName = Annotated[str, Parameter(pattern=s.CONNECTION_NAME_PATTERN, description="The connection's name.")]
PathProject = Annotated[str, Parameter(pattern=PROJECT_NAME_PATTERN, description="The project's name.")]


class ConnectionController(Controller):
    path = "/api/v1/connections"
    tags = ["connections"]
    guards = [requires_platform_admin]
    dependencies = {"connections": Provide(provide_connections, sync_to_thread=False), **PAGE_REQUEST}

    @post(
        "/",
        summary="Register a connection (platform admins)",
        description="Checked before it is stored: 422 naming the field for a server that cannot be reached, a "
        "superuser or otherwise privileged role, the platform's own database or object store. Credentials are "
        "stored encrypted and never returned. 409 when the name is taken.",
        raises=[Conflict],
    )
    async def create_connection(
        self, data: s.ConnectionCreate, connections: ConnectionService, principal: Principal
    ) -> s.Connection:
        return await connections.create(data, principal.subject)

    @get("/", summary="List connections (platform admins)")
    async def list_connections(self, connections: ConnectionService, page_request: PageRequest) -> s.ConnectionPage:
        return await connections.page(page_request.cursor, page_request.limit)

    @get("/{name:str}", summary="Get a connection (platform admins; no credentials)")
    async def get_connection(self, name: PathName, connections: ConnectionService) -> s.Connection:
        return await connections.get(name)

    @put(
        "/{name:str}",
        summary="Replace a connection's address and credentials (platform admins; its grants stay)",
    )
    async def replace_connection(
        self, name: PathName, data: s.ConnectionCreate, connections: ConnectionService
    ) -> s.Connection:
        return await connections.replace(name, data)

    @delete("/{name:str}", summary="Delete a connection and its grants (platform admins)")
    async def delete_connection(self, name: PathName, connections: ConnectionService) -> None:
        await connections.delete(name)

    @get("/{name:str}/grants", summary="Projects a connection is granted to (platform admins)")
    async def list_connection_grants(self, name: PathName, connections: ConnectionService) -> list[s.ConnectionGrant]:
        return await connections.grants(name)

    @post("/{name:str}/grants", summary="Grant a connection to a project (platform admins)")
    async def grant_connection(
        self, name: PathName, data: s.ConnectionGrantCreate, connections: ConnectionService, principal: Principal
    ) -> s.ConnectionGrant:
        return await connections.grant(name, data.project, principal.subject)

    @delete("/{name:str}/grants/{project:str}", summary="Revoke a connection from a project (platform admins)")
    async def revoke_connection(self, name: PathName, project: PathProject, connections: ConnectionService) -> None:
        await connections.revoke(name, project)


class ProjectConnectionController(Controller):
    path = "/api/v1/projects/{project:str}/connections"
    tags = ["connections"]
    dependencies = {"connections": Provide(provide_connections, sync_to_thread=False)}

    @get("/", guards=[requires_role(Role.VIEWER)], summary="Connections granted to the project (no credentials)")
    async def list_project_connections(self, project: str, connections: ConnectionService) -> list[s.GrantedConnection]:
        return await connections.granted_to(project)


CONNECTION_CONTROLLERS = [ConnectionController, ProjectConnectionController]
