"""Feast's gRPC registry server on the platform's SQL registry, behind the platform's access checks.

Imports grpc and Feast: load it only in a worker thread (`registry_endpoint.py` does).

The stock SDK's remote registry (`registry_type: remote`) sends its credential as gRPC metadata
`authorization: Bearer <token>` (static token from `token_env_var`, or OIDC client credentials). Every call
of Feast's `RegistryServer` service goes through `guard`: the caller is authenticated and checked by the
gateway (`registry_access.RegistryAccess`), then Feast's own handler answers. Feast's security manager is
not used (its permissions would be a second, separate access model): with none installed, Feast's
handlers check nothing themselves.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent import futures
from functools import partial
from typing import Any

import grpc
import structlog
from feast.errors import FeastError, FeastPermissionError, ProjectNotFoundException
from feast.grpc_error_interceptor import exception_wrapper
from feast.infra.registry.base_registry import BaseRegistry
from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto
from feast.protos.feast.registry import RegistryServer_pb2, RegistryServer_pb2_grpc
from feast.registry_server import RegistryServer, apply_pagination_and_sorting
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from mlplatform.kernel.errors import Unavailable
from mlplatform.modules.features.adapters.registry_access import (
    PROJECT_FIELD,
    SERVICE,
    Call,
    Denied,
    Refusal,
    RegistryAccess,
    visible_to,
)
from mlplatform.modules.features.adapters.store import translate
from mlplatform.modules.gateway.api import Principal

log = structlog.get_logger("mlplatform.features")

GRPC_THREADS = 4
"""Registry calls are blocking SQL registry reads (answered from the registry's cache when the client
allows it); the SDK makes a few per FeatureStore operation."""

_caller: contextvars.ContextVar[Principal] = contextvars.ContextVar("feast_registry_caller")

_STATUS = {
    Refusal.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    Refusal.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    Refusal.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    Refusal.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    Refusal.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Refusal.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
}


def _detail(denied: Denied) -> str:
    """The refusal as a Feast error document, so the SDK raises a Feast exception with this message."""
    error: FeastError
    if denied.refusal is Refusal.NOT_FOUND:
        error = ProjectNotFoundException(denied.project or "")
    else:
        error = FeastPermissionError(denied.message)
    return str(error.to_error_detail())


class PlatformRegistryServer(RegistryServer):
    """Feast's servicer; the two whole-registry answers keep only the projects the caller can view."""

    def Proto(self, request: Any, context: grpc.ServicerContext) -> RegistryProto:
        caller = _caller.get()
        registry: BaseRegistry = self.proxied_registry
        answer = RegistryProto()
        for project in registry.list_projects():
            if not visible_to(caller, project.name):
                continue
            name = project.name
            answer.projects.append(project.to_proto())
            answer.entities.extend(e.to_proto() for e in registry.list_entities(project=name))
            answer.data_sources.extend(s.to_proto() for s in registry.list_data_sources(project=name))
            answer.feature_views.extend(v.to_proto() for v in registry.list_feature_views(project=name))
            answer.stream_feature_views.extend(v.to_proto() for v in registry.list_stream_feature_views(project=name))
            answer.on_demand_feature_views.extend(
                v.to_proto() for v in registry.list_on_demand_feature_views(project=name)
            )
            answer.feature_services.extend(s.to_proto() for s in registry.list_feature_services(project=name))
            answer.saved_datasets.extend(d.to_proto() for d in registry.list_saved_datasets(project=name))
            answer.validation_references.extend(r.to_proto() for r in registry.list_validation_references(project=name))
            answer.permissions.extend(p.to_proto() for p in registry.list_permissions(project=name))
        source = registry.proto()
        answer.last_updated.CopyFrom(source.last_updated)
        answer.version_id = source.version_id
        return answer

    def ListProjects(
        self, request: RegistryServer_pb2.ListProjectsRequest, context: grpc.ServicerContext
    ) -> RegistryServer_pb2.ListProjectsResponse:
        caller = _caller.get()
        projects = [
            p
            for p in self.proxied_registry.list_projects(allow_cache=request.allow_cache, tags=dict(request.tags))
            if visible_to(caller, p.name)
        ]
        page, pagination = apply_pagination_and_sorting(
            projects, pagination=request.pagination, sorting=request.sorting
        )
        return RegistryServer_pb2.ListProjectsResponse(projects=[p.to_proto() for p in page], pagination=pagination)


