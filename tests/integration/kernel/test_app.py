"""The bare platform over HTTP: health, problem+json errors, request ids, metrics, OpenAPI."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]


async def test_live_and_ready_with_every_component(client: Client) -> None:
    assert (await client.get("/health/live")).json() == {"status": "up"}
    response = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] in {"up", "degraded"}, "optional components (Feast still loading) may lag"
    assert {"database", "redis", "object_store"} <= set(body["components"])
    assert all(c["status"] == "up" for c in body["components"].values() if c["required"])


async def test_ready_names_the_component_that_is_down(settings: Any) -> None:
    from mlplatform.app import create_app

    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    async with AsyncTestClient(create_app(broken)) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["components"]["redis"]["status"] == "down"
    assert body["components"]["database"]["status"] == "up"


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert body["title"]
    assert body["detail"]
    assert "Traceback" not in response.text
    return body


async def test_unknown_route_is_problem_404(client: Client) -> None:
    response = await client.get("/api/v1/nothing-here")
    body = assert_problem(response, 404)
    assert body["instance"] == "/api/v1/nothing-here"
    assert response.headers["x-content-type-options"] == "nosniff"  # no route answered, the kernel still adds it


async def test_wrong_method_is_problem_405(client: Client) -> None:
    assert_problem(await client.delete("/health/live"), 405)


async def test_oversize_body_is_problem_413(settings: Any) -> None:
    from mlplatform.app import create_app

    small = settings.model_copy(update={"http": settings.http.model_copy(update={"max_body_bytes": 1024})})
    async with AsyncTestClient(create_app(small)) as client:
        response = await client.post("/health/live", content=b"x" * 4096)
    assert response.status_code in {405, 413}
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_request_id_is_echoed_or_generated(client: Client) -> None:
    echoed = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await client.get("/health/live", headers={"X-Request-ID": "bad id with spaces\n"})
    assert len(generated.headers["x-request-id"]) == 32
    problem = (await client.get("/missing", headers={"X-Request-ID": "trace-me"})).json()
    assert problem["request_id"] == "trace-me"


async def test_metrics_are_prometheus_text(client: Client) -> None:
    await client.get("/health/live")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "mlplatform_requests_total" in response.text


async def test_openapi_is_3_1_with_unique_operation_ids(client: Client) -> None:
    spec = (await client.get("/schema/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values() if isinstance(op, dict)]
    assert len(ids) == len(set(ids))
    assert "system_health_ready" in ids


@pytest.mark.embedded
async def test_embedded_default_is_ready_without_services(embedded_client: Client) -> None:
    response = await embedded_client.get("/health/ready")
    assert response.status_code == 200, response.text
    assert set(response.json()["components"]) >= {"database", "object_store"}
    assert "redis" not in response.json()["components"]
    assert_problem(await embedded_client.get("/nope"), 404)


@pytest.mark.filterwarnings("ignore:call. a component was stuck at shutdown")
async def test_a_component_stuck_at_shutdown_does_not_hold_up_the_rest(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module whose stop waits on a worker thread that never returns: the app still stops, the modules
    before it in shutdown order and the connections are still closed."""
    from mlplatform.app import create_app
    from mlplatform.kernel.context import PlatformContext
    from mlplatform.kernel.module import Module

    release = threading.Event()
    stopped: list[str] = []

    class StuckRuntime:
        component = "stuck"

        async def start(self) -> None:
            return None

        async def stop(self) -> None:
            await anyio.to_thread.run_sync(release.wait)

    class RecorderRuntime:
        component = "recorder"

        async def start(self) -> None:
            return None

        async def stop(self) -> None:
            stopped.append("recorder")

    modules = [
        Module(name="recorder", runtime=lambda platform: RecorderRuntime()),
        Module(name="stuck", runtime=lambda platform: StuckRuntime()),
    ]
    quick = settings.model_copy(update={"server": settings.server.model_copy(update={"component_stop_seconds": 0.5})})
    app = create_app(quick, modules=modules)
    context: PlatformContext = app.state.platform
    close_connections = context.close

    async def close_and_record() -> None:
        await close_connections()
        stopped.append("connections")

    monkeypatch.setattr(context, "close", close_and_record)
    try:
        async with AsyncTestClient(app) as client:
            assert (await client.get("/health/live")).status_code == 200
        assert not release.is_set(), "the app stopped while the stuck stop still waits"
        assert stopped == ["recorder", "connections"]
    finally:
        release.set()


@pytest.mark.embedded
async def test_options_allow_lists_every_method_of_the_path(embedded_settings: Any) -> None:
    """Litestar keeps the OPTIONS handler of a path's first registered handler; `Allow` must still be whole."""
    from mlplatform.app import create_app

    key = "allow-header-admin-key-0123456789"
    admin = {"Authorization": f"Bearer {key}"}
    app = create_app(embedded_settings.model_copy(update={"bootstrap_admin_key": key}))
    async with AsyncTestClient(app) as client:
        assert (await client.post("/api/v1/projects", json={"name": "allow"}, headers=admin)).status_code == 201
        for path, methods in (
            ("/api/v1/projects", "GET, OPTIONS, POST"),
            ("/api/v1/projects/allow", "DELETE, GET, OPTIONS, PATCH"),
            ("/api/v1/projects/allow/files/raw/a.parquet", "DELETE, GET, OPTIONS, PUT"),
        ):
            response = await client.options(path, headers=admin)
            assert response.status_code == 204, (path, response.text)
            assert response.headers["allow"] == methods, path
