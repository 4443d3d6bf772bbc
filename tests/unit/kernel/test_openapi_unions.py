"""A body that is a msgspec tagged union is documented as a `oneOf` with its tag field as discriminator."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import msgspec
from litestar import Litestar, post

from mlplatform.kernel.openapi_unions import document_discriminators


class Parquet(msgspec.Struct, kw_only=True, tag_field="kind", tag="parquet"):
    kind: ClassVar[Literal["parquet"]] = "parquet"
    path: str


class Push(msgspec.Struct, kw_only=True, tag_field="kind", tag="push"):
    kind: ClassVar[Literal["push"]] = "push"
    batch_source: str


class Plain(msgspec.Struct):
    name: str


@post("/sources", sync_to_thread=False)
def create_source(data: Parquet | Push) -> None:
    return None


@post("/either", sync_to_thread=False)
def create_either(data: Parquet | Plain) -> None:
    return None


def body_schema(app: Litestar, path: str) -> dict[str, Any]:
    document = app.openapi_schema.to_schema()
    schema: dict[str, Any] = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return schema


def test_a_tagged_union_gets_its_tag_as_discriminator() -> None:
    app = Litestar([create_source, create_either])
    document_discriminators(app)
    assert body_schema(app, "/sources")["discriminator"] == {
        "propertyName": "kind",
        "mapping": {"parquet": "#/components/schemas/Parquet", "push": "#/components/schemas/Push"},
    }


def test_a_union_without_a_shared_tag_gets_none() -> None:
    app = Litestar([create_source, create_either])
    document_discriminators(app)
    assert "discriminator" not in body_schema(app, "/either")
