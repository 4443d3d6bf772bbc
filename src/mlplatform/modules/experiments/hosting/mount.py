"""`/mlflow`: MLflow's tracking server (REST API, ajax API, GraphQL, UI, proxied artifacts) behind the gateway.

The gateway has authenticated the caller (`scope["user"]`) and applied the `mlflow` rate-limit group;
`MlflowGate` authorizes each MLflow endpoint by project and forwards to MLflow's ASGI app. The scope is
not copied so the gate's audit marks reach the gateway's middleware; MLflow gets its own copy.
"""

from __future__ import annotations

from typing import Any, cast

from litestar import asgi
from litestar.types import Receive, Scope, Send

from mlplatform.modules.experiments.hosting import asgi_types
from mlplatform.modules.experiments.hosting.config import MOUNT_PATH
from mlplatform.modules.experiments.runtime import ExperimentsRuntime
from mlplatform.modules.gateway.api import rate_group, requires_authenticated


@asgi(MOUNT_PATH, is_mount=True, copy_scope=False, guards=[requires_authenticated], opt=rate_group("mlflow"))
async def mlflow_server(scope: Scope, receive: Receive, send: Send) -> None:
    gate = scope["app"].state.platform.runtimes.get(ExperimentsRuntime).gate
    await gate(cast(asgi_types.Scope, scope), cast(asgi_types.Receive, receive), cast(Any, send))
