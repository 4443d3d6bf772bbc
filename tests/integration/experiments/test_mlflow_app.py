"""MLflow's app as the module runs it: its function middlewares as plain ASGI, behaving as MLflow's.

Served in the platform's process here (`experiments.server = "in-process"`), where the app can be
inspected; the separate server process imports the same app (`server_app.import_server_app`).
"""

from __future__ import annotations

from typing import Any

import pytest

from mlplatform.modules.experiments.hosting.mlflow_middleware import GatewayTimingOnGatewayPaths, WorkspaceContext
from mlplatform.modules.experiments.runtime import ExperimentsRuntime
from mlplatform.settings import Settings
from tests.integration.experiments.conftest import Client, Members, call, create_experiment


@pytest.fixture
def mlflow_settings(mlflow_settings: Settings) -> Settings:
    return mlflow_settings.model_copy(
        update={"experiments": mlflow_settings.experiments.model_copy(update={"server": "in-process"})}
    )


async def test_mlflow_runs_without_function_middlewares(mlflow_client: Client, members: Members) -> None:
    await create_experiment(mlflow_client, members)  # MLflow is loaded
    app: Any = await mlflow_client.app.state.platform.runtimes.get(ExperimentsRuntime).mlflow.app()
    from starlette.middleware.base import BaseHTTPMiddleware

    classes = [m.cls for m in app.user_middleware]
    assert BaseHTTPMiddleware not in classes
    assert WorkspaceContext in classes
    assert GatewayTimingOnGatewayPaths in classes


async def test_a_workspace_header_still_gets_mlflows_answer(mlflow_client: Client, members: Members) -> None:
    """Workspaces are off: MLflow refuses a request naming one, in its own error shape, as before."""
    experiment_id = await create_experiment(mlflow_client, members)
    headers = {**members.contributor, "X-MLFLOW-WORKSPACE": "team-a"}
    refused = await call(mlflow_client, "GET", f"experiments/get?experiment_id={experiment_id}", headers)
    assert refused.status_code >= 400
    assert refused.json()["error_code"] == "FEATURE_DISABLED"
    found = await call(mlflow_client, "GET", f"experiments/get?experiment_id={experiment_id}", members.contributor)
    assert found.status_code == 200
    assert found.json()["experiment"]["experiment_id"] == experiment_id
