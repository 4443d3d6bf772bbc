"""The kernel's exception handlers: a 5xx body is generic (title, request id, the component of a 503) and
the 5xx is logged with its traceback; database text never reaches a body."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from litestar import Litestar, get
from litestar.exceptions import HTTPException, InternalServerException
from litestar.testing import TestClient
from sqlalchemy.exc import DataError, OperationalError

from mlplatform.kernel.errors import EXCEPTION_HANDLERS, SERVER_ERROR_DETAIL, Invalid, Unavailable
from mlplatform.kernel.logging import configure_logging
from mlplatform.kernel.request_context import request_id_middleware

SQL_ERROR = DataError(
    "SELECT * FROM mlplatform.catalogue_models WHERE name = $1",
    ("x\x00",),
    Exception("invalid byte sequence for encoding UTF8: 0x00"),
)


@get("/http-500", sync_to_thread=False)
def http_500() -> None:
    raise HTTPException(status_code=500, detail="pool exhausted at postgresql://user:pw@db/platform")


@get("/internal", sync_to_thread=False)
def internal() -> None:
    raise InternalServerException("stream consumed")


@get("/bug", sync_to_thread=False)
def bug() -> None:
    raise RuntimeError("connection to postgresql://user:pw@db/platform failed")


@get("/redis-down", sync_to_thread=False)
def redis_down() -> None:
    raise Unavailable("Redis at 10.1.2.3:6379 is unreachable: Connection refused", component="redis")


@get("/data-error", sync_to_thread=False)
def data_error() -> None:
    raise SQL_ERROR


@get("/connection-lost", sync_to_thread=False)
def connection_lost() -> None:
    raise OperationalError(
        "SELECT 1",
        (),
        Exception("connection to postgresql://user:pw@10.1.2.3/platform was closed"),
        connection_invalidated=True,
    )


@get("/invalid-with-sql", sync_to_thread=False)
def invalid_with_sql() -> None:
    raise Invalid("(psycopg.DataError) PostgreSQL text fields cannot contain NUL (0x00) bytes\n[SQL: SELECT 1]")


@get("/invalid", sync_to_thread=False)
def invalid() -> None:
    raise Invalid("name: must be 1-128 of [A-Za-z0-9_.-]", field="name")


@pytest.fixture
def client() -> Any:
    app = Litestar(
        route_handlers=[
            http_500,
            internal,
            bug,
            redis_down,
            data_error,
            connection_lost,
            invalid_with_sql,
            invalid,
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        logging_config=None,
    )
    app.asgi_handler = request_id_middleware(app.asgi_handler)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    configure_logging("INFO", json=True)
    caplog.set_level(logging.INFO, logger="mlplatform.errors")
    return caplog


def error_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.msg for r in caplog.records if r.name == "mlplatform.errors" and isinstance(r.msg, dict)]


@pytest.mark.parametrize("path", ["/http-500", "/internal", "/bug"])
def test_a_500_body_is_generic_and_its_traceback_is_logged(
    client: Any, logs: pytest.LogCaptureFixture, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["detail"] == SERVER_ERROR_DETAIL
    assert body["request_id"] == response.headers["x-request-id"]
    assert set(body) == {"type", "title", "status", "detail", "instance", "request_id"}
    assert "postgresql" not in response.text
    assert "consumed" not in response.text
    [line] = error_lines(logs)
    assert line["request_id"] == body["request_id"]
    assert isinstance(line["exc_info"], BaseException), "logged with its traceback"


def test_a_503_names_its_component_and_nothing_else(client: Any, logs: pytest.LogCaptureFixture) -> None:
    response = client.get("/redis-down")
    assert response.status_code == 503
    body = response.json()
    assert body["component"] == "redis"
    assert "10.1.2.3" not in response.text
    assert "refused" not in response.text
    [line] = error_lines(logs)
    assert "10.1.2.3" in line["detail"], "the detail is kept for the log"
    assert isinstance(line["exc_info"], BaseException)


def test_a_value_the_database_refuses_is_a_generic_422(client: Any, logs: pytest.LogCaptureFixture) -> None:
    response = client.get("/data-error")
    assert response.status_code == 422
    assert "SELECT" not in response.text
    assert "0x00" not in response.text
    assert any(isinstance(line.get("exc_info"), DataError) for line in error_lines(logs))


def test_a_lost_database_connection_is_a_503_naming_the_database(client: Any) -> None:
    response = client.get("/connection-lost")
    assert response.status_code == 503
    assert response.json()["component"] == "database"
    assert "postgresql" not in response.text
    assert "SELECT" not in response.text


def test_database_text_in_a_4xx_detail_is_withheld(client: Any) -> None:
    response = client.get("/invalid-with-sql")
    assert response.status_code == 422
    assert "psycopg" not in response.text
    assert "SQL" not in response.text
    ordinary = client.get("/invalid")
    assert ordinary.json()["detail"] == "name: must be 1-128 of [A-Za-z0-9_.-]", "client-facing details stay"
    assert ordinary.json()["field"] == "name"