def guard(access: RegistryAccess) -> grpc.ServerInterceptor:
    return _Guard(access)


class _Guard(grpc.ServerInterceptor):
    """Wraps every method of Feast's registry service: check first, then Feast's handler (with Feast's own
    error mapping, so a missing object reaches the SDK as the Feast exception it expects)."""

    def __init__(self, access: RegistryAccess) -> None:
        self._access = access

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None], details: Any
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(details)
        method: str = details.method
        if handler is None or not method.startswith(f"/{SERVICE}/"):
            return handler
        metadata = dict(details.invocation_metadata or ())
        authorization = metadata.get("authorization")
        behavior = handler.unary_unary
        if behavior is None:  # the registry service has unary methods only
            return _refuse(Refusal.PERMISSION_DENIED, "streaming calls are not served")

        def checked(request: Any, context: grpc.ServicerContext) -> Any:
            call = Call(method=method, authorization=authorization, client=_peer_host(context.peer()))
            field = PROJECT_FIELD.get(call.name)
            project = getattr(request, field, None) if field else None
            try:
                principal = self._access.admit(call, project if isinstance(project, str) else None)
            except Denied as exc:
                context.abort(_STATUS[exc.refusal], _detail(exc))
            token = _caller.set(principal)
            try:
                return exception_wrapper(partial(_answer, behavior, call), request, context)
            finally:
                _caller.reset(token)

        return grpc.unary_unary_rpc_method_handler(
            checked,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _answer(behavior: Callable[[Any, grpc.ServicerContext], Any], call: Call, request: Any, context: Any) -> Any:
    """Feast's handler. Feast's own errors (an object that does not exist ...) go on to `exception_wrapper`;
    anything else is logged here and answered without its text, which could name the registry database."""
    try:
        return behavior(request, context)
    except (grpc.RpcError, FeastError):
        raise
    except Exception as exc:
        failure = translate(exc)
        log.warning("feast_registry_call_failed", method=call.name, error=f"{type(exc).__name__}: {exc}")
        if isinstance(failure, Unavailable):
            context.abort(grpc.StatusCode.UNAVAILABLE, f"{failure.detail}; try again")
        context.abort(grpc.StatusCode.INTERNAL, "the registry could not answer this call (logged on the platform)")


def _refuse(refusal: Refusal, message: str) -> grpc.RpcMethodHandler:
    def refuse(request: Any, context: grpc.ServicerContext) -> None:
        context.abort(_STATUS[refusal], _detail(Denied(refusal, message)))

    return grpc.unary_unary_rpc_method_handler(refuse)


def _peer_host(peer: str) -> str:
    """`ipv4:127.0.0.1:5000` → `127.0.0.1`, `ipv6:[::1]:5000` → `::1`, `unix:/path` → `unix`."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    return kind or "unknown"


def start_server(
    registry: BaseRegistry, access: RegistryAccess, *, host: str, port: int, reuse_port: bool
) -> tuple[grpc.Server, int]:
    """Start the server; returns it and the port it bound (raises RuntimeError when it cannot bind)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=GRPC_THREADS, thread_name_prefix="feast-registry"),
        interceptors=[guard(access)],
        options=[("grpc.so_reuseport", 1 if reuse_port else 0)],
    )
    RegistryServer_pb2_grpc.add_RegistryServerServicer_to_server(PlatformRegistryServer(registry), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:  # grpc raises on a port in use (older versions returned 0)
        raise RuntimeError(f"cannot bind the Feast registry port {address}: {exc}") from None
    if bound == 0:
        raise RuntimeError(f"cannot bind the Feast registry port {address}")
    server.start()
    return server, bound
