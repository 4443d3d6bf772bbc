"""The two apps `bench/gateway.py` compares: the same trivial route with and without the gateway."""

from __future__ import annotations

from litestar import Litestar, get

from mlplatform.app import create_app
from mlplatform.kernel.module import Module
from mlplatform.modules.gateway import module as gateway
from mlplatform.modules.gateway.api import Role, requires_role


@get("/api/v1/projects/{project:str}/ping", guards=[requires_role(Role.VIEWER)], sync_to_thread=False, tags=["bench"])
def guarded_ping(project: str) -> dict[str, str]:
    return {"project": project}


@get("/api/v1/projects/{project:str}/ping", sync_to_thread=False, tags=["bench"])
def open_ping(project: str) -> dict[str, str]:
    return {"project": project}


def with_gateway() -> Litestar:
    """Authentication (API key, cached), project role check, Redis rate limit (the security headers come with both)."""
    return create_app(modules=[gateway, Module(name="bench", route_handlers=[guarded_ping])])


def without_gateway() -> Litestar:
    return create_app(modules=[Module(name="bench", route_handlers=[open_ping])])
