"""Who may call what on the Feast registry port (no gRPC or Feast import here).

The port serves Feast's own `RegistryServer` over the platform's SQL registry, which holds every
project. Three rules keep a caller inside their projects:

- Only the read methods below are served; everything else (Apply*, Delete*, Commit, UpdateInfra,
  materialization and dataset jobs ...) is refused: definitions go through the platform's REST API, where
  validation, path and connection rules apply.
- Every read names its project in the request (`project`, or `name` for GetProject): the caller needs at
  least the viewer role in the matching platform project (`feast_project` reversed), checked by the
  gateway exactly like the `requires_role` guard. A request without a project is refused.
- The two methods that cover every project (`Proto`, `ListProjects`) answer only with the projects the
  caller can view (the servicer filters them, `visible_to`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import Forbidden, NotFound, RateLimited, Unauthenticated, Unavailable
from mlplatform.modules.gateway.api import Principal, Role, call_gate, ensure_role, project_directory

SERVICE = "feast.registry.RegistryServer"

PROJECT_FIELD: dict[str, str | None] = {
    **{
        method: "project"
        for method in (
            "GetEntity",
            "ListEntities",
            "GetDataSource",
            "ListDataSources",
            "GetFeatureView",
            "ListFeatureViews",
            "GetAnyFeatureView",
            "ListAllFeatureViews",
            "GetStreamFeatureView",
            "ListStreamFeatureViews",
            "GetOnDemandFeatureView",
            "ListOnDemandFeatureViews",
            "GetLabelView",
            "ListLabelViews",
            "GetFeatureService",
            "ListFeatureServices",
            "GetSavedDataset",
            "ListSavedDatasets",
            "GetValidationReference",
            "ListValidationReferences",
            "GetPermission",
            "ListPermissions",
            "ListProjectMetadata",
            "GetInfra",
            "GetRegistryLineage",
            "GetObjectRelationships",
            "ListFeatures",
            "GetFeature",
            "Refresh",
        )
    },
    "GetProject": "name",
    "ListProjects": None,
    "Proto": None,
}
"""The methods served, each with the request field naming its project (None: answered per visible project)."""

CALL_TIMEOUT_SECONDS = 15.0
RATE_GROUP = "online"
"""The SDK's remote registry caches nothing: each `get_online_features` makes several registry calls, so they
share the budget of online reads rather than the REST API's."""
_PLATFORM_PROJECT = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

T = TypeVar("T")


class Refusal(StrEnum):
    """Why a call was refused; the server maps each to a gRPC status code."""

    UNAUTHENTICATED = "unauthenticated"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    INVALID_ARGUMENT = "invalid_argument"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    UNAVAILABLE = "unavailable"


class Denied(Exception):
    def __init__(self, refusal: Refusal, message: str, *, project: str | None = None) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.message = message
        self.project = project
        """The Feast project name a NOT_FOUND refusal is about."""


def platform_project(feast_name: str) -> str | None:
    """The platform project a Feast project name belongs to (`feast_project` reversed), or None for a name
    no platform project maps to (empty, dashes, capitals ...)."""
    if "-" in feast_name:
        return None
    name = feast_name.replace("_", "-")
    return name if _PLATFORM_PROJECT.match(name) else None


def visible_to(principal: Principal, feast_name: str) -> bool:
    """Whether `principal` may see the Feast project `feast_name` in whole-registry answers."""
    project = platform_project(feast_name)
    return project is not None and principal.can(project, Role.VIEWER)


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    """The full gRPC method name, `/feast.registry.RegistryServer/ListFeatureViews`."""
    authorization: str | None
    client: str
    """The caller's address (gRPC peer without port)."""

    @property
    def name(self) -> str:
        return self.method.rsplit("/", 1)[-1]

    @property
    def served(self) -> bool:
        return self.method == f"/{SERVICE}/{self.name}" and self.name in PROJECT_FIELD


class RegistryAccess:
    """The checks of one call, run by the gateway on the platform's event loop; `admit` is called from the
    gRPC server's threads and waits for them."""

    def __init__(self, platform: PlatformContext, loop: asyncio.AbstractEventLoop) -> None:
        self._platform = platform
        self._loop = loop

    def admit(self, call: Call, project: str | None) -> Principal:
        """The caller, allowed to make `call` on the Feast project `project` (None for whole-registry
        methods); raises `Denied`. Blocking: only from a gRPC server thread."""
        return self._wait(self.check(call, project))

    async def check(self, call: Call, project: str | None) -> Principal:
        gate = call_gate(self._platform)
        try:
            principal = await gate.authenticate(
                call.authorization, client=call.client, target=call.method, rate_group=RATE_GROUP
            )
        except Unauthenticated as exc:
            raise Denied(Refusal.UNAUTHENTICATED, exc.detail) from None
        except RateLimited as exc:
            raise Denied(Refusal.RESOURCE_EXHAUSTED, exc.detail) from None
        except Unavailable as exc:
            raise Denied(Refusal.UNAVAILABLE, exc.detail) from None
        if not call.served:
            detail = (
                f"{call.name} is not served here: this registry endpoint is read-only; create and change "
                "definitions through the platform's REST API (/api/v1/projects/{project}/features/...)"
            )
            gate.deny(principal, client=call.client, target=call.method, project=None, detail=detail)
            raise Denied(Refusal.PERMISSION_DENIED, detail)
        if PROJECT_FIELD[call.name] is None:
            return principal
        await self._check_project(principal, call, project or "")
        return principal

    async def _check_project(self, principal: Principal, call: Call, feast_name: str) -> None:
        if not feast_name:
            raise Denied(Refusal.INVALID_ARGUMENT, f"{call.name} needs a project")
        project = platform_project(feast_name)
        if project is None:
            raise Denied(Refusal.NOT_FOUND, f"project {feast_name!r} not found", project=feast_name)
        try:
            await ensure_role(principal, project, Role.VIEWER, projects=project_directory(self._platform))
        except NotFound:
            gate = call_gate(self._platform)
            gate.deny(principal, client=call.client, target=call.method, project=project, detail="not a member")
            raise Denied(Refusal.NOT_FOUND, f"project {feast_name!r} not found", project=feast_name) from None
        except Forbidden as exc:  # every member is at least a viewer: kept for a higher role in future
            raise Denied(Refusal.PERMISSION_DENIED, exc.detail) from None

    def _wait(self, work: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            return future.result(timeout=CALL_TIMEOUT_SECONDS)
        except FutureTimeout:
            future.cancel()
            raise Denied(Refusal.UNAVAILABLE, "the platform did not check the credential in time") from None
        except RuntimeError as exc:  # the loop is closing (shutdown)
            raise Denied(Refusal.UNAVAILABLE, f"the platform is stopping: {exc}") from None
