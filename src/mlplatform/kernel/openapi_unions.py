"""A request body that is one of several shapes told apart by a field gets that field as its discriminator.

A msgspec tagged union (`A | B`, each Struct with `tag_field="kind"` and its own `tag`) is documented by
Litestar as a `oneOf` of the structs' components, each with `kind` as a required `const` - but without the
`discriminator` that names the field. Clients and tools then try each arm in turn; with it, they pick the
arm from the field's value, as the server does. `document_discriminators` (run by `create_app`) adds it to
every body `oneOf` whose arms are all components sharing one required `const` property.
"""

from __future__ import annotations

from collections.abc import Sequence

from litestar import Litestar
from litestar.openapi.spec import Components, Discriminator, Reference, RequestBody, Schema

from mlplatform.kernel.openapi_walk import handler_operations


def document_discriminators(app: Litestar) -> None:
    components = app.openapi_schema.components
    schemas = components.schemas if isinstance(components, Components) else {}
    for _, _, operation in handler_operations(app):
        body = operation.request_body
        if not isinstance(body, RequestBody):
            continue
        for media_type in body.content.values():
            schema = media_type.schema
            if isinstance(schema, Schema) and schema.one_of and schema.discriminator is None:
                schema.discriminator = _discriminator(schema.one_of, schemas)


def _discriminator(arms: Sequence[Schema | Reference], schemas: dict[str, Schema]) -> Discriminator | None:
    """The property every arm requires with a `const` of its own, mapped to the arms (None: there is none)."""
    tags: list[dict[str, str]] = []
    for arm in arms:
        component = schemas.get(arm.ref.rsplit("/", 1)[-1]) if isinstance(arm, Reference) else None
        if component is None:
            return None
        tags.append(
            {
                name: str(value.const)
                for name, value in (component.properties or {}).items()
                if isinstance(value, Schema) and value.const is not None and name in (component.required or ())
            }
        )
    shared = set.intersection(*(set(found) for found in tags))
    if len(shared) != 1:
        return None
    (name,) = shared
    values = [found[name] for found in tags]
    if len(set(values)) != len(values):
        return None
    return Discriminator(
        property_name=name,
        mapping={value: arm.ref for value, arm in zip(values, arms, strict=True) if isinstance(arm, Reference)},
    )


__all__ = ["document_discriminators"]
