"""The OpenAPI document states what msgspec enforces while decoding a body: closed structs and the
constraints of list items, dict keys and values (Litestar alone documents neither)."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

import msgspec
import pytest
from litestar import Litestar, post
from litestar.testing import TestClient

from mlplatform.kernel.openapi_structs import ClosedStructSchemaPlugin

Key = Annotated[str, msgspec.Meta(pattern="^[a-z]{1,8}$")]
Count = Annotated[int, msgspec.Meta(ge=0, le=10)]


class Closed(msgspec.Struct, forbid_unknown_fields=True):
    names: list[Annotated[str, msgspec.Meta(max_length=5)]]
    counts: Annotated[dict[Key, Count], msgspec.Meta(max_length=3)] = {}
    maybe: list[Key] | None = None
    share: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    label: Annotated[str, msgspec.Meta(max_length=5)] | None = None


class Open(msgspec.Struct):
    names: list[str]
    values: list[Any] = []


T = TypeVar("T")


class Paged(msgspec.Struct, Generic[T]):
    items: list[T]


@post("/closed", sync_to_thread=False)
def take_closed(data: Closed) -> Open:
    return Open(names=[*data.names, *(data.maybe or [])])


@post("/paged", sync_to_thread=False)
def take_paged(data: Paged[Open]) -> Paged[Open]:
    return data


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    app = Litestar([take_closed, take_paged], plugins=[ClosedStructSchemaPlugin()])
    return app.openapi_schema.to_schema()["components"]["schemas"]  # type: ignore[no-any-return]


def test_a_struct_that_forbids_unknown_fields_is_a_closed_object(document: dict[str, Any]) -> None:
    assert document["Closed"]["additionalProperties"] is False
    assert "additionalProperties" not in document["Open"]


def test_constraints_inside_containers_are_documented(document: dict[str, Any]) -> None:
    properties = document["Closed"]["properties"]
    assert properties["names"] == {"type": "array", "items": {"type": "string", "maxLength": 5}}
    assert properties["counts"]["propertyNames"] == {"pattern": "^[a-z]{1,8}$"}
    assert properties["counts"]["additionalProperties"] == {"type": "integer", "minimum": 0, "maximum": 10}
    assert properties["counts"]["maxProperties"] == 3
    arms = properties["maybe"]["anyOf"]
    assert {"type": "null"} in arms
    assert {"type": "array", "items": {"type": "string", "pattern": "^[a-z]{1,8}$"}} in arms


def test_a_generic_struct_keeps_its_type_arguments_and_any_items_stay_explicit(document: dict[str, Any]) -> None:
    """`Paged[Open].items` is a list of `Open` (not of an unbound `T`), and `list[Any]` keeps `items: {}`: a
    generator (openapi-python-client) cannot build a model from an array that does not say its items."""
    (paged,) = (schema for name, schema in document.items() if name.startswith("Paged"))
    assert paged["properties"]["items"] == {"type": "array", "items": {"$ref": "#/components/schemas/Open"}}
    assert document["Open"]["properties"]["values"]["items"] == {}


def test_an_optional_field_states_its_constraints_inside_the_value_arm(document: dict[str, Any]) -> None:
    share = document["Closed"]["properties"]["share"]
    assert {"type": "integer", "minimum": 1, "maximum": 100} in share["oneOf"]
    assert {"type": "null"} in share["oneOf"]
    assert (share["minimum"], share["maximum"]) == (1, 100)
    label = document["Closed"]["properties"]["label"]
    assert {"type": "string", "maxLength": 5} in label["oneOf"]
    assert document["Open"]["properties"]["names"]["items"] == {"type": "string"}  # the shared arm is untouched


def test_the_documented_body_is_the_one_the_server_decodes() -> None:
    app = Litestar([take_closed], plugins=[ClosedStructSchemaPlugin()])
    with TestClient(app) as client:
        assert client.post("/closed", json={"names": ["abcde"], "counts": {"a": 10}}).status_code == 201
        assert client.post("/closed", json={"names": ["abcdef"]}).status_code == 400
        assert client.post("/closed", json={"names": [], "counts": {"A": 1}}).status_code == 400
        assert client.post("/closed", json={"names": [], "other": 1}).status_code == 400
        assert client.post("/closed", json={"names": [], "share": 1, "label": "abcde"}).status_code == 201
        assert client.post("/closed", json={"names": [], "share": 0}).status_code == 400
        assert client.post("/closed", json={"names": [], "label": "abcdef"}).status_code == 400
