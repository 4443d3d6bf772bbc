"""Contract with MLflow's private server configuration: the names the platform sets before importing
`mlflow.server` must still be the ones MLflow reads. Read from MLflow's source text, without importing
the server (that import is what the platform defers)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from mlplatform.modules.experiments.hosting import config


def _mlflow_file(*parts: str) -> Path:
    spec = importlib.util.find_spec("mlflow")
    assert spec is not None
    assert spec.origin is not None
    return Path(spec.origin).parent.joinpath(*parts)


def _string_constants(path: Path) -> dict[str, str]:
    tree = ast.parse(path.read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value.value
    return found


def test_private_server_variables_are_still_mlflows() -> None:
    constants = _string_constants(_mlflow_file("server", "constants.py"))
    assert constants["BACKEND_STORE_URI_ENV_VAR"] == config.BACKEND_STORE_URI_ENV
    assert constants["REGISTRY_STORE_URI_ENV_VAR"] == config.REGISTRY_STORE_URI_ENV
    assert constants["SERVE_ARTIFACTS_ENV_VAR"] == config.SERVE_ARTIFACTS_ENV
    assert constants["ARTIFACT_ROOT_ENV_VAR"] == config.ARTIFACT_ROOT_ENV
    assert constants["ARTIFACTS_DESTINATION_ENV_VAR"] == config.ARTIFACT_DESTINATION_ENV


def test_public_server_variables_are_still_read_by_mlflow() -> None:
    source = _mlflow_file("environment_variables.py").read_text()
    for name in (config.ALLOWED_HOSTS_ENV, config.CORS_ORIGINS_ENV, config.S3_ENDPOINT_ENV):
        assert f'"{name}"' in source, name


def test_handlers_keep_the_store_globals_the_runtime_resets() -> None:
    """`runtime._ProcessMlflow._retire` clears these module globals of mlflow.server.handlers."""
    tree = ast.parse(_mlflow_file("server", "handlers.py").read_text())
    names = {
        t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)
    }
    assert {"_tracking_store", "_model_registry_store", "_artifact_repo", "_job_store"} <= names


def test_the_server_app_still_mounts_flask_through_the_efficient_wsgi_bridge() -> None:
    """`server_app._route_flask_bridge_through_own_limiter` replaces exactly this mount."""
    source = _mlflow_file("server", "fastapi_app.py").read_text()
    assert 'fastapi_app.mount("/", _EfficientWSGIMiddleware(flask_app))' in source
    assert "class _EfficientWSGIMiddleware" in source


def test_the_server_app_still_has_the_two_function_middlewares_the_runtime_replaces() -> None:
    """`mlflow_middleware.lighten_function_middlewares` re-implements exactly these two (by MLflow's own
    helpers): a new or changed one must be looked at."""
    source = _mlflow_file("server", "fastapi_app.py").read_text()
    assert source.count('@fastapi_app.middleware("http")') == 2
    for name in ("workspace_context_middleware", "gateway_timing_middleware"):
        assert f"async def {name}(request: Request, call_next):" in source
    assert "resolve_workspace_for_request_if_enabled(" in source
    assert "set_server_request_workspace(workspace.name if workspace else None)" in source
    assert "clear_server_request_workspace()" in source
    assert "if not get_routed_asgi_path(request).startswith(gateway_path_prefix):" in source
