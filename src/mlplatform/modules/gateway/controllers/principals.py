"""Users, service accounts and API keys."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.di import Provide

from mlplatform.kernel.constraints import parameter_of
from mlplatform.kernel.errors import Conflict, Forbidden, NotFound
from mlplatform.modules.gateway.access.invalidation import key_changed, principal_changed
from mlplatform.modules.gateway.api import Principal, requires_authenticated, requires_platform_admin
from mlplatform.modules.gateway.controllers.dependencies import provide_gateway_service
from mlplatform.modules.gateway.names import ExistingPrincipalNameParameter, Subject
from mlplatform.modules.gateway.runtime import GatewayRuntime
from mlplatform.modules.gateway.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    PrincipalOut,
    ServiceAccountCreate,
    UserCreate,
)
from mlplatform.modules.gateway.services import GatewayService


class UserController(Controller):
    path = "/api/v1/users"
    tags = ["principals"]
    guards = [requires_platform_admin]
    dependencies = {"service": Provide(provide_gateway_service, sync_to_thread=False)}

    @post("/", summary="Create a user (platform admins)", raises=[Conflict])
    async def create_user(self, data: UserCreate, service: GatewayService) -> PrincipalOut:
        row = await service.create_principal(
            kind="user", name=data.name, email=data.email, platform_admin=data.platform_admin
        )
        return PrincipalOut.of(row)

    @get("/", summary="List users")
    async def list_users(self, service: GatewayService) -> list[PrincipalOut]:
        return [PrincipalOut.of(r) for r in await service.list_principals("user")]

    @post("/{name:str}/disable", status_code=200, summary="Disable a user: every credential stops working")
    async def disable_user(
        self,
        request: Request[Any, Any, Any],
        name: ExistingPrincipalNameParameter,
        service: GatewayService,
        gateway: GatewayRuntime,
    ) -> PrincipalOut:
        row = await service.set_disabled(f"user:{name}", True)
        gateway.invalidations.changed(request.scope, principal_changed(row.id))
        return PrincipalOut.of(row)


class ServiceAccountController(Controller):
    path = "/api/v1/service-accounts"
    tags = ["principals"]
    guards = [requires_platform_admin]
    dependencies = {"service": Provide(provide_gateway_service, sync_to_thread=False)}

    @post("/", summary="Create a service account (platform admins); give it keys and project roles", raises=[Conflict])
    async def create_service_account(self, data: ServiceAccountCreate, service: GatewayService) -> PrincipalOut:
        row = await service.create_principal(kind="service_account", name=data.name, description=data.description)
        return PrincipalOut.of(row)

    @get("/", summary="List service accounts")
    async def list_service_accounts(self, service: GatewayService) -> list[PrincipalOut]:
        return [PrincipalOut.of(r) for r in await service.list_principals("service_account")]


class ApiKeyController(Controller):
    path = "/api/v1/api-keys"
    tags = ["principals"]
    guards = [requires_authenticated]
    dependencies = {"service": Provide(provide_gateway_service, sync_to_thread=False)}

    @post(
        "/",
        summary="Create an API key; the response is the only time the key is shown",
        description="403: `owner` is someone else and the caller is not a platform admin. 404: no such `owner` "
        "or `project`.",
        raises=[Forbidden, NotFound],
    )
    async def create_api_key(self, data: ApiKeyCreate, service: GatewayService, principal: Principal) -> ApiKeyCreated:
        row, owner, plaintext = await service.create_api_key(principal, data)
        return ApiKeyCreated.of_new(row, owner, plaintext)

    @get(
        "/",
        summary="The caller's API keys (platform admins: everyone's, or `owner`'s)",
        description="403: `owner` is someone else and the caller is not a platform admin. 404: no such `owner`.",
        raises=[Forbidden, NotFound],
    )
    async def list_api_keys(
        self,
        service: GatewayService,
        principal: Principal,
        owner: Annotated[Subject | None, parameter_of(Subject)] = None,
    ) -> list[ApiKeyOut]:
        return [ApiKeyOut.of(r, o) for r, o in await service.list_api_keys(principal, owner)]

    @delete("/{key:uuid}", summary="Revoke an API key (effective at once here, within seconds everywhere)")
    async def revoke_api_key(
        self,
        request: Request[Any, Any, Any],
        key: uuid.UUID,
        service: GatewayService,
        principal: Principal,
        gateway: GatewayRuntime,
    ) -> None:
        row, _ = await service.revoke_api_key(principal, key)
        gateway.invalidations.changed(request.scope, key_changed(row.key_id))
