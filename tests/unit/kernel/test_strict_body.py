"""JSON bodies are decoded as strictly as the document describes them: Litestar's lenient conversion
(`0` as a date-time, `"5"` as an integer) never reaches a handler, and the refusal is the usual 422 problem
naming the value."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar, Literal

import msgspec
import pytest
from litestar import Litestar, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.testing import TestClient

from mlplatform.kernel.errors import EXCEPTION_HANDLERS
from mlplatform.kernel.strict_body import strict_bodies


class Window(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    end: datetime | None = None
    limit: int = 10


class Parquet(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="parquet"):
    kind: ClassVar[Literal["parquet"]] = "parquet"
    path: str


class Push(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="push"):
    kind: ClassVar[Literal["push"]] = "push"
    batch_source: str


@post("/windows", sync_to_thread=False)
def window(data: Window) -> dict[str, Any]:
    return msgspec.to_builtins(data)


@post("/sources", sync_to_thread=False)
def source(data: Parquet | Push) -> str:
    return data.kind


@post("/form", sync_to_thread=False)
def form(data: dict[str, str] = Body(media_type=RequestEncodingType.URL_ENCODED)) -> dict[str, str]:
    return data


@pytest.fixture
def client() -> Iterator[TestClient[Litestar]]:
    app = Litestar([window, source, form], exception_handlers=EXCEPTION_HANDLERS, before_request=strict_bodies())
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"end": 0}, "end"),
        ({"end": "0"}, "end"),
        ({"limit": "5"}, "limit"),
        ({"limit": 5.5}, "limit"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_what_the_document_does_not_allow_is_refused(client: TestClient[Litestar], body: Any, key: str) -> None:
    response = client.post("/windows", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["field"] == key
    assert [error["key"] for error in problem["errors"]] == [key]


def test_valid_bodies_reach_the_handler_unchanged(client: TestClient[Litestar]) -> None:
    response = client.post("/windows", json={"end": "2026-11-01T00:00:00Z", "limit": 3})
    assert response.status_code == 201, response.text
    assert response.json() == {"end": "2026-11-01T00:00:00Z", "limit": 3}


def test_a_number_with_zero_fraction_is_an_integer_as_in_json_schema(client: TestClient[Litestar]) -> None:
    response = client.post("/windows", json={"limit": 3.0})
    assert response.status_code == 201, response.text
    assert response.json()["limit"] == 3


def test_a_missing_field_of_a_kind_is_named_itself(client: TestClient[Litestar]) -> None:
    assert client.post("/sources", json={"kind": "push", "batch_source": "cards"}).text == "push"
    missing = client.post("/sources", json={"kind": "push"})
    assert missing.status_code == 422
    assert missing.json()["field"] == "batch_source"
    foreign = client.post("/sources", json={"kind": "push", "batch_source": "cards", "path": "x"})
    assert foreign.json()["field"] == "path"


def test_bodies_that_are_not_json_objects_of_the_type_are_left_to_litestar(client: TestClient[Litestar]) -> None:
    malformed = client.post("/windows", content=b"{not json", headers={"content-type": "application/json"})
    assert malformed.status_code == 400
    assert client.post("/form", data={"a": "1"}).json() == {"a": "1"}
